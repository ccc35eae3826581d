//! The management commands from the outside.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use common::{edgebeam, stderr, stdout};

#[test]
fn version_prints_version_commit_target_and_build_date() {
    let out = edgebeam(&["version"], "");
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("edgebeam {}", edgebeam::VERSION), "{text}");
    let commit = lines[1].strip_prefix("commit: ").unwrap();
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(hash == "unknown" || (hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())), "{text}");
    assert!(lines[2].starts_with("target: ") && lines[2].contains("linux"), "{text}");
    let date = lines[3].strip_prefix("built: ").unwrap();
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{text}");
    // `--version` agrees, word for word.
    let dashed = edgebeam(&["--version"], "");
    assert!(dashed.status.success());
    assert_eq!(stdout(&dashed), text);
}

#[test]
fn project_create_prints_an_id_that_list_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = edgebeam(&["project", "create", "--data-dir", d, "Video calls"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert!(!id.is_empty() && id.len() <= 32);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{id}");
    let list = stdout(&edgebeam(&["project", "list", "--data-dir", d], ""));
    assert!(list.contains(&id) && list.contains("Video calls"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&edgebeam(&["project", "list", "--json", "--data-dir", d], ""))).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
}

#[test]
fn data_dir_also_comes_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["project", "create", "envtest"])
        .env("EDGEBEAM_DATA_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tmp.path().join("edgebeam.db").exists());
}

#[test]
fn admin_create_reads_the_password_from_stdin_and_stores_only_a_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = edgebeam(&["admin", "create", "--data-dir", d, "--username", "ops"], "a long enough secret\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(tmp.path().join("edgebeam.db")).unwrap();
    let hash: String =
        conn.query_row("SELECT password_hash FROM accounts WHERE username='ops'", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains("a long enough secret"));
    let audit: String =
        conn.query_row("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(audit, "account.create");

    let dup = edgebeam(&["admin", "create", "--data-dir", d, "--username", "ops"], "another long secret\n");
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"));
}

#[test]
fn bad_command_line_input_gives_one_clear_line_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let cases: &[(&[&str], &str, &str)] = &[
        (&["admin", "create", "--data-dir", d, "--username", "bad name"], "long enough password\n", "username"),
        (&["admin", "create", "--data-dir", d, "--username", "ops"], "short\n", "at least"),
        (&["admin", "create", "--data-dir", d, "--username", "ops"], "", "no password"),
        (&["project", "create", "--data-dir", d, ""], "", "project name"),
        (&["project", "create", "--data-dir", d, "a\nb"], "", "project name"),
        (&["project", "list", "--data-dir", "/nonexistent/edgebeam"], "", "no database"),
        (&["backup", "--data-dir", "/nonexistent/edgebeam", "--out", "/tmp/x.db"], "", "no database"),
        (&["frobnicate"], "", "Unrecognized"),
        (&["project"], "", "subcommand"),
    ];
    for (args, stdin, want) in cases {
        let out = edgebeam(args, stdin);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}
