//! The soak's signaling side: authenticated WSS connections held by tasks on the client
//! executor, each counting what it receives, and the trickle of signals and pings sent through
//! them. Anything a held connection did not ask for (a close, an `error`, an `expiring`) counts.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_tungstenite::tungstenite::Message;
use futures_lite::future::or;
use futures_lite::StreamExt;
use futures_rustls::TlsConnector;
use serde_json::{json, Value};

use crate::{https, source, CLIENT};

pub const GROUP: usize = 10;

/// A source may start 20 TLS handshakes a second after a burst of 64 (the server's defaults,
/// kept): 40 connections per loopback source address all fit in the burst.
const CONNS_PER_SOURCE: usize = 40;

pub fn source_ip(i: usize) -> Ipv4Addr {
    let s = i / CONNS_PER_SOURCE;
    Ipv4Addr::new(127, 1, (s / 250) as u8, (s % 250 + 1) as u8)
}

/// What every connection task adds to.
#[derive(Default)]
pub struct Counters {
    /// Set once the load is over: closes after it are expected.
    pub ending: AtomicBool,
    pub unexpected_closes: AtomicU64,
    pub error_messages: AtomicU64,
    pub expiring_messages: AtomicU64,
    pub other_messages: AtomicU64,
    pub server_pings: AtomicU64,
    pub presence: AtomicU64,
    pub pings_sent: AtomicU64,
    pub pongs: AtomicU64,
    pub signals_sent: AtomicU64,
    pub signals_delivered: AtomicU64,
    pub acks: AtomicU64,
    /// Round trips of application pings and signal delivery times, in microseconds.
    pub pong_rtt_us: Mutex<Vec<u64>>,
    pub signal_us: Mutex<Vec<u64>>,
    /// The first few surprises, as text, for the report.
    pub surprises: Mutex<Vec<String>>,
}

impl Counters {
    fn surprise(&self, what: String) {
        let mut s = self.surprises.lock().unwrap();
        if s.len() < 20 {
            s.push(what);
        }
    }
}

/// A held connection: where the trickle sends its text.
pub struct Conn {
    pub tx: async_channel::Sender<String>,
}

/// TURN credentials from a `welcome`.
pub struct TurnCredentials {
    pub username: String,
    pub credential: String,
}

