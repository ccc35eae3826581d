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

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "turn_load/floor.rs"]
mod floor;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::turn::{
    allocate_udp, allocate_udp_authed, rest_password, rest_username, self_signed_pair, unix_now, wait_stun,
    AllocateError, Coturn, Peer,
};
use common::{free_port, free_port_tcp_udp};

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Edgebeam,
    Coturn,
    /// The least a relay can do for the own generator's load (`floor.rs`); `--floor`.
    Floor,
}

#[derive(Clone, Copy, PartialEq)]
enum Generator {
    Uclient,
    Own,
}

struct Opts {
    generators: Vec<Generator>,
    /// uclient's `-m`, or the own generator's allocations in all.
    clients: u32,
    messages: u32,
    len: u32,
    interval_ms: u32,
    transport: String,
    allocations: u32,
    sides: Vec<Side>,
    /// Own generator: client threads, aggregate packets/s, seconds of load, and whether to sweep.
    threads: u32,
    rate: u64,
    secs: f64,
    sweep: bool,
    /// Rounds of the uclient comparison (edgebeam, then coturn, each round).
    repeat: usize,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: u32| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let only = match value("--only").as_deref() {
        Some("coturn") => Some(vec![Side::Coturn]),
        Some("edgebeam") => Some(vec![Side::Edgebeam]),
        Some("floor") => Some(vec![Side::Floor]),
        Some(other) => panic!("--only coturn|edgebeam|floor, not {other}"),
        None => None,
    };
    let generator = match value("--generator").as_deref() {
        Some("own") => Some(Generator::Own),
        Some("uclient") => Some(Generator::Uclient),
        Some(other) => panic!("--generator uclient|own, not {other}"),
        None => None,
    };
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: a smoke run, against coturn only until edgebeam's TURN server is
        // in (`cargo test --bench turn_load -- --only edgebeam` runs it against edgebeam).
        // Each generator in turn unless one is named; the own one for 1 s at 2,000 packets/s.
        return Opts {
            generators: generator.map_or(vec![Generator::Uclient, Generator::Own], |g| vec![g]),
            clients: 4,
            messages: 20,
            len: 100,
            interval_ms: 5,
            transport: "udp".into(),
            allocations: 50,
            sides: only.unwrap_or(vec![Side::Coturn]),
            threads: 2,
            rate: 2000,
            secs: 1.0,
            sweep: false,
            repeat: 1,
        };
    }
    let transport = value("--transport").unwrap_or_else(|| "udp".into());
    assert!(["udp", "tcp", "tls"].contains(&transport.as_str()), "--transport udp|tcp|tls");
    let generator = generator.unwrap_or(Generator::Uclient);
    let threads = num("--threads", 4).clamp(1, 64);
    let clients = match generator {
        Generator::Uclient => num("--clients", 50).clamp(1, 400),
        Generator::Own => num("--clients", 100).clamp(threads, 4000),
    };
    Opts {
        generators: vec![generator],
        clients,
        messages: num("--messages", 2000),
        len: num("--len", 160).clamp(if generator == Generator::Own { 16 } else { 4 }, 1400),
        interval_ms: num("--interval-ms", 1),
        transport,
        allocations: num("--allocations", 1000).clamp(1, 5000),
        sides: only.unwrap_or_else(|| {
            let floor = args.iter().any(|a| a == "--floor");
            assert!(!floor || generator == Generator::Own, "--floor needs --generator own");
            let mut sides = vec![Side::Edgebeam, Side::Coturn];
            sides.extend(floor.then_some(Side::Floor));
            sides
        }),
        threads,
        rate: value("--rate").and_then(|v| v.parse().ok()).unwrap_or(20000).max(1),
        secs: value("--secs").and_then(|v| v.parse().ok()).unwrap_or(10.0f64).max(0.1),
        sweep: args.iter().any(|a| a == "--sweep"),
        repeat: num("--repeat", 1).clamp(1, 20) as usize,
    }
}

