//! The turn thread's state and its UDP data path. [`Shell`] holds the core, the relay sockets
//! and the way to each stream client; the tasks here are the UDP listener's, one per relay
//! socket, and the one for control messages and timers. Stream connections are `stream.rs`'s
//! tasks; `mod.rs` starts the thread.
//!
//! Who owns the shell: every task on the turn thread reaches the one `Shell` through
//! [`ShellCell::with`] (or [`WeakShell::with`]), a closure over `&mut Shell`. A closure cannot
//! await, so no borrow lives across an await, and on this one thread `with` never finds the
//! shell borrowed, as long as nothing inside a `with` calls `with` again (nothing the shell
//! drops does: an unauthenticated connection's slot, which the shell gives back when the core
//! reports the connection's allocation, takes only its pool's own lock, in `net::slots`, and
//! wakes the connection's task without running it).
//!
//! Why not one owner task fed by messages, the house's usual shape: every datagram and every
//! stream record would then cross a channel (a wake-up of another task) and be copied into the
//! message between the socket that read it and the core, on the path docs/benchmarks.md
//! measures. Passing `&mut Shell` down one task instead would make that task poll every socket
//! itself. A `with` costs what the bare `RefCell` borrow it wraps did: one per batch of
//! datagrams, one per stream record.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::{Async, LocalExecutor, Task, Timer};

use super::batch::{RecvBatch, BATCH};
use super::outbound::{Opened, Standing, StreamClient, StreamOut};
use super::{Control, RelaySetup, StreamFigures, TurnStats};
use crate::proto::stun::Family;
use crate::proto::turn::{AllocId, Client, Command, Server, Transport};
use crate::unixtime::Now;

/// Datagrams handled per wakeup before a task yields to the others.
const BUDGET: usize = 64;
/// The longest a timer sleeps, so stats and expiries are looked at at least this often.
const TICK: Duration = Duration::from_secs(1);
const USAGE_EVERY: Duration = Duration::from_secs(2);
const BIND_ATTEMPTS: usize = 64;

struct Relay {
    socket: Rc<Async<UdpSocket>>,
    port: u16,
    _task: Task<()>,
}

pub(super) struct Shell {
    core: Server,
    /// Where allocations created and deleted go, for webhooks (never blocks).
    webhooks: crate::webhooks::Sink,
    listener: Rc<Async<UdpSocket>>,
    setup: RelaySetup,
    relays: HashMap<AllocId, Relay>,
    ports_in_use: HashSet<u16>,
    streams: HashMap<u64, StreamClient>,
    /// Stream clients evicted since start, for `/metrics`.
    streams_evicted: u64,
    out: Vec<u8>,
    /// Taken while a socket is drained (the handlers need `&mut Shell`), then put back.
    batch: Option<Box<RecvBatch>>,
    rng_state: u64,
    /// Runs the relay sockets' tasks.
    executor: Rc<LocalExecutor<'static>>,
    next_conn: u64,
    me: WeakShell,
}

/// The turn thread's shell, shared by its tasks; the module doc says why it is a `RefCell`.
#[derive(Clone)]
pub(super) struct ShellCell(Rc<RefCell<Shell>>);

/// What tasks run by the shell's own executor hold: a [`ShellCell`] there would be a cycle (the
/// shell owns the executor) and keep the shell alive after the thread stops.
#[derive(Clone)]
pub(super) struct WeakShell(Weak<RefCell<Shell>>);

impl ShellCell {
    pub(super) fn new(
        core: Server,
        listener: Rc<Async<UdpSocket>>,
        setup: RelaySetup,
        executor: Rc<LocalExecutor<'static>>,
        webhooks: crate::webhooks::Sink,
    ) -> ShellCell {
        let seed = crate::random::token::<8>().bytes().fold(0u64, |a, b| a.rotate_left(8) ^ u64::from(b)) | 1;
        ShellCell(Rc::new_cyclic(|me| {
            RefCell::new(Shell {
                core,
                webhooks,
                listener,
                setup,
                relays: HashMap::new(),
                ports_in_use: HashSet::new(),
                streams: HashMap::new(),
                streams_evicted: 0,
                out: Vec::with_capacity(2048),
                batch: Some(Box::new(RecvBatch::new())),
                rng_state: seed,
                executor,
                next_conn: 1,
                me: WeakShell(me.clone()),
            })
        }))
    }

    /// Runs `f` on the shell. `f` must not call `with` (the shell is borrowed: it would panic).
    #[inline]
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Shell) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    pub(super) fn downgrade(&self) -> WeakShell {
        WeakShell(Rc::downgrade(&self.0))
    }
}

