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
    assert!(!c.turn.allow_peers.is_empty() && !c.turn.deny_peers.is_empty());
}

#[test]
fn turn_knobs_parse_their_defaults() {
    let c = config_from(&[]).unwrap();
    let want = TurnLimits {
        realm: "edgebeam".into(),
        allow_peers: vec![],
        deny_peers: vec![],
        max_allocations_per_peer: 64,
        max_allocations_per_project: 1000,
        max_permissions_per_allocation: 32,
        max_channels_per_allocation: 32,
        bandwidth_bytes_per_sec: 2_500_000,
        auth_failures_per_minute: 30,
        secret_grace: Duration::from_secs(86_400),
        default_lifetime: Duration::from_secs(600),
        max_lifetime: Duration::from_secs(3600),
    };
    assert_eq!(c.turn, want);
}

#[test]
fn turn_knobs_accept_their_bounds() {
    let c = config_from(&[
        ("turn_realm", "lan.example:edge_1"),
        ("turn_max_allocations_per_peer", "1000"),
        ("turn_max_allocations_per_project", "1000000"),
        ("turn_max_permissions_per_allocation", "1"),
        ("turn_max_channels_per_allocation", "4096"),
        ("turn_bandwidth_bytes_per_sec", "1000"),
        ("turn_auth_failures_per_minute", "100000"),
        ("turn_secret_grace_secs", "0"),
        ("turn_default_lifetime_secs", "3600"),
        ("turn_max_lifetime_secs", "86400"),
    ])
    .unwrap();
    assert_eq!(c.turn.realm, "lan.example:edge_1");
    assert_eq!(c.turn.max_channels_per_allocation, 4096);
    assert_eq!(c.turn.bandwidth_bytes_per_sec, 1000);
    assert_eq!(c.turn.secret_grace, Duration::ZERO);
    assert_eq!(c.turn.max_lifetime, Duration::from_secs(86_400));
    assert!(config_from(&[("turn_realm", &"r".repeat(127))]).is_ok());
}

#[test]
fn bad_turn_values_name_key_and_value() {
    let long_realm = "r".repeat(128);
    for (key, value) in [
        ("turn_realm", long_realm.as_str()),
        ("turn_realm", "two words"),
        ("turn_realm", "say\"hi\""),
        ("turn_realm", "tab\there"),
        ("turn_realm", "réalm"),
        ("turn_allow_peers", "10.0.0.0/33"),
        ("turn_deny_peers", "not-an-ip"),
        ("turn_max_allocations_per_peer", "0"),
        ("turn_max_allocations_per_peer", "1001"),
        ("turn_max_allocations_per_project", "1000001"),
        ("turn_max_permissions_per_allocation", "0"),
        ("turn_max_permissions_per_allocation", "1001"),
        ("turn_max_channels_per_allocation", "4097"),
        ("turn_bandwidth_bytes_per_sec", "999"),
        ("turn_bandwidth_bytes_per_sec", "1000000001"),
        ("turn_auth_failures_per_minute", "0"),
        ("turn_auth_failures_per_minute", "100001"),
        ("turn_secret_grace_secs", "2592001"),
        ("turn_secret_grace_secs", "-1"),
        ("turn_default_lifetime_secs", "59"),
        ("turn_default_lifetime_secs", "3601"),
        ("turn_max_lifetime_secs", "86401"),
        ("turn_max_lifetime_secs", "ten"),
    ] {
        let e = config_from(&[(key, value)]).unwrap_err();
        assert!(matches!(e, ConfigError::BadValue { key: k, .. } if k == key), "{key}={value}: {e}");
        let text = e.to_string();
        let shown = format!("{value:?}");
        assert!(text.contains(key) && text.contains(&shown), "{key}={value}: {text}");
    }
    // An empty realm is a missing value.
    let e = config_from(&[("turn_realm", "")]).unwrap_err();
    assert!(matches!(e, ConfigError::BadValue { key: "turn_realm", .. }), "{e}");
}

