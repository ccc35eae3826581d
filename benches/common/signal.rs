//! Authenticated WSS signaling clients for the benchmarks (edgebeam's protocol, or PeerJS's for
//! the comparison in signal_load): the connect storm, one reader task per connection that times
//! every signal it receives against the sender's timestamp, and signals at a fixed rate.
//! The including crate names tests/common/https.rs `https` and benches/common/source.rs `source`.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::future::or;
use futures_lite::StreamExt;
use futures_rustls::TlsConnector;
use serde_json::{json, Value};

use crate::{https, source};

/// Tokens put connections in groups of this size; signals go between members of one group.
pub const GROUP: usize = 10;

/// The client's executor, run by the main thread, which also drives the reactor: readiness wakes
/// tasks without a hop between threads, so the client adds as little latency as it can.
pub static CLIENT: smol::Executor<'static> = smol::Executor::new();

#[derive(Clone, Copy, PartialEq)]
pub enum Proto {
    Edgebeam,
    PeerJs,
}

/// What the reader tasks add to: relay latencies in microseconds, and how many arrived.
#[derive(Clone, Default)]
pub struct Received {
    pub latencies_us: Arc<Mutex<Vec<u64>>>,
    pub count: Arc<AtomicU64>,
}

impl Received {
    /// The latencies recorded so far, sorted, leaving the record empty for the next window.
    pub fn take_sorted(&self) -> Vec<u64> {
        let mut lat = std::mem::take(&mut *self.latencies_us.lock().unwrap());
        lat.sort_unstable();
        lat
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A held connection: where the sender puts its text.
pub struct Conn {
    pub tx: async_channel::Sender<String>,
}

/// Microseconds since `origin`, the one clock of senders and receivers.
pub fn now_us(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

/// Client sockets come from 16 loopback source addresses: with one source address the kernel
/// searches its ephemeral port range for every connect (connect() gets only half the range), and
/// past ~14,000 connections that search is most of the client's CPU, for either server.
pub fn source_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, 1 + (i % 16) as u8)
}

/// The token of connection `i` names group `g{i / GROUP}` and peer `p{i}`.
pub fn identity(i: usize) -> (String, String) {
    (format!("g{}", i / GROUP), format!("p{i}"))
}

/// One token per connection, for [`identity`]`(i)`, from `mint(gid, pid)`.
pub fn tokens(n: usize, mint: impl Fn(&str, &str) -> String) -> Vec<String> {
    (0..n).map(identity).map(|(gid, pid)| mint(&gid, &pid)).collect()
}

/// Opens connection `i`, authenticates it and spawns its reader on [`CLIENT`].
pub async fn open(
    proto: Proto,
    addr: SocketAddr,
    i: usize,
    token: &str,
    received: Received,
    origin: Instant,
) -> Result<Conn, String> {
    let tcp = source::connect_from(source_ip(i), addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(https::client_config()).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let url = match proto {
        Proto::Edgebeam => format!("wss://localhost:{}/v1/signal", addr.port()),
        Proto::PeerJs => format!("wss://localhost:{}/peerjs?key=peerjs&id=p{i}&token=t{i}", addr.port()),
    };
    // tungstenite's default read buffer is 128 KiB, zero-filled before every read: with it the
    // client spent a quarter of its CPU in memset, adding its own queueing to the latencies.
    let config = async_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) =
        async_tungstenite::client_async_with_config(url, tls, Some(config)).await.map_err(|e| e.to_string())?;
    if proto == Proto::Edgebeam {
        ws.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.map_err(|e| e.to_string())?;
    }
    let ready = if proto == Proto::Edgebeam { "welcome" } else { "OPEN" };
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v["type"] == ready {
                    break;
                }
                if v["type"] == "ERROR" || v["type"] == "error" {
                    return Err(t.to_string());
                }
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed".into()),
        }
    }
    let (tx, rx) = async_channel::unbounded::<String>();
    CLIENT
        .spawn(async move {
            loop {
                let step = or(async { Err(ws.next().await) }, async { Ok(rx.recv().await) }).await;
                match step {
                    Ok(Ok(text)) => {
                        if ws.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    Ok(Err(_)) => break,
                    Err(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                        let sent_at = match proto {
                            Proto::Edgebeam if v["type"] == "signal" => v["data"]["t"].as_u64(),
                            Proto::PeerJs if v["type"] == "OFFER" => v["payload"]["t"].as_u64(),
                            _ => None,
                        };
                        if let Some(t0) = sent_at {
                            received.latencies_us.lock().unwrap().push(now_us(origin).saturating_sub(t0));
                            received.count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(Some(Ok(_))) => {}
                    Err(_) => break,
                }
            }
        })
        .detach();
    Ok(Conn { tx })
}

/// Opens one connection per token (connection `i` with `tokens[i]`), at most 200 handshakes in
/// flight, a new one starting as soon as any finishes (batches with a barrier left the CPU idle).
/// A connection that failed is `None`, and said on stderr.
pub async fn open_all(
    name: &str,
    proto: Proto,
    addr: SocketAddr,
    tokens: &[String],
    received: &Received,
    origin: Instant,
) -> Vec<Option<Conn>> {
    let window = Arc::new(smol::lock::Semaphore::new(200));
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, tok)| {
            let (rec, tok, window) = (received.clone(), tok.clone(), window.clone());
            CLIENT.spawn(async move {
                let _permit = window.acquire_arc().await;
                open(proto, addr, i, &tok, rec, origin).await
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(tokens.len());
    for t in tasks {
        match t.await {
            Ok(c) => conns.push(Some(c)),
            Err(e) => {
                eprintln!("{name}: connection failed: {e}");
                conns.push(None);
            }
        }
    }
    conns
}

/// About the size of an ICE candidate message with its SDP line, so that a signal costs what a
/// real one does (~300 bytes on the wire).
const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 203.0.113.54 51742 typ srflx raddr 192.168.1.23 rport 51742 generation 0 ufrag EsAw network-id 1 network-cost 10; a=mid:0; a=ice-ufrag:EsAw; a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1; sdpMLineIndex 0 usernameFragment EsAw";

fn signal_text(proto: Proto, to: usize, t: u64) -> String {
    let (gid, pid) = identity(to);
    match proto {
        Proto::Edgebeam => {
            json!({"type": "signal", "to": {"gid": gid, "pid": pid}, "data": {"t": t, "candidate": CANDIDATE}})
                .to_string()
        }
        Proto::PeerJs => json!({"type": "OFFER", "dst": pid, "payload": {"t": t, "candidate": CANDIDATE}}).to_string(),
    }
}

/// A fixed-rate stream of signals between random members of the same group: `rate` a second
/// for `secs` seconds, each stamped with its send time. `rng` carries on across calls. Returns
/// how many were sent (a signal from a connection that failed to open counts as sent).
pub async fn send_at_rate(
    proto: Proto,
    conns: &[Option<Conn>],
    rate: u64,
    secs: u64,
    rng: &mut u64,
    origin: Instant,
) -> u64 {
    let n = conns.len();
    let mut sent = 0u64;
    let begin = Instant::now();
    let total = rate * secs;
    while sent < total && n > 0 {
        let due = (begin.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due.min(total) {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let from = (*rng as usize) % n;
            let base = from / GROUP * GROUP;
            let size = GROUP.min(n - base);
            let to = base + (from - base + 1 + (*rng >> 32) as usize % (size - 1).max(1)) % size;
            if let (Some(Some(c)), true) = (conns.get(from), to != from) {
                let _ = c.tx.try_send(signal_text(proto, to, now_us(origin)));
            }
            sent += 1;
        }
        smol::Timer::after(Duration::from_micros(500)).await;
    }
    sent
}
