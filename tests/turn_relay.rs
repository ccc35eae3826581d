//! The TURN relay against coturn's own client: `turnutils_uclient` relays to a `turnutils_peer`
//! echo over UDP, TCP and TLS with credentials taken from a signaling `welcome`, and bad
//! credentials and forbidden peers are refused with the codes SPEC asks for.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::time::Duration;

use common::turn::{allocate_udp, credentials_from_welcome, rest_password, AllocateError, Peer, Project};
use common::Server;

/// Loopback peers are denied by default; the echo peer lives on 127.0.0.1, so these servers
/// re-open 127.0.0.0/8 (the operator's allow list, as a test bench would).
const ALLOW_LOOPBACK: [&str; 2] = ["--turn-allow-peers", "127.0.0.0/8"];

fn relay_run(transport: &[&str], pid: &str) {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "relay");
    let server = Server::start(dir.path(), &ALLOW_LOOPBACK);
    let peer = Peer::start();
    let (user, credential) = credentials_from_welcome(&server, &project, "room", pid, 600);
    let port = if transport.contains(&"-S") { server.turns.port() } else { server.turn.port() };
    let port = port.to_string();
    let mut args = vec!["-c", "-n", "40", "-m", "2", "-l", "200", "-e", "127.0.0.1", "-r", peer.port()];
    args.extend_from_slice(&["-u", &user, "-w", &credential, "-p", &port]);
    args.extend_from_slice(transport);
    args.push("127.0.0.1");
    let run = common::turn::uclient(&args);
    run.assert_clean();
    assert_eq!(run.sent, 80, "{}", run.stdout);
    // The relayed traffic is the project's usage: saved to the store at the latest on shutdown.
    let (status, _) = server.terminate(Duration::from_secs(5));
    assert!(status.success());
    let store = edgebeam::store::Store::open(dir.path(), edgebeam::store::OpenMode::MustExist).unwrap();
    let day = edgebeam::store::usage::day_of(edgebeam::unixtime::UnixTime::now());
    let id = edgebeam::ids::ProjectId::parse(&project.id).unwrap();
    let usage = store.relay_usage(&id, day).unwrap();
    // 80 messages of 200 bytes each way, through two relayed legs.
    assert!(usage.bytes >= 2 * 80 * 200 && usage.packets >= 160 && usage.allocations >= 2, "{usage:?}");
}

#[test]
fn uclient_relays_over_udp_with_welcome_credentials_and_loses_nothing() {
    relay_run(&[], "udp-peer");
}

#[test]
fn uclient_relays_over_tcp_with_welcome_credentials_and_loses_nothing() {
    relay_run(&["-t"], "tcp-peer");
}

#[test]
fn uclient_relays_over_tls_with_welcome_credentials_and_loses_nothing() {
    relay_run(&["-t", "-S"], "tls-peer");
}

#[test]
fn uclient_relays_ipv6_over_udp_and_tcp_from_an_ipv6_listener() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        // A machine without IPv6 loopback cannot run this; say so loudly rather than pass.
        eprintln!("SKIPPED uclient_relays_ipv6_over_udp_and_tcp_from_an_ipv6_listener: no ::1 on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "six");
    // RFC 6156: an IPv6 listener offers IPv6 relayed addresses (uclient -x asks for one).
    let port = common::free_port_tcp_udp().to_string();
    let listen = format!("[::1]:{port}");
    let server = Server::start(dir.path(), &["--turn-listen", &listen, "--turn-allow-peers", "::1/128"]);
    let peer = Peer::start_on("::1");
    for (transport, pid) in [(&[][..], "v6-udp"), (&["-t"][..], "v6-tcp")] {
        let (user, credential) = credentials_from_welcome(&server, &project, "room", pid, 600);
        let mut args = vec!["-x", "-c", "-n", "20", "-m", "2", "-l", "120", "-e", "::1", "-r", peer.port()];
        args.extend_from_slice(&["-u", &user, "-w", &credential, "-p", &port]);
        args.extend_from_slice(transport);
        args.push("::1");
        common::turn::uclient(&args).assert_clean();
    }
}

