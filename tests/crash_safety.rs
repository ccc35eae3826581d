//! Durability: every project whose `create` exited 0 survives `kill -9` of the server, and the
//! database passes its integrity check afterwards.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::time::{Duration, Instant};

use common::{edgebeam, stdout, Server};

#[test]
fn kill_9_during_a_burst_of_project_creates_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap().to_owned();
    let server = Server::start(&data, &[]);

    let burst_data = data_s.clone();
    let burst = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        let start = Instant::now();
        // Bounded in count and time.
        for n in 0..200 {
            if start.elapsed() > Duration::from_secs(30) {
                break;
            }
            let out = edgebeam(&["project", "create", "--data-dir", &burst_data, &format!("p{n}")], "");
            if out.status.success() {
                acknowledged.push(stdout(&out).trim().to_owned());
            }
        }
        acknowledged
    });
    // Writers killed mid-transaction must not corrupt anything either.
    let victim_data = data_s.clone();
    let victims = std::thread::spawn(move || {
        for n in 0..40u64 {
            let mut child = std::process::Command::new(common::BIN)
                .args(["project", "create", "--data-dir", &victim_data, &format!("victim{n}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(500 * (n % 20)));
            let _ = child.kill();
            let _ = child.wait();
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    server.kill9();
    victims.join().unwrap();
    // The burst keeps going against the stopped server's files, then a restart.
    let acknowledged = burst.join().unwrap();
    assert!(acknowledged.len() > 10, "the burst made projects ({})", acknowledged.len());

    let server = Server::start(&data, &[]);
    let conn = rusqlite::Connection::open(data.join("edgebeam.db")).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let listed = stdout(&edgebeam(&["project", "list", "--data-dir", &data_s], ""));
    for id in &acknowledged {
        assert!(listed.contains(id.as_str()), "project {id} was acknowledged but is gone");
    }
    drop(server);
}
