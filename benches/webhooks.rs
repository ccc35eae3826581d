//! Webhooks under load, from this (second) process on loopback, against a fast local receiver
//! (a thread per connection that answers 200 at once):
//!
//! 1. Signaling relay p99 at `--rate` signals/s among `--conns` idle-held connections, with
//!    `--churn` sessions a second opening (a join) and closing (a leave) beside them: first on a
//!    server with no webhook, then on one whose endpoint takes `peer.joined` and `peer.left`,
//!    so every join and leave is queued, written and delivered. The ratio is the cost of
//!    webhooks on the hub (the target: at most 1.10).
//! 2. Delivery throughput: the receiver holds its answer while `--backlog-secs` of churn queues
//!    events, then answers; events/s delivered while the backlog drains.
//!
//! Run:
//!
//!     cargo bench --bench webhooks                          # 1000 conns, 5000 signals/s, churn 500/s, 10 s
//!     cargo bench --bench webhooks -- --conns 1000 --rate 5000 --churn 500 --secs 10 --backlog-secs 5
//!
//! `--churn 500` is 500 joins and 500 leaves a second: 1,000 events a second. Churning peers
//! are each alone in their group, so their presence reaches nobody; the signaling population
//! is the same in both runs. Every run is bounded and only talks to 127.0.0.1.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/https.rs"]
mod https;
#[path = "common/server.rs"]
mod server;
#[path = "common/signal.rs"]
mod signal;
#[path = "common/source.rs"]
mod source;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signal::{Proto, Received, CLIENT};

struct Opts {
    conns: usize,
    rate: u64,
    churn: u64,
    secs: u64,
    backlog_secs: u64,
    /// Pairs of runs (without, then with), to see the machine's noise.
    rounds: u64,
}