/// A server under test: where it listens and how to authenticate to it.
struct Target {
    name: &'static str,
    side: Side,
    pid: u32,
    listen: SocketAddr,
    tls: SocketAddr,
    project: String,
    secret: String,
    _process: Process,
}

/// Keeps a server alive: dropping it stops the server, then removes its files.
struct Process {
    edgebeam: Option<Child>,
    _coturn: Option<Coturn>,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = &mut self.edgebeam {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Relay ports: every uclient client holds 2 (its probe allocation is never freed over UDP),
/// plus the held allocations, with room to spare.
fn relay_ports(o: &Opts) -> (u16, u16) {
    let need = (o.allocations + 4 * o.clients + 200).min(9999) as u16;
    (20000, 20000 + need)
}

fn server_bin() -> PathBuf {
    std::env::var_os("TURN_LOAD_SERVER_BIN").map(PathBuf::from).unwrap_or_else(|| common::BIN.into())
}

fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(server_bin()).args(args).arg("--data-dir").arg(data).output().unwrap();
    assert!(out.status.success(), "edgebeam {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn start_edgebeam(o: &Opts) -> Target {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let project = cli(&data, &["project", "create", "load"]);
    let listen: SocketAddr = ([127, 0, 0, 1], free_port_tcp_udp()).into();
    let tls: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (lo, hi) = relay_ports(o);
    println!("edgebeam binary: {}", server_bin().display());
    let child = Command::new(server_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--signal-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--turn-listen", &listen.to_string(), "--turns-listen", &tls.to_string()])
        .args(["--relay-ports", &format!("{lo}-{hi}"), "--log-level", "warn"])
        .args(["--turn-allow-peers", "127.0.0.0/8", "--turn-max-allocations-per-peer", "1000"])
        .args(["--turn-max-allocations-per-project", "1000000", "--turn-auth-failures-per-minute", "100000"])
        .args(["--turn-bandwidth-bytes-per-sec", "1000000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let process = Process { edgebeam: Some(child), _coturn: None, _dir: tmp };
    wait_stun(listen, Duration::from_secs(30));
    let db = rusqlite::Connection::open(data.join(edgebeam::store::DB_FILE)).unwrap();
    let secret: Vec<u8> = db
        .query_row("SELECT value FROM secrets WHERE name = ?1", [edgebeam::store::secrets::TURN_SECRET], |r| r.get(0))
        .unwrap();
    let secret = String::from_utf8(secret).expect("the TURN secret is ASCII text");
    Target { name: "edgebeam", side: Side::Edgebeam, pid, listen, tls, project, secret, _process: process }
}

fn start_coturn(o: &Opts, secret: &str, project: &str) -> Target {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_pair(tmp.path());
    let coturn =
        common::turn::start_coturn(secret, "edgebeam", free_port_tcp_udp(), relay_ports(o), Some((&cert, &key)));
    println!(
        "coturn: {}",
        Command::new("turnserver")
            .arg("--version")
            .output()
            .map_or("?".into(), |o| { String::from_utf8_lossy(&o.stdout).trim().to_owned() })
    );
    Target {
        name: "coturn",
        side: Side::Coturn,
        pid: coturn.pid(),
        listen: coturn.listen,
        tls: coturn.tls.unwrap(),
        project: project.to_owned(),
        secret: secret.to_owned(),
        _process: Process { edgebeam: None, _coturn: Some(coturn), _dir: tmp },
    }
}

/// The floor relay (`floor.rs`) as a child process of this benchmark binary.
fn start_floor() -> Target {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(floor::ARG)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().expect("the floor relay prints its port");
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    Target {
        name: "floor",
        side: Side::Floor,
        pid: child.id(),
        listen,
        tls: listen,
        project: String::new(),
        secret: String::new(),
        _process: Process { edgebeam: Some(child), _coturn: None, _dir: tempfile::tempdir().unwrap() },
    }
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}

/// utime + stime of the whole process (all threads), in ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    // After the command name: state is field 3, utime 14 and stime 15.
    let at = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    at(14) + at(15)
}

/// Datagrams the kernel dropped on the process's UDP sockets (full receive buffers): the `drops`
/// column of /proc/net/udp for the socket inodes among /proc/PID/fd.
fn udp_drops(pid: u32) -> u64 {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 13 && inodes.contains(f[9]))
        .map(|f| f[12].parse::<u64>().unwrap_or(0))
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

struct Report {
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

fn measure(t: &Target, o: &Opts, ticks: f64) -> Report {
    let rss_start_kib = rss_kib(t.pid);
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
    let rss_loaded_kib = rss_kib(t.pid);
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

/// Makes `--allocations` UDP allocations and keeps their sockets while it reads the server's RSS:
/// (allocations made, RSS KiB with them).
fn hold_allocations(t: &Target, o: &Opts) -> (u32, u64) {
    let mut held = Vec::with_capacity(o.allocations as usize);
    for i in 0..o.allocations {
        let user = rest_username(unix_now() + 3600, &t.project, "mem", &format!("m{i}"));
        let pass = rest_password(&t.secret, &user);
        // 437: the kernel gave our socket the port of a uclient probe allocation still alive.
        let mut tries = 0;
        let got = loop {
            match allocate_udp(t.listen, &user, &pass) {
                Err(AllocateError::Code(437)) if tries < 5 => tries += 1,
                other => break other,
            }
        };
        match got {
            Ok(a) => held.push(a),
            Err(e) => {
                println!("{}: allocation {i} refused: {e:?}", t.name);
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss_held_kib = rss_kib(t.pid);
    (held.len() as u32, rss_held_kib)
}

fn print_table(reports: &[Report]) {
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

// The own generator.

/// A UDP echo on 127.0.0.1 in a thread of its own; counts what reaches it. Stops on drop.
struct Echo {
    addr: SocketAddr,
    reached: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = sock.local_addr().unwrap();
        let (reached, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (r, st) = (reached.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    r.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        Echo { addr, reached, stop, thread: Some(thread) }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One client thread's share: allocation sockets (connected to the server), allocation i with
/// channel 0x4000+i bound to `echo`.
struct Lane {
    socks: Vec<UdpSocket>,
    echo: Echo,
}

const CHANNEL0: u16 = 0x4000;

/// Allocates and ChannelBinds every lane's allocations; distinct PIDs in the usernames.
fn setup_lanes(t: &Target, o: &Opts) -> Result<Vec<Lane>, String> {
    let mut lanes = Vec::new();
    for k in 0..o.threads {
        let share = o.clients / o.threads + u32::from(k < o.clients % o.threads);
        let mut lane = Lane { socks: Vec::new(), echo: Echo::start() };
        if t.side == Side::Floor {
            for i in 0..share {
                lane.socks.push(floor::bind(t.listen, CHANNEL0 + i as u16, lane.echo.addr)?);
            }
            lanes.push(lane);
            continue;
        }
        for i in 0..share {
            let user = rest_username(unix_now() + 3600, &t.project, "load", &format!("own{k}x{i}"));
            let pass = rest_password(&t.secret, &user);
            let mut tries = 0;
            let mut a = loop {
                match allocate_udp_authed(t.listen, &user, &pass) {
                    Err(AllocateError::Code(437)) if tries < 5 => tries += 1,
                    Err(e) => return Err(format!("allocation {k}/{i} refused: {e:?}")),
                    Ok(a) => break a,
                }
            };
            a.channel_bind(CHANNEL0 + i as u16, lane.echo.addr)
                .map_err(|e| format!("ChannelBind {k}/{i} refused: {e:?}"))?;
            lane.socks.push(a.alloc.sock);
        }
        lanes.push(lane);
    }
    Ok(lanes)
}

/// One load run at one rate.
struct Load {
    rate: u64,
    secs: f64,
    sent: u64,
    send_failed: u64,
    reached_peer: u64,
    received: u64,
    /// Round trips in microseconds, sorted.
    rtt_us: Vec<u32>,
    cpu_s: f64,
    generator_cpu_s: f64,
    /// Kernel drops on the server's UDP sockets during the run.
    server_udp_drops: u64,
}

impl Load {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
    fn loss_pct(&self) -> f64 {
        100.0 * self.lost() as f64 / self.sent.max(1) as f64
    }
    /// Each echo received was relayed twice: client->peer and peer->client.
    fn relayed(&self) -> u64 {
        2 * self.received
    }
    fn per_cpu_s(&self) -> f64 {
        self.relayed() as f64 / self.cpu_s.max(0.01)
    }
    fn achieved(&self) -> f64 {
        self.sent as f64 / self.secs
    }
    fn rtt_ms(&self, pct: usize) -> Option<f64> {
        let n = self.rtt_us.len();
        (n > 0).then(|| self.rtt_us[(n * pct / 100).min(n - 1)] as f64 / 1000.0)
    }
}

/// Sends ChannelData round-robin over `socks` at `rate` packets/s for `secs`: (sent, failed).
fn send_lane(socks: &[UdpSocket], rate: f64, secs: f64, len: usize, epoch: Instant) -> (u64, u64) {
    let total = (rate * secs).round() as u64;
    let mut buf = vec![0u8; 4 + len];
    buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let (mut n, mut sent, mut failed) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while n < due {
            let i = (n % socks.len() as u64) as usize;
            buf[0..2].copy_from_slice(&(CHANNEL0 + i as u16).to_be_bytes());
            buf[4..12].copy_from_slice(&n.to_be_bytes());
            buf[12..20].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
            match socks[i].send(&buf) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => failed += 1,
                Err(_) => failed += 1,
            }
            n += 1;
        }
        let next = start + Duration::from_secs_f64(n as f64 / rate);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    (sent, failed)
}

/// Reads echoed ChannelData on `socks` (non-blocking, epoll through smol) until `stop`:
/// (received, round trips in microseconds).
fn receive_lane(socks: &[UdpSocket], stop: &AtomicBool, epoch: Instant) -> (u64, Vec<u32>) {
    let socks: Vec<smol::Async<UdpSocket>> =
        socks.iter().map(|s| smol::Async::new(s.try_clone().unwrap()).unwrap()).collect();
    let stats = RefCell::new((0u64, Vec::<u32>::new()));
    let ex = smol::LocalExecutor::new();
    let tasks: Vec<_> = socks
        .iter()
        .map(|sock| {
            let stats = &stats;
            ex.spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(n) = sock.recv(&mut buf).await {
                    if n >= 20 && buf[0] & 0xc0 == 0x40 {
                        let sent_ns = u64::from_be_bytes(buf[12..20].try_into().unwrap());
                        let rtt = (epoch.elapsed().as_nanos() as u64).saturating_sub(sent_ns) / 1000;
                        let mut s = stats.borrow_mut();
                        s.0 += 1;
                        s.1.push(rtt.min(u32::MAX as u64) as u32);
                    }
                }
            })
        })
        .collect();
    smol::block_on(ex.run(async {
        while !stop.load(Ordering::Relaxed) {
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }));
    drop(tasks);
    stats.take()
}

/// One load run over set-up lanes: senders and receivers per lane, then 500 ms for the last
/// echoes; the server's CPU is counted from the first send to the end of that wait.
fn run_load(t: &Target, lanes: &[Lane], rate: u64, o: &Opts, ticks: f64) -> Load {
    let lane_rate = rate as f64 / lanes.len() as f64;
    let epoch = Instant::now();
    let stop = AtomicBool::new(false);
    for lane in lanes {
        lane.echo.reached.store(0, Ordering::Relaxed);
    }
    let (cpu_before, own_before) = (cpu_ticks(t.pid), cpu_ticks(std::process::id()));
    let drops_before = udp_drops(t.pid);
    let (sent, failed, received, mut rtt_us) = std::thread::scope(|s| {
        let receivers: Vec<_> = lanes.iter().map(|l| s.spawn(|| receive_lane(&l.socks, &stop, epoch))).collect();
        let senders: Vec<_> =
            lanes.iter().map(|l| s.spawn(|| send_lane(&l.socks, lane_rate, o.secs, o.len as usize, epoch))).collect();
        let (mut sent, mut failed) = (0, 0);
        for h in senders {
            let (a, b) = h.join().unwrap();
            sent += a;
            failed += b;
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let (mut received, mut rtts) = (0, Vec::new());
        for h in receivers {
            let (n, r) = h.join().unwrap();
            received += n;
            rtts.extend(r);
        }
        (sent, failed, received, rtts)
    });
    let cpu_s = (cpu_ticks(t.pid) - cpu_before) as f64 / ticks;
    let generator_cpu_s = (cpu_ticks(std::process::id()) - own_before) as f64 / ticks;
    rtt_us.sort_unstable();
    Load {
        rate,
        secs: o.secs,
        sent,
        send_failed: failed,
        reached_peer: lanes.iter().map(|l| l.echo.reached.load(Ordering::Relaxed)).sum(),
        received,
        rtt_us,
        cpu_s,
        generator_cpu_s,
        server_udp_drops: udp_drops(t.pid).saturating_sub(drops_before),
    }
}

struct OwnReport {
    name: &'static str,
    clients: u32,
    load: Load,
    rss_start_kib: u64,
    rss_loaded_kib: u64,
    allocations: u32,
    rss_held_kib: u64,
}

fn measure_own(t: &Target, o: &Opts, ticks: f64) -> Option<OwnReport> {
    let rss_start_kib = rss_kib(t.pid);
    let lanes = match setup_lanes(t, o) {
        Ok(l) => l,
        Err(e) => {
            println!("{}: {e}", t.name);
            return None;
        }
    };
    let load = run_load(t, &lanes, o.rate, o, ticks);
    let rss_loaded_kib = rss_kib(t.pid);
    let clients = lanes.iter().map(|l| l.socks.len() as u32).sum();
    // The lanes' sockets stay bound meanwhile: a freed client port reused by a held allocation
    // would meet its old allocation (edgebeam answers 441, coturn 437).
    let (allocations, rss_held_kib) = if t.side == Side::Floor { (0, rss_loaded_kib) } else { hold_allocations(t, o) };
    drop(lanes);
    Some(OwnReport { name: t.name, clients, load, rss_start_kib, rss_loaded_kib, allocations, rss_held_kib })
}

fn print_own_table(reports: &[OwnReport]) {
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
fn sweep_rates() -> impl Iterator<Item = u64> {
    [20_000, 40_000].into_iter().chain((80_000..=1_000_000).step_by(40_000))
}

/// Runs the sweep against one server: every rate's load until the loss passes 0.1% or the
/// generator sends less than 90% of the rate.
fn sweep(t: &Target, o: &Opts, ticks: f64) -> (&'static str, Vec<Load>) {
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

fn print_sweep(sweeps: &[(&'static str, Vec<Load>)]) {
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

/// Starts each server of `--only` in turn (edgebeam first, coturn with its secret) and hands it
/// to `f`.
fn each_server(o: &Opts, mut f: impl FnMut(&Target)) {
    let mut secret_project = None;
    if o.sides.contains(&Side::Edgebeam) {
        let target = start_edgebeam(o);
        f(&target);
        secret_project = Some((target.secret.clone(), target.project.clone()));
    }
    if o.sides.contains(&Side::Coturn) {
        let (secret, project) = secret_project.unwrap_or_else(|| ("turn-load-secret".into(), "load".into()));
        let target = start_coturn(o, &secret, &project);
        f(&target);
    }
    if o.sides.contains(&Side::Floor) {
        f(&start_floor());
    }
}

fn run_uclient(o: &Opts, ticks: f64) {
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

fn run_own(o: &Opts, ticks: f64) {
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
