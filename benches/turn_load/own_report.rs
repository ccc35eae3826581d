//! The own generator's runs: one load per server, or the `--sweep`, and their tables.

use crate::args::{Opts, Side};
use crate::bench::rss_kib;
use crate::own_load::{run_load, setup_lanes, Load};
use crate::target::{each_server, hold_allocations, Target};

pub struct OwnReport {
    name: &'static str,
    clients: u32,
    load: Load,
    rss_start_kib: u64,
    rss_loaded_kib: u64,
    allocations: u32,
    rss_held_kib: u64,
}

pub fn measure_own(t: &Target, o: &Opts, ticks: f64) -> Option<OwnReport> {
    let rss_start_kib = rss_kib(t.pid).unwrap_or(0);
    let lanes = match setup_lanes(t, o) {
        Ok(l) => l,
        Err(e) => {
            println!("{}: {e}", t.name);
            return None;
        }
    };
    let load = run_load(t, &lanes, o.rate, o, ticks);
    let rss_loaded_kib = rss_kib(t.pid).unwrap_or(0);
    let clients = lanes.iter().map(|l| l.socks.len() as u32).sum();
    // The lanes' sockets stay bound meanwhile: a freed client port reused by a held allocation
    // would meet its old allocation (edgebeam answers 441, coturn 437).
    let (allocations, rss_held_kib) = if t.side == Side::Floor { (0, rss_loaded_kib) } else { hold_allocations(t, o) };
    drop(lanes);
    Some(OwnReport { name: t.name, clients, load, rss_start_kib, rss_loaded_kib, allocations, rss_held_kib })
}

pub fn print_own_table(reports: &[OwnReport]) {
    let row = |label: &str, f: &dyn Fn(&OwnReport) -> String| {
        let cells: Vec<String> = reports.iter().map(|r| format!("{:>24}", f(r))).collect();
        println!("{label:<34}{}", cells.join(""));
    };
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    row("", &|r| r.name.to_owned());
    row("allocations in the load", &|r| r.clients.to_string());
    row("target packets/s", &|r| r.load.rate.to_string());
    row("sent packets/s achieved", &|r| format!("{:.0}", r.load.achieved()));
    row("sent (send failed)", &|r| format!("{} ({})", r.load.sent, r.load.send_failed));
    row("reached the echo peer", &|r| r.load.reached_peer.to_string());
    row("echoes received", &|r| r.load.received.to_string());
    row("server UDP kernel drops", &|r| r.load.server_udp_drops.to_string());
    row("lost (sent - received)", &|r| format!("{} ({:.3}%)", r.load.lost(), r.load.loss_pct()));
    row("relayed packets (echoes x 2)", &|r| r.load.relayed().to_string());
    row("round trip p50 / p99 ms", &|r| format!("{} / {}", ms(r.load.rtt_ms(50)), ms(r.load.rtt_ms(99))));
    row("server CPU s", &|r| format!("{:.2}", r.load.cpu_s));
    row("relayed packets / CPU-s", &|r| format!("{:.0}", r.load.per_cpu_s()));
    row("generator CPU s (this process)", &|r| format!("{:.2}", r.load.generator_cpu_s));
    row("server RSS start MiB", &|r| format!("{:.1}", r.rss_start_kib as f64 / 1024.0));
    row("server RSS after load MiB", &|r| format!("{:.1}", r.rss_loaded_kib as f64 / 1024.0));
    row("allocations held", &|r| r.allocations.to_string());
    row("server RSS with them MiB", &|r| format!("{:.1}", r.rss_held_kib as f64 / 1024.0));
    row("RSS per allocation KiB", &|r| {
        let kib = r.rss_held_kib.saturating_sub(r.rss_loaded_kib) as f64 / r.allocations.max(1) as f64;
        format!("{kib:.2}")
    });
    let by = |name: &str| reports.iter().find(|r| r.name == name);
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}", a / b) } else { "-".into() };
    if let (Some(ours), Some(theirs)) = (by("edgebeam"), by("coturn")) {
        let per_alloc =
            |r: &OwnReport| r.rss_held_kib.saturating_sub(r.rss_loaded_kib) as f64 / r.allocations.max(1) as f64;
        println!("== edgebeam / coturn (above 1 is better for packets per CPU-s, below 1 for the rest)");
        println!("relayed packets / CPU-s           {}", ratio(ours.load.per_cpu_s(), theirs.load.per_cpu_s()));
        println!(
            "round trip p50 / p99              {} / {}",
            ratio(ours.load.rtt_ms(50).unwrap_or(0.0), theirs.load.rtt_ms(50).unwrap_or(0.0)),
            ratio(ours.load.rtt_ms(99).unwrap_or(0.0), theirs.load.rtt_ms(99).unwrap_or(0.0))
        );
        println!(
            "server RSS after load             {}",
            ratio(ours.rss_loaded_kib as f64, theirs.rss_loaded_kib as f64)
        );
        println!("RSS per allocation                {}", ratio(per_alloc(ours), per_alloc(theirs)));
    }
    if let Some(floor) = by("floor") {
        println!("== the floor relay's relayed packets / CPU-s, against each server (the most any could reach)");
        for r in reports.iter().filter(|r| r.name != "floor") {
            println!("floor / {:<26}{}", r.name, ratio(floor.load.per_cpu_s(), r.load.per_cpu_s()));
        }
    }
}

