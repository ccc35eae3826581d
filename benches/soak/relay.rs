//! The soak's TURN side, on a thread of its own: UDP allocations made with the credentials of
//! signaling `welcome`s (tests/common/turn.rs, a STUN client written apart from edgebeam's codec),
//! each ChannelBound to an in-process UDP echo on 127.0.0.1, then one ChannelData round trip per
//! allocation per interval until the end. Like a real client, each allocation re-binds its
//! channel every 2 minutes (a permission lasts 5, a binding 10) and refreshes itself every 4
//! (lifetime 600 s), answering a 438 with the new nonce.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use smol::Timer;

use crate::common::turn::{allocate_udp_authed, read_answer, Answer, AuthedAllocation};
use crate::signaling::TurnCredentials;

const CHANNEL: u16 = 0x4000;
/// ChannelData payload: allocation index (4 bytes), sequence number (8), send time in ns (8).
const PAYLOAD: usize = 20;
const BIND_EVERY: Duration = Duration::from_secs(120);
const REFRESH_EVERY: Duration = Duration::from_secs(240);
const LIFETIME_SECS: u32 = 600;
/// A request unanswered this long is sent again, up to `TRIES` times in all.
const RETRANSMIT_AFTER: Duration = Duration::from_secs(1);
const TRIES: u32 = 5;
/// After the last send, echoes still in flight have this long to come back.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Default, Debug)]
pub struct TurnStats {
    pub allocated: u64,
    pub allocate_failed: u64,
    pub sent: u64,
    pub send_failed: u64,
    pub received: u64,
    /// Echoes whose sequence number was not the next one expected (late, duplicated, reordered).
    pub out_of_order: u64,
    pub reached_peer: u64,
    pub binds_ok: u64,
    pub binds_failed: u64,
    pub refreshes_ok: u64,
    pub refreshes_failed: u64,
    /// 438 answers, each retried with the new nonce (not an error: nonces last 600 s).
    pub stale_nonces: u64,
    pub retransmits: u64,
    pub unknown_datagrams: u64,
    /// Send ticks skipped because this thread ran over a whole interval late.
    pub late_ticks: u64,
    pub rtt_us: Vec<u32>,
    pub surprises: Vec<String>,
}