#[test]
fn max_lifetime_shorter_than_default_is_refused() {
    let e = config_from(&[("turn_max_lifetime_secs", "300")]).unwrap_err();
    assert!(matches!(e, ConfigError::BadValue { key: "turn_max_lifetime_secs", .. }), "{e}");
    assert!(e.to_string().contains("turn_default_lifetime_secs"), "{e}");
    let e = config_from(&[("turn_default_lifetime_secs", "3600"), ("turn_max_lifetime_secs", "3599")]).unwrap_err();
    assert!(e.to_string().contains("turn_max_lifetime_secs") && e.to_string().contains("3599"), "{e}");
    let c = config_from(&[("turn_default_lifetime_secs", "900"), ("turn_max_lifetime_secs", "900")]).unwrap();
    assert_eq!(c.turn.max_lifetime, c.turn.default_lifetime);
}

#[test]
fn peer_lists_parse_every_entry_and_name_the_bad_one() {
    let c = config_from(&[
        ("turn_allow_peers", "127.0.0.0/8, ::1"),
        ("turn_deny_peers", "10.9.0.0/16,::ffff:192.168.1.1,fd00::/8"),
    ])
    .unwrap();
    let shown = |l: &[crate::proto::addr_policy::Cidr]| l.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(shown(&c.turn.allow_peers), ["127.0.0.0/8", "::1/128"]);
    assert_eq!(shown(&c.turn.deny_peers), ["10.9.0.0/16", "192.168.1.1/32", "fd00::/8"]);

    let e = config_from(&[("turn_deny_peers", "10.0.0.0/8, 192.168.1.300, fd00::/8")]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("turn_deny_peers") && text.contains("\"192.168.1.300\""), "{text}");
    assert!(!text.contains("fd00"), "names only the bad entry: {text}");

    let mut raw = RawConfig::defaults(None);
    raw.apply_toml(Path::new("c.toml"), "turn_allow_peers = [\"127.0.0.0/8\", \"fe80::/129\"]").unwrap();
    let e = Config::from_raw(&raw).unwrap_err().to_string();
    assert!(e.contains("turn_allow_peers") && e.contains("fe80::/129") && e.contains("c.toml"), "{e}");
    assert!(raw.apply_toml(Path::new("c.toml"), "turn_deny_peers = \"10.0.0.0/8\"").is_err());
}

#[test]
fn relay_range_may_not_hold_the_turn_port() {
    let e = config_from(&[("relay_ports", "3000-4000")]).unwrap_err();
    assert!(matches!(e, ConfigError::BadValue { key: "relay_ports", .. }), "{e}");
    assert!(e.to_string().contains("3478"), "{e}");
    assert!(config_from(&[("relay_ports", "3000-4000"), ("turn_listen", "0.0.0.0:5000")]).is_ok());
}

/// Every knob can be given as a `serve` flag and has a row in docs/configuration.md.
#[test]
fn every_knob_has_a_flag_and_a_documented_row() {
    let args: Vec<String> =
        knobs::KNOBS.iter().flat_map(|k| [format!("--{}", k.key.replace('_', "-")), format!("v-{}", k.key)]).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serve = <crate::cli::args::ServeArgs as argh::FromArgs>::from_args(&["serve"], &args).unwrap();
    let given = serve.flag_values();
    let doc = include_str!("../../docs/configuration.md");
    for k in knobs::KNOBS {
        let value = format!("v-{}", k.key);
        assert!(given.contains(&(k.key, value.as_str())), "flag_values lacks {}", k.key);
        let row = format!("`{}`", k.key);
        let documented =
            doc.lines().any(|l| l.starts_with("| ") && l.split(" | ").next().is_some_and(|c| c.contains(&row)));
        assert!(documented, "docs/configuration.md lacks a table row for {}", k.key);
    }
}

