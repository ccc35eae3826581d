//! Samples of the server process over the run, and the printed report.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::relay::TurnStats;
use crate::signaling::Counters;

pub struct Sample {
    pub label: &'static str,
    pub mark: u8,
    pub at_secs: f64,
    pub rss_kib: u64,
    pub cpu_s: f64,
    pub fds: u64,
    pub threads: u64,
    pub client_cpu_s: f64,
}

impl Sample {
    pub const WARM: u8 = 1;
    pub const END: u8 = 2;
}

pub struct Samples {
    pid: u32,
    pub list: Vec<Sample>,
}

impl Samples {
    pub fn new(pid: u32) -> Samples {
        Samples { pid, list: Vec::new() }
    }

    pub fn take(&mut self, label: &'static str, origin: Instant) {
        self.take_marked(label, origin, 0);
    }

    pub fn take_marked(&mut self, label: &'static str, origin: Instant, mark: u8) {
        let stats = crate::server::process_stats(self.pid);
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map(|d| d.count() as u64).unwrap_or(0);
        self.list.push(Sample {
            label,
            mark,
            at_secs: origin.elapsed().as_secs_f64(),
            rss_kib: crate::bench::rss_kib(self.pid).unwrap_or(0),
            cpu_s: stats.map_or(0.0, |s| s.cpu_seconds),
            fds,
            threads: stats.map_or(0, |s| s.threads),
            client_cpu_s: edgebeam::procstat::read().map_or(0.0, |s| s.cpu_seconds),
        });
    }

    fn labelled(&self, label: &str) -> Option<&Sample> {
        self.list.iter().find(|s| s.label == label)
    }

    fn marked(&self, mark: u8) -> Option<&Sample> {
        self.list.iter().find(|s| s.mark == mark)
    }
}

/// One line a minute while the load runs.
pub fn progress(samples: &Samples, c: &Counters, elapsed: f64) {
    let last = samples.list.last();
    println!(
        "  {:5.1} min: server RSS {:.1} MiB, {} fds; pongs {}/{}, signals {}/{}, closes {}, errors {}",
        elapsed / 60.0,
        last.map_or(0.0, |s| s.rss_kib as f64 / 1024.0),
        last.map_or(0, |s| s.fds),
        c.pongs.load(Ordering::Relaxed),
        c.pings_sent.load(Ordering::Relaxed),
        c.signals_delivered.load(Ordering::Relaxed),
        c.signals_sent.load(Ordering::Relaxed),
        c.unexpected_closes.load(Ordering::Relaxed),
        c.error_messages.load(Ordering::Relaxed),
    );
}

fn percentiles(v: &mut [u64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0;
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.99), at(1.0))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub struct Report {
    pub conns: usize,
    pub held: usize,
    pub failed_connects: Vec<String>,
    pub setup_secs: f64,
    pub allocs_asked: usize,
}

