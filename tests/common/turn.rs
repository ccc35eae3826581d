//! TURN test tools, all blocking: coturn's `turnutils_peer` (a UDP echo peer) and
//! `turnutils_uclient` (a TURN client nobody on this team wrote) with their output parsed,
//! coturn's `turnserver` as a reference server, REST credentials (SPEC "TURN") computed or taken
//! from a signaling `welcome`, and a tiny independent STUN client for Binding and Allocate.
//!
//! The coturn tools must be installed (Debian package `coturn`); a missing tool panics rather
//! than skipping, so a test never passes without having run.
//!
//! What uclient does, read from its source and checked against coturn 4.6.1 (so a test knows
//! what it asks a server for):
//! - each client (`-m`) first makes a "probe" allocation on its own socket, then the real one;
//!   over UDP the probe is never freed and lives out its lifetime (777 s requested): every
//!   client holds 2 relay ports, 3 without `-c` (probe, RTP, RTCP with EVEN-PORT/RESERVATION-TOKEN);
//! - without `-c` it rounds `-m` up to even and pairs RTP/RTCP sessions, so `-m 1` sends 2x`-n`;
//! - with `-c` it still sends EVEN-PORT (R=0) in about half of its Allocates (chosen at random);
//! - it binds channels to the peer port and to port+1, twice each, unless `-s` (Send
//!   indications with CreatePermission); data starts 1-6 s after setup, one message per `-z` ms
//!   (default 20) per session; the last Refresh has LIFETIME 0;
//! - `-W SECRET -u SUFFIX` sends the username `now+86400:SUFFIX`: the expiry is not ours to pick,
//!   so tests of expiry pass `-u USER -w PASSWORD` computed with [`rest_password`];
//! - a 401 is retried 32 times, then `ERROR: Cannot complete Allocation`, exit status 255;
//!   other errors print e.g. `channel bind: error 403 (Forbidden IP)` or
//!   `create permission error 403 (Forbidden IP)` and exit 255;
//! - `-S` (TLS) picks a random TLS version per attempt and retries up to 32 times, printing
//!   `tls_connect: cannot connect` for the versions the server refuses; ALPN offers `http/1.1`,
//!   `stun.turn` and `stun.nat-discovery`.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use md5::Digest as _;
use ring::hmac;

use super::ws::Ws;
use super::Server;

const INSTALL: &str = "install coturn (apt-get install coturn)";

