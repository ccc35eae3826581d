//! `tls_mode = "acme"` end to end against Debian's pebble and pebble-challtestsrv on loopback,
//! with real validation: pebble resolves the test domain through challtestsrv and connects to
//! the box for http-01 and tls-alpn-01; dns-01 goes through a hook script that sets TXT records
//! with challtestsrv's management API. Each test checks that the signal, admin and turns
//! listeners all present a chain to pebble's root (fetched from its management port).

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::api::Api;
use common::pebble::{self, leaf_chaining_to, wait_for_chain, Pebble, DOMAIN};
use common::turn::{allocate_stream, stream_binding, welcome_session, AllocateError, Project};
use common::{free_port, https, Server};
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

const ISSUE_TIMEOUT: Duration = Duration::from_secs(60);

fn loopback(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Starts the box in ACME mode against `pebble`, signal listener on `signal_port`.
fn acme_box(data: &std::path::Path, pebble: &Pebble, signal_port: u16, extra: &[&str]) -> Server {
    let signal = loopback(signal_port);
    let mut args = vec!["--signal-listen", &signal, "--tls-mode", "acme", "--acme-domains", DOMAIN];
    args.extend(["--acme-directory", &pebble.directory, "--acme-ca-file", pebble.https_ca.to_str().unwrap()]);
    args.extend(["--log-level", "debug"]);
    args.extend(extra);
    Server::start(data, &args)
}

/// The three TLS listeners present the same leaf, chaining to `root`; returns its SHA-256.
fn every_listener_chains_to(server: &Server, pebble: &Pebble, root: &CertificateDer<'_>) -> String {
    let waited = Instant::now();
    let fp = wait_for_chain(server.signal, root, DOMAIN, ISSUE_TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "no pebble certificate on the signal listener: {e}\nserver:\n{}\npebble:\n{}",
            server.stderr(),
            pebble.log()
        )
    });
    eprintln!("pebble certificate served {:?} after the wait began", waited.elapsed());
    for (name, addr) in [("admin", server.admin), ("turns", server.turns)] {
        let other = leaf_chaining_to(addr, root, DOMAIN).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(other, fp, "{name} serves the same certificate");
    }
    fp
}

fn owner(server: &Server) -> Api {
    let data = server.data_dir.to_str().unwrap();
    let made = common::edgebeam(
        &["admin", "create", "--username", "owner", "--data-dir", data],
        &format!("{}\n", common::api::PASSWORD),
    );
    assert!(made.status.success(), "{}", common::stderr(&made));
    Api::signed_in(server, "owner")
}

fn tls_status(api: &Api) -> Value {
    api.get("/tls").ok_json(200)
}

fn assert_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

/// What each challenge test checks once the certificate is in: `/tls`, the metric, the files.
fn certificate_is_reported_and_saved(server: &Server, api: &Api) {
    // The certificate is served a moment before the ACME task records it.
    wait_for_log(server, "ACME: now serving", Duration::from_secs(5));
    let start = Instant::now();
    let mut tls = tls_status(api);
    while tls["acme"]["status"] != "valid" && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        tls = tls_status(api);
    }
    assert_eq!(tls["mode"], "acme", "{tls}");
    assert_eq!(tls["acme"]["status"], "valid", "{tls}");
    assert!(tls["acme"]["last_error"].is_null(), "{tls}");
    assert!(tls["issuer"].as_str().unwrap().contains("Pebble"), "{tls}");
    assert!(tls["sans"].as_array().unwrap().iter().any(|s| s == DOMAIN), "{tls}");
    let not_after = tls["not_after"].as_i64().unwrap();
    assert!(tls["acme"]["next_renewal"].as_i64().unwrap() < not_after, "{tls}");
    let metrics = server.metrics().body;
    let line = format!("edgebeam_tls_certificate_expiry_timestamp_seconds {not_after}");
    assert!(metrics.contains(&line), "{metrics}");
    let dir = server.data_dir.join("tls/acme");
    for f in ["account.json", "cert.pem", "key.pem"] {
        assert_private(&dir.join(f));
    }
}

#[test]
fn tls_alpn_01_gets_a_certificate_served_by_signal_admin_and_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    let pebble = Pebble::start(free_port(), signal, None);
    let root = pebble.root();
    let server = acme_box(&tmp.path().join("d"), &pebble, signal, &["--acme-challenge", "tls-alpn-01"]);
    // The self-signed certificate is served until the ACME one arrives; nothing waits for it.
    every_listener_chains_to(&server, &pebble, &root);
    let api = owner(&server);
    certificate_is_reported_and_saved(&server, &api);
    assert!(server.stderr().contains("ACME: now serving a certificate for box.edgebeam.test"), "{}", server.stderr());
}

