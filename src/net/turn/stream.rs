//! TURN over TCP (on the turn port) and TLS (on the turns port), served on the turn thread: one
//! local task per connection splits the byte stream into STUN and ChannelData records and hands
//! each straight to the core, and writes back what the core sends (RFC 8656 §3.1, §12.5).
//! Keeping them on the turn thread saves two cross-thread hops and a copy per record; measured
//! in docs/benchmarks.md.
//!
//! Clients without credentials (SPEC): a connection counts as unauthenticated from its accept
//! until the core reports its allocation (`Command::Authenticated`). Per listener a source may
//! hold 64 such connections; one more evicts that source's oldest ([`SlotPool::take_evicting`]).
//! The core closes one that has no allocation 30 s after its accept (`Command::CloseStream`).
//! The bytes of an incomplete record are bounded by the record's declared size (at most
//! [`MAX_RECORD`]), held only while it is incomplete, and for at most [`RECORD_DEADLINE`].
//!
//! What a connection needs of the shell is three calls: `stream_opened`, `client_record` and
//! `stream_closed`.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rustls::ServerConfig;
use smol::net::TcpListener;
use smol::LocalExecutor;

use super::outbound::{self, Opened, Standing, StreamIn};
use super::relay::WeakShell;
use crate::net::slots::{Eviction, SlotPool};
use crate::proto::stun::frame::{next_record, Record};
use crate::proto::turn::{Client, Transport};
use crate::unixtime::Now;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed (allocations are refreshed at least
/// every few minutes, and ICE keeps channels busy).
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// A record whose first bytes arrived this long ago and that is still incomplete closes its
/// connection: its buffer is not held for a sender that trickles or stops.
const RECORD_DEADLINE: Duration = Duration::from_secs(30);
/// The largest record: a STUN header plus a 16-bit length, or ChannelData with padding.
const MAX_RECORD: usize = 20 + 65_535;
/// Connections per listener (TCP and TLS are counted apart), handshakes included: past it the
/// listener closes new ones at once.
const MAX_CONNECTIONS: usize = 4096;
/// Per source (an IPv4 address or an IPv6 /64) on one listener, connections without an
/// allocation yet (SPEC "Clients without credentials"): one more evicts the source's oldest.
const MAX_UNAUTHENTICATED_PER_SOURCE: usize = 64;
/// Records handled before the connection task lets the turn thread's other tasks run.
const RECORD_BUDGET: usize = 64;
/// Bytes read at once.
const READ_CHUNK: usize = 4096;

/// Accepts TURN clients on `listener`; `tls` makes it the turns listener. Runs until the turn
/// thread's executor stops. Both the shell and the executor are weak: this task runs on that
/// executor, which the shell owns.
pub(super) async fn serve(
    shell: WeakShell,
    executor: Weak<LocalExecutor<'static>>,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
) {
    let name = if tls.is_some() { "turns" } else { "turn-tcp" };
    // Every connection holds a slot of `all` for its life; a source has no cap of its own
    // there, since an authenticated connection holds an allocation, which has its quotas.
    let all = SlotPool::new(MAX_CONNECTIONS, MAX_CONNECTIONS);
    let unauthenticated = SlotPool::new(MAX_CONNECTIONS, MAX_UNAUTHENTICATED_PER_SOURCE);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("{name}: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let at = Now::read();
        // Dropped with the connection's task, however it ends.
        let Some(slot) = all.take(peer.ip()) else {
            log::debug!("{name}: connection limit reached; refusing {peer}");
            continue;
        };
        // Never `None`: this pool holds no more slots than `all` does.
        let Some(pending) = unauthenticated.take_evicting(peer.ip()) else { continue };
        let Some(executor) = executor.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        let (shell, tls) = (shell.clone(), tls.clone());
        executor
            .spawn(async move {
                let _slot = slot;
                let eviction = pending.eviction();
                let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
                let opened = Opened { transport, addr: peer, at, pending };
                match tls {
                    None => connection(shell, stream, opened, eviction).await,
                    Some(config) => {
                        // On a worker thread: a flood of handshakes (about 200 µs of CPU each)
                        // must not stall the relaying this thread does. Dropped, the task stops.
                        let handshake = or(
                            async {
                                Some(crate::rt::spawn_worker(crate::net::tls_stream::accept(stream, config)).await)
                            },
                            or(
                                async {
                                    smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                                    None
                                },
                                async {
                                    eviction.wait().await;
                                    log::debug!("turns: evicted {peer} during its TLS handshake");
                                    let _ = shell.with(|st| st.stream_evicted());
                                    None
                                },
                            ),
                        );
                        match handshake.await {
                            Some(Ok(tls)) => connection(shell, tls, opened, eviction).await,
                            Some(Err(e)) => log::debug!("turns: TLS handshake with {peer} failed: {e}"),
                            None => log::debug!("turns: TLS handshake with {peer} did not finish"),
                        }
                    }
                }
            })
            .detach();
    }
}

async fn connection<S>(shell: WeakShell, stream: S, opened: Opened, eviction: Eviction)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (out, input) = outbound::queue();
    let standing = Rc::new(Cell::new(Standing::Pending));
    let Some(client) = shell.with(|st| st.stream_opened(opened, out, standing.clone())) else { return };
    let (reader, writer) = futures_lite::io::split(stream);
    let evicted = async {
        eviction.wait().await;
        match standing.get() {
            // Its slot was given back when it got its allocation: not an eviction.
            Standing::Authenticated => std::future::pending::<()>().await,
            // The core closed it; its writer ends the connection.
            Standing::Closed => std::future::pending::<()>().await,
            Standing::Pending => {
                log::debug!("turn: evicted {} for a newer connection of its source", client.addr);
                let _ = shell.with(|st| st.stream_evicted());
            }
        }
    };
    or(read_records(reader, client, shell.clone()), or(write_records(writer, input), evicted)).await;
    shell.with(|st| st.stream_closed(client));
}

