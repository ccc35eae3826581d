//! Soak: `edgebeam serve` under a steady mixed load for minutes, counting every error and
//! watching the server's memory and CPU. From this (second) process on loopback:
//! - N authenticated WSS connections (`--conns`, 10,000), opened at most 200 at a time from
//!   loopback source addresses 127.1.x.y (40 each, inside the server's default per-source
//!   handshake burst), held open for the whole run; the server pings each every 30 s;
//! - A TURN allocations over UDP (`--allocs`, 500) made with the credentials of the first A
//!   connections' `welcome`s, each ChannelBound to an in-process UDP echo on 127.0.0.1 and sending
//!   it one small ChannelData every `--interval-ms` (100), with the re-binds and refreshes a real
//!   client makes (`relay.rs`);
//! - a trickle of `signal`s (each with an `id`, so acked) and application `ping`s from random
//!   connections (`--signals-per-sec`, `--pings-per-sec`, 10 each),
//!
//! for `--minutes` (10) once all are up. Printed: errors of every kind (failed connects,
//! unexpected closes, `error`/`expiring` messages, lost pongs, signals and acks, TURN failures,
//! lost datagrams), the server's RSS at the start, at a fifth of the run (minute 2 of 10) and at
//! the end with the growth between the last two, its CPU, and latencies. It asserts nothing
//! about time or memory.
//!
//!     nice -n 19 cargo bench --bench soak -- --minutes 10 --conns 10000 --allocs 500
//!     cargo test --bench soak        # smoke: 100 connections, 10 allocations, 5 s
//!
//! Server flags beside the defaults: the project's connection cap and the token cache sized to
//! the run, loopback peers allowed, relay ports 30000 and up (below the ephemeral range). The
//! server is this build's binary or `SOAK_SERVER_BIN`. Bounded: at most 18,000 connections,
//! 2,000 allocations, 1,000 messages/s and 120 minutes, only to 127.0.0.1.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "../common/mod.rs"]
mod bench;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../common/echo.rs"]
mod echo;
#[path = "../common/server.rs"]
mod server;
#[path = "../common/source.rs"]
mod source;

mod args;
mod relay;
mod report;
mod signaling;

use common::https;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use report::{Sample, Samples};
use signaling::{Conn, Counters, Trickle, TurnCredentials, GROUP};

/// The client's executor, run by the main thread, which also drives the reactor.
static CLIENT: smol::Executor<'static> = smol::Executor::new();

