//! Clients without credentials against the HTTPS listeners (SPEC "Clients without
//! credentials"): a source over its cap of unauthenticated connections loses its own oldest, a
//! source over its handshake rate is closed at accept, and neither touches another source.
//! Every source here is a loopback address of its own (127.0.0.x), so the limits of one test
//! source never meet another's.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use common::ws::{Got, Ws};
use common::{connect_from, edgebeam_ok as ok, Server};

fn src(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// Whether the server closed `sock` within `within` (EOF or reset), rather than keeping it open.
fn closed_by_server(sock: &mut TcpStream, within: Duration) -> bool {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    match sock.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// A complete TLS handshake from `from`, then a `/healthz` request; the status, or why not.
fn healthz_from(from: IpAddr, server: &Server) -> std::io::Result<u16> {
    let mut tls = common::https::tls_over(connect_from(from, server.signal))?;
    write!(tls, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    match tls.read_to_string(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e),
    }
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(answer))
}

#[test]
fn a_source_over_its_unauthenticated_cap_loses_its_oldest_connection_and_no_one_else_does() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &["--signal-max-unauthenticated-per-ip", "4"]);
    let flooder = src(2);
    // Four silent connections: the cap. None is closed (they have 10 s for their handshake).
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect_from(flooder, server.signal)).collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!closed_by_server(&mut held[0], Duration::from_millis(200)), "at the cap nothing is evicted");
    // The fifth evicts the oldest, at once.
    held.push(connect_from(flooder, server.signal));
    assert!(closed_by_server(&mut held[0], Duration::from_secs(3)), "the oldest must be closed");
    assert!(!closed_by_server(&mut held[1], Duration::from_millis(200)), "only the oldest goes");
    // Another source is not held back by this one's connections.
    assert_eq!(healthz_from(src(3), &server).unwrap(), 200);
    let metrics = server.metrics().body;
    assert!(metrics.contains("\nedgebeam_unauthenticated_evicted_total 1\n"), "{metrics}");
}

#[test]
fn a_source_over_its_handshake_rate_is_closed_at_accept_and_others_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = ["--tls-handshakes-per-source-per-sec", "1", "--signal-max-unauthenticated-per-ip", "3"];
    let server = Server::start(&tmp.path().join("data"), &flags);
    let flooder = src(4);
    // The burst is the per-source cap (3): those handshakes are served.
    for i in 0..3 {
        assert_eq!(healthz_from(flooder, &server).unwrap(), 200, "handshake {i} is within the burst");
    }
    // The next ones in the same second are closed before any TLS.
    let started = Instant::now();
    let refused = (0..3).filter(|_| healthz_from(flooder, &server).is_err()).count();
    assert!(started.elapsed() < Duration::from_secs(1), "the refusals are immediate, not timeouts");
    assert!(refused >= 2, "over the rate, handshakes are refused ({refused} of 3)");
    let metrics = server.metrics().body;
    assert!(metrics.contains(&format!("\nedgebeam_https_handshakes_rate_limited_total {refused}\n")), "{metrics}");
    assert_eq!(healthz_from(src(5), &server).unwrap(), 200, "another source has its own rate");
    // A second later the source has a handshake again.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(healthz_from(flooder, &server).unwrap(), 200);
}

#[test]
fn an_unauthenticated_websocket_is_evicted_by_a_newer_one_with_1013_and_a_session_never_is() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap().to_owned();
    let project = ok(&["project", "create", "--data-dir", &d, "calls"]);
    let pem = tmp.path().join("k.pem");
    let kid = ok(&["key", "create", "--data-dir", &d, "--project", &project, "--out", pem.to_str().unwrap()]);
    let server = Server::start(&data, &["--signal-max-unauthenticated-per-ip", "2"]);
    let token = ok(&["token", "mint", "--key", pem.to_str().unwrap(), "--kid", &kid, "--group", "g", "--peer", "p"]);
    let from = src(6);
    let ws = |server: &Server| {
        let tls = common::https::tls_over(connect_from(from, server.signal)).unwrap();
        Ws::connect_over(tls, server.signal, None)
    };
    // An authenticated session gives its slot back: it never counts against the cap.
    let mut session = ws(&server);
    assert_eq!(session.auth(&token)["type"], "welcome");
    let mut first = ws(&server);
    let mut second = ws(&server);
    assert_eq!(first.recv_within(Duration::from_millis(300)), Got::Timeout, "at the cap nothing is evicted");
    let _third = ws(&server);
    assert_eq!(first.close_code(Duration::from_secs(3)), 1013, "the oldest unauthenticated one goes");
    assert_eq!(second.recv_within(Duration::from_millis(300)), Got::Timeout);
    session.send(serde_json::json!({"type": "ping", "id": 7}));
    assert_eq!(session.json()["type"], "pong", "the session is untouched");
}

/// A request body that trickles in is cut off at the body deadline (15 s, like the head's): the
/// client gets a 400 and the connection ends, however slowly it keeps sending.
#[test]
fn an_admin_api_body_sent_too_slowly_is_refused_at_the_body_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let mut tls = common::https::tls_over(connect_from(src(5), server.admin)).unwrap();
    write!(tls, "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{{\"user").unwrap();
    tls.flush().unwrap();
    let started = Instant::now();
    // One byte every 2 s: the connection is never idle for long, the body never completes.
    let sender = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        tls.sock.set_read_timeout(Some(Duration::from_millis(2000))).unwrap();
        while started.elapsed() < Duration::from_secs(30) {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if tls.write_all(b"n").and_then(|()| tls.flush()).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
    });
    let (answer, took) = sender.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("did not arrive within 15s"), "{answer}");
    assert!((Duration::from_secs(14)..Duration::from_secs(20)).contains(&took), "cut off after {took:?}");
}
