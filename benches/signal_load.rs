//! Signaling load: N authenticated WSS connections from this (second) process on loopback, held
//! idle, then signals between random allowed pairs at a fixed rate. Prints connections held,
//! server RSS per connection, connection setup rate and relay latency p50/p99, then runs the
//! same scenario against PeerJS server (npm package `peer`, same TLS certificate, same N, rate and
//! pattern) and prints the ratios.
//!
//!     cargo bench --bench signal_load                       # N=19000, 5000 signals/s for 10 s
//!     cargo bench --bench signal_load -- --conns 5000 --rate 2000 --secs 5 [--no-peerjs]
//!
//! Environment: SIGNAL_LOAD_CLIENT_THREADS (client executor threads, default 1),
//! SIGNAL_LOAD_SERVER_ARGS (extra `edgebeam serve` flags), SIGNAL_LOAD_SERVER_BIN and
//! SIGNAL_LOAD_SERVER_PREFIX (run another build, or under valgrind).
//!
//! PeerJS is installed with npm into target/peerjs on first use. Every run is bounded: at most
//! N connections and rate x secs signals, only to 127.0.0.1.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/https.rs"]
mod https;
#[path = "common/server.rs"]
mod server;
#[path = "common/source.rs"]
mod source;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::future::or;
use futures_lite::StreamExt;
use futures_rustls::TlsConnector;
use serde_json::{json, Value};

const GROUP: usize = 10;

/// The client's executor, run by the main thread, which also drives the reactor: readiness wakes
/// tasks without a hop between threads, so the client adds as little latency as it can.
static CLIENT: smol::Executor<'static> = smol::Executor::new();

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Edgebeam,
    PeerJs,
}

struct Opts {
    conns: usize,
    rate: u64,
    secs: u64,
    peerjs: bool,
}

fn opts() -> Opts {
    let get = bench::arg_u64;
    if !bench::is_bench_run() {
        // `cargo test --benches`: a small smoke run, edgebeam only.
        return Opts { conns: 40, rate: 200, secs: 1, peerjs: false };
    }
    Opts {
        conns: get("--conns", 19_000) as usize,
        rate: get("--rate", 5000),
        secs: get("--secs", 10).min(120),
        peerjs: !std::env::args().any(|a| a == "--no-peerjs"),
    }
}