fn main() {
    let o = args::opts();
    let limit = args::open_files_limit();
    // One descriptor per connection and two per allocation (its socket and an async clone).
    let room = (limit as usize).saturating_sub(2 * o.allocs + 200);
    let conns = o.conns.min(room);
    let allocs = o.allocs.min(conns);
    println!(
        "soak: {conns} WSS connections, {allocs} TURN allocations (a round trip every {} ms each), \
         {} signals/s and {} pings/s, for {:.1} min{} (open files limit {limit})",
        o.interval.as_millis(),
        o.signals_per_sec,
        o.pings_per_sec,
        o.duration.as_secs_f64() / 60.0,
        if o.smoke { " (smoke run)" } else { "" },
    );

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let signer = server::Signer::create(&data, "soak", &tmp.path().join("k.pem"));
    // Tokens outlast the run and its setup, so no `expiring` is due.
    let ttl = o.duration.as_secs() as i64 + 3600;
    let tokens: Vec<String> =
        (0..conns).map(|i| signer.token_lasting(&format!("g{}", i / GROUP), &format!("p{i}"), ttl)).collect();

    let bin = server::server_bin("SOAK_SERVER_BIN");
    let (mut cmd, at) = server::serve_command_at(&bin, "", &data);
    let relay_high = (30_000 + allocs + 500).min(32_767);
    cmd.args(["--signal-max-conns-per-project", &(conns + 100).to_string()])
        .args(["--token-cache-entries", &(conns + 100).to_string()])
        .args(["--turn-allow-peers", "127.0.0.0/8"])
        .args(["--turn-max-allocations-per-project", &(allocs + 100).max(1000).to_string()])
        .args(["--relay-ports", &format!("30000-{relay_high}")]);
    let child = server::spawn_serving(cmd, at.signal);
    let pid = child.id();
    common::turn::wait_stun(at.turn, Duration::from_secs(30));

    let counters = Arc::new(Counters::default());
    let origin = Instant::now();
    let mut samples = Samples::new(pid);
    samples.take("before any connection", origin);

    let (report, turn) = smol::block_on(CLIENT.run(async {
        // Connect, at most 200 handshakes in flight.
        let setup = Instant::now();
        let window = Arc::new(smol::lock::Semaphore::new(200));
        let tasks: Vec<_> = (0..conns)
            .map(|i| {
                let (tok, window, c) = (tokens[i].clone(), window.clone(), counters.clone());
                CLIENT.spawn(async move {
                    let _permit = window.acquire_arc().await;
                    signaling::open(at.signal, i, &tok, c, origin).await
                })
            })
            .collect();
        let mut held: Vec<Option<Conn>> = Vec::with_capacity(conns);
        let mut creds: Vec<TurnCredentials> = Vec::new();
        let mut failed_connects: Vec<String> = Vec::new();
        for t in tasks {
            match t.await {
                Ok((conn, turn)) => {
                    if let (Some(t), true) = (turn, creds.len() < allocs) {
                        creds.push(t);
                    }
                    held.push(Some(conn));
                }
                Err(e) => {
                    failed_connects.push(e);
                    held.push(None);
                }
            }
        }
        let setup_secs = setup.elapsed().as_secs_f64();
        let n_held = held.iter().flatten().count();
        println!("connected {n_held} of {conns} in {setup_secs:.1} s ({:.0}/s)", n_held as f64 / setup_secs);
        samples.take("all connected", origin);

        // The TURN thread makes its allocations, says when it is ready, then runs to the end.
        let (ready_tx, ready_rx) = async_channel::bounded::<Instant>(1);
        let (duration, interval, turn_addr) = (o.duration, o.interval, at.turn);
        let turn = std::thread::spawn(move || {
            let echo = echo::Echo::start(Some(4 << 20));
            let mut stats = relay::TurnStats::default();
            let made = Instant::now();
            let allocations = relay::allocate(turn_addr, &creds, echo.addr, &mut stats);
            println!("allocated {} of {} in {:.1} s", allocations.len(), creds.len(), made.elapsed().as_secs_f64());
            let start = Instant::now();
            ready_tx.send_blocking(start).unwrap();
            let mut stats = relay::run(allocations, echo.addr, start, start + duration, interval, stats);
            stats.reached_peer = echo.reached.load(Ordering::Relaxed);
            stats
        });
        let start = ready_rx.recv().await.unwrap();
        let end = start + duration;
        samples.take("load starts", origin);

        // The load: the trickle every 100 ms, a sample of the server every twentieth of the run (and
        // at a fifth of it), progress every minute.
        let mut trickle = Trickle::new();
        let warm_at = start + duration / 5;
        let (mut warm_taken, mut next_sample, mut next_progress) = (false, start, start + Duration::from_secs(60));
        let rates = (o.signals_per_sec, o.pings_per_sec);
        while Instant::now() < end {
            smol::Timer::after(Duration::from_millis(100)).await;
            let now = Instant::now();
            trickle.send_due(&held, &counters, rates, (now.min(end) - start).as_secs_f64(), origin);
            if now >= next_sample && now < end {
                next_sample += duration / 20;
                if !warm_taken && now >= warm_at {
                    warm_taken = true;
                    samples.take_marked("a fifth of the run", origin, Sample::WARM);
                } else {
                    samples.take("", origin);
                }
            } else if !warm_taken && now >= warm_at {
                warm_taken = true;
                samples.take_marked("a fifth of the run", origin, Sample::WARM);
            }
            if now >= next_progress {
                next_progress += Duration::from_secs(60);
                report::progress(&samples, &counters, (now - start).as_secs_f64());
            }
        }
        samples.take_marked("end of the load", origin, Sample::END);
        // In-flight pongs, signals and acks have 2 s to arrive.
        smol::Timer::after(Duration::from_secs(2)).await;
        counters.ending.store(true, Ordering::Relaxed);
        let turn = smol::unblock(move || turn.join().unwrap()).await;
        let report = report::Report { conns, held: n_held, failed_connects, setup_secs, allocs_asked: allocs };
        drop(held);
        (report, turn)
    }));
    report.print(&samples, &counters, &turn);
    server::stop(child);
}