#[test]
fn a_wrong_password_and_an_expired_username_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "auth");
    // A low failure limit, so uclient's retries trip it even on a slow machine.
    let server = Server::start(dir.path(), &[&ALLOW_LOOPBACK[..], &["--turn-auth-failures-per-minute", "10"]].concat());
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "alice", 600);
    assert!(allocate_udp(server.turn, &user, &credential).is_ok());
    match allocate_udp(server.turn, &user, "d3JvbmcgcGFzc3dvcmQ=") {
        Err(AllocateError::Code(401)) => {}
        Err(other) => panic!("wrong password: {other:?}"),
        Ok(_) => panic!("wrong password: allocated"),
    }
    // A token with a 2 s TTL gives a username that expires with it.
    let (short_user, short_credential) = credentials_from_welcome(&server, &project, "room", "bob", 2);
    std::thread::sleep(Duration::from_millis(3100));
    match allocate_udp(server.turn, &short_user, &short_credential) {
        Err(AllocateError::Code(401)) => {}
        Err(other) => panic!("expired username: {other:?}"),
        Ok(_) => panic!("expired username: allocated"),
    }
    // A password computed from another secret is no better.
    let forged = rest_password("not-the-secret", &user);
    assert!(matches!(allocate_udp(server.turn, &user, &forged), Err(AllocateError::Code(401))));
    // coturn's client is refused too, and the server counts its attempts as failures.
    let failures_before = metric(&server, "edgebeam_turn_auth_failures_total");
    let peer = Peer::start();
    let port = server.turn.port().to_string();
    let runs: Vec<_> =
        [(user.clone(), "d3JvbmcgcGFzc3dvcmQ=".to_owned()), (short_user.clone(), short_credential.clone())]
            .into_iter()
            .map(|(u, w)| {
                let (peer_port, port) = (peer.port().to_owned(), port.clone());
                std::thread::spawn(move || {
                    let args = ["-c", "-n", "5", "-m", "1", "-e", "127.0.0.1", "-r", &peer_port, "-u", &u, "-w", &w];
                    common::turn::uclient_within(
                        &[&args[..], &["-p", &port, "127.0.0.1"]].concat(),
                        Duration::from_secs(6),
                    )
                })
            })
            .collect();
    for run in runs {
        let run = run.join().unwrap();
        assert!(!run.completed && run.sent == 0, "{}", run.stdout);
    }
    // The turn thread publishes its totals at least once a second.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(metric(&server, "edgebeam_turn_auth_failures_total") >= failures_before + 2);
    // Its many retries went over turn_auth_failures_per_minute: until the minute is over the
    // source gets 401 whatever it sends, its integrity unchecked.
    assert!(matches!(allocate_udp(server.turn, &user, &credential), Err(AllocateError::Code(401))));
}

/// coturn's client with a wrong password gives up by itself ("Cannot complete Allocation",
/// exit 255), as it does against coturn, also once its retries have put the source over the
/// failed-authentication limit: a blocked source still gets its 401 (a challenge whose
/// integrity is not checked), never silence that leaves the client waiting.
#[test]
fn uclient_with_a_wrong_password_gives_up_by_itself_even_once_the_source_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "giveup");
    let server = Server::start(dir.path(), &[&ALLOW_LOOPBACK[..], &["--turn-auth-failures-per-minute", "5"]].concat());
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "alice", 600);
    let peer = Peer::start();
    let port = server.turn.port().to_string();
    for (attempt, transport) in [(1, &[][..]), (2, &[][..]), (3, &["-t"][..])] {
        let mut args = vec!["-c", "-n", "2", "-m", "1", "-e", "127.0.0.1", "-r", peer.port()];
        args.extend_from_slice(&["-u", &user, "-w", "d3JvbmcgcGFzc3dvcmQ=", "-p", &port]);
        args.extend_from_slice(transport);
        args.push("127.0.0.1");
        let run = common::turn::uclient_within(&args, Duration::from_secs(60));
        assert!(!run.timed_out, "run {attempt} {transport:?} still waiting after 60 s:\n{}", run.stdout);
        assert_eq!(run.status.code(), Some(255), "run {attempt}: {}", run.stdout);
        assert!(run.says("Cannot complete Allocation") && !run.completed, "run {attempt}: {}", run.stdout);
    }
    // The source is over its limit now: even good credentials get the challenge, not silence.
    assert!(matches!(allocate_udp(server.turn, &user, &credential), Err(AllocateError::Code(401))));
}

/// SPEC "TURN / Quotas": a browser makes one allocation per TURN URL per local interface per
/// call, so a six-person mesh on a laptop with two interfaces needs 30 for one identity; the
/// default quota (64) grants them all.
#[test]
fn one_identity_holds_30_allocations_with_the_default_quota() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "mesh");
    let server = Server::start(dir.path(), &[]);
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "laptop", 600);
    let held: Vec<_> = (0..30)
        .map(|i| allocate_udp(server.turn, &user, &credential).unwrap_or_else(|e| panic!("allocation {i}: {e:?}")))
        .collect();
    let mut relays: Vec<_> = held.iter().map(|a| a.relayed).collect();
    relays.sort();
    relays.dedup();
    assert_eq!(relays.len(), 30, "30 distinct relayed addresses");
}

