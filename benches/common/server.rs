//! `edgebeam serve` for the benchmarks: free loopback ports, a data dir with one project and one
//! signing key made by the CLI, tokens minted with that key, and a stop that waits for the exit.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgebeam::ids::{GroupId, Kid, PeerId};
use edgebeam::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
use edgebeam::unixtime::UnixTime;

pub fn free_addr(ip: &str) -> SocketAddr {
    std::net::TcpListener::bind(format!("{ip}:0")).unwrap().local_addr().unwrap()
}

pub fn wait_port(addr: SocketAddr) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "server at {addr} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs this build's `edgebeam` CLI on `data` and returns its trimmed stdout.
pub fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgebeam")).args(args).arg("--data-dir").arg(data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The server binary: `$env_var` if set (e.g. a static musl release binary from cross/build.sh,
/// which is what ships), else this build's.
pub fn server_bin(env_var: &str) -> PathBuf {
    std::env::var_os(env_var).map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_edgebeam").into())
}

/// A project made with the CLI and its signing key, for minting tokens. All tokens share one
/// `iat`, taken when the key is made, and last an hour.
pub struct Signer {
    pub project: String,
    kid: Kid,
    key: p256::ecdsa::SigningKey,
    iat: UnixTime,
}

impl Signer {
    /// Creates project `name` in `data` and a key for it, whose PEM is written to `pem_path`.
    pub fn create(data: &Path, name: &str, pem_path: &Path) -> Signer {
        let project = cli(data, &["project", "create", name]);
        let kid = cli(data, &["key", "create", "--project", &project, "--out", pem_path.to_str().unwrap()]);
        let key = signing_key_from_pem(&std::fs::read_to_string(pem_path).unwrap()).unwrap();
        Signer { project, kid: Kid::parse(&kid).unwrap(), key, iat: UnixTime::now() }
    }

    pub fn token(&self, gid: &str, pid: &str) -> String {
        self.token_lasting(gid, pid, 3600)
    }

    /// A token that lasts `ttl_secs` from the key's creation, for runs longer than an hour.
    pub fn token_lasting(&self, gid: &str, pid: &str, ttl_secs: i64) -> String {
        let gid = GroupId::parse(gid).unwrap();
        let pid = PeerId::parse(pid).unwrap();
        let req = MintRequest { kid: &self.kid, gid: &gid, pid: &pid, policy: None, iat: self.iat, ttl_secs };
        mint(&self.key, &req).unwrap()
    }
}

/// Where a server from [`serve_command_at`] listens.
#[derive(Debug, Clone, Copy)]
pub struct Listeners {
    pub signal: SocketAddr,
    pub admin: SocketAddr,
    /// TURN over UDP and TCP.
    pub turn: SocketAddr,
    pub turns: SocketAddr,
}

/// `serve` on `data` with every listener on a free 127.0.0.1 port and warn-level logs, run
/// under `prefix` if it is not empty (e.g. "valgrind --tool=massif"). Returns the command, for
/// the caller's own flags, and the signal listener's address.
pub fn serve_command(bin: &Path, prefix: &str, data: &Path) -> (Command, SocketAddr) {
    let (cmd, listeners) = serve_command_at(bin, prefix, data);
    (cmd, listeners.signal)
}

/// [`serve_command`], returning every listener's address; the TURN port is free over UDP too.
pub fn serve_command_at(bin: &Path, prefix: &str, data: &Path) -> (Command, Listeners) {
    let signal = free_addr("127.0.0.1");
    let admin = free_addr("127.0.0.1");
    let turn = loop {
        let a = free_addr("127.0.0.1");
        if std::net::UdpSocket::bind(a).is_ok() {
            break a;
        }
    };
    let turns = free_addr("127.0.0.1");
    println!("server binary: {}", bin.display());
    let mut words = prefix.split_whitespace();
    let mut cmd = match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--signal-listen", &signal.to_string(), "--admin-listen", &admin.to_string()])
        .args(["--turn-listen", &turn.to_string(), "--turns-listen", &turns.to_string()])
        .args(["--log-level", "warn"]);
    (cmd, Listeners { signal, admin, turn, turns })
}

/// Flags for a load from one benchmark process: room for `conns` connections of one project,
/// and no per-source limits (every client here is one source standing for many).
pub fn allow_load(cmd: &mut Command, conns: usize) {
    cmd.args(["--token-cache-entries", &(conns + 100).to_string()])
        .args(["--signal-max-conns-per-project", &(conns + 100).to_string()])
        .args(["--signal-max-unauthenticated-per-ip", "100000"])
        .args(["--tls-handshakes-per-source-per-sec", "1000000"]);
}

/// Spawns a command from [`serve_command`] and waits until `signal` accepts connections (or
/// the server exits, e.g. on a bad flag).
pub fn spawn_serving(mut cmd: Command, signal: SocketAddr) -> Child {
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    wait_listening(&mut child, signal);
    child
}

/// [`spawn_serving`] for a data dir with no admin account: returns the server and the one-time
/// setup token of the link it prints on stdout (`No admin account yet. Create one at
/// https://HOST:PORT/setup#TOKEN`).
pub fn spawn_serving_for_setup(mut cmd: Command, signal: SocketAddr) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().expect("stdout was piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end, so the server never blocks on a full pipe.
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if let Some((_, token)) = line.split_once("/setup#") {
                let _ = tx.send(token.trim().to_owned());
            }
        }
    });
    wait_listening(&mut child, signal);
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(token) => (child, token),
        Err(_) => {
            stop(child);
            panic!("the server printed no setup link (`No admin account yet. Create one at https://HOST:PORT/setup#TOKEN`) on stdout within 30 s");
        }
    }
}

fn wait_listening(child: &mut Child, signal: SocketAddr) {
    let start = Instant::now();
    while std::net::TcpStream::connect(signal).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited before it listened: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "server at {signal} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Another process's figures (CPU seconds, RSS, threads), read the way `/metrics` reads its own.
pub fn process_stats(pid: u32) -> Option<edgebeam::procstat::ProcessStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    edgebeam::procstat::parse(&stat, &statm, 0)
}