impl WeakShell {
    /// Runs `f` on the shell, or returns `None` once the thread has dropped it (shutting down).
    #[inline]
    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Shell) -> R) -> Option<R> {
        let shell = self.0.upgrade()?;
        let r = f(&mut shell.borrow_mut());
        Some(r)
    }
}

/// The UDP listener's task; it only ends when the socket fails.
pub(super) async fn client_datagrams(shell: ShellCell, listener: Rc<Async<UdpSocket>>) {
    loop {
        if let Err(e) = listener.readable().await {
            log::error!("turn: UDP listener failed: {e}");
            return;
        }
        if shell.with(|st| st.drain_socket(&listener, None)) {
            smol::future::yield_now().await;
        }
    }
}

async fn peer_datagrams(shell: WeakShell, alloc: AllocId, socket: Rc<Async<UdpSocket>>) {
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let Some(busy) = shell.with(|st| st.drain_socket(&socket, Some(alloc))) else { return };
        if busy {
            smol::future::yield_now().await;
        }
    }
}

/// The UDP listener's task, watched by the control loop for `/healthz`.
pub(super) struct UdpAlive(pub(super) Task<()>);

pub(super) async fn control_loop(
    shell: ShellCell,
    control: async_channel::Receiver<Control>,
    stats: Arc<TurnStats>,
    udp: &UdpAlive,
) {
    let mut next_usage = Instant::now() + USAGE_EVERY;
    loop {
        let tick = Instant::now() + TICK;
        let deadline = shell.with(|st| st.core.poll_timeout().map_or(tick, |t| t.min(tick)));
        let msg = futures_lite::future::or(async { Some(control.recv().await) }, async {
            Timer::at(deadline).await;
            None
        })
        .await;
        let msg = match msg {
            Some(Ok(Control::Shutdown)) | Some(Err(_)) => break,
            Some(Ok(msg)) => Some(msg),
            None => None,
        };
        shell.with(|st| {
            if let Some(msg) = msg {
                st.control(msg);
            }
            let now = Now::read();
            st.core.handle_timeout(now);
            st.drain(now);
            stats
                .set_totals(st.core.totals(), StreamFigures { clients: st.streams.len(), evicted: st.streams_evicted });
            if udp.0.is_finished() {
                stats.mark_udp_failed();
            }
            if now.mono >= next_usage {
                stats.add_usage(st.core.take_usage());
                next_usage = now.mono + USAGE_EVERY;
            }
        });
    }
    shell.with(|st| stats.add_usage(st.core.take_usage()));
}

impl Shell {
    /// A stream client's connection is ready for records: numbers it, keeps its queue and its
    /// unauthenticated slot, and starts its deadline, counted from `opened` (its accept).
    pub(super) fn stream_opened(&mut self, opened: Opened, out: StreamOut, standing: Rc<Cell<Standing>>) -> Client {
        self.next_conn += 1;
        let client = Client { transport: opened.transport, conn: self.next_conn, addr: opened.addr };
        self.streams.insert(client.conn, StreamClient::new(out, opened.pending, standing));
        self.core.handle_stream_opened(client, opened.at);
        client
    }

    /// A stream client lost its unauthenticated slot to a newer connection of its source.
    pub(super) fn stream_evicted(&mut self) {
        self.streams_evicted += 1;
    }

    /// A stream client went away: its allocation goes with it (RFC 8656 §3.1).
    pub(super) fn stream_closed(&mut self, client: Client) {
        self.streams.remove(&client.conn);
        self.core.handle_client_closed(client);
        self.drain(Now::read());
    }

    /// The thread is stopping: closes every relay socket and stream queue.
    pub(super) fn close_all(&mut self) {
        self.relays.clear();
        self.streams.clear();
    }

    pub(super) fn client_record(&mut self, client: Client, bytes: &[u8], now: Now) {
        if let Some(fwd) = self.core.handle_client(client, bytes, now) {
            if let Some(relay) = self.relays.get(&fwd.alloc) {
                if let Err(e) = relay.socket.get_ref().send_to(fwd.payload, fwd.peer) {
                    log::trace!("turn: relay send: {e}");
                }
            }
        }
        self.drain(now);
    }

