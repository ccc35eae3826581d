//! TURN over TCP and TLS for clients without credentials (SPEC "Clients without credentials"):
//! a connection with no allocation 30 s after it opened is closed, a source's 65th such
//! connection on one listener evicts its oldest, and a connection with its allocation no longer
//! counts. Talks to the real server with the independent STUN client of tests/common/turn.rs.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::turn::{allocate_stream, credentials_from_welcome, stream_binding, Project};
use common::Server;

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Waits (up to `within`) for the server to close `stream`; returns when it saw the close.
fn closed_within<S: Read>(stream: &mut S, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return Some(Instant::now()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return Some(Instant::now()),
        }
    }
    None
}

#[test]
fn tcp_and_tls_connections_without_an_allocation_and_records_left_incomplete_end_after_30_s() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "deadline");
    let server = Server::start(dir.path(), &[]);
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "alice", 600);
    let opened = Instant::now();
    let mut idle = connect(server.turn);
    let mut tls = common::https::connect(server.turns).unwrap();
    tls.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut allocated = connect(server.turn);
    assert!(allocate_stream(&mut allocated, &user, &credential).is_ok());
    // One with its allocation that starts a record and never finishes it: its buffer is not
    // held for longer than 30 s either.
    let mut stalled = connect(server.turn);
    assert!(allocate_stream(&mut stalled, &user, &credential).is_ok());
    let cut = Instant::now();
    std::io::Write::write_all(&mut stalled, &[0x40, 0x00, 0x03, 0xE8, 1, 2, 3, 4]).unwrap();
    // A Binding request is answered on them, and does not count as authenticating.
    assert!(stream_binding(&mut idle) && stream_binding(&mut tls));
    std::thread::sleep(Duration::from_secs(28).saturating_sub(opened.elapsed()));
    assert!(stream_binding(&mut idle) && stream_binding(&mut tls), "still served 28 s after they opened");
    for (name, closed) in [
        ("tcp", closed_within(&mut idle, Duration::from_secs(5))),
        ("tls", closed_within(&mut tls, Duration::from_secs(5))),
    ] {
        let after = closed.unwrap_or_else(|| panic!("{name}: still open 33 s after it opened")) - opened;
        eprintln!("{name}: closed {after:?} after it opened");
        assert!(after >= Duration::from_millis(29_500) && after < Duration::from_secs(31), "{name}: closed {after:?}");
    }
    let gone = closed_within(&mut stalled, Duration::from_secs(3)).expect("an incomplete record outlived 30 s") - cut;
    eprintln!("stalled record: closed {gone:?} after it began");
    assert!(gone >= Duration::from_millis(29_500) && gone < Duration::from_secs(31), "{gone:?}");
    assert!(stream_binding(&mut allocated), "the connection with its allocation stays");
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = server.metrics().body;
    assert!(metrics.contains("\nedgebeam_turn_streams_timed_out_total 2\n"), "{metrics}");
}

#[test]
fn a_65th_connection_without_an_allocation_evicts_the_oldest_and_an_allocated_one_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "evict");
    let server = Server::start(dir.path(), &[]);
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "alice", 600);
    // The oldest connection has its allocation: it is not one of the source's 64.
    let mut allocated = connect(server.turn);
    assert!(allocate_stream(&mut allocated, &user, &credential).is_ok());
    let mut pending: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut c = connect(server.turn);
            // Answered in turn, so the server has accepted them in this order.
            assert!(stream_binding(&mut c));
            c
        })
        .collect();
    // TLS is counted apart: a TLS connection evicts nobody on the TCP listener.
    let mut tls = common::https::connect(server.turns).unwrap();
    tls.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(stream_binding(&mut tls));
    for c in &mut pending {
        assert!(stream_binding(c), "64 connections without an allocation are all served");
    }
    let mut newest = connect(server.turn);
    assert!(stream_binding(&mut newest), "the 65th is served");
    assert!(closed_within(&mut pending[0], Duration::from_secs(5)).is_some(), "the oldest pending one is closed");
    for c in &mut pending[1..] {
        assert!(stream_binding(c), "the other 63 stay");
    }
    assert!(stream_binding(&mut allocated), "the allocated one was never at risk");
    // Allocating frees the slot at once: now the source has 63 pending and room for one more.
    assert!(allocate_stream(&mut pending[1], &user, &credential).is_ok());
    let mut another = connect(server.turn);
    assert!(stream_binding(&mut another));
    for c in &mut pending[2..] {
        assert!(stream_binding(c), "no eviction once an allocation made room");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let metrics = server.metrics().body;
    assert!(metrics.contains("\nedgebeam_turn_streams_evicted_total 1\n"), "{metrics}");
}

/// Prints the server's RSS with 500 TCP connections (10 loopback sources x 50) that have each
/// sent one 64 KiB record and then gone quiet: what the server keeps of records once they are
/// whole. Run by hand: `cargo test --test turn_streams measure -- --ignored --nocapture`, and
/// with `RECORD=0` (an empty ChannelData record) for the cost of a connection alone. Figures in
/// docs/benchmarks.md.
#[test]
#[ignore]
fn measure_rss_of_connections_after_one_big_record() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    let mut record = vec![0x40, 0x00, 0xFF, 0xFC];
    let size: usize = std::env::var("RECORD").ok().and_then(|v| v.parse().ok()).unwrap_or(0xFFFC);
    record[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    record.resize(4 + size, 7);
    std::thread::sleep(Duration::from_millis(500));
    let before = rss();
    let mut held = Vec::new();
    for source in 0..10u8 {
        for _ in 0..50 {
            use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
            let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).unwrap();
            let from = std::net::SocketAddrV4::new([127, 0, 1, 10 + source].into(), 0);
            bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(from)).unwrap();
            let std::net::SocketAddr::V4(to) = server.turn else { panic!("an IPv4 listener") };
            connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(to)).unwrap();
            let mut c = TcpStream::from(fd);
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(&record).unwrap();
            // Answered once the record before it was handled: one connection at a time, so a
            // buffer given back is there for the next one, and only kept ones add up.
            assert!(stream_binding(&mut c));
            held.push(c);
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = rss();
    eprintln!(
        "RSS {before} KiB -> {after} KiB with {} connections: {:.1} KiB each",
        held.len(),
        (after as f64 - before as f64) / held.len() as f64
    );
}
