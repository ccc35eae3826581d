use super::*;
use crate::config::{Config, RawConfig};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;

fn config(data_dir: &Path) -> Config {
    let mut raw = RawConfig::defaults(None);
    raw.apply_flags([("data_dir", data_dir.to_str().unwrap())]);
    Config::from_raw(&raw).unwrap()
}

#[test]
fn sans_cover_localhost_host_interfaces_and_public_names() {
    let inputs = SanInputs {
        host_name: Some("edge-box".into()),
        interface_addrs: vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)),
            "fe80::1".parse().unwrap(),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        public_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        public_names: vec![crate::config::DnsName::parse("edge.lan").unwrap()],
    };
    let sans = collect_sans(&inputs);
    use selfsigned::San;
    for want in [
        San::Dns("localhost".into()),
        San::Dns("edge-box".into()),
        San::Dns("edge.lan".into()),
        San::Ip("127.0.0.1".parse().unwrap()),
        San::Ip("192.168.1.5".parse().unwrap()),
        San::Ip("::1".parse().unwrap()),
        San::Ip("203.0.113.9".parse().unwrap()),
    ] {
        assert!(sans.contains(&want), "missing {want:?} in {sans:?}");
    }
    assert!(!sans.contains(&San::Ip("fe80::1".parse().unwrap())));
}

#[test]
fn self_signed_is_created_once_then_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path());
    let first = load(&c, &SanInputs::default(), UnixTime(1_800_000_000)).unwrap();
    assert_eq!(first.origin, TlsOrigin::SelfSignedCreated);
    let second = load(&c, &SanInputs::default(), UnixTime(1_800_000_100)).unwrap();
    assert_eq!(second.origin, TlsOrigin::SelfSignedReused);
    assert_eq!(first.fingerprint(), second.fingerprint());
    assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
    let dir = tmp.path().join(TLS_DIR);
    for (p, want) in [(dir.clone(), 0o700), (dir.join(CERT_FILE), 0o600), (dir.join(KEY_FILE), 0o600)] {
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, want, "{}", p.display());
    }
    first.server_config(&[b"http/1.1"]).unwrap();
}

#[test]
fn operator_files_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let sans = collect_sans(&SanInputs::default());
    let (cert_a, key_a) = selfsigned::generate(&sans, UnixTime(1_800_000_000)).unwrap();
    let (_, key_b) = selfsigned::generate(&sans, UnixTime(1_800_000_000)).unwrap();
    let write = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let (cert, key, other_key) = (write("c.pem", &cert_a), write("k.pem", &key_a), write("k2.pem", &key_b));
    let garbage = write("g.pem", "hello");
    let mut c = config(tmp.path());

    c.tls = TlsSource::Files { cert: cert.clone(), key: key.clone() };
    assert_eq!(load(&c, &SanInputs::default(), UnixTime(0)).unwrap().origin, TlsOrigin::OperatorFiles);

    c.tls = TlsSource::Files { cert: cert.clone(), key: other_key };
    assert!(matches!(load(&c, &SanInputs::default(), UnixTime(0)), Err(TlsError::KeyMismatch { .. })));

    c.tls = TlsSource::Files { cert: garbage.clone(), key: key.clone() };
    assert!(matches!(load(&c, &SanInputs::default(), UnixTime(0)), Err(TlsError::NoCertificate { .. })));

    c.tls = TlsSource::Files { cert: cert.clone(), key: garbage };
    assert!(matches!(load(&c, &SanInputs::default(), UnixTime(0)), Err(TlsError::NoPrivateKey { .. })));

    c.tls = TlsSource::Files { cert: tmp.path().join("missing.pem"), key };
    assert!(matches!(load(&c, &SanInputs::default(), UnixTime(0)), Err(TlsError::Unreadable { .. })));
}
