//! The soak's options: `cargo bench --bench soak -- [--minutes M] [--conns N] [--allocs A]
//! [--signals-per-sec S] [--pings-per-sec P]`; without `--bench` (`cargo test --bench soak`) a
//! small smoke run. Every figure is bounded.

use std::time::Duration;

pub struct Opts {
    /// How long the load runs once every connection and allocation is up.
    pub duration: Duration,
    /// Authenticated WSS connections held for the whole run.
    pub conns: usize,
    /// TURN allocations carrying traffic.
    pub allocs: usize,
    /// One ChannelData round trip per allocation per `interval`.
    pub interval: Duration,
    /// The trickle: `signal` messages (with an `id`, so each is acked) and application `ping`s
    /// per second, each from a random held connection.
    pub signals_per_sec: u32,
    pub pings_per_sec: u32,
    pub smoke: bool,
}

/// Connections past this would not fit beside the allocations under the 20,000 open files a
/// process may have here (`ulimit -Hn`), in the client as in the server.
pub const MAX_CONNS: usize = 18_000;
pub const MAX_ALLOCS: usize = 2_000;
pub const MAX_MINUTES: f64 = 120.0;

pub fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let get = |name: &str, default: f64| value(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(default);
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --bench soak`: a few seconds that still go through every path and print
        // every figure (the TURN refreshes and re-binds are scheduled within the run).
        return Opts {
            duration: Duration::from_secs(5),
            conns: 100,
            allocs: 10,
            interval: Duration::from_millis(100),
            signals_per_sec: 10,
            pings_per_sec: 10,
            smoke: true,
        };
    }
    let minutes = get("--minutes", 10.0).clamp(0.05, MAX_MINUTES);
    Opts {
        duration: Duration::from_secs_f64(minutes * 60.0),
        conns: (get("--conns", 10_000.0) as usize).clamp(2, MAX_CONNS),
        allocs: (get("--allocs", 500.0) as usize).min(MAX_ALLOCS),
        interval: Duration::from_millis((get("--interval-ms", 100.0) as u64).clamp(10, 10_000)),
        signals_per_sec: (get("--signals-per-sec", 10.0) as u32).min(1000),
        pings_per_sec: (get("--pings-per-sec", 10.0) as u32).min(1000),
        smoke: false,
    }
}

/// `ulimit -n` of this process: the connections, the allocation sockets and a margin must fit.
pub fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default();
    line.split_whitespace().nth(3).and_then(|soft| soft.parse().ok()).unwrap_or(1024)
}