fn opts() -> Opts {
    let get = bench::arg_u64;
    if !bench::is_bench_run() {
        // `cargo test --benches`: a tiny smoke run.
        return Opts { conns: 20, rate: 100, churn: 10, secs: 1, backlog_secs: 1, rounds: 1 };
    }
    Opts {
        conns: get("--conns", 1000) as usize,
        rate: get("--rate", 5000),
        churn: get("--churn", 500),
        secs: get("--secs", 10).min(120),
        backlog_secs: get("--backlog-secs", 5).min(60),
        rounds: get("--rounds", 2).clamp(1, 10),
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver

#[derive(Default)]
struct Receiver {
    count: AtomicU64,
    /// While set, answers wait (the backlog builds up behind the first request).
    hold: AtomicBool,
    /// Arrival times since the last take.
    arrivals: Mutex<Vec<Instant>>,
}

impl Receiver {
    fn start() -> (Arc<Receiver>, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Arc::new(Receiver::default());
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.serve(conn));
            }
        });
        (r, addr)
    }

    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_nodelay(true);
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        let mut line = String::new();
        loop {
            let mut len = 0usize;
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            while self.hold.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.count.fetch_add(1, Ordering::Relaxed);
            self.arrivals.lock().unwrap().push(Instant::now());
            if conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                return;
            }
        }
    }

    fn take_arrivals(&self) -> Vec<Instant> {
        std::mem::take(&mut *self.arrivals.lock().unwrap())
    }

    /// Waits until `count` reaches `want` or nothing arrives for 3 s; returns the count.
    fn settle(&self, want: u64) -> u64 {
        let mut last = (self.count.load(Ordering::Relaxed), Instant::now());
        loop {
            let now = self.count.load(Ordering::Relaxed);
            if now >= want {
                return now;
            }
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(3) {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load

/// Opens and at once closes `rate` sessions a second for `secs`, each a join and a leave, with
/// the churn tokens in turn. Returns the sessions that reached `welcome`.
async fn churn(addr: SocketAddr, tokens: Arc<Vec<String>>, rate: u64, secs: u64, origin: Instant) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let window = Arc::new(smol::lock::Semaphore::new(200));
    let begin = Instant::now();
    let total = rate * secs;
    let mut started = 0u64;
    let mut tasks = Vec::new();
    while started < total {
        let due = ((begin.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while started < due {
            let (tokens, done, window) = (tokens.clone(), done.clone(), window.clone());
            let i = started as usize;
            tasks.push(CLIENT.spawn(async move {
                let _permit = window.acquire_arc().await;
                let token = &tokens[i % tokens.len()];
                // A distinct source address per session spreads the client's TIME_WAIT sockets.
                if signal::open(Proto::Edgebeam, addr, i, token, Received::default(), origin).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                // Dropping the connection closes it: the leave.
            }));
            started += 1;
        }
        smol::Timer::after(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await;
    }
    done.load(Ordering::Relaxed)
}

struct Phase {
    /// The server's CPU seconds during the measured window.
    server_cpu: f64,
    p50_us: u64,
    p99_us: u64,
    sent: u64,
    received: u64,
    churned: u64,
}

/// Signals at `o.rate` among `conns` for `o.secs`, with churn beside them.
async fn measure(
    conns: &[Option<signal::Conn>],
    received: &Received,
    addr: SocketAddr,
    churn_tokens: &Arc<Vec<String>>,
    o: &Opts,
    origin: Instant,
) -> Phase {
    received.take_sorted();
    let before = received.count();
    let churning = CLIENT.spawn(churn(addr, churn_tokens.clone(), o.churn, o.secs, origin));
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let sent = signal::send_at_rate(Proto::Edgebeam, conns, o.rate, o.secs, &mut rng, origin).await;
    let churned = churning.await;
    smol::Timer::after(Duration::from_millis(500)).await;
    let lat = received.take_sorted();
    Phase {
        server_cpu: 0.0,
        p50_us: bench::percentile(&lat, 0.50),
        p99_us: bench::percentile(&lat, 0.99),
        sent,
        received: received.count() - before,
        churned,
    }
}

fn start(data: &Path, o: &Opts, extra: &[&str]) -> (std::process::Child, SocketAddr) {
    let bin = server::server_bin("WEBHOOKS_SERVER_BIN");
    let (mut cmd, addr) = server::serve_command(&bin, "", data);
    server::allow_load(&mut cmd, o.conns + o.churn as usize);
    cmd.args(extra);
    (server::spawn_serving(cmd, addr), addr)
}

/// One server run: hold the connections, measure, and (with a receiver) the drain throughput.
fn run(
    name: &str,
    data: &Path,
    o: &Opts,
    tokens: &[String],
    churn_tokens: &Arc<Vec<String>>,
    receiver: Option<&Arc<Receiver>>,
    throughput: bool,
) -> Phase {
    let extra: &[&str] = if receiver.is_some() { &["--webhook-allow", "127.0.0.1"] } else { &[] };
    let (child, addr) = start(data, o, extra);
    let origin = Instant::now();
    let received = Received::default();
    let base = receiver.map_or(0, |r| r.count.load(Ordering::Relaxed));
    let pid = child.id();
    let cpu = move || server::process_stats(pid).map_or(0.0, |p| p.cpu_seconds);
    let phase = smol::block_on(CLIENT.run(async {
        let conns = signal::open_all(name, Proto::Edgebeam, addr, tokens, &received, origin).await;
        smol::Timer::after(Duration::from_secs(2)).await;
        let cpu_before = cpu();
        let mut phase = measure(&conns, &received, addr, churn_tokens, o, origin).await;
        phase.server_cpu = cpu() - cpu_before;
        if let Some(r) = receiver {
            let expected = o.conns as u64 + 2 * phase.churned;
            let got = r.settle(base + expected) - base;
            println!("{name}: webhook deliveries {got} of {expected} expected (joins of the held connections, then 2 per churned session)");
            if throughput {
                drain_throughput(r, addr, churn_tokens, o, origin).await;
            }
        }
        drop(conns);
        phase
    }));
    server::stop(child);
    phase
}

async fn drain_throughput(
    r: &Arc<Receiver>,
    addr: SocketAddr,
    churn_tokens: &Arc<Vec<String>>,
    o: &Opts,
    origin: Instant,
) {
    let start_count = r.count.load(Ordering::Relaxed);
    r.hold.store(true, Ordering::Relaxed);
    let rate = o.churn.max(1);
    let churned = churn(addr, churn_tokens.clone(), rate, o.backlog_secs, origin).await;
    smol::Timer::after(Duration::from_millis(500)).await;
    r.take_arrivals();
    r.hold.store(false, Ordering::Relaxed);
    let want = start_count + 2 * churned;
    let waiting = r.clone();
    let got = smol::unblock(move || waiting.settle(want)).await;
    let arrivals = r.take_arrivals();
    let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else { return };
    let secs = (*last - *first).as_secs_f64().max(1e-6);
    println!(
        "delivery throughput: a backlog of {} events drained at {:.0} events/s ({} delivered in {:.2} s)",
        2 * churned,
        arrivals.len() as f64 / secs,
        got - start_count,
        secs
    );
}

fn main() {
    let o = opts();
    println!(
        "scenario: {} held connections, {} signals/s, {} sessions/s churned ({} joins+leaves/s), {} s per run",
        o.conns,
        o.rate,
        o.churn,
        2 * o.churn,
        o.secs
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let signer = server::Signer::create(&data, "hooks", &tmp.path().join("k.pem"));
    let tokens = signal::tokens(o.conns, |gid, pid| signer.token(gid, pid));
    // One token per churned session a second, reused each second: each churning peer is alone
    // in its group.
    let churn_tokens =
        Arc::new((0..o.churn.max(1)).map(|k| signer.token(&format!("churn{k}"), "x")).collect::<Vec<_>>());

    let (receiver, raddr) = Receiver::start();
    let project = edgebeam::ids::ProjectId::parse(&signer.project).unwrap();
    let hook = edgebeam::ids::WebhookId::from_random([7; 8]);
    let store = |f: &dyn Fn(&mut edgebeam::store::Store)| {
        f(&mut edgebeam::store::Store::open(&data, edgebeam::store::OpenMode::MustExist).unwrap())
    };
    let mut ratios = Vec::new();
    for round in 0..o.rounds {
        println!("{}", load_average());
        let without = run("no webhook", &data, &o, &tokens, &churn_tokens, None, false);
        store(&|s| {
            let events = vec!["peer.joined".to_owned(), "peer.left".to_owned()];
            let secret = edgebeam::webhooks::sign::Secret::generate().encoded();
            let (url, now) = (format!("http://{raddr}/hook"), edgebeam::unixtime::UnixTime::now());
            s.create_webhook(&project, &hook, &url, &events, &secret, edgebeam::store::Actor::CLI, now).unwrap();
        });
        println!("{}", load_average());
        let with = run("webhooks", &data, &o, &tokens, &churn_tokens, Some(&receiver), round == 0);
        store(&|s| {
            let now = edgebeam::unixtime::UnixTime::now();
            s.delete_webhook(&project, &hook, edgebeam::store::Actor::CLI, now).unwrap();
        });
        for (name, p) in [("no webhook", &without), ("webhooks on", &with)] {
            println!(
                "round {round}: {name:<12} relay p50 {:.3} ms, p99 {:.3} ms ({} sent, {} received; {} sessions churned; server CPU {:.2} s)",
                p.p50_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0,
                p.sent,
                p.received,
                p.churned,
                p.server_cpu
            );
        }
        let ratio = with.p99_us as f64 / without.p99_us.max(1) as f64;
        println!("round {round}: relay p99 with webhooks / without: {ratio:.2} (target <= 1.10)");
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("relay p99 ratio, median of {} rounds: {:.2} (target <= 1.10)", ratios.len(), ratios[ratios.len() / 2]);
}

/// The machine's CPU count and load average: the client shares the cores with the server (and
/// on a shared box, with whatever else runs).
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("machine: {cpus} CPUs, load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
