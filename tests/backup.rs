//! `backup` while `serve` runs and while projects are being written.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use common::{edgebeam, stderr, stdout, Server};

#[test]
fn backup_while_serving_is_consistent_and_holds_the_same_projects() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap().to_owned();
    let _server = Server::start(&data, &[]);
    let mut ids = Vec::new();
    for n in 0..25 {
        let out = edgebeam(&["project", "create", "--data-dir", &d, &format!("project {n}")], "");
        assert!(out.status.success(), "{}", stderr(&out));
        ids.push(stdout(&out).trim().to_owned());
    }
    let out_file = tmp.path().join("backup.db");
    let out = edgebeam(&["backup", "--data-dir", &d, "--out", out_file.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stderr(&out));

    let copy = rusqlite::Connection::open(&out_file).unwrap();
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let mut stmt = copy.prepare("SELECT id FROM projects ORDER BY id").unwrap();
    let mut copied: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    copied.sort();
    ids.sort();
    assert_eq!(copied, ids);

    // The copy is itself a usable data dir.
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&out_file, restored.join("edgebeam.db")).unwrap();
    let listed = stdout(&edgebeam(&["project", "list", "--data-dir", restored.to_str().unwrap()], ""));
    assert_eq!(listed.lines().count(), 25);

    // Never overwrites.
    let again = edgebeam(&["backup", "--data-dir", &d, "--out", out_file.to_str().unwrap()], "");
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"));
}
