//! The flooder: K threads, each replaying one captured TLS ClientHello on fresh connections from
//! 127.0.0.2, one connection at a time, as fast as the server lets it. Each connection reads
//! until the server's first flight has arrived (ServerHello, then an encrypted record: by then
//! the server has done the key exchange and signed its CertificateVerify), then resets.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{https, source};

pub const SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longer than any answer took in practice, shorter than the server's own 10 s handshake deadline.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// A first flight with a self-signed P-256 certificate is about 1 KiB; more is not a TLS server.
const MAX_READ: usize = 64 * 1024;

/// The first bytes a rustls client (ring provider, TLS 1.3 and 1.2, any certificate accepted)
/// sends: its ClientHello record.
pub fn client_hello() -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a valid DNS name");
    let mut conn = rustls::ClientConnection::new(https::client_config(), name).expect("a client config");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("writing to a Vec");
    hello
}

/// Outcomes of flood connections, counted by every thread.
#[derive(Default)]
pub struct Counts {
    /// Connections begun, for the cap on their number.
    pub started: AtomicU64,
    /// The server's first flight arrived (or its ServerHello, then the server closed).
    pub answered: AtomicU64,
    /// connect() got ECONNREFUSED.
    pub refused: AtomicU64,
    /// connect() had no answer within CONNECT_TIMEOUT (a full accept queue drops SYNs).
    pub connect_timeouts: AtomicU64,
    /// The server closed or reset the connection before its ServerHello.
    pub closed_early: AtomicU64,
    /// The server answered with an alert or something that is not a ServerHello.
    pub alerts: AtomicU64,
    /// No ServerHello within ANSWER_TIMEOUT.
    pub answer_timeouts: AtomicU64,
    /// Anything else (e.g. bind or connect failing with EADDRNOTAVAIL).
    pub other: AtomicU64,
}

/// A snapshot of [`Counts`] and the time the flood had run when it was taken.
#[derive(Clone, Copy, Default)]
pub struct Totals {
    pub secs: f64,
    /// Connections finished (the sum of the rest).
    pub finished: u64,
    /// The cap on connections ended the flood before its time did.
    pub capped: bool,
    pub answered: u64,
    pub refused: u64,
    pub connect_timeouts: u64,
    pub closed_early: u64,
    pub alerts: u64,
    pub answer_timeouts: u64,
    pub other: u64,
}

impl Totals {
    pub fn answered_per_sec(&self) -> f64 {
        self.answered as f64 / self.secs.max(1e-9)
    }
}

enum Outcome {
    Answered,
    Refused,
    ConnectTimeout,
    ClosedEarly,
    Alert,
    AnswerTimeout,
    Other,
}

pub struct Flood {
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
    max_conns: u64,
}

