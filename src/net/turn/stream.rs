//! TURN over TCP (on the turn port) and TLS (on the turns port), served on the turn thread: one
//! local task per connection splits the byte stream into STUN and ChannelData records and hands
//! each straight to the core, and writes back what the core sends (RFC 8656 §3.1, §12.5).
//! Keeping them on the turn thread saves two cross-thread hops and a copy per record; measured
//! in docs/benchmarks.md.

use std::cell::RefCell;
use std::rc::Weak;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::TlsAcceptor;
use smol::net::TcpListener;

use super::relay::Shell;
use crate::proto::stun::frame::{next_record, Record};
use crate::proto::turn::{Client, Transport};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed (allocations are refreshed at least
/// every few minutes, and ICE keeps channels busy).
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// The largest record: a STUN header plus a 16-bit length, or ChannelData with padding.
const MAX_RECORD: usize = 20 + 65_535;
pub const MAX_CONNECTIONS: usize = 4096;
const OUTBOUND_QUEUE: usize = 512;

/// Accepts TURN clients on `listener`; `tls` makes it the turns listener. Runs until the turn
/// thread's executor stops.
pub(super) async fn serve(shell: Weak<RefCell<Shell>>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let name = if tls.is_some() { "turns" } else { "turn-tcp" };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                log::warn!("{name}: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(strong) = shell.upgrade() else { return };
        let (executor, conn, full) = {
            let mut st = strong.borrow_mut();
            (st.executor.clone(), st.next_conn(), st.stream_count() >= MAX_CONNECTIONS)
        };
        if full {
            log::warn!("{name}: {MAX_CONNECTIONS} connections open; refusing {peer}");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (shell, tls) = (shell.clone(), tls.clone());
        executor
            .spawn(async move {
                match tls {
                    None => connection(shell, stream, Client { transport: Transport::Tcp, conn, addr: peer }).await,
                    Some(acceptor) => {
                        let handshake =
                            futures_lite::future::or(async { Some(acceptor.accept(stream).await) }, async {
                                smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                                None
                            });
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
    match shell.upgrade() {
        Some(s) => s.borrow_mut().stream_opened(client, tx),
        None => return,
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
    futures_lite::future::or(read_records(reader, client, shell.clone()), write).await;
    if let Some(s) = shell.upgrade() {
        s.borrow_mut().stream_closed(client);
    }
}

async fn read_records<R: AsyncRead + Unpin>(mut reader: R, client: Client, shell: Weak<RefCell<Shell>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let mut taken = 0;
        loop {
            match next_record(&buf[taken..], MAX_RECORD) {
                Record::Complete(len) => {
                    let Some(s) = shell.upgrade() else { return };
                    s.borrow_mut().client_record(client, &buf[taken..taken + len]);
                    taken += len;
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
            smol::Timer::after(IDLE_TIMEOUT).await;
            None
        });
        match read.await {
            Some(Ok(0)) | Some(Err(_)) | None => return,
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
