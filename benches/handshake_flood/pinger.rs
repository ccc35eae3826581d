//! The normal client: one authenticated WSS signaling session from 127.0.0.1 that sends
//! `{"type":"ping","id":N}` on a fixed schedule and times each matching `pong`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::future::or;
use futures_lite::StreamExt;
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use serde_json::{json, Value};

use crate::{https, source};

pub struct Session {
    ws: WebSocketStream<TlsStream<smol::net::TcpStream>>,
    next_id: u64,
}

/// What one window of pings measured. A ping is answered if its pong came before the window
/// plus the drain ended; a tick is skipped if this client was too late to send it at all.
#[derive(Default)]
pub struct Pings {
    pub sent: u64,
    pub skipped_ticks: u64,
    pub errors: u64,
    rtts_us: Vec<u64>,
}

impl Pings {
    pub fn answered(&self) -> u64 {
        self.rtts_us.len() as u64
    }

    /// The `p`-quantile of the answered pings' round trips, in ms.
    pub fn rtt_ms(&self, p: f64) -> Option<f64> {
        let n = self.rtts_us.len();
        let at = ((n as f64 * p) as usize).min(n.checked_sub(1)?);
        Some(self.rtts_us[at] as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        self.rtts_us.last().map(|&us| us as f64 / 1000.0)
    }
}

/// Connects from 127.0.0.1, authenticates with `token` and waits for `welcome`.
pub async fn open(addr: SocketAddr, token: &str) -> Result<Session, String> {
    let tcp = source::connect_from(Ipv4Addr::LOCALHOST, addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(https::client_config()).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let url = format!("wss://localhost:{}/v1/signal", addr.port());
    // As in signal_load: tungstenite's default 128 KiB read buffer is zeroed before every read.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) =
        async_tungstenite::client_async_with_config(url, tls, Some(config)).await.map_err(|e| e.to_string())?;
    ws.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v["type"] == "welcome" {
                    return Ok(Session { ws, next_id: 0 });
                }
                if v["type"] == "error" {
                    return Err(t.to_string());
                }
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed".into()),
        }
    }
}

impl Session {
    /// Sends a ping every `interval` for `window` (a tick this client missed is skipped, not
    /// sent late in a burst), then waits up to `drain` for the pongs still due.
    pub async fn pings(&mut self, window: Duration, interval: Duration, drain: Duration) -> Result<Pings, String> {
        let begin = Instant::now();
        let (end, give_up) = (begin + window, begin + window + drain);
        let mut next = begin;
        let mut due: HashMap<u64, Instant> = HashMap::new();
        let mut out = Pings::default();
        loop {
            let now = Instant::now();
            if now >= give_up || (now >= end && due.is_empty()) {
                break;
            }
            if now < end && now >= next {
                let id = self.next_id;
                self.next_id += 1;
                due.insert(id, Instant::now());
                let ping = json!({"type": "ping", "id": id}).to_string();
                self.ws.send(Message::text(ping)).await.map_err(|e| e.to_string())?;
                out.sent += 1;
                next += interval;
                while next <= Instant::now() {
                    next += interval;
                    out.skipped_ticks += 1;
                }
                continue;
            }
            let wake = if now < end { next } else { give_up };
            let read = or(async { Some(self.ws.next().await) }, async {
                smol::Timer::at(wake).await;
                None
            });
            match read.await {
                None => {}
                Some(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    if v["type"] == "pong" {
                        let sent_at = v["id"].as_u64().and_then(|id| due.remove(&id));
                        if let Some(at) = sent_at {
                            out.rtts_us.push(at.elapsed().as_micros() as u64);
                        }
                    } else if v["type"] == "error" {
                        out.errors += 1;
                    }
                }
                Some(Some(Ok(Message::Close(f)))) => return Err(format!("closed: {f:?}")),
                Some(Some(Ok(_))) => {}
                Some(Some(Err(e))) => return Err(e.to_string()),
                Some(None) => return Err("closed".into()),
            }
        }
        out.rtts_us.sort_unstable();
        Ok(out)
    }
}
