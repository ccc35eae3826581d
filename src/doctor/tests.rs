use super::*;

const DAY: i64 = 86_400;
const NOW: i64 = 1_800_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_taken_port_is_fatal_and_names_the_key_and_the_way_out() {
    let f = port("admin_listen", "tcp", addr("0.0.0.0:9443"), Err(BindFailure::InUse));
    assert_eq!(f.status, Status::Fatal);
    let line = f.to_string();
    assert!(line.starts_with("✗ port: admin_listen tcp 0.0.0.0:9443 is taken"), "{line}");
    assert!(line.contains(":9443") && line.contains("--running"), "{line}");
    assert_eq!(port("turn_listen", "udp", addr("0.0.0.0:3478"), Ok(())).status, Status::Pass);
    let low =
        port("turn_listen", "tcp", addr("0.0.0.0:443"), Err(BindFailure::of(std::io::ErrorKind::PermissionDenied)));
    assert!(low.status == Status::Fatal && low.fix.unwrap().contains("CAP_NET_BIND_SERVICE"));
}

#[test]
fn data_dir_of_another_user_is_fatal_loose_modes_only_warn() {
    let facts = |owner, mode, files: Vec<(&str, u32)>| DirFacts {
        path: "/d".into(),
        owner_mode: Some((owner, mode)),
        files: files.into_iter().map(|(n, m)| (n.to_owned(), m)).collect(),
    };
    let f = data_dir(&facts(1000, 0o700, vec![]), 1001);
    assert_eq!(f[0].status, Status::Fatal);
    assert!(f[0].fix.as_deref().unwrap().contains("chown"));
    // root may use anybody's folder (under systemd the owner is the unit's dynamic user).
    assert_eq!(data_dir(&facts(61000, 0o700, vec![]), 0)[0].status, Status::Pass);
    let f = data_dir(&facts(1000, 0o755, vec![("/d/edgebeam.db", 0o644)]), 1000);
    assert_eq!(f.iter().map(|f| f.status).collect::<Vec<_>>(), [Status::Warn, Status::Warn]);
    assert!(!any_fatal(&f));
    let missing = DirFacts { path: "/d".into(), owner_mode: None, files: vec![] };
    assert_eq!(data_dir(&missing, 1000)[0].status, Status::Pass);
}

fn cert(not_before: i64, not_after: i64) -> CertFacts {
    CertFacts {
        path: "cert.pem".into(),
        not_before,
        not_after,
        dns_names: vec!["edge.lan".into(), "*.example.org".into()],
        ips: vec!["192.168.1.20".parse().unwrap()],
    }
}

#[test]
fn certificate_validity_to_the_day() {
    assert_eq!(certificate(&cert(NOW - DAY, NOW + 90 * DAY), NOW, &[], None)[0].status, Status::Pass);
    let soon = certificate(&cert(NOW - DAY, NOW + 13 * DAY), NOW, &[], None);
    assert_eq!(soon[0].status, Status::Warn);
    assert!(soon[0].message.contains("expires in 13 days"), "{}", soon[0]);
    let expired = certificate(&cert(NOW - 90 * DAY, NOW - 2 * DAY), NOW, &[], None);
    assert_eq!(expired[0].status, Status::Fatal);
    assert!(expired[0].message.contains("expired 2 days ago"), "{}", expired[0]);
    assert_eq!(certificate(&cert(NOW + DAY, NOW + 90 * DAY), NOW, &[], None)[0].status, Status::Fatal);
}

#[test]
fn certificate_names_cover_public_names_and_ip_with_one_level_wildcards() {
    let c = cert(NOW - DAY, NOW + 90 * DAY);
    let ip = Some("192.168.1.20".parse().unwrap());
    let ok = certificate(&c, NOW, &["edge.lan".into(), "box.example.org".into()], ip);
    assert_eq!(ok[1].status, Status::Pass, "{}", ok[1]);
    let bad = certificate(&c, NOW, &["a.b.example.org".into()], Some("10.0.0.9".parse().unwrap()));
    assert_eq!(bad[1].status, Status::Warn);
    assert!(bad[1].message.contains("a.b.example.org, 10.0.0.9"), "{}", bad[1]);
}

#[test]
fn public_ip_unset_or_foreign_warns_with_the_local_addresses() {
    let local: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "192.168.1.20".parse().unwrap()];
    let unset = public_ip(None, &local);
    assert_eq!(unset.status, Status::Warn);
    assert!(unset.fix.as_deref().unwrap().contains("192.168.1.20") && !unset.fix.unwrap().contains("127.0.0.1"));
    assert_eq!(public_ip(Some(local[1]), &local).status, Status::Pass);
    assert_eq!(public_ip(Some("203.0.113.5".parse().unwrap()), &local).status, Status::Warn);
}

#[test]
fn a_clock_before_the_build_date_is_fatal() {
    assert_eq!(clock(NOW, NOW - 30 * DAY).status, Status::Pass);
    assert_eq!(clock(NOW, NOW + 3 * DAY).status, Status::Fatal);
    // A Raspberry Pi without network time wakes up in 1970.
    assert_eq!(clock(86_400, 0).status, Status::Fatal);
}

#[test]
fn open_file_limit_is_read_from_proc_limits() {
    let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            1024                 524288               files     \n";
    assert_eq!(parse_open_file_limit(text), Some(1024));
    assert_eq!(open_files(Some(1024)).status, Status::Warn);
    assert_eq!(open_files(Some(65_536)).status, Status::Pass);
    assert_eq!(parse_open_file_limit("Max open files unlimited unlimited files"), Some(u64::MAX));
    assert_eq!(parse_open_file_limit(""), None);
}

#[test]
fn no_account_says_where_the_setup_link_is_without_showing_it() {
    let f = database(&DbFacts::Open { schema: 3, supported: 3, accounts: 0, setup_token_issued: true });
    assert_eq!(f[1].status, Status::Warn);
    let line = f[1].to_string();
    assert!(line.contains("journalctl -u edgebeam") && line.contains("edgebeam admin create"), "{line}");
    assert!(line.contains("restart"), "{line}");
    let done = database(&DbFacts::Open { schema: 2, supported: 3, accounts: 2, setup_token_issued: false });
    assert!(done[0].message.contains("migrates it to 3"));
    assert_eq!(done[1].status, Status::Pass);
    assert!(any_fatal(&database(&DbFacts::Refused("too new".into()))));
}
