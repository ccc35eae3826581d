use super::*;

fn config_from(pairs: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
    let mut raw = RawConfig::defaults(None);
    raw.apply_flags(pairs.iter().copied());
    Config::from_raw(&raw)
}

#[test]
fn defaults_match_the_contract() {
    let c = config_from(&[]).unwrap();
    assert_eq!(c.signal_listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(c.admin_listen, "0.0.0.0:9443".parse().unwrap());
    assert_eq!(c.turn_listen, "0.0.0.0:3478".parse().unwrap());
    assert_eq!(c.turns_listen, "0.0.0.0:5349".parse().unwrap());
    assert_eq!(c.relay_ports, PortRange { low: 49152, high: 65535 });
    assert_eq!(c.data_dir, PathBuf::from("./edgebeam-data"));
    assert_eq!(c.tls, TlsSource::SelfSigned);
    assert_eq!(c.public_ip, None);
}

#[test]
fn bad_values_name_key_value_and_origin() {
    let e = config_from(&[("admin_listen", "nonsense")]).unwrap_err().to_string();
    assert!(e.contains("admin_listen") && e.contains("nonsense") && e.contains("--admin-listen"), "{e}");
    for (key, value) in [
        ("relay_ports", "100-200"),
        ("relay_ports", "6000-5000"),
        ("relay_ports", "5000"),
        ("public_ip", "0.0.0.0"),
        ("public_ip", "example"),
        ("public_names", "bad_name"),
        ("public_names", "10.0.0.1"),
        ("log_level", "loud"),
        ("shutdown_grace_secs", "0"),
        ("signal_listen", "127.0.0.1"),
    ] {
        let e = config_from(&[(key, value)]).unwrap_err().to_string();
        assert!(e.contains(key), "{key}={value}: {e}");
    }
}

#[test]
fn listeners_may_not_share_a_port() {
    let e = config_from(&[("admin_listen", "127.0.0.1:8443")]).unwrap_err();
    assert!(matches!(e, ConfigError::ListenerClash { .. }), "{e}");
    let ok = config_from(&[("admin_listen", "127.0.0.2:9000"), ("signal_listen", "127.0.0.3:9000")]);
    assert!(ok.is_ok());
}

#[test]
fn tls_files_must_come_in_pairs() {
    let e = config_from(&[("tls_cert", "/c.pem")]).unwrap_err();
    assert!(matches!(e, ConfigError::HalfTlsPair { given: "tls_cert" }));
    let c = config_from(&[("tls_cert", "/c.pem"), ("tls_key", "/k.pem")]).unwrap();
    assert_eq!(c.tls, TlsSource::Files { cert: "/c.pem".into(), key: "/k.pem".into() });
}

#[test]
fn public_names_are_normalised() {
    let c = config_from(&[("public_names", "Edge.LAN., turn.example.org")]).unwrap();
    let names: Vec<_> = c.public_names.iter().map(DnsName::as_str).collect();
    assert_eq!(names, ["edge.lan", "turn.example.org"]);
}

/// The annotated example in docs/configuration.md must stay valid.
#[test]
fn documented_example_config_parses() {
    let doc = include_str!("../../docs/configuration.md");
    let start = doc.find("```toml\n").expect("docs/configuration.md has a ```toml block") + 8;
    let end = start + doc[start..].find("```").expect("closed block");
    let mut raw = RawConfig::defaults(None);
    raw.apply_toml(Path::new("docs/configuration.md"), &doc[start..end]).unwrap();
    let c = Config::from_raw(&raw).unwrap();
    assert_eq!(c.admin_listen, "0.0.0.0:9443".parse().unwrap());
    assert!(!c.public_names.is_empty());
}