#[test]
fn tls_mode_defaults_from_the_files_and_acme_needs_its_keys() {
    let c = config_from(&[]).unwrap();
    assert_eq!(c.tls, TlsSource::SelfSigned);
    assert_eq!(c.turns_advertise, crate::config::TurnsAdvertise::Trusted);
    let c = config_from(&[("tls_cert", "/c.pem"), ("tls_key", "/k.pem")]).unwrap();
    assert!(matches!(c.tls, TlsSource::Files { .. }));
    let e = config_from(&[("tls_mode", "self-signed"), ("tls_cert", "/c.pem"), ("tls_key", "/k.pem")]).unwrap_err();
    assert!(e.to_string().contains("only used with files"), "{e}");
    let e = config_from(&[("tls_mode", "acme"), ("acme_domains", "*.lan.example.com")]).unwrap_err();
    assert!(e.to_string().contains("dns-01"), "{e}");
    let hook = std::env::current_exe().unwrap();
    let hook = hook.to_str().unwrap();
    let c = config_from(&[
        ("tls_mode", "acme"),
        ("acme_domains", "Box.Example.COM, *.lan.example.com"),
        ("acme_challenge", "dns-01"),
        ("acme_dns_hook", hook),
    ])
    .unwrap();
    let TlsSource::Acme(acme) = c.tls else { panic!("acme") };
    let names: Vec<_> = acme.domains.iter().map(DnsName::as_str).collect();
    assert_eq!(names, ["box.example.com", "*.lan.example.com"]);
    assert_eq!(acme.domains[1].base(), "lan.example.com");
    assert_eq!(acme.challenge, crate::config::AcmeChallenge::Dns01 { hook: hook.into() });
    assert_eq!(acme.directory, "https://acme-v02.api.letsencrypt.org/directory");
    let c = config_from(&[("tls_mode", "acme"), ("acme_domains", "a.example"), ("acme_challenge", "http-01")]).unwrap();
    let TlsSource::Acme(acme) = c.tls else { panic!("acme") };
    assert_eq!(acme.challenge, crate::config::AcmeChallenge::Http01 { listen: "0.0.0.0:80".parse().unwrap() });
    for bad in ["10.0.0.1", "::1", "*.10.0.0.1", "bad_name.example"] {
        let e = config_from(&[("tls_mode", "acme"), ("acme_domains", bad)]).unwrap_err();
        assert!(e.to_string().contains("acme_domains"), "{bad}: {e}");
    }
    let e = config_from(&[("tls_mode", "acme"), ("acme_domains", "a.example"), ("acme_email", "nobody")]).unwrap_err();
    assert!(e.to_string().contains("acme_email"), "{e}");
}

#[test]
fn eab_needs_both_keys_and_never_shows_the_hmac_key() {
    let acme = [("tls_mode", "acme"), ("acme_domains", "a.example")];
    let key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let c = config_from(&[&acme[..], &[("acme_eab_kid", "kid-1"), ("acme_eab_hmac_key", key)]].concat()).unwrap();
    let TlsSource::Acme(a) = &c.tls else { panic!("acme") };
    let eab = a.eab.as_ref().unwrap();
    assert_eq!((eab.kid.as_str(), eab.hmac_key.len()), ("kid-1", 48));
    assert!(!format!("{c:?}").contains(key) && !format!("{:?}", eab.hmac_key).is_empty());
    let e = config_from(&[&acme[..], &[("acme_eab_kid", "kid-1")]].concat()).unwrap_err();
    assert!(e.to_string().contains("acme_eab_hmac_key"), "{e}");
    let e = config_from(&[&acme[..], &[("acme_eab_hmac_key", key)]].concat()).unwrap_err();
    assert!(e.to_string().contains("acme_eab_kid") && !e.to_string().contains(key), "{e}");
    let e =
        config_from(&[&acme[..], &[("acme_eab_kid", "k"), ("acme_eab_hmac_key", "not base64!")]].concat()).unwrap_err();
    assert!(e.to_string().contains("base64url") && !e.to_string().contains("not base64!"), "{e}");
}
