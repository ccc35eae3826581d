//! Start-to-ready time, idle RSS and binary sizes of `edgebeam serve`.
//!
//!     cargo bench --bench startup
//!
//! "Ready" is the first `GET /healthz` answered 200 over HTTPS, polled every 2 ms from the
//! moment the process is spawned. Targets (issue 2): ready under 100 ms on an existing data
//! dir, idle RSS under 10 MiB, each stripped release binary under 6 MiB.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "common/mod.rs"]
mod bench;
#[path = "../tests/common/https.rs"]
mod https;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgebeam");
const RESTARTS: usize = 15;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

struct Run {
    child: Child,
    ready_after: Duration,
    admin: SocketAddr,
}

// The child is handed to the caller, who waits for it in `stop`.
#[allow(clippy::zombie_processes)]
fn start(data: &Path) -> Run {
    let admin = free_addr();
    let signal = free_addr();
    let t0 = Instant::now();
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir", data.to_str().unwrap(), "--log-level", "warn"])
        .args(["--admin-listen", &admin.to_string(), "--signal-listen", &signal.to_string()])
        // The 200 requests below come from one source in a burst: at the default handshake rate
        // most would be closed at accept.
        .args(["--tls-handshakes-per-source-per-sec", "1000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if let Ok(r) = https::request(admin, "GET", "/healthz") {
            if r.status == 200 {
                return Run { child, ready_after: t0.elapsed(), admin };
            }
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not become ready");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn stop(mut run: Run) {
    let _ = Command::new("kill").args(["-TERM", &run.child.id().to_string()]).status();
    let status = run.child.wait().unwrap();
    assert!(status.success());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this once as a smoke test.
    let quick = !std::env::args().any(|a| a == "--bench");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let first = start(&data);
    println!("first run (creates database, certificate, secrets): ready in {:.1} ms", ms(first.ready_after));
    stop(first);

    let mut times = Vec::new();
    let mut idle_rss = Vec::new();
    for i in 0..if quick { 2 } else { RESTARTS } {
        let run = start(&data);
        times.push(run.ready_after);
        if i == 0 {
            std::thread::sleep(Duration::from_secs(1));
            idle_rss.push(bench::rss_kib(run.child.id()).expect("the server runs"));
            for _ in 0..200 {
                https::request(run.admin, "GET", "/healthz").unwrap();
            }
            std::thread::sleep(Duration::from_millis(500));
            idle_rss.push(bench::rss_kib(run.child.id()).expect("the server runs"));
        }
        stop(run);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "restart on existing data dir ({} runs): ready median {:.1} ms, min {:.1} ms, max {:.1} ms (target < 100 ms)",
        times.len(),
        ms(median),
        ms(times[0]),
        ms(*times.last().unwrap())
    );
    println!(
        "idle RSS: {:.2} MiB after start, {:.2} MiB after 200 HTTPS requests (target < 10 MiB)",
        idle_rss[0] as f64 / 1024.0,
        idle_rss[1] as f64 / 1024.0
    );

    let host = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    println!("binary {BIN}: {:.2} MiB", host as f64 / 1048576.0);
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    if let Ok(entries) = std::fs::read_dir(&dist) {
        let mut rows: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        rows.sort();
        for p in rows {
            let size = std::fs::metadata(&p).unwrap().len();
            println!(
                "release binary {}: {:.2} MiB (target < 6 MiB)",
                p.file_name().unwrap().to_string_lossy(),
                size as f64 / 1048576.0
            );
        }
    } else {
        println!("no dist/ folder: run cross/build.sh for the release binaries' sizes");
    }
}
