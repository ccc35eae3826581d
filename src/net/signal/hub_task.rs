//! The task that owns the hub: it feeds events, timers, revocations and the admin API's
//! requests ([`AdminRequest`], from `crate::net::live`) in, and carries the hub's commands out
//! to the connection tasks.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;

use super::directory::{load_policies, ServerDirectory};
use super::{HubEvent, OutboxSender};
use crate::ids::{Kid, ProjectId};
use crate::proto::signal::{Command, ConnId, Hub, HubStats, PeerAddr, PeerView};
use crate::proto::token::{TokenError, VerifiedToken};
use crate::shutdown::{Guard, Signal};
use crate::store::worker::StoreHandle;
use crate::tokens::KeyEvent;
use crate::unixtime::{Now, UnixTime};

enum Input {
    Event(Option<HubEvent>),
    Key(Option<KeyEvent>),
    /// A `LookupKid` came back: the kid, and whether the verifier now has its key.
    KidResolved(Option<(Kid, bool)>),
    /// A `Verify` came back from a worker thread.
    Verified(Option<Verified>),
    Admin(Option<AdminRequest>),
    Timer,
    Stop,
}

type Verified = (ConnId, Result<Arc<VerifiedToken>, TokenError>);

/// Per project, `(peak_sessions, signals)`: [`Hub::take_usage`].
pub type SignalUsage = HashMap<ProjectId, (u64, u64)>;

/// What the admin API asks the hub (through `crate::net::live::Live`). Each carries its own
/// reply channel (bounded, of one); a request whose asker has gone is answered into the void.
pub enum AdminRequest {
    Peers {
        project: ProjectId,
        reply: async_channel::Sender<Vec<PeerView>>,
    },
    /// [`Hub::handle_kick`]: the answer is whether a live session was closed.
    Kick {
        project: ProjectId,
        peer: PeerAddr,
        reply: async_channel::Sender<bool>,
    },
    Stats {
        reply: async_channel::Sender<HubStats>,
    },
    TakeUsage {
        reply: async_channel::Sender<SignalUsage>,
    },
    /// Answered once every key event published before it has been handled: the task takes key
    /// events before admin requests, and handles a `StoreChanged` (its store reload included)
    /// before it takes the next input.
    Settled {
        reply: async_channel::Sender<()>,
    },
}

/// Store lookups of kids ([`Command::LookupKid`]) in flight: tasks of their own (a store round
/// trip each) that report back on a channel. Owned here, not detached, so that stopping the hub
/// task cancels them: a detached one would hold a store handle, and keep the store thread that
/// shutdown joins, alive.
struct KidLookups {
    tasks: Vec<smol::Task<()>>,
    report: async_channel::Sender<(Kid, bool)>,
    /// Where signature checks ([`Command::Verify`]) report. Those tasks are detached: they
    /// hold the token service and this sender, nothing that shutdown waits for.
    verified: async_channel::Sender<Verified>,
}

pub struct HubTask {
    pub hub: Hub,
    pub dir: ServerDirectory,
    pub events: async_channel::Receiver<HubEvent>,
    pub keys: async_channel::Receiver<KeyEvent>,
    pub admin: async_channel::Receiver<AdminRequest>,
    pub store: StoreHandle,
    /// The TURN side (`crate::turn`), told which key each handed-out TURN username belongs to,
    /// and which identities were kicked, in that order.
    pub turn: Option<async_channel::Sender<crate::turn::CredentialEvent>>,
    pub max_queued_bytes: usize,
    /// To wait, at shutdown, until every connection task has sent its close frame.
    pub shared: std::sync::Arc<super::SignalShared>,
    /// Where joins, leaves and kicks go, for webhooks (never blocks).
    pub webhooks: crate::webhooks::Sink,
}