fn now_us(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

struct Report {
    name: &'static str,
    held: usize,
    setup_per_sec: f64,
    rss_base_kib: u64,
    rss_idle_kib: u64,
    sent: u64,
    received: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Report {
    fn per_conn_kib(&self) -> f64 {
        (self.rss_idle_kib.saturating_sub(self.rss_base_kib)) as f64 / self.held.max(1) as f64
    }

    fn print(&self) {
        println!("== {}", self.name);
        println!("connections held          {}", self.held);
        println!("setup rate                {:.0} connections/s", self.setup_per_sec);
        println!(
            "server RSS                {:.1} MiB before, {:.1} MiB with all idle: {:.2} KiB per connection",
            self.rss_base_kib as f64 / 1024.0,
            self.rss_idle_kib as f64 / 1024.0,
            self.per_conn_kib()
        );
        println!(
            "relay latency             p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} sent, {} received)",
            self.p50_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
            self.max_us as f64 / 1000.0,
            self.sent,
            self.received
        );
    }
}

struct Conn {
    tx: async_channel::Sender<String>,
}

/// Client sockets come from 16 loopback source addresses: with one source address the kernel
/// searches its ephemeral port range for every connect (connect() gets only half the range), and
/// past ~14,000 connections that search is most of the client's CPU, for either server.
fn source_ip(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 1, 1 + (i % 16) as u8)
}

async fn open(
    proto: Proto,
    addr: SocketAddr,
    i: usize,
    token: &str,
    latencies: Arc<Mutex<Vec<u64>>>,
    received: Arc<AtomicU64>,
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
                            latencies.lock().unwrap().push(now_us(origin).saturating_sub(t0));
                            received.fetch_add(1, Ordering::Relaxed);
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

fn signal_text(proto: Proto, to: usize, t: u64) -> String {
    match proto {
        Proto::Edgebeam => json!({"type": "signal", "to": {"gid": format!("g{}", to / GROUP), "pid": format!("p{to}")}, "data": {"t": t}}).to_string(),
        Proto::PeerJs => json!({"type": "OFFER", "dst": format!("p{to}"), "payload": {"t": t}}).to_string(),
    }
}

fn run_scenario(
    name: &'static str,
    proto: Proto,
    addr: SocketAddr,
    server_pid: u32,
    tokens: &[String],
    o: &Opts,
) -> Report {
    std::thread::sleep(Duration::from_millis(500));
    let rss_base_kib = bench::rss_kib(server_pid).unwrap_or(0);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity((o.rate * o.secs) as usize)));
    let received = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    smol::block_on(CLIENT.run(async {
        let start = Instant::now();
        let mut conns: Vec<Option<Conn>> = Vec::with_capacity(o.conns);
        // Bounded concurrency for the connect storm: at most 200 handshakes in flight, a new one
        // starting as soon as any finishes (no barrier between batches).
        let window = Arc::new(smol::lock::Semaphore::new(200));
        let tasks: Vec<_> = (0..o.conns)
            .map(|i| {
                let (lat, rec, tok, window) = (latencies.clone(), received.clone(), tokens[i].clone(), window.clone());
                CLIENT.spawn(async move {
                    let _permit = window.acquire_arc().await;
                    open(proto, addr, i, &tok, lat, rec, origin).await
                })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(c) => conns.push(Some(c)),
                Err(e) => {
                    eprintln!("{name}: connection failed: {e}");
                    conns.push(None);
                }
            }
        }
        let setup = start.elapsed();
        let held = conns.iter().filter(|c| c.is_some()).count();
        smol::Timer::after(Duration::from_secs(3)).await;
        let rss_idle_kib = bench::rss_kib(server_pid).unwrap_or(0);

        // Fixed-rate signals between random members of the same group.
        let mut sent = 0u64;
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let begin = Instant::now();
        let total = o.rate * o.secs;
        while sent < total {
            let due = (begin.elapsed().as_secs_f64() * o.rate as f64) as u64;
            while sent < due.min(total) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let from = (rng as usize) % o.conns;
                let base = from / GROUP * GROUP;
                let size = GROUP.min(o.conns - base);
                let to = base + (from - base + 1 + (rng >> 32) as usize % (size - 1).max(1)) % size;
                if let (Some(Some(c)), true) = (conns.get(from), to != from) {
                    let _ = c.tx.try_send(signal_text(proto, to, now_us(origin)));
                    sent += 1;
                } else {
                    sent += 1;
                }
            }
            smol::Timer::after(Duration::from_micros(500)).await;
        }
        smol::Timer::after(Duration::from_secs(1)).await;
        let mut lat = latencies.lock().unwrap().clone();
        lat.sort_unstable();
        let pct =
            |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
        let report = Report {
            name,
            held,
            setup_per_sec: held as f64 / setup.as_secs_f64(),
            rss_base_kib,
            rss_idle_kib,
            sent,
            received: received.load(Ordering::Relaxed),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            max_us: lat.last().copied().unwrap_or(0),
        };
        drop(conns);
        report
    }))
}

