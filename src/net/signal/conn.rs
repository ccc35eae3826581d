//! One task per WebSocket: frames in go to the hub task as events; frames the hub task queues
//! go out in order. Also WebSocket-level liveness (a ping every interval; silence past the idle
//! timeout drops the peer), the message size limit (close 1009, enforced by tungstenite while
//! reading frames, so an oversize message is never buffered whole) and slow-reader closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::future::or;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};

use super::{Frame, HubEvent, Next, Outbox, PendingSlot, SignalShared};
use crate::proto::signal::{CloseCode, ConnInfo};

const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

enum Step {
    Incoming(Option<Result<Message, WsError>>),
    Queued(Next),
    Tick,
}

/// The stream comes boxed: an async fn keeps its arguments and the locals they move into as two
/// slots, and the stream is most of a connection's idle memory.
pub async fn run<S>(mut ws: Box<WebSocketStream<S>>, shared: Arc<SignalShared>, info: ConnInfo, slot: PendingSlot)
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
            or(async { Step::Queued(outbox.next().await) }, async {
                ping.next().await;
                Step::Tick
            }),
        )
        .await;
        match step {
            Step::Incoming(Some(Ok(msg))) => {
                last_heard = Instant::now();
                let event = match msg {
                    Message::Text(t) => HubEvent::Text { conn, text: t.as_str().to_owned() },
                    Message::Binary(_) => HubEvent::Binary { conn },
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                if shared.events.send(event).await.is_err() {
                    break;
                }
            }
            Step::Incoming(Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. })))) => {
                close(&mut ws, 1009, "message too big").await;
                break;
            }
            Step::Incoming(_) => break,
            Step::Queued(Next::Frame(Frame::Text(text))) => {
                let len = text.len();
                // The first thing the hub sends a connection is its welcome: it is authenticated.
                slot.take();
                let sent = write_within(send_text(&mut ws, &text), limits.idle_timeout).await;
                outbox.written(len);
                if !sent {
                    break;
                }
            }
            Step::Queued(Next::Frame(Frame::Close(code, reason))) => {
                close(&mut ws, code, reason).await;
                break;
            }
            Step::Queued(Next::SlowReader) => {
                let code = CloseCode::SlowReader;
                close(&mut ws, code.code(), code.reason()).await;
                break;
            }
            Step::Queued(Next::HubGone) => {
                close(&mut ws, 1001, "server shutting down").await;
                break;
            }
            Step::Tick => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    log::debug!("signal: dropping a silent peer");
                    break;
                }
                if !write_within(ws.send(Message::Ping(Vec::new().into())), limits.idle_timeout).await {
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
/// close nor the idle check can run while a write waits. Used for texts and pings alike. No
/// timer is made for the usual write, which completes at once. True if the write succeeded.
async fn write_within<F>(write: F, limit: Duration) -> bool
where
    F: std::future::Future<Output = Result<(), WsError>>,
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

/// Writes a text message as one unmasked frame (RFC 6455 §5.2) to the stream under tungstenite:
/// tungstenite's write buffer would keep the capacity of the largest message sent (the welcome,
/// about 500 bytes) for the life of every connection.
async fn send_text<S>(ws: &mut WebSocketStream<S>, text: &str) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Frames cannot interleave: the TLS stream takes each write whole or not at all (it refuses
    // only while 64 KiB of records are unsent), and tungstenite writes only small control
    // frames itself (pongs, pings, close).
    let io = ws.get_mut();
    io.write_all(&text_frame(text)).await?;
    io.flush().await?;
    Ok(())
}

/// A final, unmasked text frame: the header with the shortest length encoding, then the bytes.
fn text_frame(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x81);
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// Sends a close frame, then reads until the peer answers with its own (RFC 6455 §5.5.1) or the
/// timeout: closing the socket with unread data would reset it and could destroy our close
/// frame before the peer reads it.
///
/// Boxed: its state would otherwise be part of every idle connection's task.
async fn close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(close_handshake(ws, code, reason)).await
}

async fn close_handshake<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame { code: WsCloseCode::from(code), reason: reason.into() };
    let _ = or(
        async {
            let _ = ws.close(Some(frame)).await;
            while let Some(Ok(_)) = ws.next().await {}
        },
        async {
            smol::Timer::after(CLOSE_WRITE_TIMEOUT).await;
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::{send_text, text_frame, write_within};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use async_tungstenite::tungstenite::protocol::Role;
    use async_tungstenite::WebSocketStream;

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
            let mut ws = WebSocketStream::from_raw_socket(NeverReads, Role::Server, None).await;
            let started = std::time::Instant::now();
            let sent = futures_lite::future::or(
                async { Some(write_within(send_text(&mut ws, "hello"), Duration::from_millis(50)).await) },
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
    use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use async_tungstenite::tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn text_frames_parse_as_tungstenite_frames_at_each_length_encoding() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
            let text = "a".repeat(len);
            let frame = text_frame(&text);
            let mut cursor = std::io::Cursor::new(&frame[..]);
            let (header, payload_len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final && header.mask.is_none(), "len {len}");
            assert_eq!(header.opcode, OpCode::Data(Data::Text));
            assert_eq!(payload_len as usize, len);
            assert_eq!(&frame[cursor.position() as usize..], text.as_bytes());
        }
    }
}