fn spawn(cmd: &mut Command, tool: &str) -> Child {
    cmd.spawn().unwrap_or_else(|e| panic!("cannot run {tool}: {e}; {INSTALL}"))
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `turnutils_peer` on 127.0.0.1 and a free UDP port: echoes every datagram; killed on drop.
pub struct Peer {
    child: Child,
    pub addr: SocketAddr,
    port: String,
}

impl Peer {
    pub fn start() -> Peer {
        Peer::start_on("127.0.0.1")
    }

    /// `turnutils_peer` on `ip` (a loopback address: 127.0.0.1 or ::1).
    pub fn start_on(ip: &str) -> Peer {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let port = UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new("turnutils_peer");
        cmd.args(["-L", &ip.to_string(), "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        let addr = SocketAddr::new(ip, port);
        let mut peer = Peer { child: spawn(&mut cmd, "turnutils_peer"), addr, port: port.to_string() };
        let probe = UdpSocket::bind((ip, 0)).unwrap();
        probe.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 16];
        while Instant::now() < deadline {
            let _ = probe.send_to(b"ping", peer.addr);
            if matches!(probe.recv_from(&mut buf), Ok((4, from)) if from == peer.addr) {
                return peer;
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                panic!("turnutils_peer on {} exited: {status}", peer.addr);
            }
        }
        kill(&mut peer.child);
        panic!("turnutils_peer on {} does not echo", peer.addr);
    }

    /// The port as uclient's `-r` wants it.
    pub fn port(&self) -> &str {
        &self.port
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// One `turnutils_uclient` run. The counts come from its summary lines; `completed` says whether
/// they were printed at all (a refused Allocate exits before them).
#[derive(Debug)]
pub struct UclientRun {
    pub lost: u64,
    pub sent: u64,
    pub received: u64,
    pub rtt_ms: Option<f64>,
    pub completed: bool,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
}

impl UclientRun {
    /// Panics with the output unless the run exited 0, sent something and lost nothing.
    pub fn assert_clean(&self) {
        assert!(
            self.status.success() && self.completed && self.sent > 0 && self.lost == 0 && self.received == self.sent,
            "uclient run not clean: {} sent, {} received, {} lost, {}{}\n{}{}",
            self.sent,
            self.received,
            self.lost,
            self.status,
            if self.timed_out { " (killed at the timeout)" } else { "" },
            self.stdout,
            self.stderr
        );
    }

    /// Whether stdout has this text (e.g. `error 403`), for refusals.
    pub fn says(&self, text: &str) -> bool {
        self.stdout.contains(text) || self.stderr.contains(text)
    }
}

/// Runs `turnutils_uclient ARGS` and kills it after 60 s.
pub fn uclient(args: &[&str]) -> UclientRun {
    uclient_within(args, Duration::from_secs(60))
}

pub fn uclient_within(args: &[&str], timeout: Duration) -> UclientRun {
    let mut cmd = Command::new("turnutils_uclient");
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, "turnutils_uclient");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let mut run = parse_uclient(&stdout);
    run.stderr = stderr;
    run.status = status;
    run.timed_out = timed_out;
    run.stdout = stdout;
    run
}

/// Reads uclient's summary, printed once at the end (coturn 4.6.1):
/// `5: : start_mclient: tot_send_msgs=200, tot_recv_msgs=200`
/// `5: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)`
/// `5: : Average round trip delay 0.015000 ms; min = 0 ms, max = 3 ms`
/// (progress lines also carry `tot_send_msgs=` but after `msz=`; RTT is counted in whole ms.)
fn parse_uclient(stdout: &str) -> UclientRun {
    let after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let mut run = UclientRun {
        lost: 0,
        sent: 0,
        received: 0,
        rtt_ms: None,
        completed: false,
        timed_out: false,
        stdout: String::new(),
        stderr: String::new(),
        status: Default::default(),
    };
    for line in stdout.lines() {
        if line.contains("start_mclient: tot_send_msgs=") {
            run.sent = after(line, "tot_send_msgs=").unwrap_or(0.0) as u64;
            run.received = after(line, "tot_recv_msgs=").unwrap_or(0.0) as u64;
        } else if let Some(lost) = after(line, "Total lost packets ") {
            run.lost = lost as u64;
            run.completed = true;
        } else if let Some(rtt) = after(line, "Average round trip delay ") {
            run.rtt_ms = Some(rtt);
        }
    }
    run
}

/// REST username (SPEC "TURN"): `EXPIRY:PROJECT:GID:PID`.
pub fn rest_username(expiry: i64, project: &str, gid: &str, pid: &str) -> String {
    format!("{expiry}:{project}:{gid}:{pid}")
}

/// REST password: `base64(HMAC-SHA1(secret as text, username))`, as coturn's `use-auth-secret`.
pub fn rest_password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, username.as_bytes()))
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A project with one signing key, made with the CLI on a data dir before `serve` starts.
pub struct Project {
    pub id: String,
    pub kid: String,
    pub pem: String,
}

impl Project {
    pub fn create(data_dir: &Path, name: &str) -> Project {
        let d = data_dir.to_str().unwrap();
        let id = super::edgebeam_ok(&["project", "create", "--data-dir", d, name]);
        let tmp = tempfile::tempdir().unwrap();
        let pem_path = tmp.path().join("k.pem");
        let kid = super::edgebeam_ok(&[
            "key",
            "create",
            "--data-dir",
            d,
            "--project",
            &id,
            "--out",
            pem_path.to_str().unwrap(),
        ]);
        Project { id, kid, pem: std::fs::read_to_string(pem_path).unwrap() }
    }

    /// The same project with a second signing key, made with the CLI.
    pub fn another_key(&self, data_dir: &Path) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let pem_path = tmp.path().join("k2.pem");
        let (d, out) = (data_dir.to_str().unwrap(), pem_path.to_str().unwrap());
        let kid = super::edgebeam_ok(&["key", "create", "--data-dir", d, "--project", &self.id, "--out", out]);
        Project { id: self.id.clone(), kid, pem: std::fs::read_to_string(pem_path).unwrap() }
    }

    pub fn token(&self, gid: &str, pid: &str, ttl_secs: i64) -> String {
        self.token_at(gid, pid, edgebeam::unixtime::UnixTime::now().secs(), ttl_secs)
    }

    /// A token issued at `iat` (Unix seconds): tokens of two keys with one `iat` and TTL share
    /// their `exp`, and so their TURN username.
    pub fn token_at(&self, gid: &str, pid: &str, iat: i64, ttl_secs: i64) -> String {
        use edgebeam::ids::{GroupId, Kid, PeerId};
        use edgebeam::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
        let key = signing_key_from_pem(&self.pem).unwrap();
        let req = MintRequest {
            kid: &Kid::parse(&self.kid).unwrap(),
            gid: &GroupId::parse(gid).unwrap(),
            pid: &PeerId::parse(pid).unwrap(),
            policy: None,
            iat: edgebeam::unixtime::UnixTime(iat),
            ttl_secs,
        };
        mint(&key, &req).unwrap()
    }
}