impl Report {
    pub fn print(&self, samples: &Samples, c: &Counters, t: &TurnStats) {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (pings, pongs) = (load(&c.pings_sent), load(&c.pongs));
        let (signals, delivered, acks) = (load(&c.signals_sent), load(&c.signals_delivered), load(&c.acks));
        println!("== signaling");
        println!(
            "connections held          {} of {} (setup {:.1} s, {:.0}/s); failed connects {}",
            self.held,
            self.conns,
            self.setup_secs,
            self.held as f64 / self.setup_secs.max(1e-9),
            self.failed_connects.len()
        );
        println!("unexpected closes         {}", load(&c.unexpected_closes));
        println!(
            "unasked messages          error {}, expiring {}, other {}",
            load(&c.error_messages),
            load(&c.expiring_messages),
            load(&c.other_messages)
        );
        println!("server WebSocket pings    {} received and answered", load(&c.server_pings));
        println!(
            "application pings         {pings} sent, {pongs} pongs, {} lost; round trip {}",
            pings.saturating_sub(pongs),
            percentiles(&mut c.pong_rtt_us.lock().unwrap())
        );
        println!(
            "signals                   {signals} sent, {delivered} delivered, {acks} acked; {} lost, {} acks lost; \
             delivery {}",
            signals.saturating_sub(delivered),
            signals.saturating_sub(acks),
            percentiles(&mut c.signal_us.lock().unwrap())
        );
        println!("== TURN");
        println!("allocations               {} of {} ({} failed)", t.allocated, self.allocs_asked, t.allocate_failed);
        println!(
            "datagrams                 {} sent, {} reached the peer, {} echoed back; {} lost ({:.4} %), \
             {} out of order, {} failed sends, {} late ticks skipped",
            t.sent,
            t.reached_peer,
            t.received,
            t.lost(),
            100.0 * t.lost() as f64 / t.sent.max(1) as f64,
            t.out_of_order,
            t.send_failed,
            t.late_ticks
        );
        let mut rtt: Vec<u64> = t.rtt_us.iter().map(|&r| u64::from(r)).collect();
        println!("round trip                {}", percentiles(&mut rtt));
        println!(
            "upkeep                    re-binds {} ok / {} failed, refreshes {} ok / {} failed, {} stale nonces \
             (retried), {} retransmits, {} unknown datagrams",
            t.binds_ok,
            t.binds_failed,
            t.refreshes_ok,
            t.refreshes_failed,
            t.stale_nonces,
            t.retransmits,
            t.unknown_datagrams
        );
        self.print_server(samples);
        let errors = [
            ("failed connects", self.failed_connects.len() as u64),
            ("unexpected closes", load(&c.unexpected_closes)),
            ("error messages", load(&c.error_messages)),
            ("expiring messages", load(&c.expiring_messages)),
            ("lost pongs", pings.saturating_sub(pongs)),
            ("lost signals", signals.saturating_sub(delivered)),
            ("lost acks", signals.saturating_sub(acks)),
            (
                "allocations failed",
                t.allocate_failed + (self.allocs_asked as u64).saturating_sub(t.allocated + t.allocate_failed),
            ),
            ("re-binds failed", t.binds_failed),
            ("refreshes failed", t.refreshes_failed),
            ("failed sends", t.send_failed),
            ("lost datagrams", t.lost()),
        ];
        let total: u64 = errors.iter().map(|(_, n)| n).sum();
        println!("== errors of every kind: {total} (target 0)");
        for (what, n) in errors.iter().filter(|(_, n)| *n > 0) {
            println!("  {what}: {n}");
        }
        for s in self.failed_connects.iter().take(10).chain(c.surprises.lock().unwrap().iter()).chain(&t.surprises) {
            println!("  e.g. {s}");
        }
    }

    fn print_server(&self, samples: &Samples) {
        println!("== server");
        for s in &samples.list {
            println!(
                "  t={:7.1} s  RSS {:8.2} MiB  CPU {:8.2} s  fds {:6}  threads {:3}  {}",
                s.at_secs,
                mib(s.rss_kib),
                s.cpu_s,
                s.fds,
                s.threads,
                s.label
            );
        }
        let (Some(start), Some(warm), Some(end)) =
            (samples.labelled("load starts"), samples.marked(Sample::WARM), samples.marked(Sample::END))
        else {
            println!("(too few samples)");
            return;
        };
        let minutes = |s: &Sample| (s.at_secs - start.at_secs) / 60.0;
        let growth = 100.0 * (end.rss_kib as f64 - warm.rss_kib as f64) / (warm.rss_kib as f64).max(1.0);
        println!(
            "RSS                       {:.2} MiB at the start of the load, {:.2} MiB at {:.2} min, {:.2} MiB at \
             {:.2} min (the end): {:+.2} % from the fifth to the end (target < 5 %)",
            mib(start.rss_kib),
            mib(warm.rss_kib),
            minutes(warm),
            mib(end.rss_kib),
            minutes(end),
            growth
        );
        let during: Vec<&Sample> = samples.list.iter().filter(|s| s.at_secs >= start.at_secs).collect();
        let lo = during.iter().map(|s| s.rss_kib).min().unwrap_or(0);
        let hi = during.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        println!("RSS over the load          min {:.2} MiB, max {:.2} MiB", mib(lo), mib(hi));
        let secs = (end.at_secs - start.at_secs).max(1e-9);
        let cpu = end.cpu_s - start.cpu_s;
        let client = end.client_cpu_s - start.client_cpu_s;
        println!(
            "CPU over the load         server {cpu:.2} s in {secs:.1} s ({:.1} % of one core); this client {client:.2} s \
             ({:.1} %); setup: server {:.2} s",
            100.0 * cpu / secs,
            100.0 * client / secs,
            start.cpu_s
        );
    }
}
