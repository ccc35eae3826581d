//! `edgebeam doctor` from the outside: one line per check, exit 1 on a fatal one, and the
//! first-run state without the setup token.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::process::{Command, Output};

use common::{edgebeam, stderr, stdout};

/// doctor on `data_dir` with every listener on a free loopback port unless overridden.
fn doctor(data_dir: &std::path::Path, env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(common::BIN);
    cmd.args(["doctor", "--data-dir", data_dir.to_str().unwrap()]).env_remove("EDGEBEAM_DATA_DIR");
    for key in ["SIGNAL_LISTEN", "ADMIN_LISTEN", "TURN_LISTEN", "TURNS_LISTEN"] {
        cmd.env(format!("EDGEBEAM_{key}"), "127.0.0.1:0");
    }
    cmd.env("EDGEBEAM_PUBLIC_IP", "127.0.0.1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_fresh_box_passes_with_one_line_per_check() {
    let tmp = tempfile::tempdir().unwrap();
    let out = doctor(&tmp.path().join("data"), &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for check in ["config", "port", "data dir", "certificate", "public_ip", "clock", "open files", "database"] {
        assert!(text.lines().any(|l| l.contains(&format!(" {check}: "))), "no {check} line in\n{text}");
    }
    assert!(text.lines().all(|l| l.starts_with('✓') || l.starts_with('⚠') || l.starts_with('✗')), "{text}");
    assert!(!text.contains('✗'), "{text}");
}

#[test]
fn a_taken_port_is_fatal_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = doctor(tmp.path(), &[("EDGEBEAM_ADMIN_LISTEN", addr.clone())]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("✗ port: admin_listen")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&addr) && line.contains("fix:"), "{line}");
    // --running skips the bind test (the server's own ports are taken while it runs).
    let mut cmd = Command::new(common::BIN);
    let running = cmd
        .args(["doctor", "--running", "--data-dir", tmp.path().to_str().unwrap()])
        .env("EDGEBEAM_ADMIN_LISTEN", &addr)
        .output()
        .unwrap();
    assert!(!stdout(&running).contains("✗ port"), "{}", stdout(&running));
}

#[test]
fn without_an_account_it_says_how_to_get_a_setup_link_and_shows_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    assert!(edgebeam(&["project", "create", "--data-dir", d, "cams"], "").status.success());
    let text = stdout(&doctor(tmp.path(), &[]));
    let line = text.lines().find(|l| l.contains("first run:")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("no admin account yet") && line.contains("edgebeam admin create"), "{line}");
    assert!(!text.contains("/setup#"), "{text}");
    let _ = edgebeam(&["admin", "create", "--data-dir", d, "--username", "ops"], "correct horse battery staple\n");
    let text = stdout(&doctor(tmp.path(), &[]));
    assert!(text.contains("✓ first run: 1 admin account(s)"), "{text}");
}

#[test]
fn an_invalid_setting_is_fatal_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = doctor(tmp.path(), &[("EDGEBEAM_RELAY_PORTS", "9-1".into())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("✗ config: relay_ports"), "{}", stdout(&out));
}

#[test]
fn config_example_prints_the_committed_files() {
    let toml = edgebeam(&["config", "example"], "");
    assert_eq!(stdout(&toml), include_str!("../config.example.toml"));
    let env = edgebeam(&["config", "example", "--env"], "");
    assert_eq!(stdout(&env), include_str!("../systemd/edgebeam.env.example"));
}