/// Joins signaling as (gid, pid) with a fresh token and returns the open session with the TURN
/// `username` and `credential` of its `welcome`: keep the session for tests where a kick or a
/// key deletion must take the allocations away.
pub fn welcome_session(
    server: &Server,
    project: &Project,
    gid: &str,
    pid: &str,
    ttl_secs: i64,
) -> (Ws, String, String) {
    let mut ws = Ws::connect(server.signal, None);
    let welcome = ws.auth(&project.token(gid, pid, ttl_secs));
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let servers = welcome["ice_servers"].as_array().expect("ice_servers");
    let turn = servers.iter().find(|s| s.get("username").is_some()).expect("a TURN entry in ice_servers");
    let user = turn["username"].as_str().unwrap().to_owned();
    let credential = turn["credential"].as_str().unwrap().to_owned();
    (ws, user, credential)
}

/// The TURN (username, credential) a `welcome` gives (gid, pid); the session is closed.
pub fn credentials_from_welcome(
    server: &Server,
    project: &Project,
    gid: &str,
    pid: &str,
    ttl_secs: i64,
) -> (String, String) {
    let (_ws, user, credential) = welcome_session(server, project, gid, pid, ttl_secs);
    (user, credential)
}

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
pub fn self_signed_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// How to start coturn's `turnserver` as a REST-secret server on 127.0.0.1.
pub struct CoturnOpts<'a> {
    pub secret: &'a str,
    pub realm: &'a str,
    /// UDP and TCP listener.
    pub port: u16,
    /// Relay ports, inclusive.
    pub relay_ports: (u16, u16),
    /// Certificate and key files: adds a TLS listener on a free port.
    pub tls: Option<(&'a Path, &'a Path)>,
    /// Needed for `turnutils_peer` on 127.0.0.1; without it coturn answers 403 for such peers.
    pub allow_loopback_peers: bool,
    pub extra: &'a [&'a str],
}

/// A running `turnserver`; killed on drop. Its log is `dir/log`.
pub struct Coturn {
    child: Child,
    pub listen: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub relay_ports: (u16, u16),
    dir: tempfile::TempDir,
}

/// coturn with `--use-auth-secret` on 127.0.0.1:`port`, loopback peers allowed.
pub fn start_coturn(
    secret: &str,
    realm: &str,
    port: u16,
    relay_ports: (u16, u16),
    tls: Option<(&Path, &Path)>,
) -> Coturn {
    Coturn::start(&CoturnOpts { secret, realm, port, relay_ports, tls, allow_loopback_peers: true, extra: &[] })
}

