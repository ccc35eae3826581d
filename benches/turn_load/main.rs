//! TURN load, edgebeam beside coturn: the same `turnutils_uclient` load (M clients, N messages of
//! L bytes each, relayed to a `turnutils_peer` echo on 127.0.0.1 and back) against each server in
//! turn, then 1,000 UDP allocations held by a small STUN client of our own. Prints relayed packets
//! (sent + received), server CPU seconds during the load (utime + stime from /proc), relayed
//! packets per CPU-second, loss, uclient's round trip, server RSS, and RSS per held allocation,
//! then the edgebeam/coturn ratios. It asserts nothing about time.
//!
//! uclient tops out near 12k messages/s, which leaves both servers underloaded, so
//! `--generator own` swaps it for a load generator of our own: K threads (`--threads`, 4), each
//! holding its share of `--clients` (100) UDP allocations made with long-term credentials, every
//! allocation ChannelBound (0x4000+i) to its thread's in-process UDP echo on 127.0.0.1. Each
//! thread sends ChannelData (4-byte header + `--len` bytes carrying a sequence number and a send
//! time) round-robin over its allocations, together `--rate` packets/s for `--secs` s, and reads
//! the echoes back on the allocation sockets (epoll, through smol). Counted: a round trip is
//! relayed twice (client->peer and peer->client), so relayed packets = echoes received x 2, the
//! same for both servers; loss = sent - echoes received; RTT p50/p99 from the send times.
//! `--sweep` runs 20k, 40k, 80k, 120k, +40k... packets/s per server until the loss passes 0.1%
//! (or the generator cannot reach the rate) and prints the top rate with 0 loss.
//! `--floor` (own generator only) adds a third "server": the least work any relay on the socket
//! API can do for the same packets (`turn_load/floor.rs`), to show how far a TURN server could get.
//!
//!     cargo bench --bench turn_load
//!     cargo bench --bench turn_load -- --clients 50 --messages 2000 --len 160 --interval-ms 1 \
//!         --transport udp|tcp|tls --allocations 1000 [--only coturn|edgebeam] [--repeat N]
//!     cargo bench --bench turn_load -- --generator own [--threads 4 --clients 100 --rate 20000 \
//!         --secs 10 --len 160 --allocations 1000 --sweep --floor --only coturn|edgebeam|floor]
//!
//! Both servers get REST credentials from one secret (edgebeam's own, read from its database;
//! coturn is given the same text), loopback peers allowed and no per-user quota in the way.
//! edgebeam is `TURN_LOAD_SERVER_BIN` or this build's binary, on a fresh data dir with one
//! project. `cargo test --benches` runs a small smoke load of each generator against coturn only
//! (never the sweep).

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

#[path = "../common/mod.rs"]
mod bench;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../common/echo.rs"]
mod echo;

mod args;
mod floor;
mod own_load;
mod own_report;
mod procfs;
mod target;
mod uclient;

use args::{opts, Generator};
use own_report::run_own;
use procfs::clock_ticks;
use uclient::run_uclient;

fn main() {
    if std::env::args().any(|a| a == floor::ARG) {
        floor::serve();
    }
    let o = opts();
    let ticks = clock_ticks();
    for generator in o.generators.clone() {
        match generator {
            Generator::Uclient => run_uclient(&o, ticks),
            Generator::Own => run_own(&o, ticks),
        }
    }
}