/// Starts `threads` flood threads against `addr`; together they open at most `max_conns`
/// connections.
pub fn start(addr: SocketAddr, hello: Arc<[u8]>, threads: usize, max_conns: u64) -> Flood {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let threads = (0..threads)
        .map(|_| {
            let (stop, counts, hello) = (stop.clone(), counts.clone(), hello.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) && counts.started.fetch_add(1, Ordering::Relaxed) < max_conns {
                    let counter = match one(addr, &hello) {
                        Outcome::Answered => &counts.answered,
                        Outcome::Refused => &counts.refused,
                        Outcome::ConnectTimeout => &counts.connect_timeouts,
                        Outcome::ClosedEarly => &counts.closed_early,
                        Outcome::Alert => &counts.alerts,
                        Outcome::AnswerTimeout => &counts.answer_timeouts,
                        Outcome::Other => {
                            // Do not spin on a local error such as running out of ports.
                            std::thread::sleep(Duration::from_millis(1));
                            &counts.other
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    Flood { stop, counts, threads, started: Instant::now(), max_conns }
}

impl Flood {
    /// Stops the flood and returns the counts as they were when it stopped. Connections still
    /// open then finish (within CONNECT_TIMEOUT + ANSWER_TIMEOUT) before this returns, uncounted.
    pub fn finish(self) -> Totals {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let c = &self.counts;
        let at = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut totals = Totals {
            secs,
            finished: 0,
            capped: at(&c.started) >= self.max_conns,
            answered: at(&c.answered),
            refused: at(&c.refused),
            connect_timeouts: at(&c.connect_timeouts),
            closed_early: at(&c.closed_early),
            alerts: at(&c.alerts),
            answer_timeouts: at(&c.answer_timeouts),
            other: at(&c.other),
        };
        totals.finished = totals.answered
            + totals.refused
            + totals.connect_timeouts
            + totals.closed_early
            + totals.alerts
            + totals.answer_timeouts
            + totals.other;
        for t in self.threads {
            let _ = t.join();
        }
        totals
    }
}

fn one(addr: SocketAddr, hello: &[u8]) -> Outcome {
    let mut s = match source::connect_from_blocking(SOURCE, addr, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(e) if e.kind() == ErrorKind::TimedOut => return Outcome::ConnectTimeout,
        Err(_) => return Outcome::Other,
    };
    // Close with a reset: 10^4-10^5 short connections from one address would otherwise leave as
    // many sockets in TIME_WAIT here, and binding 127.0.0.2:0 would run out of ports.
    let reset = nix::libc::linger { l_onoff: 1, l_linger: 0 };
    let _ = nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Linger, &reset);
    let _ = s.set_nodelay(true);
    if s.set_read_timeout(Some(ANSWER_TIMEOUT)).is_err() {
        return Outcome::Other;
    }
    if s.write_all(hello).is_err() {
        return Outcome::ClosedEarly;
    }
    read_first_flight(&mut s)
}

fn read_first_flight(s: &mut TcpStream) -> Outcome {
    let mut buf = vec![0u8; MAX_READ];
    let mut len = 0;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        match classify(&buf[..len]) {
            Reply::Flight => return Outcome::Answered,
            Reply::NotTls => return Outcome::Alert,
            Reply::HelloOnly | Reply::Incomplete if len == MAX_READ => return Outcome::Alert,
            Reply::HelloOnly | Reply::Incomplete => {}
        }
        if Instant::now() >= deadline {
            return Outcome::AnswerTimeout;
        }
        let closed = match s.read(&mut buf[len..]) {
            Ok(0) => true,
            Ok(n) => {
                len += n;
                false
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Outcome::AnswerTimeout,
            Err(e) if e.kind() == ErrorKind::Interrupted => false,
            Err(_) => true,
        };
        if closed {
            return match classify(&buf[..len]) {
                Reply::Flight | Reply::HelloOnly => Outcome::Answered,
                Reply::NotTls => Outcome::Alert,
                Reply::Incomplete => Outcome::ClosedEarly,
            };
        }
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    /// Not even a whole first record yet.
    Incomplete,
    /// A whole ServerHello record, and no encrypted record after it yet.
    HelloOnly,
    /// A ServerHello, then a whole encrypted record (TLS 1.3's EncryptedExtensions onward).
    Flight,
    /// An alert, or a first record that is not a ServerHello.
    NotTls,
}

/// Walks the TLS records in `buf` (5-byte header: type, version, length).
fn classify(buf: &[u8]) -> Reply {
    const HANDSHAKE: u8 = 22;
    const APPLICATION_DATA: u8 = 23;
    const SERVER_HELLO: u8 = 2;
    let mut at = 0;
    while let Some(header) = buf.get(at..at + 5) {
        let end = at + 5 + u16::from_be_bytes([header[3], header[4]]) as usize;
        let Some(body) = buf.get(at + 5..end) else { break };
        match (at, header[0]) {
            (0, HANDSHAKE) if body.first() == Some(&SERVER_HELLO) => {}
            (0, _) => return Reply::NotTls,
            (_, APPLICATION_DATA) => return Reply::Flight,
            _ => {}
        }
        at = end;
    }
    if at == 0 {
        Reply::Incomplete
    } else {
        Reply::HelloOnly
    }
}
