//! The one table of configuration knobs: key, default and meaning. The file, the environment
//! (`EDGEBEAM_` + upper-case key) and the `serve` flags (`--` + key with `-`) all use these keys.

pub struct Knob {
    pub key: &'static str,
    /// Built-in default as the raw string the validator parses; `None` means unset.
    pub default: Option<&'static str>,
    /// Whether the value is a list (comma-separated in env and flags, an array in TOML).
    pub list: bool,
}

const fn knob(key: &'static str, default: Option<&'static str>) -> Knob {
    Knob { key, default, list: false }
}

pub const KNOBS: &[Knob] = &[
    knob("data_dir", Some("./edgebeam-data")),
    knob("signal_listen", Some("0.0.0.0:8443")),
    knob("admin_listen", Some("0.0.0.0:9443")),
    knob("turn_listen", Some("0.0.0.0:3478")),
    knob("turns_listen", Some("0.0.0.0:5349")),
    knob("relay_ports", Some("49152-65535")),
    knob("public_ip", None),
    Knob { key: "public_names", default: None, list: true },
    knob("tls_cert", None),
    knob("tls_key", None),
    knob("tls_mode", None),
    Knob { key: "acme_domains", default: None, list: true },
    knob("acme_email", None),
    knob("acme_directory", Some("https://acme-v02.api.letsencrypt.org/directory")),
    knob("acme_ca_file", None),
    knob("acme_challenge", Some("tls-alpn-01")),
    knob("acme_http_listen", Some("0.0.0.0:80")),
    knob("acme_dns_hook", None),
    knob("acme_eab_kid", None),
    knob("acme_eab_hmac_key", None),
    knob("turns_advertise", Some("trusted")),
    knob("log_level", Some("info")),
    knob("shutdown_grace_secs", Some("3")),
    knob("worker_threads", Some("0")),
    knob("tls_handshakes_per_source_per_sec", Some("20")),
    knob("token_leeway_secs", Some("30")),
    knob("token_cache_entries", Some("10000")),
    knob("signal_auth_timeout_secs", Some("10")),
    knob("signal_max_message_bytes", Some("65536")),
    knob("signal_rate_per_sec", Some("50")),
    knob("signal_burst", Some("100")),
    knob("signal_abuse_limit", Some("10")),
    knob("signal_abuse_window_secs", Some("10")),
    knob("signal_max_conns_per_project", Some("10000")),
    knob("signal_max_unauthenticated_per_ip", Some("64")),
    knob("signal_max_queued_bytes", Some("1048576")),
    knob("signal_ping_interval_secs", Some("30")),
    knob("signal_idle_timeout_secs", Some("60")),
    knob("turn_realm", Some("edgebeam")),
    Knob { key: "turn_allow_peers", default: None, list: true },
    Knob { key: "turn_deny_peers", default: None, list: true },
    knob("turn_max_allocations_per_peer", Some("64")),
    knob("turn_max_allocations_per_project", Some("1000")),
    knob("turn_max_permissions_per_allocation", Some("32")),
    knob("turn_max_channels_per_allocation", Some("32")),
    knob("turn_bandwidth_bytes_per_sec", Some("2500000")),
    knob("turn_auth_failures_per_minute", Some("30")),
    knob("turn_secret_grace_secs", Some("86400")),
    knob("turn_default_lifetime_secs", Some("600")),
    knob("turn_max_lifetime_secs", Some("3600")),
    Knob { key: "webhook_allow", default: None, list: true },
    knob("webhook_queue_max", Some("100000")),
    knob("webhook_retry_scale", Some("1")),
];

pub fn find(key: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.key == key)
}
