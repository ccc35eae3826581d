//! TURN over TCP (on the turn port) and TLS (on the turns port), served on the turn thread: one
//! local task per connection splits the byte stream into STUN and ChannelData records and hands
//! each straight to the core, and writes back what the core sends (RFC 8656 §3.1, §12.5).
//! Keeping them on the turn thread saves two cross-thread hops and a copy per record; measured
//! in docs/benchmarks.md.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use rustls::ServerConfig;
use smol::net::TcpListener;

use super::relay::Shell;
use crate::net::slots::SlotPool;
use crate::proto::stun::frame::{next_record, Record};
use crate::proto::turn::{Client, Transport};
use crate::unixtime::Now;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed (allocations are refreshed at least
/// every few minutes, and ICE keeps channels busy).
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// How often a connection checks its idleness (so it closes 15 to 16 minutes after its last byte).
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// The largest record: a STUN header plus a 16-bit length, or ChannelData with padding.
const MAX_RECORD: usize = 20 + 65_535;
/// Connections per listener (TCP and TLS are counted apart, SPEC "Clients without credentials"),
/// handshakes included.
const MAX_CONNECTIONS: usize = 4096;
/// Per source (an IPv4 address or an IPv6 /64) on one listener, so one host cannot take every
/// slot.
const MAX_CONNECTIONS_PER_SOURCE: usize = 64;
/// Bytes waiting for a slow reader before more are dropped.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024;
const OUTBOUND_QUEUE: usize = 1024;
/// Records handled before the connection task lets the turn thread's other tasks run.
const RECORD_BUDGET: usize = 64;

/// The way to a stream client: its queue and the bytes waiting in it.
pub struct StreamOut {
    pub tx: async_channel::Sender<Vec<u8>>,
    pub queued: Rc<Cell<usize>>,
}

/// Accepts TURN clients on `listener`; `tls` makes it the turns listener. Runs until the turn
/// thread's executor stops.
pub(super) async fn serve(shell: Weak<RefCell<Shell>>, listener: TcpListener, tls: Option<Arc<ServerConfig>>) {
    let name = if tls.is_some() { "turns" } else { "turn-tcp" };
    let slots = SlotPool::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_SOURCE);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("{name}: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Dropped with the connection's task, however it ends.
        let Some(slot) = slots.take(peer.ip()) else {
            log::debug!("{name}: connection limit reached; refusing {peer}");
            continue;
        };
        let Some(strong) = shell.upgrade() else { return };
        let (executor, conn) = {
            let mut st = strong.borrow_mut();
            (st.executor.clone(), st.next_conn())
        };
        drop(strong);
        let _ = stream.set_nodelay(true);
        let (shell, tls) = (shell.clone(), tls.clone());
        executor
            .spawn(async move {
                let _slot = slot;
                match tls {
                    None => connection(shell, stream, Client { transport: Transport::Tcp, conn, addr: peer }).await,
                    Some(config) => {
                        let handshake = futures_lite::future::or(
                            async { Some(crate::net::tls_stream::accept(stream, config).await) },
                            async {
                                smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                                None
                            },
                        );
                        match handshake.await {
                            Some(Ok(tls)) => {
                                connection(shell, tls, Client { transport: Transport::Tls, conn, addr: peer }).await
                            }
                            Some(Err(e)) => log::debug!("turns: TLS handshake with {peer} failed: {e}"),
                            None => log::debug!("turns: TLS handshake with {peer} timed out"),
                        }
                    }
                }
            })
            .detach();
    }
}

async fn connection<S>(shell: Weak<RefCell<Shell>>, stream: S, client: Client)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, rx) = async_channel::bounded::<Vec<u8>>(OUTBOUND_QUEUE);
    let queued = Rc::new(Cell::new(0usize));
    match shell.upgrade() {
        Some(s) => s.borrow_mut().stream_opened(client, StreamOut { tx, queued: queued.clone() }),
        None => return,
    }
    let (reader, mut writer) = futures_lite::io::split(stream);
    let write = async move {
        while let Ok(bytes) = rx.recv().await {
            queued.set(queued.get().saturating_sub(bytes.len()));
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            if rx.is_empty() && writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    };
    futures_lite::future::or(read_records(reader, client, shell.clone()), write).await;
    if let Some(s) = shell.upgrade() {
        s.borrow_mut().stream_closed(client);
    }
}

async fn read_records<R: AsyncRead + Unpin>(mut reader: R, client: Client, shell: Weak<RefCell<Shell>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut since_yield = 0;
    // One timer for the connection's life, not one per read (each would be an insert and a
    // removal in the reactor's timer tree).
    let mut idle_check = smol::Timer::interval(IDLE_CHECK);
    let mut last_read = Instant::now();
    loop {
        let mut taken = 0;
        // One clock reading per chunk read (and after each yield), not per record.
        let mut now = Now::read();
        loop {
            match next_record(&buf[taken..], MAX_RECORD) {
                Record::Complete(len) => {
                    let Some(s) = shell.upgrade() else { return };
                    s.borrow_mut().client_record(client, &buf[taken..taken + len], now);
                    drop(s);
                    taken += len;
                    since_yield += 1;
                    if since_yield >= RECORD_BUDGET {
                        // A fast sender must not starve the UDP relays and timers.
                        since_yield = 0;
                        smol::future::yield_now().await;
                        now = Now::read();
                    }
                }
                Record::NeedMore => break,
                Record::Invalid => {
                    log::debug!("turn: {} sent bytes that are neither STUN nor ChannelData", client.addr);
                    return;
                }
            }
        }
        buf.drain(..taken);
        let read = futures_lite::future::or(async { Some(reader.read(&mut chunk).await) }, async {
            loop {
                idle_check.next().await;
                if last_read.elapsed() >= IDLE_TIMEOUT {
                    return None;
                }
            }
        });
        match read.await {
            Some(Ok(0)) | Some(Err(_)) | None => return,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        last_read = Instant::now();
    }
}
