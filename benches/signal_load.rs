//! Signaling load: N authenticated WSS connections from this (second) process on loopback, held
//! idle, then signals between random allowed pairs at a fixed rate. Prints connections held,
//! server RSS per connection, connection setup rate and relay latency p50/p99, then runs the
//! same scenario against PeerJS server (npm package `peer`, same TLS certificate, same N, rate and
//! pattern) and prints the ratios.
//!
//!     cargo bench --bench signal_load                       # N=19000, 5000 signals/s for 10 s
//!     cargo bench --bench signal_load -- --conns 5000 --rate 2000 --secs 5 [--no-peerjs] [--syscalls]
//!
//! Each run also prints the server's CPU time (user + system) per relayed signal over the relay
//! window; `--syscalls` instead counts its system calls per signal under `strace -c -f`.
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
#[path = "common/signal.rs"]
mod signal;
#[path = "common/source.rs"]
mod source;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signal::{Proto, Received, CLIENT, GROUP};

struct Opts {
    conns: usize,
    rate: u64,
    secs: u64,
    peerjs: bool,
    /// Count the server's system calls over the relay window with `strace -c -f` (slows the
    /// server down, so its CPU figure is not reported in this mode).
    syscalls: bool,
}

fn opts() -> Opts {
    let get = bench::arg_u64;
    if !bench::is_bench_run() {
        // `cargo test --benches`: a small smoke run, edgebeam only.
        return Opts { conns: 40, rate: 200, secs: 1, peerjs: false, syscalls: false };
    }
    Opts {
        conns: get("--conns", 19_000) as usize,
        rate: get("--rate", 5000),
        secs: get("--secs", 10).min(120),
        peerjs: !std::env::args().any(|a| a == "--no-peerjs"),
        syscalls: std::env::args().any(|a| a == "--syscalls"),
    }
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
    /// Server CPU (user + system) over the relay window, per signal received.
    cpu_us_per_signal: Option<f64>,
    syscalls_per_signal: Option<f64>,
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
        match (self.cpu_us_per_signal, self.syscalls_per_signal) {
            (Some(cpu), _) => println!("server CPU per signal      {cpu:.1} µs (user + system, over the relay window)"),
            (None, Some(calls)) => {
                println!("system calls per signal   {calls:.2} (strace -c -f over the relay window)")
            }
            (None, None) => {}
        }
    }
}

/// `strace -c -f` attached to `pid` until [`SyscallCount::finish`].
struct SyscallCount {
    child: Child,
    out: PathBuf,
}

impl SyscallCount {
    fn attach(pid: u32) -> Option<SyscallCount> {
        let out = std::env::temp_dir().join(format!("signal_load-strace-{pid}.txt"));
        let child = Command::new("strace")
            .args(["-c", "-f", "-q", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(500));
        Some(SyscallCount { child, out })
    }

    /// The total number of calls strace counted.
    fn finish(mut self) -> Option<u64> {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).ok()?;
        let _ = std::fs::remove_file(&self.out);
        // "100.00    0.123456           1    123456      7890 total": calls is the 4th column.
        let total = text.lines().find(|l| l.trim_end().ends_with("total"))?;
        total.split_whitespace().nth(3)?.parse().ok()
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
    let received = Received::default();
    let origin = Instant::now();
    smol::block_on(CLIENT.run(async {
        let start = Instant::now();
        let conns = signal::open_all(name, proto, addr, &tokens[..o.conns], &received, origin).await;
        let setup = start.elapsed();
        let held = conns.iter().filter(|c| c.is_some()).count();
        smol::Timer::after(Duration::from_secs(3)).await;
        let rss_idle_kib = bench::rss_kib(server_pid).unwrap_or(0);

        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let strace = if o.syscalls { SyscallCount::attach(server_pid) } else { None };
        let cpu_before = server::process_stats(server_pid).map(|p| p.cpu_seconds);
        received.take_sorted();
        let count_before = received.count();
        let sent = signal::send_at_rate(proto, &conns, o.rate, o.secs, &mut rng, origin).await;
        smol::Timer::after(Duration::from_secs(1)).await;
        let cpu_after = server::process_stats(server_pid).map(|p| p.cpu_seconds);
        let calls = strace.and_then(SyscallCount::finish);
        let got = received.count().saturating_sub(count_before).max(1) as f64;
        let cpu_us_per_signal = match (o.syscalls, cpu_before, cpu_after) {
            (false, Some(b), Some(a)) => Some((a - b) * 1e6 / got),
            _ => None,
        };
        let lat = received.take_sorted();
        let report = Report {
            name,
            held,
            setup_per_sec: held as f64 / setup.as_secs_f64(),
            rss_base_kib,
            rss_idle_kib,
            sent,
            received: received.count(),
            p50_us: bench::percentile(&lat, 0.50),
            p99_us: bench::percentile(&lat, 0.99),
            max_us: lat.last().copied().unwrap_or(0),
            cpu_us_per_signal,
            syscalls_per_signal: calls.map(|c| c as f64 / got),
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
    server::allow_load(&mut cmd, conns);
    cmd.args(std::env::var("SIGNAL_LOAD_SERVER_ARGS").unwrap_or_default().split_whitespace());
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
    let tokens = signal::tokens(o.conns, |gid, pid| signer.token(gid, pid));

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
    if let (Some(a), Some(b)) = (ours.cpu_us_per_signal, theirs.cpu_us_per_signal) {
        println!("CPU per signal            {:.2}", a / b.max(1e-9));
    }
}
