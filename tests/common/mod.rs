//! Boots the real `edgebeam` binary on 127.0.0.1 with free ports and a fresh data dir.
#![allow(dead_code)]

pub mod api;
pub mod cdp;
pub mod https;
pub mod pebble;
pub mod turn;
pub mod ws;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_edgebeam");

/// A TCP connection to `dst` from the loopback address `src` (127.0.0.2, say): each test source
/// of a per-source limit gets an address of its own.
pub fn connect_from(src: std::net::IpAddr, dst: SocketAddr) -> std::net::TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let std::net::IpAddr::V4(src) = src else { panic!("IPv4 loopback sources only") };
    let SocketAddr::V4(dst) = dst else { panic!("IPv4 loopback targets only") };
    assert!(src.is_loopback() && dst.ip().is_loopback(), "tests target loopback only");
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(std::net::SocketAddrV4::new(src, 0))).unwrap();
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(dst)).unwrap();
    std::net::TcpStream::from(fd)
}

/// Polls `check` every `every` until it holds, for at most `within`; whether it came to hold.
pub fn eventually(within: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A loopback port free for both TCP and UDP at the time of the call (STUN/TURN listens on both).
pub fn free_port_tcp_udp() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A random 200-port block inside 20000-29999, below Linux's ephemeral range, so that servers
/// of tests running in parallel rarely share relay ports.
pub fn relay_port_range() -> (u16, u16) {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let low = 20000 + (r % 50) as u16 * 200;
    (low, low + 199)
}

/// Runs `edgebeam ARGS` to completion with `stdin` fed in.
pub fn edgebeam(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("EDGEBEAM_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub struct Server {
    pub child: Child,
    pub data_dir: PathBuf,
    pub admin: SocketAddr,
    pub signal: SocketAddr,
    /// STUN/TURN over UDP and TCP.
    pub turn: SocketAddr,
    /// TURN over TLS.
    pub turns: SocketAddr,
    /// The `--relay-ports` range, inclusive.
    pub relay_ports: (u16, u16),
    log_dir: PathBuf,
    /// The session cookie of the account [`Server::metrics`] reads `/metrics` with.
    scraper: std::sync::OnceLock<String>,
}

impl Server {
    /// Starts `serve` on `data_dir` with fresh loopback ports plus `extra` flags, and waits
    /// until `/healthz` answers 200.
    ///
    /// The ports are free when chosen, but another test's server may take one before this one
    /// binds it: a server that exits with "Address already in use" is started again on fresh
    /// ports (three tries).
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        for _ in 0..2 {
            let mut server = Server::spawn(data_dir, extra);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if https::request(server.admin, "GET", "/healthz").is_ok_and(|r| r.status == 200) {
                    return server;
                }
                if server.child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !server.stderr().contains("Address already in use") {
                server.wait_ready(Duration::from_secs(1));
                return server;
            }
        }
        let server = Server::spawn(data_dir, extra);
        server.wait_ready(Duration::from_secs(10));
        server
    }

    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Server {
        Server::spawn_env(data_dir, extra, &[])
    }

    pub fn spawn_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        // Every port stays bound until all are chosen: released one by one, the kernel could
        // hand the same port out twice (seen: turn_listen and turns_listen on one port).
        let mut held = Vec::new();
        let mut hold = || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            held.push(l);
            addr
        };
        let (admin, turns) = (hold(), hold());
        // A test may name the signal port (an ACME server must know it before the box starts).
        let given_signal = extra.iter().position(|a| *a == "--signal-listen").and_then(|i| extra.get(i + 1));
        let signal: SocketAddr = match given_signal {
            Some(s) => s.parse().expect("--signal-listen IP:PORT"),
            None => hold(),
        };
        let given_turn = extra.iter().position(|a| *a == "--turn-listen").and_then(|i| extra.get(i + 1));
        let turn: SocketAddr = match given_turn {
            Some(t) => t.parse().expect("--turn-listen IP:PORT"),
            None => loop {
                let candidate = hold();
                if UdpSocket::bind(candidate).is_ok() {
                    break candidate;
                }
            },
        };
        drop(held);
        let given = extra.iter().position(|a| *a == "--relay-ports").and_then(|i| extra.get(i + 1));
        let relay_ports = match given {
            Some(r) => {
                let (lo, hi) = r.split_once('-').expect("--relay-ports LO-HI");
                (lo.parse().unwrap(), hi.parse().unwrap())
            }
            None => relay_port_range(),
        };
        let relay_flag = format!("{}-{}", relay_ports.0, relay_ports.1);
        let log_dir = tempfile::tempdir().unwrap().keep();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(["--admin-listen", &admin.to_string()])
            .args(["--turns-listen", &turns.to_string()]);
        if given_signal.is_none() {
            cmd.args(["--signal-listen", &signal.to_string()]);
        }
        if given_turn.is_none() {
            cmd.args(["--turn-listen", &turn.to_string()]);
        }
        if given.is_none() {
            cmd.args(["--relay-ports", &relay_flag]);
        }
        let child = cmd
            .args(extra)
            .env_remove("EDGEBEAM_DATA_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log_dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(log_dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Server {
            child,
            data_dir: data_dir.to_owned(),
            admin,
            signal,
            turn,
            turns,
            relay_ports,
            log_dir,
            scraper: std::sync::OnceLock::new(),
        }
    }

    pub fn wait_ready(&self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(r) = https::request(self.admin, "GET", "/healthz") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server not ready after {timeout:?}; stderr:\n{}", self.stderr());
    }

    pub fn get(&self, path: &str) -> https::HttpResponse {
        https::request(self.admin, "GET", path).unwrap()
    }

    /// `/metrics`, read as a signed-in account would (it needs credentials): the first call makes
    /// the account `metrics-scraper` with the CLI and signs it in.
    pub fn metrics(&self) -> https::HttpResponse {
        let cookie = self.scraper.get_or_init(|| {
            let data_dir = self.data_dir.to_str().unwrap();
            let made = edgebeam(
                &["admin", "create", "--username", "metrics-scraper", "--data-dir", data_dir],
                "scraper passphrase\n",
            );
            assert!(made.status.success(), "admin create: {}", stderr(&made));
            let body = br#"{"username":"metrics-scraper","password":"scraper passphrase"}"#;
            let r = https::request_with_body(self.admin, "POST", "/api/v1/login", &[], body).unwrap();
            assert_eq!(r.status, 200, "login: {}", r.body);
            let set = r.header("set-cookie").expect("login sets the session cookie");
            set.split(';').next().unwrap().to_owned()
        });
        https::request_with(self.admin, "GET", "/metrics", &[("Cookie", cookie)]).unwrap()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("stderr")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        signal(self.child.id(), "TERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("server still running {timeout:?} after SIGTERM; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Runs `edgebeam ARGS`, which must succeed; returns its trimmed stdout.
pub fn edgebeam_ok(args: &[&str]) -> String {
    let out = edgebeam(args, "");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}