fn start_edgebeam(data: &Path, conns: usize) -> (Child, SocketAddr) {
    // SIGNAL_LOAD_SERVER_BIN runs another build (e.g. a static musl release binary from
    // cross/build.sh, which is what ships); SIGNAL_LOAD_SERVER_PREFIX runs the server under a tool
    // (e.g. "valgrind --tool=massif").
    let bin = server::server_bin("SIGNAL_LOAD_SERVER_BIN");
    let prefix = std::env::var("SIGNAL_LOAD_SERVER_PREFIX").unwrap_or_default();
    let (mut cmd, signal) = server::serve_command(&bin, &prefix, data);
    cmd.args(["--token-cache-entries", &(conns + 100).to_string()])
        .args(["--signal-max-conns-per-project", &(conns + 100).to_string()])
        .args(["--signal-max-unauthenticated-per-ip", "100000"])
        // Every client here is one source standing for many: per-source limits are not measured.
        .args(["--tls-handshakes-per-source-per-sec", "1000000"])
        .args(std::env::var("SIGNAL_LOAD_SERVER_ARGS").unwrap_or_default().split_whitespace());
    (server::spawn_serving(cmd, signal), signal)
}

fn peerjs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peerjs")
}

fn start_peerjs(cert: &Path, key: &Path, conns: usize) -> Option<(Child, SocketAddr)> {
    let dir = peerjs_dir();
    let bin = dir.join("node_modules/peer/dist/bin/peerjs.js");
    if !bin.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        println!("installing PeerJS server (npm install peer@1) into {}", dir.display());
        let ok = Command::new("npm").args(["install", "--silent", "--prefix"]).arg(&dir).arg("peer@1").status();
        if !matches!(ok, Ok(s) if s.success()) {
            println!("PeerJS could not be installed; skipping the comparison");
            return None;
        }
    }
    let addr = server::free_addr("127.0.0.2");
    let child = Command::new("node")
        .arg(&bin)
        .args(["--host", "127.0.0.2", "--port", &addr.port().to_string()])
        .args(["--concurrent_limit", &(conns + 100).to_string()])
        .arg("--sslkey")
        .arg(key)
        .arg("--sslcert")
        .arg(cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    server::wait_port(addr);
    Some((child, addr))
}

fn main() {
    let o = opts();
    // SIGNAL_LOAD_CLIENT_THREADS=2 runs the client's executor on a second thread too: the one
    // thread is busy enough at 19,000 connections to add its own queueing to the latencies.
    let threads: usize = std::env::var("SIGNAL_LOAD_CLIENT_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    for _ in 1..threads {
        std::thread::spawn(|| smol::block_on(CLIENT.run(std::future::pending::<()>())));
    }
    println!(
        "scenario: {} connections, groups of {GROUP}, {} signals/s for {} s, client = this process",
        o.conns, o.rate, o.secs
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let signer = server::Signer::create(&data, "load", &tmp.path().join("k.pem"));
    let tokens: Vec<String> =
        (0..o.conns).map(|i| signer.token(&format!("g{}", i / GROUP), &format!("p{i}"))).collect();

    let (child, addr) = start_edgebeam(&data, o.conns);
    let ours = run_scenario("edgebeam", Proto::Edgebeam, addr, child.id(), &tokens, &o);
    server::stop(child);
    ours.print();

    if !o.peerjs {
        return;
    }
    let tls = data.join("tls");
    let Some((peerjs, paddr)) = start_peerjs(&tls.join("cert.pem"), &tls.join("key.pem"), o.conns) else { return };
    let theirs = run_scenario("PeerJS server (peer 1.x)", Proto::PeerJs, paddr, peerjs.id(), &tokens, &o);
    server::stop(peerjs);
    theirs.print();
    println!("== edgebeam / PeerJS (below 1 is better for memory and latency, above 1 for rates)");
    println!("connections held          {:.2}", ours.held as f64 / theirs.held.max(1) as f64);
    println!("setup rate                {:.2}", ours.setup_per_sec / theirs.setup_per_sec.max(1e-9));
    println!("RSS per connection        {:.2}", ours.per_conn_kib() / theirs.per_conn_kib().max(1e-9));
    println!("relay p50                 {:.2}", ours.p50_us as f64 / theirs.p50_us.max(1) as f64);
    println!("relay p99                 {:.2}", ours.p99_us as f64 / theirs.p99_us.max(1) as f64);
}
