//! Bad configuration and bad data: one clear line, a non-zero exit, nothing touched.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::process::Command;

use common::{free_port, BIN};

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn serve_fails(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(["--data-dir", data_dir.to_str().unwrap()]);
    let a = format!("127.0.0.1:{}", free_port());
    let s = format!("127.0.0.1:{}", free_port());
    if !args.contains(&"--admin-listen") {
        cmd.args(["--admin-listen", &a]);
    }
    cmd.args(["--signal-listen", &s]).args(args).env_remove("EDGEBEAM_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "serve {args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let error_lines: Vec<_> = err.lines().filter(|l| l.starts_with("edgebeam: error:")).collect();
    assert_eq!(error_lines.len(), 1, "exactly one error line: {err}");
    error_lines[0].to_owned()
}

#[test]
fn unknown_config_key_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "admin_lisen = \"127.0.0.1:9\"\n").unwrap();
    let e = serve_fails(&tmp.path().join("d"), &["--config", cfg.to_str().unwrap()], &[]);
    assert!(e.contains("admin_lisen"), "{e}");
}

#[test]
fn broken_toml_and_missing_file_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "admin_listen = \n").unwrap();
    let e = serve_fails(&tmp.path().join("d"), &["--config", cfg.to_str().unwrap()], &[]);
    assert!(e.contains("c.toml"), "{e}");
    let e = serve_fails(&tmp.path().join("d"), &["--config", "/nonexistent.toml"], &[]);
    assert!(e.contains("/nonexistent.toml"), "{e}");
}

#[test]
fn bad_address_names_field_value_and_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let e = serve_fails(&tmp.path().join("d"), &["--admin-listen", "localhost:banana"], &[]);
    assert!(e.contains("admin_listen") && e.contains("localhost:banana") && e.contains("--admin-listen"), "{e}");
    let e = serve_fails(&tmp.path().join("d"), &[], &[("EDGEBEAM_RELAY_PORTS", "10-20")]);
    assert!(e.contains("relay_ports") && e.contains("EDGEBEAM_RELAY_PORTS"), "{e}");
    let e = serve_fails(&tmp.path().join("d"), &[], &[("EDGEBEAM_NOT_A_KNOB", "1")]);
    assert!(e.contains("EDGEBEAM_NOT_A_KNOB"), "{e}");
}

#[test]
fn port_in_use_is_reported_with_the_listener_name() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let e = serve_fails(&tmp.path().join("d"), &["--admin-listen", &addr], &[]);
    assert!(e.contains("admin_listen") && e.contains(&addr), "{e}");
}

#[test]
fn unreadable_or_mismatched_certificate_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let e = serve_fails(
        &tmp.path().join("d"),
        &["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
        &[],
    );
    assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not pem").unwrap();
    let j = junk.to_str().unwrap();
    let e = serve_fails(&tmp.path().join("d"), &["--tls-cert", j, "--tls-key", j], &[]);
    assert!(e.contains("junk.pem"), "{e}");
    let e = serve_fails(&tmp.path().join("d"), &["--tls-cert", j], &[]);
    assert!(e.contains("tls_key"), "{e}");
}

#[test]
fn a_non_sqlite_database_file_is_refused_and_left_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("edgebeam.db");
    let content: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &content).unwrap();
    let e = serve_fails(&data, &[], &[]);
    assert!(e.contains("not an SQLite database"), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), content);
    let listing: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing.len(), 1, "nothing else was created: {listing:?}");

    let out = common::edgebeam(&["project", "create", "--data-dir", data.to_str().unwrap(), "x"], "");
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&db).unwrap(), content);
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("edgebeam.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)").unwrap();
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let e = serve_fails(&data, &[], &[]);
    assert!(e.contains("another program"), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn acme_config_mistakes_are_refused_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let acme = ["--tls-mode", "acme"];
    let e = serve_fails(&d, &acme, &[]);
    assert!(e.contains("acme_domains") && e.contains("at least one"), "{e}");
    let e = serve_fails(&d, &[&acme[..], &["--acme-domains", "192.168.1.20"]].concat(), &[]);
    assert!(e.contains("acme_domains") && e.contains("192.168.1.20") && e.contains("IP address"), "{e}");
    let hook = tmp.path().join("hook.sh");
    std::fs::write(&hook, "#!/bin/sh\n").unwrap();
    let dns =
        ["--acme-domains", "box.example.com", "--acme-challenge", "dns-01", "--acme-dns-hook", hook.to_str().unwrap()];
    let e = serve_fails(&d, &[&acme[..], &dns].concat(), &[]);
    assert!(e.contains("acme_dns_hook") && e.contains("not an executable"), "{e}");
    let e = serve_fails(
        &d,
        &[&acme[..], &["--acme-domains", "box.example.com", "--acme-challenge", "dns-01"]].concat(),
        &[],
    );
    assert!(e.contains("acme_dns_hook"), "{e}");
    let ca = tmp.path().join("missing-ca.pem");
    let e = serve_fails(
        &d,
        &[&acme[..], &["--acme-domains", "box.example.com", "--acme-ca-file", ca.to_str().unwrap()]].concat(),
        &[],
    );
    assert!(e.contains("acme_ca_file") && e.contains("missing-ca.pem") && e.contains("cannot read"), "{e}");
    let e = serve_fails(
        &d,
        &[&acme[..], &["--acme-domains", "box.example.com", "--acme-challenge", "tls-sni-01"]].concat(),
        &[],
    );
    assert!(e.contains("acme_challenge"), "{e}");
    let e = serve_fails(&d, &["--tls-mode", "files"], &[]);
    assert!(e.contains("tls_mode") && e.contains("tls_cert"), "{e}");
    let e = serve_fails(&d, &["--tls-mode", "letsencrypt"], &[]);
    assert!(e.contains("tls_mode") && e.contains("self-signed, files or acme"), "{e}");
    let e = serve_fails(&d, &["--turns-advertise", "sometimes"], &[]);
    assert!(e.contains("turns_advertise"), "{e}");
    assert!(!d.join("tls").exists(), "nothing made before the refusal");
}
