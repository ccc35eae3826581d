//! TURN over TCP (on the turn port) and TLS (on the turns port): one task per connection that
//! splits the byte stream into STUN and ChannelData records and hands them to the turn thread,
//! and writes back what the turn thread sends (RFC 8656 §3.1, §12.5).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use smol::net::TcpListener;

use super::Control;
use crate::net::shutdown::{Guard, Signal};
use crate::proto::stun::frame::{next_record, Record};
use crate::proto::turn::{Client, Transport};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed (allocations are refreshed at least
/// every few minutes, and ICE keeps channels busy).
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// The largest record: a STUN header plus a 16-bit length, or ChannelData with padding.
const MAX_RECORD: usize = 20 + 65_535;
const MAX_CONNECTIONS: usize = 4096;
const OUTBOUND_QUEUE: usize = 512;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Accepts TURN clients on `listener` until `shutdown`; `tls` turns it into the turns listener.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    control: async_channel::Sender<Control>,
    shutdown: Signal,
    guard: Guard,
) {
    let name = if tls.is_some() { "turns" } else { "turn-tcp" };
    let slots = Arc::new(smol::lock::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = futures_lite::future::or(
            async {
                let permit = slots.acquire_arc().await;
                Some((permit, listener.accept().await))
            },
            async {
                shutdown.fired().await;
                None
            },
        )
        .await;
        let (permit, stream, peer) = match accepted {
            None => break,
            Some((permit, Ok((stream, peer)))) => (permit, stream, peer),
            Some((_, Err(e))) => {
                log::warn!("{name}: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, control, shutdown, guard) = (tls.clone(), control.clone(), shutdown.clone(), guard.clone());
        smol::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(stream, peer, Transport::Tcp, control, shutdown).await,
                Some(acceptor) => {
                    let handshake = futures_lite::future::or(async { Some(acceptor.accept(stream).await) }, async {
                        smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                        None
                    });
                    match handshake.await {
                        Some(Ok(tls)) => connection(tls, peer, Transport::Tls, control, shutdown).await,
                        Some(Err(e)) => log::debug!("turns: TLS handshake with {peer} failed: {e}"),
                        None => log::debug!("turns: TLS handshake with {peer} timed out"),
                    }
                }
            }
            drop(permit);
            drop(guard);
        })
        .detach();
    }
    log::debug!("{name}: stopped accepting");
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    control: async_channel::Sender<Control>,
    shutdown: Signal,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let client = Client { transport, conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed), addr: peer };
    let (tx, rx) = async_channel::bounded::<Vec<u8>>(OUTBOUND_QUEUE);
    if control.send(Control::StreamOpened { client, tx }).await.is_err() {
        return;
    }
    let (reader, mut writer) = futures_lite::io::split(stream);
    let write = async move {
        while let Ok(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            if rx.is_empty() && writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    };
    let read = read_records(reader, client, control.clone());
    let stop = async {
        shutdown.fired().await;
    };
    futures_lite::future::or(futures_lite::future::or(read, write), stop).await;
    let _ = control.send(Control::StreamClosed { client }).await;
}

async fn read_records<R: AsyncRead + Unpin>(mut reader: R, client: Client, control: async_channel::Sender<Control>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            match next_record(&buf, MAX_RECORD) {
                Record::Complete(len) => {
                    let record: Vec<u8> = buf.drain(..len).collect();
                    if control.send(Control::StreamRecord { client, bytes: record }).await.is_err() {
                        return;
                    }
                }
                Record::NeedMore => break,
                Record::Invalid => {
                    log::debug!("turn: {} sent bytes that are neither STUN nor ChannelData", client.addr);
                    return;
                }
            }
        }
        let read = futures_lite::future::or(async { Some(reader.read(&mut chunk).await) }, async {
            smol::Timer::after(IDLE_TIMEOUT).await;
            None
        });
        match read.await {
            Some(Ok(0)) | Some(Err(_)) | None => return,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
