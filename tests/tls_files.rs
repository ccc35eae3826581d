//! `tls_mode = "files"`: the operator's pair is read again on SIGHUP and when the files change;
//! the new certificate is used by the next handshake on every listener while live WSS sessions
//! and TURN-over-TLS allocations carry on; a broken pair is refused and the old one stays.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::turn::{allocate_stream, stream_binding, welcome_session, Project};
use common::{https, signal, Server};
use serde_json::json;

/// Writes a fresh self-signed pair for `localhost` over `cert` and `key`, each file replaced
/// in one rename (as certbot's and most deploy tools' writes are); returns its fingerprint as
/// edgebeam and the test client print it.
fn write_pair(cert: &Path, key: &Path) -> String {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let replace = |path: &Path, text: String| {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    };
    replace(key, ck.signing_key.serialize_pem());
    replace(cert, ck.cert.pem());
    let digest = ring::digest::digest(&ring::digest::SHA256, ck.cert.der());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn served(addr: std::net::SocketAddr) -> String {
    https::request(addr, "GET", "/healthz").unwrap().cert_fingerprint
}

fn served_turns(server: &Server) -> String {
    let mut tls = https::connect(server.turns).unwrap();
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let leaf = tls.conn.peer_certificates().unwrap()[0].clone();
    let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// How long until a new handshake on the signal listener sees `fingerprint` (at most `limit`).
fn time_until_served(server: &Server, fingerprint: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while served(server.signal) != fingerprint {
        assert!(start.elapsed() < limit, "not served within {limit:?}; log:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn files_box(dir: &Path) -> (Server, std::path::PathBuf, std::path::PathBuf, String) {
    let (cert, key) = (dir.join("fullchain.pem"), dir.join("privkey.pem"));
    let first = write_pair(&cert, &key);
    let server =
        Server::start(&dir.join("d"), &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert_eq!(served(server.signal), first);
    (server, cert, key, first)
}

#[test]
fn sighup_swaps_the_certificate_on_every_listener_and_live_wss_and_turns_connections_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cert, key, first) = files_box(tmp.path());
    let project = Project::create(&server.data_dir, "swap");
    // Opened before the swap: a signaling session and a TURN-over-TLS allocation.
    let (mut ws, user, credential) = welcome_session(&server, &project, "room", "alice", 600);
    let mut turns = https::connect(server.turns).unwrap();
    allocate_stream(&mut turns, &user, &credential).unwrap();
    assert_eq!(served_turns(&server), first);

    let second = write_pair(&cert, &key);
    signal(server.child.id(), "HUP");
    let took = time_until_served(&server, &second, Duration::from_secs(3));
    eprintln!("SIGHUP to new certificate on a new handshake: {took:?}");
    assert_eq!(served(server.admin), second);
    assert_eq!(served_turns(&server), second);

    // The live connections kept their sessions.
    ws.send(json!({"type": "ping", "id": 7}));
    assert_eq!(ws.json()["type"], "pong");
    assert!(stream_binding(&mut turns), "the TURN-over-TLS connection still answers");
    let again = allocate_stream(&mut turns, &user, &credential);
    assert!(
        matches!(again, Err(common::turn::AllocateError::Code(437))),
        "its allocation is still there (a second Allocate is 437 Allocation Mismatch): {again:?}"
    );
    assert!(server.stderr().contains("SIGHUP: reading"), "{}", server.stderr());
}

#[test]
fn a_broken_pair_is_refused_and_the_old_certificate_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cert, key, first) = files_box(tmp.path());
    // A key of another certificate.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    write_pair(&other.join("c.pem"), &other.join("k.pem"));
    std::fs::copy(other.join("k.pem"), &key).unwrap();
    signal(server.child.id(), "HUP");
    let start = Instant::now();
    while !server.stderr().contains("refused the new certificate files") {
        assert!(start.elapsed() < Duration::from_secs(3), "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stderr().contains("does not match"), "{}", server.stderr());
    assert_eq!(served(server.signal), first);
    // Garbage in the certificate file.
    std::fs::write(&cert, "not a certificate").unwrap();
    signal(server.child.id(), "HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(served(server.signal), first);
    assert_eq!(served(server.admin), first);
    assert_eq!(served_turns(&server), first);
    assert_eq!(server.get("/healthz").status, 200, "the server keeps running");
    // A good pair afterwards is taken.
    let third = write_pair(&cert, &key);
    signal(server.child.id(), "HUP");
    time_until_served(&server, &third, Duration::from_secs(3));
}

#[test]
fn changed_files_are_read_without_a_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, cert, key, _) = files_box(tmp.path());
    let second = write_pair(&cert, &key);
    let took = time_until_served(&server, &second, Duration::from_secs(3));
    eprintln!("file change to new certificate on a new handshake: {took:?}");
}