/// Rates for `--sweep`: 20k, 40k, 80k, 120k, then +40k.
pub fn sweep_rates() -> impl Iterator<Item = u64> {
    [20_000, 40_000].into_iter().chain((80_000..=1_000_000).step_by(40_000))
}

/// Runs the sweep against one server: every rate's load until the loss passes 0.1% or the
/// generator sends less than 90% of the rate.
pub fn sweep(t: &Target, o: &Opts, ticks: f64) -> (&'static str, Vec<Load>) {
    let lanes = match setup_lanes(t, o) {
        Ok(l) => l,
        Err(e) => {
            println!("{}: {e}", t.name);
            return (t.name, Vec::new());
        }
    };
    let mut loads = Vec::new();
    for rate in sweep_rates() {
        let load = run_load(t, &lanes, rate, o, ticks);
        println!(
            "{} {:>7}/s: sent {:.0}/s, lost {} ({:.3}%, {} at the peer leg, {} kernel drops at the server), \
             {:.0} relayed packets/CPU-s, p50 {} ms, p99 {} ms",
            t.name,
            rate,
            load.achieved(),
            load.lost(),
            load.loss_pct(),
            load.reached_peer.saturating_sub(load.received),
            load.server_udp_drops,
            load.per_cpu_s(),
            load.rtt_ms(50).map_or("-".into(), |v| format!("{v:.3}")),
            load.rtt_ms(99).map_or("-".into(), |v| format!("{v:.3}")),
        );
        let stop = load.loss_pct() > 0.1 || load.achieved() < 0.9 * rate as f64;
        loads.push(load);
        if stop {
            break;
        }
    }
    (t.name, loads)
}

pub fn print_sweep(sweeps: &[(&'static str, Vec<Load>)]) {
    let top = |loads: &[Load]| loads.iter().filter(|l| l.lost() == 0 && l.send_failed == 0).map(|l| l.rate).max();
    println!("== sweep: relayed packets (echoes x 2) per server CPU-s, loss, round trip p50/p99 ms");
    let head: Vec<String> = sweeps.iter().map(|(n, _)| format!("{:>44}", n)).collect();
    println!("{:<10}{}", "rate/s", head.join(""));
    let rates: Vec<u64> = sweep_rates().take(sweeps.iter().map(|(_, l)| l.len()).max().unwrap_or(0)).collect();
    for rate in rates {
        let cells: Vec<String> = sweeps
            .iter()
            .map(|(_, loads)| match loads.iter().find(|l| l.rate == rate) {
                Some(l) => format!(
                    "{:>44}",
                    format!(
                        "{:.0}/CPU-s {:.3}% {}/{}",
                        l.per_cpu_s(),
                        l.loss_pct(),
                        l.rtt_ms(50).map_or("-".into(), |v| format!("{v:.2}")),
                        l.rtt_ms(99).map_or("-".into(), |v| format!("{v:.2}"))
                    )
                ),
                None => format!("{:>44}", "-"),
            })
            .collect();
        println!("{:<10}{}", rate, cells.join(""));
    }
    for (name, loads) in sweeps {
        println!("{name}: top rate with 0 loss: {}", top(loads).map_or("none".into(), |r| format!("{r}/s")));
    }
}

pub fn run_own(o: &Opts, ticks: f64) {
    println!(
        "scenario (own generator): {} threads x {} UDP allocations in all, ChannelData of 4+{} B round-robin \
         to an in-process echo per thread on 127.0.0.1, {} for {} s each; {}",
        o.threads,
        o.clients,
        o.len,
        if o.sweep {
            "sweeping rates 20k, 40k, 80k, +40k packets/s".to_owned()
        } else {
            format!("{} packets/s", o.rate)
        },
        o.secs,
        if o.sweep { "no held allocations".to_owned() } else { format!("then {} held UDP allocations", o.allocations) }
    );
    println!("counted: relayed packets = echoes received x 2 (client->peer and peer->client), for both servers");
    if o.sweep {
        let mut sweeps = Vec::new();
        each_server(o, |t| sweeps.push(sweep(t, o, ticks)));
        print_sweep(&sweeps);
    } else {
        let mut reports = Vec::new();
        each_server(o, |t| reports.extend(measure_own(t, o, ticks)));
        print_own_table(&reports);
    }
}
