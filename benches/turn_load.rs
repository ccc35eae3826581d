//! TURN load, edgebeam beside coturn: the same `turnutils_uclient` load (M clients, N messages of
//! L bytes each, relayed to a `turnutils_peer` echo on 127.0.0.1 and back) against each server in
//! turn, then 1,000 UDP allocations held by a small STUN client of our own. Prints relayed packets
//! (sent + received), server CPU seconds during the load (utime + stime from /proc), relayed
//! packets per CPU-second, loss, uclient's round trip, server RSS, and RSS per held allocation,
//! then the edgebeam/coturn ratios. It asserts nothing about time.
//!
//!     cargo bench --bench turn_load
//!     cargo bench --bench turn_load -- --clients 50 --messages 2000 --len 160 --interval-ms 1 \
//!         --transport udp|tcp|tls --allocations 1000 [--only coturn|edgebeam]
//!
//! Both servers get REST credentials from one secret (edgebeam's own, read from its database;
//! coturn is given the same text), loopback peers allowed and no per-user quota in the way.
//! edgebeam is `TURN_LOAD_SERVER_BIN` or this build's binary, on a fresh data dir with one
//! project. `cargo test --benches` runs a small smoke load against coturn only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::turn::{
    allocate_udp, rest_password, rest_username, self_signed_pair, unix_now, wait_stun, AllocateError, Coturn, Peer,
};
use common::{free_port, free_port_tcp_udp};

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Edgebeam,
    Coturn,
}

struct Opts {
    clients: u32,
    messages: u32,
    len: u32,
    interval_ms: u32,
    transport: String,
    allocations: u32,
    sides: Vec<Side>,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let num = |name: &str, default: u32| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let only = match value("--only").as_deref() {
        Some("coturn") => Some(vec![Side::Coturn]),
        Some("edgebeam") => Some(vec![Side::Edgebeam]),
        Some(other) => panic!("--only coturn|edgebeam, not {other}"),
        None => None,
    };
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --benches`: a smoke run, against coturn only until edgebeam's TURN server is
        // in (`cargo test --bench turn_load -- --only edgebeam` runs it against edgebeam).
        return Opts {
            clients: 4,
            messages: 20,
            len: 100,
            interval_ms: 5,
            transport: "udp".into(),
            allocations: 50,
            sides: only.unwrap_or(vec![Side::Coturn]),
        };
    }
    let transport = value("--transport").unwrap_or_else(|| "udp".into());
    assert!(["udp", "tcp", "tls"].contains(&transport.as_str()), "--transport udp|tcp|tls");
    Opts {
        clients: num("--clients", 50).clamp(1, 400),
        messages: num("--messages", 2000),
        len: num("--len", 160).clamp(4, 1400),
        interval_ms: num("--interval-ms", 1),
        transport,
        allocations: num("--allocations", 1000).clamp(1, 5000),
        sides: only.unwrap_or(vec![Side::Edgebeam, Side::Coturn]),
    }
}

/// A server under test: where it listens and how to authenticate to it.
struct Target {
    name: &'static str,
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
    Target { name: "edgebeam", pid, listen, tls, project, secret, _process: process }
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
        pid: coturn.pid(),
        listen: coturn.listen,
        tls: coturn.tls.unwrap(),
        project: project.to_owned(),
        secret: secret.to_owned(),
        _process: Process { edgebeam: None, _coturn: Some(coturn), _dir: tmp },
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
        allocations: held.len() as u32,
        rss_held_kib,
    }
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

fn main() {
    let o = opts();
    let ticks = clock_ticks();
    println!(
        "scenario: {} uclient clients (-c) x {} messages of {} B every {} ms over {}, echo peer on 127.0.0.1; \
         then {} held UDP allocations",
        o.clients, o.messages, o.len, o.interval_ms, o.transport, o.allocations
    );
    let mut reports = Vec::new();
    let mut secret_project = None;
    if o.sides.contains(&Side::Edgebeam) {
        let target = start_edgebeam(&o);
        reports.push(measure(&target, &o, ticks));
        secret_project = Some((target.secret.clone(), target.project.clone()));
    }
    if o.sides.contains(&Side::Coturn) {
        let (secret, project) = secret_project.unwrap_or_else(|| ("turn-load-secret".into(), "load".into()));
        let target = start_coturn(&o, &secret, &project);
        reports.push(measure(&target, &o, ticks));
    }
    print_table(&reports);
}
