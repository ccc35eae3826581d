//! A blocking WebSocket client over TLS (tungstenite) for protocol tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::protocol::WebSocket;
use async_tungstenite::tungstenite::{Error, Message};
use serde_json::Value;

use super::https::{connect, TlsStream};

pub struct Ws {
    pub inner: WebSocket<TlsStream>,
}

#[derive(Debug, PartialEq)]
pub enum Got {
    Json(Value),
    Closed(u16),
    Timeout,
}

impl Ws {
    pub fn connect(addr: SocketAddr, origin: Option<&str>) -> Ws {
        Ws::connect_over(connect(addr).unwrap(), addr, origin)
    }

    /// The upgrade over a TLS stream the caller made (from a chosen source address, say).
    pub fn connect_over(stream: TlsStream, addr: SocketAddr, origin: Option<&str>) -> Ws {
        let mut req = format!("wss://localhost:{}/v1/signal", addr.port()).into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (inner, resp) = async_tungstenite::tungstenite::client::client(req, stream).expect("upgrade");
        assert_eq!(resp.status(), 101);
        assert!(resp.headers().get("sec-websocket-extensions").is_none(), "no permessage-deflate");
        Ws { inner }
    }

    pub fn send(&mut self, v: Value) {
        self.send_text(&v.to_string());
    }

    pub fn send_text(&mut self, t: &str) {
        self.inner.send(Message::text(t)).unwrap();
    }

    /// Sends, ignoring a write error (the server may close while we are still writing).
    pub fn send_text_lossy(&mut self, t: &str) {
        let _ = self.inner.send(Message::text(t));
    }

    /// Writes only the start of a masked text frame that claims `len` payload bytes: the server
    /// must refuse it from the header, without waiting for (or buffering) the payload.
    pub fn send_frame_header_claiming(&mut self, len: u64) {
        use std::io::Write;
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend_from_slice(&[b'x' ^ 1; 512]);
        let stream = self.inner.get_mut();
        stream.write_all(&frame).unwrap();
        stream.flush().unwrap();
    }

    /// Writes bytes as they are, under tungstenite: frames it would refuse to make.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stream = self.inner.get_mut();
        stream.write_all(bytes).unwrap();
        stream.flush().unwrap();
    }

    pub fn send_binary(&mut self, b: &[u8]) {
        self.inner.send(Message::binary(b.to_vec())).unwrap();
    }

    /// The next JSON message or close, waiting at most `timeout`.
    pub fn recv_within(&mut self, timeout: Duration) -> Got {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Timeout;
            }
            self.inner.get_mut().sock.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            match self.inner.read() {
                Ok(Message::Text(t)) => return Got::Json(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Message::Close(frame)) => return Got::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
                Ok(_) => continue,
                Err(Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(Error::ConnectionClosed) | Err(Error::AlreadyClosed) => return Got::Closed(1006),
                Err(e) => panic!("websocket error: {e}"),
            }
        }
    }

    pub fn recv(&mut self) -> Got {
        self.recv_within(Duration::from_secs(5))
    }

    /// The next JSON message, which must arrive.
    pub fn json(&mut self) -> Value {
        match self.recv() {
            Got::Json(v) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Waits for the close code, skipping messages.
    pub fn close_code(&mut self, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv_within(deadline.saturating_duration_since(Instant::now())) {
                Got::Closed(c) => return c,
                Got::Timeout => panic!("no close within {timeout:?}"),
                Got::Json(_) => continue,
            }
        }
    }

    pub fn auth(&mut self, token: &str) -> Value {
        self.send(serde_json::json!({"type": "auth", "token": token}));
        self.json()
    }
}
