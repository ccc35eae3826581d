//! Handshake flood: what one source replaying TLS ClientHellos does to a normal signaling client
//! of the same server. It prints measured figures and asserts nothing about time.
//!
//! The server is `edgebeam serve` on 127.0.0.1 (free ports, a temporary data dir, one project).
//! The normal client is one authenticated WSS session from 127.0.0.1 sending
//! `{"type":"ping","id":N}` every 10 ms and timing each `pong`. The flooder is `--threads` threads
//! on 127.0.0.2, each replaying one captured rustls ClientHello on fresh connections to the same
//! signal listener, one at a time, reading until the server's first flight (ServerHello and its
//! signed, encrypted rest) has arrived, then resetting the connection. Two phases: a baseline of
//! `--secs`/2 without the flood, then `--secs` with it. For each: ping RTT p50/p99/max and the
//! server's CPU time (utime + stime of /proc/PID/stat); for the flood: first flights received per
//! second, and connections refused, timed out or closed early.
//!
//!     cargo bench --bench handshake_flood                        # 5 s baseline, 10 s flood, 4 threads
//!     cargo bench --bench handshake_flood -- --secs 20 --threads 8 [--max-conns 2000000]
//!
//! `cargo test --bench handshake_flood` runs a smoke mode: 1 s each, 1 flood thread.
//! Environment: HANDSHAKE_FLOOD_SERVER_ARGS (extra `edgebeam serve` flags, e.g. handshake limits),
//! HANDSHAKE_FLOOD_SERVER_BIN (another build). Every run is bounded: at most 120 s per phase,
//! 64 threads and `--max-conns` flood connections, only to loopback.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/https.rs"]
mod https;
#[path = "common/server.rs"]
mod server;
#[path = "common/source.rs"]
mod source;

#[path = "handshake_flood/flood.rs"]
mod flood;
#[path = "handshake_flood/pinger.rs"]
mod pinger;

use std::sync::Arc;
use std::time::Duration;

const PING_INTERVAL: Duration = Duration::from_millis(10);
/// How long a phase waits after its last ping for the pongs still due.
const PONG_DRAIN: Duration = Duration::from_secs(1);

struct Opts {
    baseline: Duration,
    flood: Duration,
    threads: usize,
    max_conns: u64,
}

fn opts() -> Opts {
    if !bench::is_bench_run() {
        // `cargo test --bench handshake_flood`: a smoke run that still prints every figure.
        return Opts {
            baseline: Duration::from_secs(1),
            flood: Duration::from_secs(1),
            threads: 1,
            max_conns: 100_000,
        };
    }
    let get = bench::arg_u64;
    let secs = get("--secs", 10).clamp(1, 120);
    Opts {
        baseline: Duration::from_millis(secs * 500),
        flood: Duration::from_secs(secs),
        threads: get("--threads", 4).clamp(1, 64) as usize,
        max_conns: get("--max-conns", 2_000_000),
    }
}

struct Phase {
    window: Duration,
    pings: pinger::Pings,
    /// Wall time from the phase's start to its end (window, drain, flood threads joined).
    wall_s: f64,
    server_cpu_s: f64,
    bench_cpu_s: f64,
    flood: Option<flood::Totals>,
}

fn cpu_s(pid: u32) -> f64 {
    server::process_stats(pid).map_or(0.0, |s| s.cpu_seconds)
}

fn own_cpu_s() -> f64 {
    edgebeam::procstat::read().map_or(0.0, |s| s.cpu_seconds)
}

fn run_phase(
    session: &mut pinger::Session,
    pid: u32,
    window: Duration,
    flood: Option<(std::net::SocketAddr, Arc<[u8]>, &Opts)>,
) -> Phase {
    let (server0, bench0, start) = (cpu_s(pid), own_cpu_s(), std::time::Instant::now());
    let flooding = flood.map(|(addr, hello, o)| flood::start(addr, hello, o.threads, o.max_conns));
    let pings = smol::block_on(session.pings(window, PING_INTERVAL, PONG_DRAIN)).expect("the session survives");
    let flood = flooding.map(flood::Flood::finish);
    Phase {
        window,
        pings,
        wall_s: start.elapsed().as_secs_f64(),
        server_cpu_s: cpu_s(pid) - server0,
        bench_cpu_s: own_cpu_s() - bench0,
        flood,
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3} ms"))
}

