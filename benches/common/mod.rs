//! What the benchmarks share, included by each with `#[path]` (as they include tests/common).

/// The resident set of process `pid` in KiB (VmRSS in /proc/PID/status), while it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