impl HubTask {
    /// Runs until shutdown has closed every connection (or the grace has passed); returns the
    /// usage not yet taken, for the last hourly save.
    pub async fn run(mut self, stop: Signal, grace: Duration, guard: Guard) -> SignalUsage {
        let mut conns: HashMap<ConnId, OutboxSender> = HashMap::new();
        let mut stopping: Option<Instant> = None;
        let mut budget = 0u32;
        // One timer, moved only when the hub's next deadline moves: a timer made afresh for
        // every event would be an insert and a removal in the reactor's timer tree each time.
        let mut timer = smol::Timer::never();
        let mut timer_at: Option<Instant> = None;
        let (report, resolved) = async_channel::unbounded();
        let (verified, checked) = async_channel::unbounded();
        let mut lookups = KidLookups { tasks: Vec::new(), report, verified };
        loop {
            let mut wake = self.hub.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            if let Some(since) = stopping {
                wake = wake.min(since + grace);
            }
            if timer_at != Some(wake) {
                timer.set_at(wake);
                timer_at = Some(wake);
            }
            let input = or(
                async { Input::Event(self.events.recv().await.ok()) },
                or(
                    async { Input::Key(self.keys.recv().await.ok()) },
                    or(
                        async { Input::KidResolved(resolved.recv().await.ok()) },
                        or(
                            async { Input::Verified(checked.recv().await.ok()) },
                            or(
                                async { Input::Admin(self.admin.recv().await.ok()) },
                                or(
                                    async {
                                        (&mut timer).await;
                                        Input::Timer
                                    },
                                    async {
                                        if stopping.is_some() {
                                            std::future::pending::<()>().await;
                                        }
                                        stop.fired().await;
                                        Input::Stop
                                    },
                                ),
                            ),
                        ),
                    ),
                ),
            )
            .await;
            match input {
                Input::Event(Some(event)) => self.on_event(event, &mut conns),
                Input::Event(None) => break,
                Input::Key(Some(KeyEvent::KeysDeleted(kids))) => self.hub.handle_keys_deleted(&kids),
                Input::Key(Some(KeyEvent::StoreChanged)) => self.reload_policies().await,
                Input::Admin(Some(request)) => self.on_admin(request),
                Input::Key(None) | Input::KidResolved(None) | Input::Verified(None) | Input::Admin(None) => {}
                Input::Verified(Some((conn, verified))) => {
                    self.hub.handle_verified(conn, verified, Now::read(), &mut self.dir)
                }
                Input::KidResolved(Some((kid, found))) => {
                    lookups.tasks.retain(|t| !t.is_finished());
                    self.hub.handle_kid_resolved(&kid, found, Now::read(), &mut self.dir)
                }
                Input::Timer => {
                    timer_at = None;
                    self.hub.handle_timeout(Now::read());
                }
                Input::Stop => {
                    self.hub.handle_shutdown();
                    stopping = Some(Instant::now());
                }
            }
            self.flush(&mut conns, &mut lookups);
            if let Some(since) = stopping {
                // Connection tasks report `Closed` after their close frame went out.
                let open = self.shared.open.load(Ordering::Relaxed);
                if (conns.is_empty() && open == 0) || since.elapsed() > grace {
                    break;
                }
            }
            // Let connection tasks run between bursts of events, not after every one.
            budget += 1;
            if budget >= 64 {
                budget = 0;
                smol::future::yield_now().await;
            }
        }
        drop(guard);
        self.hub.take_usage()
    }

    fn on_event(&mut self, event: HubEvent, conns: &mut HashMap<ConnId, OutboxSender>) {
        match event {
            HubEvent::Open { conn, info, outbox } => {
                conns.insert(conn, outbox);
                self.hub.handle_open(conn, info, Now::read());
            }
            HubEvent::Text { conn, text } => self.hub.handle_text(conn, &text, Now::read(), &mut self.dir),
            HubEvent::Binary { conn } => self.hub.handle_binary(conn, Now::read()),
            HubEvent::Closed { conn } => {
                conns.remove(&conn);
                self.hub.handle_closed(conn);
            }
        }
    }