impl TurnStats {
    fn surprise(&mut self, what: String) {
        if self.surprises.len() < 20 {
            self.surprises.push(what);
        }
    }

    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

/// Makes an allocation per credential and binds its channel to `echo`, one after the other.
pub fn allocate(
    server: SocketAddr,
    creds: &[TurnCredentials],
    echo: SocketAddr,
    stats: &mut TurnStats,
) -> Vec<AuthedAllocation> {
    let mut out = Vec::with_capacity(creds.len());
    for (i, c) in creds.iter().enumerate() {
        let made = allocate_udp_authed(server, &c.username, &c.credential).and_then(|mut a| {
            a.channel_bind(CHANNEL, echo)?;
            Ok(a)
        });
        match made {
            Ok(a) => {
                stats.allocated += 1;
                out.push(a);
            }
            Err(e) => {
                stats.allocate_failed += 1;
                stats.surprise(format!("allocation {i}: {e:?}"));
            }
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Bind,
    Refresh,
}

struct Pending {
    kind: Kind,
    id: [u8; 12],
    bytes: Vec<u8>,
    sent_at: Instant,
    tries: u32,
}

enum Wake {
    Datagram(usize),
    ReadFailed(std::io::Error),
    Timer,
}

/// Drives every allocation from `start` to `end` (then `DRAIN` more for the last echoes) on this
/// thread's executor.
pub fn run(
    allocs: Vec<AuthedAllocation>,
    echo: SocketAddr,
    start: Instant,
    end: Instant,
    interval: Duration,
    stats: TurnStats,
) -> TurnStats {
    let stats = RefCell::new(stats);
    let ex = smol::LocalExecutor::new();
    let n = allocs.len().max(1) as u32;
    let tasks: Vec<_> = allocs
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            // Spread the allocations over the interval, and their upkeep over a second.
            let offset = interval * i as u32 / n;
            let upkeep = Duration::from_millis((i as u64 * 7) % 1000);
            ex.spawn(drive(a, i as u32, echo, (start, offset), end, interval, upkeep, &stats))
        })
        .collect();
    smol::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    drop(ex);
    stats.into_inner()
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    mut a: AuthedAllocation,
    index: u32,
    echo: SocketAddr,
    (start, offset): (Instant, Duration),
    end: Instant,
    interval: Duration,
    upkeep: Duration,
    stats: &RefCell<TurnStats>,
) {
    // Sends are non-blocking calls on the socket (a full buffer counts as a failed send), so no
    // task ever waits holding `stats`; only reads and timers are awaited.
    let sock = smol::Async::new(a.alloc.sock.try_clone().unwrap()).unwrap();
    let span = end.saturating_duration_since(start);
    // A short run (the smoke run) still re-binds and refreshes once.
    let mut next_bind = start + BIND_EVERY.min(span / 3) + upkeep;
    let mut next_refresh = start + REFRESH_EVERY.min(span * 2 / 3) + upkeep;
    let mut next_send = start + offset;
    let (mut seq, mut expect) = (0u64, 0u64);
    let mut pending: Option<Pending> = None;
    let mut packet = vec![0u8; 4 + PAYLOAD];
    packet[0..2].copy_from_slice(&CHANNEL.to_be_bytes());
    packet[2..4].copy_from_slice(&(PAYLOAD as u16).to_be_bytes());
    packet[4..8].copy_from_slice(&index.to_be_bytes());
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= end + DRAIN {
            break;
        }
        let mut wake = if now < end { next_send.min(end) } else { end + DRAIN };
        if let Some(p) = &pending {
            wake = wake.min(p.sent_at + RETRANSMIT_AFTER);
        } else if now < end {
            wake = wake.min(next_bind).min(next_refresh);
        }
        let step = or(
            async {
                match sock.recv(&mut buf).await {
                    Ok(len) => Wake::Datagram(len),
                    Err(e) => Wake::ReadFailed(e),
                }
            },
            async {
                Timer::at(wake).await;
                Wake::Timer
            },
        )
        .await;
        let mut s = stats.borrow_mut();
        match step {
            Wake::Datagram(len) => {
                let d = &buf[..len];
                if len == 4 + PAYLOAD && d[0..2] == CHANNEL.to_be_bytes() {
                    let got = u64::from_be_bytes(d[8..16].try_into().unwrap());
                    let sent_ns = u64::from_be_bytes(d[16..24].try_into().unwrap());
                    let rtt = (start.elapsed().as_nanos() as u64).saturating_sub(sent_ns) / 1000;
                    s.received += 1;
                    s.rtt_us.push(rtt.min(u64::from(u32::MAX)) as u32);
                    if got != expect {
                        s.out_of_order += 1;
                    }
                    expect = got + 1;
                } else if let Some(answer) = pending.as_ref().and_then(|p| read_answer(d, &p.id)) {
                    let p = pending.take().unwrap();
                    match (answer, p.kind) {
                        (Answer::Success, Kind::Bind) => s.binds_ok += 1,
                        (Answer::Success, Kind::Refresh) => s.refreshes_ok += 1,
                        (Answer::Error { code: 438, nonce: Some(nonce) }, kind) => {
                            s.stale_nonces += 1;
                            a.set_nonce(nonce);
                            let p = request(&a, kind, echo);
                            let _ = sock.get_ref().send(&p.bytes);
                            pending = Some(p);
                        }
                        (Answer::Error { code, .. }, kind) => {
                            match kind {
                                Kind::Bind => s.binds_failed += 1,
                                Kind::Refresh => s.refreshes_failed += 1,
                            }
                            s.surprise(format!("allocation {index}: {kind:?} answered {code}"));
                        }
                    }
                } else {
                    s.unknown_datagrams += 1;
                }
            }
            Wake::ReadFailed(e) => {
                s.surprise(format!("allocation {index}: read failed: {e}"));
                s.send_failed += 1;
                break;
            }
            Wake::Timer => {}
        }
        let now = Instant::now();
        if now < end && now >= next_send {
            packet[8..16].copy_from_slice(&seq.to_be_bytes());
            packet[16..24].copy_from_slice(&(start.elapsed().as_nanos() as u64).to_be_bytes());
            seq += 1;
            match sock.get_ref().send(&packet) {
                Ok(_) => s.sent += 1,
                Err(e) => {
                    s.send_failed += 1;
                    s.surprise(format!("allocation {index}: send failed: {e}"));
                }
            }
            next_send += interval;
            if next_send + interval < now {
                // This thread was held up for more than an interval: skip ahead, don't burst.
                let behind = (now - next_send).as_nanos() / interval.as_nanos();
                s.late_ticks += behind as u64;
                next_send += interval * behind as u32;
            }
        }
        if let Some(p) = &mut pending {
            if now >= p.sent_at + RETRANSMIT_AFTER {
                if p.tries >= TRIES {
                    match p.kind {
                        Kind::Bind => s.binds_failed += 1,
                        Kind::Refresh => s.refreshes_failed += 1,
                    }
                    s.surprise(format!("allocation {index}: {:?} unanswered after {TRIES} tries", p.kind));
                    pending = None;
                } else {
                    p.tries += 1;
                    p.sent_at = now;
                    s.retransmits += 1;
                    let _ = sock.get_ref().send(&p.bytes);
                }
            }
        } else if now < end && (now >= next_bind || now >= next_refresh) {
            let kind = if now >= next_bind { Kind::Bind } else { Kind::Refresh };
            match kind {
                Kind::Bind => next_bind += BIND_EVERY,
                Kind::Refresh => next_refresh += REFRESH_EVERY,
            }
            let p = request(&a, kind, echo);
            let _ = sock.get_ref().send(&p.bytes);
            pending = Some(p);
        }
    }
}

fn request(a: &AuthedAllocation, kind: Kind, echo: SocketAddr) -> Pending {
    let (bytes, id) = match kind {
        Kind::Bind => a.channel_bind_request(CHANNEL, echo),
        Kind::Refresh => a.refresh_request(LIFETIME_SECS),
    };
    Pending { kind, id, bytes, sent_at: Instant::now(), tries: 1 }
}