impl Coturn {
    pub fn start(o: &CoturnOpts<'_>) -> Coturn {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = ([127, 0, 0, 1], o.port).into();
        let tls = o.tls.map(|_| SocketAddr::from(([127, 0, 0, 1], super::free_port())));
        let mut cmd = Command::new("turnserver");
        // -n: no config file; the SQLite user db and the pid file go to the temp dir, not /var.
        cmd.args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={}", o.port))
            .arg(format!("--min-port={}", o.relay_ports.0))
            .arg(format!("--max-port={}", o.relay_ports.1))
            .args(["--use-auth-secret", &format!("--static-auth-secret={}", o.secret), &format!("--realm={}", o.realm)])
            .args(["--no-cli", "--no-dtls", "--no-rfc5780", "--no-multicast-peers", "--no-software-attribute"])
            .args(["--log-file=stdout", "--simple-log"])
            .arg(format!("--db={}", dir.path().join("turndb").display()))
            .arg(format!("--pidfile={}", dir.path().join("pid").display()));
        match (o.tls, tls) {
            (Some((cert, key)), Some(addr)) => {
                cmd.arg(format!("--tls-listening-port={}", addr.port()))
                    .arg(format!("--cert={}", cert.display()))
                    .arg(format!("--pkey={}", key.display()));
            }
            _ => {
                cmd.arg("--no-tls");
            }
        }
        if o.allow_loopback_peers {
            cmd.arg("--allow-loopback-peers");
        }
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        cmd.args(o.extra).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let mut coturn = Coturn { child: spawn(&mut cmd, "turnserver"), listen, tls, relay_ports: o.relay_ports, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tls_up = coturn.tls.is_none_or(|a| TcpStream::connect(a).is_ok());
            if tls_up && stun_binding(listen, Duration::from_millis(100)).is_ok() {
                return coturn;
            }
            if let Ok(Some(status)) = coturn.child.try_wait() {
                panic!("turnserver exited: {status}\n{}", coturn.log());
            }
            if Instant::now() > deadline {
                panic!("turnserver not answering STUN on {listen}\n{}", coturn.log());
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// Waits until `addr` answers a STUN Binding request over UDP.
pub fn wait_stun(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while let Err(e) = stun_binding(addr, Duration::from_millis(100)) {
        assert!(Instant::now() < deadline, "no STUN Binding answer from {addr} within {timeout:?}: {e}");
    }
}

// A minimal STUN client (RFC 8489), written apart from edgebeam's codec so that the two are
// checked against each other and against coturn.

const MAGIC: u32 = 0x2112_a442;
const BINDING: u16 = 0x0001;
const ALLOCATE: u16 = 0x0003;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_REALM: u16 = 0x0014;
const ATTR_NONCE: u16 = 0x0015;
const ATTR_XOR_RELAYED: u16 = 0x0016;
const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;
const ATTR_XOR_MAPPED: u16 = 0x0020;

struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn request(method: u16) -> (Msg, [u8; 12]) {
        let mut id = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).unwrap();
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&method.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC.to_be_bytes());
        buf.extend_from_slice(&id);
        (Msg { buf }, id)
    }

    fn attr(&mut self, kind: u16, value: &[u8]) {
        self.buf.extend_from_slice(&kind.to_be_bytes());
        self.buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
        let len = (self.buf.len() - 20) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// MESSAGE-INTEGRITY with the long-term key MD5(username:realm:password).
    fn integrity(&mut self, key: &[u8]) {
        let len = (self.buf.len() - 20 + 24) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key), &self.buf);
        self.attr(ATTR_INTEGRITY, tag.as_ref());
    }
}

