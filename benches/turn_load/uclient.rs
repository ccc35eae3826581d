//! The `turnutils_uclient` generator: one run per server, and the side-by-side table.

use std::time::{Duration, Instant};

use crate::args::Opts;
use crate::bench::rss_kib;
use crate::common;
use crate::common::turn::{rest_password, rest_username, unix_now, Peer};
use crate::procfs::cpu_ticks;
use crate::target::{each_server, hold_allocations, Target};

pub struct Report {
    name: &'static str,
    sent: u64,
    received: u64,
    lost: u64,
    rtt_ms: Option<f64>,
    wall_s: f64,
    cpu_s: f64,
    rss_start_kib: u64,
    rss_loaded_kib: u64,
    allocations: u32,
    rss_held_kib: u64,
}

impl Report {
    fn relayed(&self) -> u64 {
        self.sent + self.received
    }
    fn per_cpu_s(&self) -> f64 {
        self.relayed() as f64 / self.cpu_s.max(0.01)
    }
    fn per_allocation_kib(&self) -> f64 {
        self.rss_held_kib.saturating_sub(self.rss_loaded_kib) as f64 / self.allocations.max(1) as f64
    }
}

pub fn measure(t: &Target, o: &Opts, ticks: f64) -> Report {
    let rss_start_kib = rss_kib(t.pid).unwrap_or(0);
    let peer = Peer::start();
    let user = rest_username(unix_now() + 3600, &t.project, "load", "uclient");
    let pass = rest_password(&t.secret, &user);
    let port = match o.transport.as_str() {
        "tls" => t.tls.port(),
        _ => t.listen.port(),
    }
    .to_string();
    let (m, n, l, z) = (o.clients.to_string(), o.messages.to_string(), o.len.to_string(), o.interval_ms.to_string());
    let mut args = match o.transport.as_str() {
        "udp" => vec![],
        "tcp" => vec!["-t"],
        _ => vec!["-t", "-S"],
    };
    args.extend(["-c", "-m", &m, "-n", &n, "-l", &l, "-z", &z, "-p", &port, "-e", "127.0.0.1", "-r", peer.port()]);
    args.extend(["-u", &user, "-w", &pass, "127.0.0.1"]);
    let cpu_before = cpu_ticks(t.pid);
    let start = Instant::now();
    let run = common::turn::uclient_within(&args, Duration::from_secs(180));
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = (cpu_ticks(t.pid) - cpu_before) as f64 / ticks;
    if !run.completed || !run.status.success() {
        println!("{}: uclient did not complete ({}):\n{}{}", t.name, run.status, run.stdout, run.stderr);
    }
    let rss_loaded_kib = rss_kib(t.pid).unwrap_or(0);
    let (allocations, rss_held_kib) = hold_allocations(t, o);
    Report {
        name: t.name,
        sent: run.sent,
        received: run.received,
        lost: run.lost,
        rtt_ms: run.rtt_ms,
        wall_s,
        cpu_s,
        rss_start_kib,
        rss_loaded_kib,
        allocations,
        rss_held_kib,
    }
}

pub fn print_table(reports: &[Report]) {
    let row = |label: &str, f: &dyn Fn(&Report) -> String| {
        let cells: Vec<String> = reports.iter().map(|r| format!("{:>24}", f(r))).collect();
        println!("{label:<30}{}", cells.join(""));
    };
    row("", &|r| r.name.to_owned());
    row("relayed packets (sent+recv)", &|r| format!("{} ({}+{})", r.relayed(), r.sent, r.received));
    row("lost", &|r| r.lost.to_string());
    row("uclient avg round trip ms", &|r| r.rtt_ms.map_or("-".into(), |v| format!("{v:.3}")));
    row("wall s (uclient run)", &|r| format!("{:.1}", r.wall_s));
    row("server CPU s", &|r| format!("{:.2}", r.cpu_s));
    row("relayed packets / CPU-s", &|r| format!("{:.0}", r.per_cpu_s()));
    row("server RSS start MiB", &|r| format!("{:.1}", r.rss_start_kib as f64 / 1024.0));
    row("server RSS after load MiB", &|r| format!("{:.1}", r.rss_loaded_kib as f64 / 1024.0));
    row("allocations held", &|r| r.allocations.to_string());
    row("server RSS with them MiB", &|r| format!("{:.1}", r.rss_held_kib as f64 / 1024.0));
    row("RSS per allocation KiB", &|r| format!("{:.2}", r.per_allocation_kib()));
    if let [ours, theirs] = reports {
        let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}", a / b) } else { "-".into() };
        println!("== edgebeam / coturn (above 1 is better for packets per CPU-s, below 1 for memory)");
        println!("relayed packets / CPU-s        {}", ratio(ours.per_cpu_s(), theirs.per_cpu_s()));
        println!("server RSS after load          {}", ratio(ours.rss_loaded_kib as f64, theirs.rss_loaded_kib as f64));
        println!("RSS per allocation             {}", ratio(ours.per_allocation_kib(), theirs.per_allocation_kib()));
    }
}

pub fn run_uclient(o: &Opts, ticks: f64) {
    println!(
        "scenario: {} uclient clients (-c) x {} messages of {} B every {} ms over {}, echo peer on 127.0.0.1; \
         then {} held UDP allocations",
        o.clients, o.messages, o.len, o.interval_ms, o.transport, o.allocations
    );
    // One round is noisy here (coturn's CPU for the same load varied by a third between runs):
    // with --repeat the servers alternate and the median ratio is printed.
    let mut ratios = Vec::new();
    for round in 1..=o.repeat {
        if o.repeat > 1 {
            println!("== round {round} of {}", o.repeat);
        }
        let mut reports = Vec::new();
        each_server(o, |t| reports.push(measure(t, o, ticks)));
        print_table(&reports);
        if let [ours, theirs] = &reports[..] {
            ratios.push(ours.per_cpu_s() / theirs.per_cpu_s().max(1e-9));
        }
    }
    if ratios.len() > 1 {
        ratios.sort_by(f64::total_cmp);
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "relayed packets / CPU-s, edgebeam / coturn over {} rounds: median {:.2} (sorted: {})",
            ratios.len(),
            ratios[ratios.len() / 2],
            listed.join(", ")
        );
    }
}