#[test]
fn http_01_gets_a_certificate_served_by_signal_admin_and_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let (signal, http) = (free_port(), free_port());
    let pebble = Pebble::start(http, signal, None);
    let root = pebble.root();
    let http_listen = loopback(http);
    let extra = ["--acme-challenge", "http-01", "--acme-http-listen", &http_listen];
    let server = acme_box(&tmp.path().join("d"), &pebble, signal, &extra);
    every_listener_chains_to(&server, &pebble, &root);
    certificate_is_reported_and_saved(&server, &owner(&server));
}

#[test]
fn dns_01_by_hook_gets_a_certificate_and_clears_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    // Nothing listens for http-01 or tls-alpn-01 validations: only DNS can prove the name.
    let pebble = Pebble::start(free_port(), free_port(), None);
    let root = pebble.root();
    let hook = pebble.dns_hook();
    let extra = ["--acme-challenge", "dns-01", "--acme-dns-hook", hook.to_str().unwrap()];
    let server = acme_box(&tmp.path().join("d"), &pebble, signal, &extra);
    every_listener_chains_to(&server, &pebble, &root);
    certificate_is_reported_and_saved(&server, &owner(&server));
    assert_eq!(pebble.hook_calls(), format!("set {DOMAIN}\nclear {DOMAIN}\n"));
}

#[test]
fn a_restart_reuses_the_saved_certificate_without_ordering() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let signal = free_port();
    let pebble = Pebble::start(free_port(), signal, None);
    let root = pebble.root();
    let server = acme_box(&data, &pebble, signal, &[]);
    let fp = every_listener_chains_to(&server, &pebble, &root);
    server.terminate(Duration::from_secs(10));
    let server = acme_box(&data, &pebble, signal, &[]);
    assert_eq!(leaf_chaining_to(server.signal, &root, DOMAIN).unwrap(), fp, "served from the first request on");
    assert!(server.stderr().contains("using the ACME certificate"), "{}", server.stderr());
}