/// A STUN response: its type and attributes.
struct Reply {
    kind: u16,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Reply {
    fn parse(b: &[u8], id: &[u8; 12]) -> Option<Reply> {
        if b.len() < 20 || b[4..8] != MAGIC.to_be_bytes() || &b[8..20] != id {
            return None;
        }
        let (mut attrs, mut at) = (Vec::new(), 20);
        while at + 4 <= b.len() {
            let kind = u16::from_be_bytes([b[at], b[at + 1]]);
            let len = u16::from_be_bytes([b[at + 2], b[at + 3]]) as usize;
            attrs.push((kind, b.get(at + 4..at + 4 + len)?.to_vec()));
            at += 4 + len.next_multiple_of(4);
        }
        Some(Reply { kind: u16::from_be_bytes([b[0], b[1]]), attrs })
    }

    fn get(&self, kind: u16) -> Option<&[u8]> {
        self.attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }

    fn error_code(&self) -> Option<u16> {
        self.get(ATTR_ERROR_CODE).filter(|v| v.len() >= 4).map(|v| v[2] as u16 * 100 + v[3] as u16)
    }

    fn xor_addr(&self, kind: u16) -> Option<SocketAddr> {
        let v = self.get(kind).filter(|v| v.len() >= 8 && v[1] == 1)?;
        let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC >> 16) as u16;
        let ip = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) ^ MAGIC;
        Some((std::net::Ipv4Addr::from(ip), port).into())
    }
}

fn transact(sock: &UdpSocket, msg: &Msg, id: &[u8; 12], timeout: Duration) -> Result<Reply, String> {
    let mut buf = [0u8; 1500];
    for _ in 0..3 {
        sock.send(&msg.buf).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(timeout)).unwrap();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(r) = Reply::parse(&buf[..n], id) {
                        return Ok(r);
                    }
                }
                Err(_) => break,
            }
        }
    }
    Err("no answer".into())
}

/// Sends a Binding request and returns XOR-MAPPED-ADDRESS.
pub fn stun_binding(server: SocketAddr, timeout: Duration) -> Result<SocketAddr, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server).unwrap();
    let (msg, id) = Msg::request(BINDING);
    let r = transact(&sock, &msg, &id, timeout)?;
    r.xor_addr(ATTR_XOR_MAPPED).ok_or_else(|| format!("Binding answered {:#06x} without an address", r.kind))
}

/// A UDP allocation held by its socket (the 5-tuple); it lives until its lifetime runs out.
pub struct Allocation {
    pub sock: UdpSocket,
    pub relayed: SocketAddr,
}

/// Why an Allocate failed: the STUN error code, or no answer.
#[derive(Debug, PartialEq)]
pub enum AllocateError {
    Code(u16),
    NoAnswer(String),
}

/// Allocate over UDP with long-term credentials: the first request gets 401 with REALM and
/// NONCE, the second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY.
pub fn allocate_udp(server: SocketAddr, username: &str, password: &str) -> Result<Allocation, AllocateError> {
    allocate_udp_authed(server, username, password).map(|a| a.alloc)
}

/// One STUN transaction on a stream (TCP or TLS): writes `msg`, reads the answer to `id`.
fn transact_stream<S: Read + std::io::Write>(stream: &mut S, msg: &Msg, id: &[u8; 12]) -> Result<Reply, String> {
    stream.write_all(&msg.buf).map_err(|e| e.to_string())?;
    loop {
        let mut head = [0u8; 20];
        stream.read_exact(&mut head).map_err(|e| e.to_string())?;
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let mut whole = head.to_vec();
        whole.resize(20 + len, 0);
        stream.read_exact(&mut whole[20..]).map_err(|e| e.to_string())?;
        if let Some(r) = Reply::parse(&whole, id) {
            return Ok(r);
        }
    }
}

