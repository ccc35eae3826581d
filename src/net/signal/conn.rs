//! One task per WebSocket: frames in go to the hub task as events; frames the hub task queues
//! go out in order. Also WebSocket-level liveness (a ping every interval; silence past the idle
//! timeout drops the peer), the message size limit (close 1009, judged from each frame header, so
//! an oversize message is never buffered whole), protocol errors (1002, 1007) and slow-reader
//! closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use futures_lite::{AsyncRead, AsyncWrite, StreamExt};

use super::socket::WsSocket;
use super::{Frame, HubEvent, Next, Outbox, PendingSlot, SignalShared};
use crate::proto::signal::{CloseCode, ConnInfo};
use crate::proto::ws::{self, Message};

enum Step {
    Incoming(Option<Result<Message, ws::Error>>),
    Queued(Next),
    Tick,
    /// A newer unauthenticated connection of the same source took this one's slot.
    Evicted,
}

/// The socket comes boxed: an async fn keeps its arguments and the locals they move into as two
/// slots, and the socket (its TLS state) is most of a connection's idle memory.
pub async fn run<S>(mut ws: Box<WsSocket<S>>, shared: Arc<SignalShared>, info: ConnInfo, slot: PendingSlot)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn = shared.next_conn_id();
    let (outbox, outbox_tx) = Outbox::new();
    if shared.events.send(HubEvent::Open { conn, info, outbox: outbox_tx }).await.is_err() {
        return; // the hub is gone: shutting down
    }
    shared.open.fetch_add(1, Ordering::Relaxed);
    let mut slot = Some(slot);
    let limits = &shared.limits;
    let mut last_heard = Instant::now();
    // One timer for the connection's life: a timer made afresh in every turn of the loop would
    // be inserted into and removed from the reactor's timer tree for every message.
    let mut ping = smol::Timer::interval(limits.ping_interval);

    loop {
        let step = or(
            async { Step::Incoming(ws.next().await) },
            or(
                async { Step::Queued(outbox.next().await) },
                or(
                    async {
                        ping.next().await;
                        Step::Tick
                    },
                    async {
                        match &slot {
                            Some(pending) => pending.evicted().await,
                            None => std::future::pending().await,
                        }
                        Step::Evicted
                    },
                ),
            ),
        )
        .await;
        match step {
            Step::Incoming(Some(Ok(msg))) => {
                last_heard = Instant::now();
                let event = match msg {
                    Message::Text(text) => HubEvent::Text { conn, text },
                    Message::Binary(_) => HubEvent::Binary { conn },
                    Message::Ping(payload) => {
                        if !write_within(ws.send(&ws::pong_frame(&payload)), limits.idle_timeout).await {
                            break;
                        }
                        continue;
                    }
                    Message::Pong => continue,
                    Message::Close(code) => {
                        Box::pin(ws.answer_close(code)).await;
                        break;
                    }
                };
                if shared.events.send(event).await.is_err() {
                    break;
                }
            }
            Step::Incoming(Some(Err(e))) => {
                log::debug!("signal: closing a connection: {e:?}");
                close(&mut ws, CloseCode::from(e)).await;
                break;
            }
            Step::Incoming(None) => break,
            Step::Queued(Next::Frame(Frame::Text(text))) => {
                let len = text.len();
                // The first thing the hub sends a connection is its welcome: it is authenticated.
                slot.take();
                let sent = write_within(ws.send(&ws::text_frame(&text)), limits.idle_timeout).await;
                outbox.written(len);
                if !sent {
                    break;
                }
            }
            Step::Queued(Next::Frame(Frame::Close(code))) => {
                close(&mut ws, code).await;
                break;
            }
            Step::Queued(Next::SlowReader) => {
                close(&mut ws, CloseCode::SlowReader).await;
                break;
            }
            Step::Queued(Next::HubGone) => {
                close(&mut ws, CloseCode::ShuttingDown).await;
                break;
            }
            Step::Evicted => {
                log::debug!("signal: evicted an unauthenticated connection for a newer one of its source");
                close(&mut ws, CloseCode::Evicted).await;
                break;
            }
            Step::Tick => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    log::debug!("signal: dropping a silent peer");
                    break;
                }
                if !write_within(ws.send(&ws::PING), limits.idle_timeout).await {
                    break;
                }
            }
        }
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
    let _ = shared.events.send(HubEvent::Closed { conn }).await;
}

/// Runs a write unless the peer takes none of our data for `limit`: a peer that stopped reading
/// would otherwise hold its connection (and its queued frames) forever, since neither the 4007
/// close nor the idle check can run while a write waits. Used for every frame. No timer is made
/// for the usual write, which completes at once. True if the write succeeded.
async fn write_within<F, E>(write: F, limit: Duration) -> bool
where
    F: std::future::Future<Output = Result<(), E>>,
{
    let mut write = std::pin::pin!(write);
    if let Some(done) = futures_lite::future::poll_once(&mut write).await {
        return done.is_ok();
    }
    or(async { write.await.is_ok() }, async {
        smol::Timer::after(limit).await;
        log::debug!("signal: dropping a peer that stopped reading");
        false
    })
    .await
}

/// The close handshake, boxed: its state would otherwise be part of every idle connection's task.
async fn close<S>(ws: &mut WsSocket<S>, code: CloseCode)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(ws.close(code.code(), code.reason())).await
}

#[cfg(test)]
mod tests {
    use super::write_within;
    use crate::net::signal::socket::WsSocket;
    use crate::proto::ws;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// A peer that reads nothing: every write waits forever.
    struct NeverReads;

    impl futures_lite::AsyncRead for NeverReads {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut [u8]) -> Poll<std::io::Result<usize>> {
            Poll::Pending
        }
    }

    impl futures_lite::AsyncWrite for NeverReads {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    #[test]
    fn a_write_the_peer_never_takes_gives_up_after_the_limit() {
        smol::block_on(async {
            let mut ws = WsSocket::new(NeverReads, &[], 1000);
            let started = std::time::Instant::now();
            let frame = ws::text_frame("hello");
            let sent = futures_lite::future::or(
                async { Some(write_within(ws.send(&frame), Duration::from_millis(50)).await) },
                async {
                    smol::Timer::after(Duration::from_secs(10)).await;
                    None
                },
            )
            .await;
            assert_eq!(sent, Some(false), "the write must be abandoned, not waited on");
            assert!(started.elapsed() >= Duration::from_millis(50));
        });
    }
}