async fn write_records<W: AsyncWrite + Unpin>(mut writer: W, input: StreamIn) {
    while let Some(bytes) = input.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
        if input.is_empty() && writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.close().await;
}

/// Why reading a connection stopped.
enum Stop {
    /// The shell is gone (the turn thread is stopping).
    Ended,
    /// Bytes that are neither STUN nor ChannelData.
    Invalid,
}

async fn read_records<R: AsyncRead + Unpin>(mut reader: R, client: Client, shell: WeakShell) {
    let mut records = Records::default();
    let mut handle = |record: &[u8], now: Now| shell.with(|st| st.client_record(client, record, now)).is_some();
    let mut chunk = [0u8; READ_CHUNK];
    // One timer for the connection's life, moved only when it fires early (idle) or a record
    // begins before it would fire: not once per read, each of which would be an insert and a
    // removal in the reactor's timer tree.
    let mut last_read = Instant::now();
    let mut check_at = last_read + IDLE_TIMEOUT;
    let mut timer = smol::Timer::at(check_at);
    loop {
        let read = or(async { Some(reader.read(&mut chunk).await) }, async {
            (&mut timer).await;
            None
        });
        let n = match read.await {
            Some(Ok(0)) | Some(Err(_)) => return,
            Some(Ok(n)) => n,
            None => {
                let now = Instant::now();
                if now >= last_read + IDLE_TIMEOUT {
                    return log::debug!("turn: {} idle for {IDLE_TIMEOUT:?}; closing", client.addr);
                }
                if records.since.is_some_and(|t| now >= t + RECORD_DEADLINE) {
                    return log::debug!("turn: {} left a record incomplete for {RECORD_DEADLINE:?}", client.addr);
                }
                let idle_at = last_read + IDLE_TIMEOUT;
                check_at = records.since.map_or(idle_at, |t| idle_at.min(t + RECORD_DEADLINE));
                timer.set_at(check_at);
                continue;
            }
        };
        last_read = Instant::now();
        match records.feed(&chunk[..n], &mut handle).await {
            Ok(()) => {}
            Err(Stop::Ended) => return,
            Err(Stop::Invalid) => {
                return log::debug!("turn: {} sent bytes that are neither STUN nor ChannelData", client.addr);
            }
        }
        if let Some(due) = records.since.map(|t| t + RECORD_DEADLINE).filter(|due| *due < check_at) {
            check_at = due;
            timer.set_at(due);
        }
    }
}

/// Splits a connection's bytes into records. Whole records are handed over straight from the
/// read buffer; only the start of a record that a read cut is copied aside, into a buffer of
/// exactly the record's declared size (at most [`MAX_RECORD`]), dropped once the record is whole.
#[derive(Default)]
struct Records {
    /// The start of a record not yet whole; empty and unallocated otherwise.
    partial: Vec<u8>,
    /// When `partial`'s record began.
    since: Option<Instant>,
    since_yield: usize,
}

impl Records {
    /// Hands every record `fresh` completes to `handle`, which returns false once the shell is
    /// gone.
    async fn feed(&mut self, mut fresh: &[u8], handle: &mut impl FnMut(&[u8], Now) -> bool) -> Result<(), Stop> {
        // One clock reading per read (and after each yield), not per record.
        let mut now = Now::read();
        // First the record a previous read left incomplete, taking no more than it lacks.
        while !self.partial.is_empty() && !fresh.is_empty() {
            let lacking = match next_record(&self.partial, MAX_RECORD) {
                Record::NeedMore => 4 - self.partial.len(),
                Record::Partial(total) => total - self.partial.len(),
                Record::Complete(_) | Record::Invalid => return Err(Stop::Invalid),
            };
            let (head, rest) = fresh.split_at(lacking.min(fresh.len()));
            self.partial.extend_from_slice(head);
            fresh = rest;
            match next_record(&self.partial, MAX_RECORD) {
                Record::NeedMore => {}
                Record::Partial(total) => self.partial.reserve_exact(total - self.partial.len()),
                Record::Complete(_) => {
                    let record = std::mem::take(&mut self.partial);
                    self.since = None;
                    self.handled(handle(&record, now))?;
                }
                Record::Invalid => return Err(Stop::Invalid),
            }
        }
        // Then whole records straight from what was read.
        while !fresh.is_empty() {
            let size = match next_record(fresh, MAX_RECORD) {
                Record::Complete(len) => {
                    let (record, rest) = fresh.split_at(len);
                    fresh = rest;
                    self.handled(handle(record, now))?;
                    if self.since_yield >= RECORD_BUDGET {
                        // A fast sender must not starve the UDP relays and timers.
                        self.since_yield = 0;
                        smol::future::yield_now().await;
                        now = Now::read();
                    }
                    continue;
                }
                Record::NeedMore => 4,
                Record::Partial(total) => total,
                Record::Invalid => return Err(Stop::Invalid),
            };
            self.partial = Vec::with_capacity(size);
            self.partial.extend_from_slice(fresh);
            self.since = Some(now.mono);
            break;
        }
        Ok(())
    }

    fn handled(&mut self, alive: bool) -> Result<(), Stop> {
        self.since_yield += 1;
        if alive {
            Ok(())
        } else {
            Err(Stop::Ended)
        }
    }
}

#[cfg(test)]
mod tests;
