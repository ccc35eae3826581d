//! TURN over TCP (on the turn port) and TLS (on the turns port), served on the turn thread: one
//! local task per connection splits the byte stream into STUN and ChannelData records and hands
//! each straight to the core, and writes back what the core sends (RFC 8656 §3.1, §12.5).
//! Keeping them on the turn thread saves two cross-thread hops and a copy per record; measured
//! in docs/benchmarks.md.
//!
//! The connection limits are counted and enforced here, one [`SlotPool`] per listener. What a
//! connection needs of the shell is three calls: `stream_opened`, `client_record` and
//! `stream_closed`.

use std::net::SocketAddr;
use std::rc::Weak;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use rustls::ServerConfig;
use smol::net::TcpListener;
use smol::LocalExecutor;

use super::outbound::{self, StreamIn};
use super::relay::WeakShell;
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
/// Records handled before the connection task lets the turn thread's other tasks run.
const RECORD_BUDGET: usize = 64;

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
        let Some(executor) = executor.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        let (shell, tls) = (shell.clone(), tls.clone());
        executor
            .spawn(async move {
                let _slot = slot;
                match tls {
                    None => connection(shell, stream, Transport::Tcp, peer).await,
                    Some(config) => {
                        let handshake = futures_lite::future::or(
                            async { Some(crate::net::tls_stream::accept(stream, config).await) },
                            async {
                                smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                                None
                            },
                        );
                        match handshake.await {
                            Some(Ok(tls)) => connection(shell, tls, Transport::Tls, peer).await,
                            Some(Err(e)) => log::debug!("turns: TLS handshake with {peer} failed: {e}"),
                            None => log::debug!("turns: TLS handshake with {peer} timed out"),
                        }
                    }
                }
            })
            .detach();
    }
}

async fn connection<S>(shell: WeakShell, stream: S, transport: Transport, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (out, input) = outbound::queue();
    let Some(client) = shell.with(|st| st.stream_opened(transport, peer, out)) else { return };
    let (reader, writer) = futures_lite::io::split(stream);
    futures_lite::future::or(read_records(reader, client, shell.clone()), write_records(writer, input)).await;
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

async fn read_records<R: AsyncRead + Unpin>(mut reader: R, client: Client, shell: WeakShell) {
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
                    let record = &buf[taken..taken + len];
                    if shell.with(|st| st.client_record(client, record, now)).is_none() {
                        return;
                    }
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