    /// Reads and handles what `socket` has queued, in batches, until a short batch shows it
    /// drained (a later datagram re-arms the readiness wait) or the budget is spent (returns
    /// true: yield). `alloc` is `None` for the client listener, else the allocation whose relay
    /// socket this is.
    fn drain_socket(&mut self, socket: &Async<UdpSocket>, alloc: Option<AllocId>) -> bool {
        // One set of receive buffers for every socket keeps an allocation's footprint small.
        let Some(mut batch) = self.batch.take() else { return false };
        let mut handled = 0;
        let busy = loop {
            let n = match batch.recv(socket.get_ref()) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                // ICMP errors from earlier sends surface here; they are not fatal.
                Err(e) => {
                    log::trace!("turn: UDP receive: {e}");
                    break false;
                }
            };
            // One clock reading per batch: the datagrams arrived together.
            let now = Now::read();
            for i in 0..n {
                let (meta, bytes) = batch.get(i);
                let Some(from) = meta.from.filter(|_| !meta.truncated) else { continue };
                match alloc {
                    None => self.client_record(Client { transport: Transport::Udp, conn: 0, addr: from }, bytes, now),
                    Some(alloc) => self.peer_datagram(alloc, from, bytes, now),
                }
            }
            handled += n;
            if n < BATCH {
                break false;
            }
            if handled >= BUDGET {
                break true;
            }
        };
        self.batch = Some(batch);
        busy
    }

    fn peer_datagram(&mut self, alloc: AllocId, from: SocketAddr, payload: &[u8], now: Now) {
        let mut out = std::mem::take(&mut self.out);
        if let Some(client) = self.core.handle_peer(alloc, from, payload, now, &mut out) {
            self.deliver(client, &out);
        }
        self.out = out;
        self.drain(now);
    }

    fn deliver(&mut self, to: Client, bytes: &[u8]) {
        match to.transport {
            Transport::Udp => {
                if let Err(e) = self.listener.get_ref().send_to(bytes, to.addr) {
                    log::trace!("turn: UDP send: {e}");
                }
            }
            Transport::Tcp | Transport::Tls => {
                if let Some(stream) = self.streams.get(&to.conn) {
                    stream.push(bytes);
                }
            }
        }
    }

    fn control(&mut self, msg: Control) {
        match msg {
            Control::Revoke(usernames) => {
                let n = self.core.handle_revoke(usernames);
                if n > 0 {
                    log::info!("turn: removed {n} allocations of revoked credentials");
                }
            }
            Control::Kick(identity) => {
                self.core.handle_kick(&identity);
            }
            Control::Secrets(secrets) => self.core.handle_secrets(secrets),
            Control::Allocations { project, reply } => drop(reply.try_send(self.core.allocations_of(&project))),
            Control::Shutdown => {}
        }
    }

    /// Sends queued responses and carries out relay commands until the core has nothing left.
    fn drain(&mut self, now: Now) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                self.deliver(t.to, &t.bytes);
                progressed = true;
            }
            while let Some(cmd) = self.core.poll_command() {
                progressed = true;
                match cmd {
                    Command::BindRelay { alloc, family, even_port } => {
                        let bound = self.bind_relay(alloc, family, even_port);
                        self.core.handle_relay_bound(alloc, bound, now);
                    }
                    Command::CloseRelay { alloc } => {
                        if let Some(relay) = self.relays.remove(&alloc) {
                            self.ports_in_use.remove(&relay.port);
                        }
                    }
                    Command::Authenticated { client } => {
                        if let Some(stream) = self.streams.get_mut(&client.conn) {
                            stream.authenticated();
                        }
                    }
                    Command::CloseStream { client } => {
                        // Dropping its queue ends its writer, and so its connection task.
                        if let Some(stream) = self.streams.remove(&client.conn) {
                            stream.close();
                        }
                    }
                }
            }
            while let Some(event) = self.core.poll_event() {
                if self.webhooks.is_active() {
                    self.webhooks.offer(crate::webhooks::Occurrence::of_turn(event));
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: only spreads relay ports, so predictability costs nothing.
        let mut x = self.rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng_state = x;
        x
    }

    /// Binds a relay socket on a random free port of the range; `None` when none could be had.
    fn bind_relay(&mut self, alloc: AllocId, family: Family, even_port: bool) -> Option<SocketAddr> {
        let (bind, advertise) = match family {
            Family::V4 => (self.setup.bind_v4?, self.setup.advertise_v4?),
            Family::V6 => (self.setup.bind_v6?, self.setup.advertise_v6?),
        };
        let range = self.setup.ports;
        for _ in 0..BIND_ATTEMPTS {
            let mut port = range.low + (self.next_random() % u64::from(range.len())) as u16;
            if even_port && port % 2 == 1 {
                port = if port > range.low { port - 1 } else { port + 1 };
            }
            if self.ports_in_use.contains(&port) {
                continue;
            }
            let socket = match UdpSocket::bind(SocketAddr::new(bind, port)).and_then(Async::new) {
                Ok(s) => Rc::new(s),
                Err(_) => continue,
            };
            let task = self.executor.spawn(peer_datagrams(self.me.clone(), alloc, socket.clone()));
            self.ports_in_use.insert(port);
            self.relays.insert(alloc, Relay { socket, port, _task: task });
            return Some(SocketAddr::new(advertise, port));
        }
        log::warn!("turn: no free relay port in {range} after {BIND_ATTEMPTS} attempts");
        None
    }
}