#[test]
fn channel_binds_to_loopback_metadata_and_low_ports_get_403() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "policy");
    // Default policy: no allow list.
    let server = Server::start(dir.path(), &[]);
    let port = server.turn.port().to_string();
    for (i, (peer_ip, peer_port)) in
        [("127.0.0.1", "5000"), ("169.254.169.254", "5000"), ("10.11.12.13", "80")].into_iter().enumerate()
    {
        let (user, credential) = credentials_from_welcome(&server, &project, "room", &format!("p{i}"), 600);
        let args =
            ["-c", "-n", "5", "-m", "1", "-e", peer_ip, "-r", peer_port, "-u", &user, "-w", &credential, "-p", &port];
        let run = common::turn::uclient(&[&args[..], &["127.0.0.1"]].concat());
        assert!(run.says("channel bind: error 403"), "{peer_ip}:{peer_port}\n{}\n{}", run.stdout, run.stderr);
        assert!(!run.status.success());
    }
    // The turn thread publishes its totals at least once a second.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(metric(&server, "edgebeam_turn_forbidden_peers_total") >= 3);
}

fn metric(server: &Server, name: &str) -> u64 {
    let metrics = server.metrics().body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[test]
fn a_rotated_secret_issues_new_credentials_and_honours_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::create(dir.path(), "rotate");
    let d = dir.path().to_str().unwrap();
    let server = Server::start(dir.path(), &ALLOW_LOOPBACK);
    let (old_user, old_credential) = credentials_from_welcome(&server, &project, "room", "alice", 600);
    common::edgebeam_ok(&["turn", "rotate-secret", "--data-dir", d]);
    // The running server follows the store within 2 s: the next welcome carries credentials
    // of the new secret.
    std::thread::sleep(Duration::from_millis(2500));
    let store = edgebeam::store::Store::open(dir.path(), edgebeam::store::OpenMode::MustExist).unwrap();
    let secrets = store.turn_secrets().unwrap().unwrap();
    drop(store);
    let new_secret = String::from_utf8(secrets.current).unwrap();
    let old_secret = String::from_utf8(secrets.previous.unwrap().0).unwrap();
    assert_eq!(old_credential, rest_password(&old_secret, &old_user));
    let (new_user, new_credential) = credentials_from_welcome(&server, &project, "room", "bob", 600);
    assert_eq!(new_credential, rest_password(&new_secret, &new_user));
    assert!(allocate_udp(server.turn, &new_user, &new_credential).is_ok(), "new secret");
    assert!(allocate_udp(server.turn, &old_user, &old_credential).is_ok(), "previous secret within its grace");
    drop(server);

    // With no grace, credentials of the previous secret stop working at once.
    let server = Server::start(dir.path(), &[&ALLOW_LOOPBACK[..], &["--turn-secret-grace-secs", "0"]].concat());
    let (user, credential) = credentials_from_welcome(&server, &project, "room", "carol", 600);
    common::edgebeam_ok(&["turn", "rotate-secret", "--data-dir", d]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(matches!(allocate_udp(server.turn, &user, &credential), Err(AllocateError::Code(401))));
}

fn binding_request(tid: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[tid; 12]);
    m
}

/// A UDP Binding request answered within `wait`.
fn udp_binding_answered(server: std::net::SocketAddr, wait: Duration) -> bool {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(&binding_request(7), server).unwrap();
    let mut buf = [0u8; 256];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if n >= 20 && buf[0..2] == [0x01, 0x01])
}

#[test]
fn a_flooding_tcp_client_does_not_starve_udp_and_a_65th_connection_evicts_the_oldest() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let turn = server.turn;
    // One client streams Binding requests as fast as it can for 3 s and never reads.
    let flood = std::thread::spawn(move || {
        let mut tcp = std::net::TcpStream::connect(turn).unwrap();
        let burst: Vec<u8> = (0..1000).flat_map(|i| binding_request(i as u8)).collect();
        let end = std::time::Instant::now() + Duration::from_secs(3);
        let mut sent = 0usize;
        while std::time::Instant::now() < end {
            if tcp.write_all(&burst).is_err() {
                break;
            }
            sent += burst.len();
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        assert!(udp_binding_answered(turn, Duration::from_secs(2)), "UDP starved by a TCP flood");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(flood.join().unwrap() > 0);
    std::thread::sleep(Duration::from_millis(500));

    // The flood's connection is gone on the server's side too (it drains what was sent first).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metric(&server, "edgebeam_turn_stream_clients") > 0 {
        assert!(std::time::Instant::now() < deadline, "the flood's connection is still open");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut held: Vec<std::net::TcpStream> = (0..64)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(turn).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Answered in turn, so the server has accepted them in this order.
            assert!(common::turn::stream_binding(&mut c));
            c
        })
        .collect();
    // A 65th connection without an allocation from the same address is served, and costs that
    // address its oldest such connection (SPEC "Clients without credentials").
    let mut extra = std::net::TcpStream::connect(turn).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(common::turn::stream_binding(&mut extra), "the 65th connection is served");
    let mut buf = [0u8; 64];
    assert!(matches!(held[0].read(&mut buf), Ok(0) | Err(_)), "the oldest is closed");
    for c in &mut held[1..] {
        assert!(common::turn::stream_binding(c), "the other 63 are still served");
    }
}
