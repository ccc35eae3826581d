//! The shipped systemd unit is valid and stays hardened (exposure at most 2.0 out of 10).

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

use std::process::Command;

fn unit_pointing_at_the_test_binary() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/edgebeam.service")).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/edgebeam serve"));
    let text = text.replace("/usr/local/bin/edgebeam", env!("CARGO_BIN_EXE_edgebeam"));
    std::fs::write(dir.path().join("edgebeam.service"), text).unwrap();
    dir
}

#[test]
fn systemd_unit_verifies_without_complaints() {
    let dir = unit_pointing_at_the_test_binary();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("edgebeam.service"))
        .output()
        .expect("systemd-analyze is installed (.ci/run installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 even on bad values, so any output counts as a failure.
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn systemd_unit_exposure_is_at_most_2() {
    let dir = unit_pointing_at_the_test_binary();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(dir.path().join("edgebeam.service"))
        .output()
        .expect("systemd-analyze is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let overall = stdout.lines().find(|l| l.contains("Overall exposure")).unwrap_or("");
    assert!(out.status.success(), "exposure above 2.0: {overall}");
}