fn print_table(threads: usize, phases: &[(&str, &Phase)]) {
    let row = |label: &str, cell: &dyn Fn(&Phase) -> String| {
        let cells: String = phases.iter().map(|(_, p)| format!("{:>22}", cell(p))).collect();
        println!("{label:<36}{cells}");
    };
    let flood = |p: &Phase, f: &dyn Fn(&flood::Totals) -> String| p.flood.as_ref().map_or("-".into(), f);
    let heads: String = phases.iter().map(|(name, _)| format!("{name:>22}")).collect();
    println!("{:<36}{heads}", "");
    row("window", &|p| format!("{:.1} s", p.window.as_secs_f64()));
    row("pings sent / answered", &|p| format!("{} / {}", p.pings.sent, p.pings.answered()));
    row("ticks skipped by the client", &|p| p.pings.skipped_ticks.to_string());
    row("error replies", &|p| p.pings.errors.to_string());
    row("ping RTT p50", &|p| ms(p.pings.rtt_ms(0.50)));
    row("ping RTT p99", &|p| ms(p.pings.rtt_ms(0.99)));
    row("ping RTT max", &|p| ms(p.pings.max_ms()));
    row("server CPU (share of one core)", &|p| {
        format!("{:.2} s ({:.0}%)", p.server_cpu_s, 100.0 * p.server_cpu_s / p.wall_s.max(1e-9))
    });
    row("bench process CPU (client+flood)", &|p| format!("{:.2} s", p.bench_cpu_s));
    println!("flood, {threads} thread(s) from {}:", flood::SOURCE);
    row("  connections finished", &|p| flood(p, &|f| f.finished.to_string()));
    row("  first flights received", &|p| flood(p, &|f| f.answered.to_string()));
    row("  handshakes answered per second", &|p| flood(p, &|f| format!("{:.0} /s", f.answered_per_sec())));
    row("  server CPU per first flight", &|p| {
        flood(p, &|f| format!("{:.0} us", 1e6 * p.server_cpu_s / f.answered.max(1) as f64))
    });
    row("  refused (ECONNREFUSED)", &|p| flood(p, &|f| f.refused.to_string()));
    row("  connect timed out (1 s)", &|p| flood(p, &|f| f.connect_timeouts.to_string()));
    row("  closed before ServerHello", &|p| flood(p, &|f| f.closed_early.to_string()));
    row("  alert / not a ServerHello", &|p| flood(p, &|f| f.alerts.to_string()));
    row("  no ServerHello in 2 s", &|p| flood(p, &|f| f.answer_timeouts.to_string()));
    row("  other local errors", &|p| flood(p, &|f| f.other.to_string()));
    if phases.iter().any(|(_, p)| p.flood.is_some_and(|f| f.capped)) {
        println!("(the flood reached --max-conns before its window ended)");
    }
}

fn main() {
    let o = opts();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let signer = server::Signer::create(&data, "flood", &tmp.path().join("k.pem"));
    let token = signer.token("g0", "normal");

    let bin = server::server_bin("HANDSHAKE_FLOOD_SERVER_BIN");
    let (mut cmd, addr) = server::serve_command(&bin, "", &data);
    // A ping every 10 ms is 100 messages/s, over the default per-connection rate of 50. Given as
    // a variable so HANDSHAKE_FLOOD_SERVER_ARGS may still set the flag (flags override it).
    cmd.env("EDGEBEAM_SIGNAL_RATE_PER_SEC", "1000");
    let extra = std::env::var("HANDSHAKE_FLOOD_SERVER_ARGS").unwrap_or_default();
    cmd.args(extra.split_whitespace());
    let child = server::spawn_serving(cmd, addr);

    let hello: Arc<[u8]> = flood::client_hello().into();
    println!(
        "scenario: ping every {} ms from 127.0.0.1; {} s baseline, then {} s with {} flood thread(s) replaying a \
         {}-byte ClientHello from {} to {addr}; server flags: {}",
        PING_INTERVAL.as_millis(),
        o.baseline.as_secs_f64(),
        o.flood.as_secs_f64(),
        o.threads,
        hello.len(),
        flood::SOURCE,
        if extra.trim().is_empty() { "(defaults)" } else { extra.trim() },
    );
    // Other work on the machine moves every figure here; the load average says how much there was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let mut session = smol::block_on(pinger::open(addr, &token)).expect("the normal client connects");
    let baseline = run_phase(&mut session, child.id(), o.baseline, None);
    let flooded = run_phase(&mut session, child.id(), o.flood, Some((addr, hello, &o)));
    drop(session);
    server::stop(child);
    print_table(o.threads, &[("baseline", &baseline), ("flood", &flooded)]);
}
