//! What the benchmarks share, included by each with `#[path]` (as they include tests/common).
// Each benchmark uses some of it.
#![allow(dead_code)]

/// The resident set of process `pid` in KiB (VmRSS in /proc/PID/status), while it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the benchmark runs as one (`cargo bench` passes `--bench`) rather than as the smoke
/// run `cargo test --benches` makes.
pub fn is_bench_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The number after flag `name` on the command line, or `default`.
pub fn arg_u64(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The value at fraction `p` (0.5 for the median) of `sorted`, or 0 if it is empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0)
}