/// Allocate on a TCP or TLS stream (the stream is then the allocation's 5-tuple), as
/// [`allocate_udp`] does over UDP; returns the relayed address.
pub fn allocate_stream<S: Read + std::io::Write>(
    stream: &mut S,
    username: &str,
    password: &str,
) -> Result<SocketAddr, AllocateError> {
    let (mut first, id) = Msg::request(ALLOCATE);
    first.attr(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let challenge = transact_stream(stream, &first, &id).map_err(AllocateError::NoAnswer)?;
    let answer = ChallengeAnswer::new(&challenge, username, password)?;
    let r = transact_stream(stream, &answer.second, &answer.id).map_err(AllocateError::NoAnswer)?;
    match r.xor_addr(ATTR_XOR_RELAYED) {
        Some(relayed) if r.kind == 0x0103 => Ok(relayed),
        _ => Err(AllocateError::Code(r.error_code().unwrap_or(0))),
    }
}

/// The authenticated Allocate that answers a 401 challenge, with the long-term credentials
/// (realm, nonce and the key MD5(username:realm:password)) it was signed with.
struct ChallengeAnswer {
    second: Msg,
    id: [u8; 12],
    realm: Vec<u8>,
    nonce: Vec<u8>,
    key: [u8; 16],
}

impl ChallengeAnswer {
    fn new(challenge: &Reply, username: &str, password: &str) -> Result<ChallengeAnswer, AllocateError> {
        if challenge.error_code() != Some(401) {
            return Err(AllocateError::Code(challenge.error_code().unwrap_or(0)));
        }
        let realm = challenge.get(ATTR_REALM).ok_or(AllocateError::Code(401))?.to_vec();
        let nonce = challenge.get(ATTR_NONCE).ok_or(AllocateError::Code(401))?.to_vec();
        let mut key_input = format!("{username}:").into_bytes();
        key_input.extend_from_slice(&realm);
        key_input.extend_from_slice(format!(":{password}").as_bytes());
        let key: [u8; 16] = md5::Md5::digest(&key_input).into();
        let (mut second, id) = Msg::request(ALLOCATE);
        second.attr(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        second.attr(ATTR_USERNAME, username.as_bytes());
        second.attr(ATTR_REALM, &realm);
        second.attr(ATTR_NONCE, &nonce);
        second.integrity(&key);
        Ok(ChallengeAnswer { second, id, realm, nonce, key })
    }
}

/// A Binding request on a stream, answered: whether the stream is still served.
pub fn stream_binding<S: Read + std::io::Write>(stream: &mut S) -> bool {
    let (msg, id) = Msg::request(BINDING);
    transact_stream(stream, &msg, &id).is_ok_and(|r| r.xor_addr(ATTR_XOR_MAPPED).is_some())
}

const CHANNEL_BIND: u16 = 0x0009;
const ATTR_CHANNEL_NUMBER: u16 = 0x000c;
const ATTR_XOR_PEER: u16 = 0x0012;

/// A UDP allocation that keeps its long-term credentials (username, realm, nonce and the key
/// MD5(username:realm:password)) so that more authenticated requests can be sent on it.
pub struct AuthedAllocation {
    pub alloc: Allocation,
    username: String,
    realm: Vec<u8>,
    nonce: Vec<u8>,
    key: [u8; 16],
}

/// [`allocate_udp`], keeping the credentials [`AuthedAllocation::channel_bind`] needs.
pub fn allocate_udp_authed(
    server: SocketAddr,
    username: &str,
    password: &str,
) -> Result<AuthedAllocation, AllocateError> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server).unwrap();
    let timeout = Duration::from_secs(1);
    let (mut first, id) = Msg::request(ALLOCATE);
    first.attr(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let challenge = transact(&sock, &first, &id, timeout).map_err(AllocateError::NoAnswer)?;
    let ChallengeAnswer { second, id, realm, nonce, key } = ChallengeAnswer::new(&challenge, username, password)?;
    let r = transact(&sock, &second, &id, timeout).map_err(AllocateError::NoAnswer)?;
    match r.xor_addr(ATTR_XOR_RELAYED) {
        Some(relayed) if r.kind == 0x0103 => Ok(AuthedAllocation {
            alloc: Allocation { sock, relayed },
            username: username.to_owned(),
            realm,
            nonce,
            key,
        }),
        _ => Err(AllocateError::Code(r.error_code().unwrap_or(0))),
    }
}

impl AuthedAllocation {
    /// ChannelBind `channel` (0x4000-0x4FFF) to an IPv4 `peer`, with the allocation's
    /// credentials; a 438 (stale nonce) is retried once with the new NONCE.
    pub fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Result<(), AllocateError> {
        for _ in 0..2 {
            let (msg, id) = self.channel_bind_request(channel, peer);
            let r = transact(&self.alloc.sock, &Msg { buf: msg }, &id, Duration::from_secs(1))
                .map_err(AllocateError::NoAnswer)?;
            match answer_of(&r) {
                Answer::Success => return Ok(()),
                Answer::Error { code: 438, nonce: Some(nonce) } => self.nonce = nonce,
                Answer::Error { code, .. } => return Err(AllocateError::Code(code)),
            }
        }
        Err(AllocateError::Code(438))
    }

    /// The bytes and transaction id of a ChannelBind request (which also refreshes the binding
    /// and the peer's permission), for a caller that reads the socket itself because relayed
    /// data arrives on it too; read the answer with [`read_answer`].
    pub fn channel_bind_request(&self, channel: u16, peer: SocketAddr) -> (Vec<u8>, [u8; 12]) {
        let SocketAddr::V4(v4) = peer else { panic!("channel_bind: IPv4 peers only, not {peer}") };
        let port = v4.port() ^ (MAGIC >> 16) as u16;
        let ip = u32::from(*v4.ip()) ^ MAGIC;
        let mut xor_peer = vec![0, 1];
        xor_peer.extend_from_slice(&port.to_be_bytes());
        xor_peer.extend_from_slice(&ip.to_be_bytes());
        let (mut msg, id) = Msg::request(CHANNEL_BIND);
        msg.attr(ATTR_CHANNEL_NUMBER, &[(channel >> 8) as u8, channel as u8, 0, 0]);
        msg.attr(ATTR_XOR_PEER, &xor_peer);
        self.sign(msg, id)
    }

    /// A Refresh request asking for `lifetime_secs` (0 deletes the allocation), as
    /// [`AuthedAllocation::channel_bind_request`].
    pub fn refresh_request(&self, lifetime_secs: u32) -> (Vec<u8>, [u8; 12]) {
        let (mut msg, id) = Msg::request(REFRESH);
        msg.attr(ATTR_LIFETIME, &lifetime_secs.to_be_bytes());
        self.sign(msg, id)
    }

    /// Takes the NONCE of a 438 answer for the next request.
    pub fn set_nonce(&mut self, nonce: Vec<u8>) {
        self.nonce = nonce;
    }

    fn sign(&self, mut msg: Msg, id: [u8; 12]) -> (Vec<u8>, [u8; 12]) {
        msg.attr(ATTR_USERNAME, self.username.as_bytes());
        msg.attr(ATTR_REALM, &self.realm);
        msg.attr(ATTR_NONCE, &self.nonce);
        msg.integrity(&self.key);
        (msg.buf, id)
    }
}

const REFRESH: u16 = 0x0004;
const ATTR_LIFETIME: u16 = 0x000d;

/// How a server answered a request: success, or an error code with the NONCE it carried (a 438
/// brings the fresh one).
#[derive(Debug, PartialEq)]
pub enum Answer {
    Success,
    Error { code: u16, nonce: Option<Vec<u8>> },
}

/// Reads `datagram` as the answer to transaction `id`; `None` for anything else (another
/// transaction, ChannelData).
pub fn read_answer(datagram: &[u8], id: &[u8; 12]) -> Option<Answer> {
    Reply::parse(datagram, id).map(|r| answer_of(&r))
}

fn answer_of(r: &Reply) -> Answer {
    // The class bits of the message type: 0b10 is a success response, 0b11 an error response.
    if r.kind & 0x0110 == 0x0100 {
        Answer::Success
    } else {
        Answer::Error { code: r.error_code().unwrap_or(0), nonce: r.get(ATTR_NONCE).map(<[u8]>::to_vec) }
    }
}
