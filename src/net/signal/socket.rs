//! A WebSocket after the upgrade: the byte stream plus the frame decoder of `proto::ws`. Reads
//! go through one buffer per thread, so an idle connection keeps no read buffer of its own (the
//! decoder holds bytes only while a frame is incomplete); frames are written whole.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_lite::future::or;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::proto::ws::{self, Decoder, Message};

/// Bytes taken from the stream per read. The TLS stream below holds whatever a record decrypted
/// to beyond this, so the size only sets how many reads a large message takes.
const READ_CHUNK: usize = 4096;
/// How long a close handshake may take before the connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

pub struct WsSocket<S> {
    io: S,
    decoder: Decoder,
    /// The latest ping not yet answered: pings that arrive together get one pong, the latest's
    /// (RFC 6455 §5.5.3), so a burst of pings cannot make a write each.
    ping: Option<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsSocket<S> {
    /// `early` holds what the HTTP layer read past the upgrade request (normally nothing).
    pub fn new(io: S, early: &[u8], max_message: usize) -> WsSocket<S> {
        let mut decoder = Decoder::new(max_message);
        decoder.push(early);
        WsSocket { io, decoder, ping: None }
    }

    /// The next message; `None` when the stream ended or failed. Cancel-safe: bytes read are in
    /// the decoder before the read completes, so dropping this future loses nothing.
    pub async fn next(&mut self) -> Option<Result<Message, ws::Error>> {
        loop {
            match self.decoder.poll_message() {
                Ok(Some(Message::Ping(payload))) => {
                    self.ping = Some(payload);
                    continue;
                }
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if let Some(payload) = self.ping.take() {
                return Some(Ok(Message::Ping(payload)));
            }
            let decoder = &mut self.decoder;
            let read = read_chunk(&mut self.io, |bytes| decoder.push(bytes)).await;
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Writes one whole frame. Frames never interleave: the TLS stream takes each write whole or
    /// not at all (it refuses only while 64 KiB of records are unsent).
    pub async fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.io.write_all(frame).await?;
        self.io.flush().await
    }

    /// Sends a close frame, then reads until the peer answers with its own (RFC 6455 §5.5.1), the
    /// stream ends, or the timeout: closing the socket with unread data would reset it and could
    /// destroy our close frame before the peer reads it.
    pub async fn close(&mut self, code: u16, reason: &str) {
        let frame = ws::close_frame(Some(code), reason);
        within_close_timeout(async {
            if self.send(&frame).await.is_err() {
                return;
            }
            loop {
                match self.next().await {
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Ok(_)) => {}
                    // Closing for a bad frame: what follows it cannot be decoded, but must still
                    // be read, or the close frame could be lost to a reset.
                    Some(Err(_)) => return self.discard().await,
                }
            }
        })
        .await;
    }

    /// Reads and drops raw bytes until the stream ends (the caller bounds the time).
    async fn discard(&mut self) {
        self.decoder = Decoder::new(0);
        while let Ok(1..) = read_chunk(&mut self.io, |_| {}).await {}
    }

    /// Answers the peer's close frame with one carrying the same code (§5.5.1); the peer has said
    /// its last word, so nothing is read after it.
    pub async fn answer_close(&mut self, code: Option<u16>) {
        let frame = ws::close_frame(code, "");
        within_close_timeout(async {
            let _ = self.send(&frame).await;
        })
        .await;
    }
}

/// One read through the thread's buffer; `take` gets the bytes within the same poll, so a
/// dropped future loses nothing. The count, 0 at the end of the stream.
async fn read_chunk<S: AsyncRead + Unpin>(io: &mut S, mut take: impl FnMut(&[u8])) -> std::io::Result<usize> {
    poll_fn(|cx| {
        READ_BUF.with_borrow_mut(|buf| {
            let r = Pin::new(&mut *io).poll_read(cx, buf);
            if let Poll::Ready(Ok(n)) = r {
                take(&buf[..n]);
            }
            r
        })
    })
    .await
}

/// A closing step, given up on after [`CLOSE_TIMEOUT`].
async fn within_close_timeout(step: impl std::future::Future<Output = ()>) {
    or(step, async {
        smol::Timer::after(CLOSE_TIMEOUT).await;
    })
    .await
}