    /// Answers at once: the reply channels hold one answer each, so a send never waits.
    fn on_admin(&mut self, request: AdminRequest) {
        match request {
            AdminRequest::Peers { project, reply } => drop(reply.try_send(self.hub.peers(&project))),
            // The hub's KickTurn goes to the TURN side in this turn's flush.
            AdminRequest::Kick { project, peer, reply } => drop(reply.try_send(self.hub.handle_kick(&project, &peer))),
            AdminRequest::Stats { reply } => drop(reply.try_send(self.hub.stats())),
            AdminRequest::TakeUsage { reply } => drop(reply.try_send(self.hub.take_usage())),
            AdminRequest::Settled { reply } => drop(reply.try_send(())),
        }
    }

    /// The store changed (another process, or the admin API through `Live::store_changed`):
    /// reload the projects' policies and the TURN secret (a rotation must reach the
    /// credentials of the next `welcome` and `refreshed`).
    async fn reload_policies(&mut self) {
        let Ok((policies, secret)) =
            self.store.call(|s| (load_policies(s), s.secret(crate::store::secrets::TURN_SECRET))).await
        else {
            return;
        };
        match policies {
            Ok(policies) => self.dir.projects = policies,
            Err(e) => log::warn!("signal: cannot reload the projects' policies: {e}"),
        }
        match secret {
            Ok(Some((secret, _))) => self.dir.turn_secret = secret,
            Ok(None) => {}
            Err(e) => log::warn!("signal: cannot reload the TURN secret: {e}"),
        }
    }

    fn tell_turn(&self, event: crate::turn::CredentialEvent) {
        let Some(turn) = &self.turn else { return };
        // The queue is unbounded (one event per welcome, refresh or kick, so it grows no faster
        // than signaling admits sessions); this fails only once the TURN side has stopped.
        if turn.try_send(event).is_err() {
            log::debug!("signal: the TURN side has stopped; a TURN update was not delivered");
        }
    }

    fn flush(&mut self, conns: &mut HashMap<ConnId, OutboxSender>, lookups: &mut KidLookups) {
        while let Some(cmd) = self.hub.poll_command() {
            match cmd {
                Command::Send { conn, text } => {
                    let Some(out) = conns.get(&conn) else { continue };
                    if out.send_text(text, self.max_queued_bytes).is_err() {
                        conns.remove(&conn);
                        self.hub.handle_closed(conn);
                    }
                }
                Command::Close { conn, code } => {
                    if let Some(out) = conns.remove(&conn) {
                        out.send_close(code);
                    }
                }
                Command::Verify { conn, token } => {
                    let (tokens, report) = (self.dir.tokens.clone(), lookups.verified.clone());
                    crate::rt::spawn_worker(async move {
                        let verified = tokens.verify(&token, UnixTime::now());
                        // Fails only once the hub task is gone, and the connection with it.
                        let _ = report.send((conn, verified)).await;
                    })
                    .detach();
                }
                Command::LookupKid { kid } => {
                    let (tokens, store, report) = (self.dir.tokens.clone(), self.store.clone(), lookups.report.clone());
                    lookups.tasks.push(crate::rt::spawn(async move {
                        let found = tokens.look_up(&store, kid.clone()).await;
                        // Fails only once the hub task is gone, and its waiting connections with it.
                        let _ = report.send((kid, found)).await;
                    }));
                }
                Command::GrantTurn { username, kid, .. } => {
                    self.tell_turn(crate::turn::CredentialEvent::Granted { username, kid })
                }
                Command::KickTurn { project, peer } => {
                    let identity = crate::proto::turn::Identity { project, gid: peer.gid, pid: peer.pid };
                    self.tell_turn(crate::turn::CredentialEvent::Kicked(identity))
                }
                Command::Peer { project, peer, event } => {
                    if self.webhooks.is_active() {
                        self.webhooks.offer(crate::webhooks::Occurrence::of_peer(project, peer, event));
                    }
                }
            }
        }
    }
}
