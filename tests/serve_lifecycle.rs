//! `serve` from the outside: first run, restart, files, headers, metrics, shutdown.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::Server;

fn logged_fingerprint(stderr: &str) -> String {
    let line = stderr.lines().find(|l| l.contains("fingerprint")).expect("fingerprint is logged");
    line.rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn first_start_answers_healthz_and_restart_reuses_the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    let body: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["turn"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    let first = health.cert_fingerprint.clone();
    assert_eq!(logged_fingerprint(&server.stderr()), first, "the log names the served certificate");
    assert!(server.stdout().contains("/setup#"), "first run prints the setup link");
    let (status, _) = server.terminate(Duration::from_secs(5));
    assert!(status.success());

    let again = Server::start(&data, &[]);
    assert_eq!(again.get("/healthz").cert_fingerprint, first, "restart reuses the certificate");
    assert_eq!(logged_fingerprint(&again.stderr()), first);
}

#[test]
fn data_dir_files_are_0600_and_folders_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let mut seen = 0;
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "database, certificate and key at least");
    drop(server);
}

#[test]
fn sigterm_exits_zero_within_five_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    let (status, took) = server.terminate(Duration::from_secs(5));
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5));
}

#[test]
fn sigint_also_shuts_down_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), &[]);
    common::signal(server.child.id(), "INT");
    let status = server.child.wait().unwrap();
    assert!(status.success());
    assert!(server.stderr().contains("SIGINT"));
}

#[test]
fn every_admin_response_carries_the_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    for path in ["/healthz", "/metrics", "/no-such-page"] {
        let r = server.get(path);
        assert_eq!(r.header("content-security-policy"), Some("default-src 'self'"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert!(r.header("strict-transport-security").unwrap().starts_with("max-age="), "{path}");
    }
    assert_eq!(server.get("/no-such-page").status, 404);
    let post = common::https::request(server.admin, "POST", "/healthz").unwrap();
    assert_eq!(post.status, 405);
}

#[test]
fn metrics_report_process_and_store_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    let out = common::edgebeam(&["project", "create", "--data-dir", tmp.path().to_str().unwrap(), "one"], "");
    assert!(out.status.success());
    assert_eq!(server.get("/metrics").status, 401, "metrics need credentials");
    let r = server.metrics();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let value = |name: &str| -> f64 {
        let line =
            r.body.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} missing"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("process_resident_memory_bytes") > 1_000_000.0);
    assert!(value("process_open_fds") > 0.0);
    assert_eq!(value("edgebeam_store_up"), 1.0);
    assert_eq!(value("edgebeam_store_projects"), 1.0, "a project made by the CLI is seen");
    assert!(value("edgebeam_store_size_bytes") > 0.0);
}

#[test]
fn signal_listener_answers_healthz_but_not_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    let r = common::https::request(server.signal, "GET", "/healthz").unwrap();
    assert_eq!(r.status, 200);
    let r = common::https::request(server.signal, "GET", "/metrics").unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn a_client_that_never_finishes_the_handshake_does_not_block_others() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &[]);
    let _idle: Vec<_> = (0..20).map(|_| std::net::TcpStream::connect(server.admin).unwrap()).collect();
    let mut garbage = std::net::TcpStream::connect(server.admin).unwrap();
    use std::io::Write;
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\x01\x02").unwrap();
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn tells_systemd_when_ready_and_when_stopping() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let server = Server::spawn_env(&tmp.path().join("data"), &[], &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 arrives");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    // Ready means ready: /healthz answers at once.
    assert_eq!(common::https::request(server.admin, "GET", "/healthz").unwrap().status, 200);
    let (status, _) = server.terminate(Duration::from_secs(5));
    assert!(status.success());
    let n = sock.recv(&mut buf).expect("STOPPING=1 arrives");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
}