fn micros(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

/// Opens connection `i`, authenticates and spawns its reader; returns it with the TURN
/// credentials of its `welcome`.
pub async fn open(
    addr: SocketAddr,
    i: usize,
    token: &str,
    counters: Arc<Counters>,
    origin: Instant,
) -> Result<(Conn, Option<TurnCredentials>), String> {
    let tcp = source::connect_from(source_ip(i), addr).await.map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(https::client_config()).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
    let url = format!("wss://localhost:{}/v1/signal", addr.port());
    // A 4 KiB read buffer, as in signal_load: tungstenite zero-fills its 128 KiB default.
    let config = async_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = async_tungstenite::client_async_with_config(url, tls, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    ws.send(Message::text(json!({"type": "auth", "token": token}).to_string()))
        .await
        .map_err(|e| format!("auth: {e}"))?;
    let welcome = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("welcome") => break v,
                    Some("presence") => {}
                    _ => return Err(format!("before welcome: {t}")),
                }
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed before welcome: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("before welcome: {e}")),
            None => return Err("closed before welcome".into()),
        }
    };
    let turn = welcome["ice_servers"].as_array().and_then(|servers| {
        let s = servers.iter().find(|s| s.get("username").is_some())?;
        Some(TurnCredentials {
            username: s["username"].as_str()?.to_owned(),
            credential: s["credential"].as_str()?.to_owned(),
        })
    });
    let (tx, rx) = async_channel::unbounded::<String>();
    CLIENT
        .spawn(async move {
            loop {
                let step = or(async { Err(ws.next().await) }, async { Ok(rx.recv().await) }).await;
                let c = &counters;
                match step {
                    Ok(Ok(text)) => {
                        if let Err(e) = ws.send(Message::text(text)).await {
                            if !c.ending.load(Ordering::Relaxed) {
                                c.unexpected_closes.fetch_add(1, Ordering::Relaxed);
                                c.surprise(format!("connection {i}: send failed: {e}"));
                            }
                            break;
                        }
                    }
                    // The load is over and the sender is gone.
                    Ok(Err(_)) => break,
                    Err(Some(Ok(Message::Text(t)))) => on_text(c, i, t.as_str(), origin),
                    Err(Some(Ok(Message::Ping(_)))) => {
                        // tungstenite queues the pong and sends it on the next read.
                        c.server_pings.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Some(Ok(other))) => {
                        if !c.ending.load(Ordering::Relaxed) {
                            if let Message::Close(f) = &other {
                                c.unexpected_closes.fetch_add(1, Ordering::Relaxed);
                                c.surprise(format!("connection {i}: closed by the server: {f:?}"));
                                break;
                            }
                            c.other_messages.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(end) => {
                        if !c.ending.load(Ordering::Relaxed) {
                            c.unexpected_closes.fetch_add(1, Ordering::Relaxed);
                            c.surprise(format!("connection {i}: stream ended: {end:?}"));
                        }
                        break;
                    }
                }
            }
        })
        .detach();
    Ok((Conn { tx }, turn))
}

fn on_text(c: &Counters, i: usize, text: &str, origin: Instant) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let now = micros(origin);
    match v["type"].as_str() {
        Some("pong") => {
            c.pongs.fetch_add(1, Ordering::Relaxed);
            if let Some(sent) = v["id"].as_u64() {
                c.pong_rtt_us.lock().unwrap().push(now.saturating_sub(sent));
            }
        }
        Some("signal") => {
            c.signals_delivered.fetch_add(1, Ordering::Relaxed);
            if let Some(sent) = v["data"]["t"].as_u64() {
                c.signal_us.lock().unwrap().push(now.saturating_sub(sent));
            }
        }
        Some("ack") => {
            c.acks.fetch_add(1, Ordering::Relaxed);
        }
        Some("presence") => {
            c.presence.fetch_add(1, Ordering::Relaxed);
        }
        Some("error") => {
            c.error_messages.fetch_add(1, Ordering::Relaxed);
            c.surprise(format!("connection {i}: {text}"));
        }
        Some("expiring") => {
            c.expiring_messages.fetch_add(1, Ordering::Relaxed);
            c.surprise(format!("connection {i}: {text}"));
        }
        _ => {
            c.other_messages.fetch_add(1, Ordering::Relaxed);
            c.surprise(format!("connection {i}: {text}"));
        }
    }
}

/// The trickle: a small xorshift picks who sends and to whom, so every run sends the same.
pub struct Trickle {
    rng: u64,
    signals: u64,
    pings: u64,
}

impl Trickle {
    pub fn new() -> Trickle {
        Trickle { rng: 0x9E37_79B9_7F4A_7C15, signals: 0, pings: 0 }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Sends what is due by `elapsed` seconds at the given rates, from held connections to
    /// held members of their group.
    pub fn send_due(&mut self, conns: &[Option<Conn>], c: &Counters, o: (u32, u32), elapsed: f64, origin: Instant) {
        let (signals_per_sec, pings_per_sec) = o;
        while (self.signals as f64) < elapsed * f64::from(signals_per_sec) {
            self.signals += 1;
            let from = (self.next() % conns.len() as u64) as usize;
            let base = from / GROUP * GROUP;
            let size = GROUP.min(conns.len() - base);
            let to = base + (from - base + 1 + (self.next() % (size.max(2) - 1) as u64) as usize) % size;
            let (Some(Some(sender)), Some(Some(_))) = (conns.get(from), conns.get(to)) else { continue };
            if to == from {
                continue;
            }
            let text = json!({
                "type": "signal",
                "to": {"gid": format!("g{}", to / GROUP), "pid": format!("p{to}")},
                "data": {"t": micros(origin)},
                "id": self.signals,
            });
            if sender.tx.try_send(text.to_string()).is_ok() {
                c.signals_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        while (self.pings as f64) < elapsed * f64::from(pings_per_sec) {
            self.pings += 1;
            let from = (self.next() % conns.len() as u64) as usize;
            let Some(Some(sender)) = conns.get(from) else { continue };
            // The id is the send time, so the pong carries its own round trip.
            let text = json!({"type": "ping", "id": micros(origin)});
            if sender.tx.try_send(text.to_string()).is_ok() {
                c.pings_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
