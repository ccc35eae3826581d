//! Process figures from `/proc/self` for `/metrics` and the benchmarks.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub rss_bytes: u64,
    pub vsize_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: u64,
    pub threads: u64,
}

/// Linux reports CPU times in clock ticks of 1/100 s on every architecture we ship.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    parse(&stat, &statm, open_fds)
}

/// Parses `/proc/PID/stat` and `/proc/PID/statm` text.
pub fn parse(stat: &str, statm: &str, open_fds: u64) -> Option<ProcessStats> {
    // The command name (field 2) may contain spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Field numbers from proc(5), minus 3 for pid, comm and the offset of `rest`.
    let utime = num(11)?;
    let stime = num(12)?;
    let threads = num(17)?;
    let vsize = num(20)?;
    let rss_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcessStats {
        rss_bytes: rss_pages * PAGE_SIZE,
        vsize_bytes: vsize,
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        open_fds,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_text_with_spaces_in_the_name() {
        let stat = "1234 (edge beam) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 10485760 512 18446744073709551615";
        let p = parse(stat, "2560 300 100 1 0 200 0", 7).unwrap();
        assert_eq!(p.rss_bytes, 300 * 4096);
        assert_eq!(p.vsize_bytes, 10_485_760);
        assert_eq!(p.threads, 3);
        assert!((p.cpu_seconds - 3.0).abs() < 1e-9);
        assert!(read().is_some());
    }
}
