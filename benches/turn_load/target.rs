//! The servers under test (edgebeam, coturn, the floor relay) as child processes, and what every
//! server is measured with beside the load: the RSS of held allocations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::args::{Opts, Side};
use crate::bench::rss_kib;
use crate::common::turn::{
    allocate_udp, rest_password, rest_username, self_signed_pair, unix_now, wait_stun, AllocateError, Coturn,
};
use crate::common::{self, free_port, free_port_tcp_udp};
use crate::floor;

/// A server under test: where it listens and how to authenticate to it.
pub struct Target {
    pub name: &'static str,
    pub side: Side,
    pub pid: u32,
    pub listen: SocketAddr,
    pub tls: SocketAddr,
    pub project: String,
    pub secret: String,
    _process: Process,
}

/// Keeps a server alive: dropping it stops the server, then removes its files.
pub struct Process {
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
pub fn relay_ports(o: &Opts) -> (u16, u16) {
    let need = (o.allocations + 4 * o.clients + 200).min(9999) as u16;
    (20000, 20000 + need)
}

pub fn server_bin() -> PathBuf {
    std::env::var_os("TURN_LOAD_SERVER_BIN").map(PathBuf::from).unwrap_or_else(|| common::BIN.into())
}

pub fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(server_bin()).args(args).arg("--data-dir").arg(data).output().unwrap();
    assert!(out.status.success(), "edgebeam {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn start_edgebeam(o: &Opts) -> Target {
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

pub fn start_coturn(o: &Opts, secret: &str, project: &str) -> Target {
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
pub fn start_floor() -> Target {
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

/// Makes `--allocations` UDP allocations and keeps their sockets while it reads the server's RSS:
/// (allocations made, RSS KiB with them).
pub fn hold_allocations(t: &Target, o: &Opts) -> (u32, u64) {
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
    let rss_held_kib = rss_kib(t.pid).unwrap_or(0);
    (held.len() as u32, rss_held_kib)
}

/// Starts each server of `--only` in turn (edgebeam first, coturn with its secret) and hands it
/// to `f`.
pub fn each_server(o: &Opts, mut f: impl FnMut(&Target)) {
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