#[test]
fn a_short_lived_certificate_is_renewed_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    // 30 s certificates: renewal is due 20 s after issue.
    let pebble = Pebble::start(free_port(), signal, Some(30));
    let root = pebble.root();
    let data = tmp.path().join("d");
    let project = Project::create(&data, "renewal");
    let server = acme_box(&data, &pebble, signal, &["--public-names", DOMAIN]);
    let first = every_listener_chains_to(&server, &pebble, &root);
    // Opened on the first certificate, kept across the renewal.
    let (mut ws, user, credential) = welcome_session(&server, &project, "room", "alice", 600);
    let turns_url = format!("turns:{DOMAIN}:{}?transport=tcp", server.turns.port());
    let mut turns = https::connect(server.turns).unwrap();
    allocate_stream(&mut turns, &user, &credential).unwrap();
    let start = Instant::now();
    let second = loop {
        let now = leaf_chaining_to(server.signal, &root, DOMAIN).unwrap();
        if now != first {
            break now;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no renewal; log:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_ne!(first, second);
    let renewed_at = start.elapsed();
    eprintln!("renewed certificate served {renewed_at:?} after the first was seen");
    assert!(renewed_at > Duration::from_secs(10), "renewed after {renewed_at:?}, before two thirds of its life");
    let logged = Instant::now();
    while server.stderr().matches("ACME: now serving").count() < 2 {
        assert!(logged.elapsed() < Duration::from_secs(5), "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.stderr().matches("ACME: now serving").count(), 2, "{}", server.stderr());
    for (name, addr) in [("admin", server.admin), ("turns", server.turns)] {
        assert_eq!(leaf_chaining_to(addr, &root, DOMAIN).unwrap(), second, "{name} serves the renewed certificate");
    }
    ws.send(json!({"type": "ping", "id": 1}));
    assert_eq!(ws.json()["type"], "pong", "the WSS session opened before the renewal still works");
    assert!(stream_binding(&mut turns), "the TURN-over-TLS connection opened before the renewal still answers");
    let again = allocate_stream(&mut turns, &user, &credential);
    assert!(matches!(again, Err(AllocateError::Code(437))), "and still holds its allocation: {again:?}");
    // With a trusted certificate the welcome offers turns: (public_names: the certificate's name).
    let mut bob = common::ws::Ws::connect(server.signal, None);
    let welcome = bob.auth(&project.token("room", "bob", 600));
    let urls = welcome["ice_servers"][1]["urls"].to_string();
    assert!(urls.contains(&turns_url), "{urls}");
}

#[test]
fn an_unreachable_directory_is_retried_with_backoff_until_it_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    let pebble_addr: SocketAddr = loopback(free_port()).parse().unwrap();
    let pebble_dir = Pebble::prepare();
    let ca = pebble_dir.path().join("ca.pem");
    // No ACME server yet: the box booted before its network.
    let directory = format!("https://{pebble_addr}/dir");
    let signal_listen = loopback(signal);
    let mut args = vec!["--signal-listen", &signal_listen, "--tls-mode", "acme", "--acme-domains", DOMAIN];
    args.extend(["--acme-directory", &directory, "--acme-ca-file", ca.to_str().unwrap()]);
    let server = Server::start(&tmp.path().join("d"), &args);
    wait_for_log(&server, "ACME: attempt 1 failed", Duration::from_secs(10));
    let log = server.stderr();
    assert!(log.contains("retrying in 10 s, serving the self-signed certificate"), "{log}");
    assert_eq!(server.get("/healthz").status, 200, "still serving");
    let api = owner(&server);
    let tls = tls_status(&api);
    assert_eq!(tls["acme"]["status"], "retrying", "{tls}");
    assert!(tls["acme"]["last_error"].as_str().unwrap().contains("ACME server"), "{tls}");
    assert_eq!(tls["self_signed"], true, "{tls}");
    // The network comes up: the retry 10 s after the first failure gets the certificate.
    let pebble = Pebble::start_in(pebble_dir, pebble_addr, free_port(), signal, None);
    let root = pebble.root();
    every_listener_chains_to(&server, &pebble, &root);
    certificate_is_reported_and_saved(&server, &api);
}

#[test]
fn a_failing_dns_hook_is_logged_and_retried_while_the_old_certificate_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    let pebble = Pebble::start(free_port(), free_port(), None);
    let hook = tmp.path().join("failing-hook.sh");
    pebble::write_executable(&hook, "#!/bin/sh\necho \"dns provider said no\" >&2\nexit 3\n");
    let extra = ["--acme-challenge", "dns-01", "--acme-dns-hook", hook.to_str().unwrap()];
    let server = acme_box(&tmp.path().join("d"), &pebble, signal, &extra);
    wait_for_log(&server, "ACME: attempt 1 failed", Duration::from_secs(20));
    let log = server.stderr();
    assert!(log.contains("failing-hook.sh set box.edgebeam.test"), "{log}");
    assert!(log.contains("exit status: 3"), "{log}");
    assert!(log.contains("dns provider said no"), "the hook's stderr reaches the log: {log}");
    assert!(log.contains("retrying in 10 s"), "{log}");
    assert_eq!(server.get("/healthz").status, 200, "still serving");
    let tls = tls_status(&owner(&server));
    assert_eq!(tls["acme"]["status"], "retrying", "{tls}");
    assert!(tls["acme"]["last_error"].as_str().unwrap().contains("exit status: 3"), "{tls}");
    wait_for_log(&server, "ACME: attempt 2 failed", Duration::from_secs(25));
}

fn wait_for_log(server: &Server, text: &str, timeout: Duration) {
    let start = Instant::now();
    while !server.stderr().contains(text) {
        assert!(start.elapsed() < timeout, "no {text:?} within {timeout:?}; log:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_account_the_ca_forgot_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let signal = free_port();
    let listen: SocketAddr = loopback(free_port()).parse().unwrap();
    let pebble = Pebble::start_on(listen, free_port(), signal, None);
    let root = pebble.root();
    let server = acme_box(&data, &pebble, signal, &[]);
    every_listener_chains_to(&server, &pebble, &root);
    server.terminate(Duration::from_secs(10));
    drop(pebble);
    // The CA's database is gone (pebble keeps it in memory); the saved certificate is also
    // removed so the box must order with its saved account.
    std::fs::remove_file(data.join("tls/acme/cert.pem")).unwrap();
    let pebble = Pebble::start_on(listen, free_port(), signal, None);
    let root = pebble.root();
    let server = acme_box(&data, &pebble, signal, &[]);
    wait_for_log(&server, "does not know the saved account", Duration::from_secs(10));
    let fp = wait_for_chain(server.signal, &root, DOMAIN, Duration::from_secs(30));
    assert!(fp.is_ok(), "a new account got a certificate: {fp:?}\n{}", server.stderr());
}

#[test]
fn a_ca_that_requires_external_account_binding_gets_it() {
    let tmp = tempfile::tempdir().unwrap();
    let signal = free_port();
    let key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let pebble = Pebble::start_eab(free_port(), signal, ("kid-edge", key));
    let root = pebble.root();
    // Without the binding the CA refuses the account: logged, retried, self-signed served.
    let server = acme_box(&tmp.path().join("a"), &pebble, signal, &[]);
    wait_for_log(&server, "ACME: attempt 1 failed", Duration::from_secs(10));
    assert!(server.stderr().contains("externalAccountRequired"), "{}", server.stderr());
    server.terminate(Duration::from_secs(10));
    let server =
        acme_box(&tmp.path().join("b"), &pebble, signal, &["--acme-eab-kid", "kid-edge", "--acme-eab-hmac-key", key]);
    every_listener_chains_to(&server, &pebble, &root);
    assert!(!server.stderr().contains(key), "the HMAC key is never logged");
}
