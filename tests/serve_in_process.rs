//! `app::run` on listeners the test binds itself (port 0 on 127.0.0.1), stopped by a future of
//! the test's own: the mini-redis shape, with no process, no signal and no port race.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use edgebeam::app::{self, Listeners};
use edgebeam::config::raw::RawConfig;
use edgebeam::config::Config;
use edgebeam::store::{OpenMode, Store};

/// A TCP listener and a UDP socket on the same loopback port (TURN serves both on one port).
fn turn_pair() -> (smol::net::TcpListener, UdpSocket) {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return (smol::net::TcpListener::try_from(tcp).unwrap(), udp);
        }
    }
}

fn any_port() -> smol::net::TcpListener {
    smol::net::TcpListener::try_from(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap()
}

#[test]
fn run_serves_on_pre_bound_listeners_until_its_shutdown_future_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (low, high) = common::relay_port_range();
    let relay_ports = format!("{low}-{high}");
    let mut raw = RawConfig::defaults(None);
    raw.apply_flags([
        ("data_dir", data.to_str().unwrap()),
        ("relay_ports", relay_ports.as_str()),
        ("shutdown_grace_secs", "2"),
    ]);
    let config = Config::from_raw(&raw).unwrap();
    let (turn_tcp, turn_udp) = turn_pair();
    let listeners =
        Listeners { admin: any_port(), signal: any_port(), turn_udp, turn_tcp, turns: any_port(), acme_http: None };
    let admin: SocketAddr = listeners.admin.local_addr().unwrap();
    let signal: SocketAddr = listeners.signal.local_addr().unwrap();

    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let server = std::thread::spawn(move || {
        let store = Store::open(&config.data_dir, OpenMode::CreateIfMissing).unwrap();
        edgebeam::rt::block_on(app::run(config, store, listeners, async move {
            let _ = stop_rx.recv().await;
        }))
    });

    // Ready once the admin listener answers; the sockets were listening from the start.
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        match common::https::request(admin, "GET", "/healthz") {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("the admin listener never answered: {e}"),
        }
    };
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(common::https::request(signal, "GET", "/healthz").unwrap().status, 200);
    assert!(data.join(edgebeam::store::DB_FILE).exists(), "run made the database");

    drop(stop_tx);
    let started = Instant::now();
    server.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "run must return after its shutdown future");
    assert!(common::https::request(admin, "GET", "/healthz").is_err(), "the listener is closed after run");
}
