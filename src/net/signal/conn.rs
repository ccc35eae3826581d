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
use futures_lite::{AsyncRead, AsyncWrite, StreamExt};

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
                let sent = ws.send(Message::text(text)).await;
                outbox.written(len);
                if sent.is_err() {
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
                if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
    let _ = shared.events.send(HubEvent::Closed { conn }).await;
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
