//! The flags of `serve`: one per knob of `config::knobs` (a test holds them in step).

use argh::FromArgs;

#[derive(FromArgs, Debug, Default)]
/// Run the server. Each knob can also come from the --config TOML file (same name with `_`)
/// or from EDGEBEAM_<NAME> in the environment; flags win over the environment, which wins over
/// the file. See docs/configuration.md.
#[argh(subcommand, name = "serve")]
pub struct ServeArgs {
    /// TOML configuration file
    #[argh(option)]
    pub config: Option<String>,
    /// data directory (database and tls/); default ./edgebeam-data, or $STATE_DIRECTORY under systemd
    #[argh(option)]
    pub data_dir: Option<String>,
    /// signaling WSS, SDK and demo listener, IP:PORT (default 0.0.0.0:8443)
    #[argh(option)]
    pub signal_listen: Option<String>,
    /// admin UI and REST API listener, IP:PORT (default 0.0.0.0:9443)
    #[argh(option)]
    pub admin_listen: Option<String>,
    /// STUN/TURN listener, UDP and TCP, IP:PORT (default 0.0.0.0:3478)
    #[argh(option)]
    pub turn_listen: Option<String>,
    /// TURN over TLS listener, IP:PORT (default 0.0.0.0:5349)
    #[argh(option)]
    pub turns_listen: Option<String>,
    /// UDP port range for relayed addresses, LO-HI (default 49152-65535)
    #[argh(option)]
    pub relay_ports: Option<String>,
    /// address put in ICE server URLs and XOR-RELAYED-ADDRESS
    #[argh(option)]
    pub public_ip: Option<String>,
    /// comma-separated host names of this box (certificate SANs, ICE URLs)
    #[argh(option)]
    pub public_names: Option<String>,
    /// PEM certificate chain file (with --tls-key; replaces the self-signed certificate)
    #[argh(option)]
    pub tls_cert: Option<String>,
    /// PEM private key file for --tls-cert
    #[argh(option)]
    pub tls_key: Option<String>,
    /// self-signed, files (--tls-cert, --tls-key) or acme (default: files when --tls-cert is set, else self-signed)
    #[argh(option)]
    pub tls_mode: Option<String>,
    /// comma-separated DNS names to get an ACME certificate for (tls_mode acme)
    #[argh(option)]
    pub acme_domains: Option<String>,
    /// contact e-mail given to the ACME server (optional)
    #[argh(option)]
    pub acme_email: Option<String>,
    /// ACME directory URL (default Let's Encrypt production)
    #[argh(option)]
    pub acme_directory: Option<String>,
    /// PEM file of an extra root CA trusted for the ACME server itself (a LAN CA such as step-ca)
    #[argh(option)]
    pub acme_ca_file: Option<String>,
    /// tls-alpn-01 (on the signal listener), http-01 (on --acme-http-listen) or dns-01 (default tls-alpn-01)
    #[argh(option)]
    pub acme_challenge: Option<String>,
    /// where http-01 challenges are answered, IP:PORT (default 0.0.0.0:80)
    #[argh(option)]
    pub acme_http_listen: Option<String>,
    /// executable run as `HOOK set DOMAIN VALUE` and `HOOK clear DOMAIN VALUE` for dns-01
    #[argh(option)]
    pub acme_dns_hook: Option<String>,
    /// key id of the CA's external account binding (with --acme-eab-hmac-key; ZeroSSL, Google)
    #[argh(option)]
    pub acme_eab_kid: Option<String>,
    /// HMAC key of the external account binding, base64url as the CA shows it
    #[argh(option)]
    pub acme_eab_hmac_key: Option<String>,
    /// trusted (turns: URLs only with a certificate that is not self-signed) or always (default trusted)
    #[argh(option)]
    pub turns_advertise: Option<String>,
    /// error, warn, info, debug or trace (default info)
    #[argh(option)]
    pub log_level: Option<String>,
    /// seconds to let in-flight requests finish on SIGTERM, 1-60 (default 3)
    #[argh(option)]
    pub shutdown_grace_secs: Option<String>,
    /// leeway in seconds on token exp, nbf and iat, 0-300 (default 30)
    #[argh(option)]
    pub token_leeway_secs: Option<String>,
    /// verified tokens kept in the cache, 0-1000000 (default 10000)
    #[argh(option)]
    pub token_cache_entries: Option<String>,
    /// threads for TLS handshakes and HTTP requests, 0-1024 (default 0: one per core)
    #[argh(option)]
    pub worker_threads: Option<String>,
    /// TLS handshakes a source may start per second on each HTTPS listener (default 20)
    #[argh(option)]
    pub tls_handshakes_per_source_per_sec: Option<String>,
    /// seconds a new signaling connection has to send auth (default 10)
    #[argh(option)]
    pub signal_auth_timeout_secs: Option<String>,
    /// largest signaling message in bytes (default 65536; larger closes 1009)
    #[argh(option)]
    pub signal_max_message_bytes: Option<String>,
    /// signaling messages per second per connection (default 50)
    #[argh(option)]
    pub signal_rate_per_sec: Option<String>,
    /// signaling burst per connection (default 100)
    #[argh(option)]
    pub signal_burst: Option<String>,
    /// errors or rate-limited messages tolerated per window before close 4008 (default 10)
    #[argh(option)]
    pub signal_abuse_limit: Option<String>,
    /// the abuse window in seconds (default 10)
    #[argh(option)]
    pub signal_abuse_window_secs: Option<String>,
    /// signaling sessions per project (default 10000)
    #[argh(option)]
    pub signal_max_conns_per_project: Option<String>,
    /// connections per source IP not yet authenticated (default 64)
    #[argh(option)]
    pub signal_max_unauthenticated_per_ip: Option<String>,
    /// bytes queued to a slow reader before close 4007 (default 1048576)
    #[argh(option)]
    pub signal_max_queued_bytes: Option<String>,
    /// seconds between server pings (default 30)
    #[argh(option)]
    pub signal_ping_interval_secs: Option<String>,
    /// seconds of silence after which a peer is dropped (default 60)
    #[argh(option)]
    pub signal_idle_timeout_secs: Option<String>,
    /// TURN realm, 1-127 printable ASCII characters without spaces or quotes (default edgebeam)
    #[argh(option)]
    pub turn_realm: Option<String>,
    /// comma-separated CIDRs the relay may reach even if denied by default, e.g. 127.0.0.0/8
    #[argh(option)]
    pub turn_allow_peers: Option<String>,
    /// comma-separated CIDRs the relay never reaches; wins over --turn-allow-peers
    #[argh(option)]
    pub turn_deny_peers: Option<String>,
    /// TURN allocations per peer (project, group, peer id), 1-1000 (default 64)
    #[argh(option)]
    pub turn_max_allocations_per_peer: Option<String>,
    /// TURN allocations per project, 1-1000000 (default 1000)
    #[argh(option)]
    pub turn_max_allocations_per_project: Option<String>,
    /// permissions per TURN allocation, 1-1000 (default 32)
    #[argh(option)]
    pub turn_max_permissions_per_allocation: Option<String>,
    /// channel bindings per TURN allocation, 1-4096 (default 32)
    #[argh(option)]
    pub turn_max_channels_per_allocation: Option<String>,
    /// relayed bytes per second per allocation, both directions summed, 1 s burst (default 2500000)
    #[argh(option)]
    pub turn_bandwidth_bytes_per_sec: Option<String>,
    /// failed TURN authentications per minute per source IP; past it, 401 unchecked (default 30)
    #[argh(option)]
    pub turn_auth_failures_per_minute: Option<String>,
    /// seconds the previous TURN secret stays valid after a rotation, 0-2592000 (default 86400)
    #[argh(option)]
    pub turn_secret_grace_secs: Option<String>,
    /// TURN allocation lifetime when the client asks for none, 60-3600 (default 600)
    #[argh(option)]
    pub turn_default_lifetime_secs: Option<String>,
    /// longest TURN allocation lifetime granted, 60-86400, >= the default (default 3600)
    #[argh(option)]
    pub turn_max_lifetime_secs: Option<String>,
    /// comma-separated CIDRs or host names webhooks may reach although denied (loopback,
    /// link-local, this box's own addresses), e.g. 127.0.0.1 or hooks.internal
    #[argh(option)]
    pub webhook_allow: Option<String>,
    /// events queued per webhook endpoint; past it the oldest are dropped (default 100000)
    #[argh(option)]
    pub webhook_queue_max: Option<String>,
    /// for tests only: multiplies the webhook retry delays, 0.001-1 (default 1)
    #[argh(option)]
    pub webhook_retry_scale: Option<String>,
}

impl ServeArgs {
    /// The flags that were given, as (config key, value).
    pub fn flag_values(&self) -> Vec<(&'static str, &str)> {
        let pairs: [(&'static str, &Option<String>); 53] = [
            ("data_dir", &self.data_dir),
            ("signal_listen", &self.signal_listen),
            ("admin_listen", &self.admin_listen),
            ("turn_listen", &self.turn_listen),
            ("turns_listen", &self.turns_listen),
            ("relay_ports", &self.relay_ports),
            ("public_ip", &self.public_ip),
            ("public_names", &self.public_names),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("tls_mode", &self.tls_mode),
            ("acme_domains", &self.acme_domains),
            ("acme_email", &self.acme_email),
            ("acme_directory", &self.acme_directory),
            ("acme_ca_file", &self.acme_ca_file),
            ("acme_challenge", &self.acme_challenge),
            ("acme_http_listen", &self.acme_http_listen),
            ("acme_dns_hook", &self.acme_dns_hook),
            ("acme_eab_kid", &self.acme_eab_kid),
            ("acme_eab_hmac_key", &self.acme_eab_hmac_key),
            ("turns_advertise", &self.turns_advertise),
            ("log_level", &self.log_level),
            ("shutdown_grace_secs", &self.shutdown_grace_secs),
            ("token_leeway_secs", &self.token_leeway_secs),
            ("token_cache_entries", &self.token_cache_entries),
            ("worker_threads", &self.worker_threads),
            ("tls_handshakes_per_source_per_sec", &self.tls_handshakes_per_source_per_sec),
            ("signal_auth_timeout_secs", &self.signal_auth_timeout_secs),
            ("signal_max_message_bytes", &self.signal_max_message_bytes),
            ("signal_rate_per_sec", &self.signal_rate_per_sec),
            ("signal_burst", &self.signal_burst),
            ("signal_abuse_limit", &self.signal_abuse_limit),
            ("signal_abuse_window_secs", &self.signal_abuse_window_secs),
            ("signal_max_conns_per_project", &self.signal_max_conns_per_project),
            ("signal_max_unauthenticated_per_ip", &self.signal_max_unauthenticated_per_ip),
            ("signal_max_queued_bytes", &self.signal_max_queued_bytes),
            ("signal_ping_interval_secs", &self.signal_ping_interval_secs),
            ("signal_idle_timeout_secs", &self.signal_idle_timeout_secs),
            ("turn_realm", &self.turn_realm),
            ("turn_allow_peers", &self.turn_allow_peers),
            ("turn_deny_peers", &self.turn_deny_peers),
            ("turn_max_allocations_per_peer", &self.turn_max_allocations_per_peer),
            ("turn_max_allocations_per_project", &self.turn_max_allocations_per_project),
            ("turn_max_permissions_per_allocation", &self.turn_max_permissions_per_allocation),
            ("turn_max_channels_per_allocation", &self.turn_max_channels_per_allocation),
            ("turn_bandwidth_bytes_per_sec", &self.turn_bandwidth_bytes_per_sec),
            ("turn_auth_failures_per_minute", &self.turn_auth_failures_per_minute),
            ("turn_secret_grace_secs", &self.turn_secret_grace_secs),
            ("turn_default_lifetime_secs", &self.turn_default_lifetime_secs),
            ("turn_max_lifetime_secs", &self.turn_max_lifetime_secs),
            ("webhook_allow", &self.webhook_allow),
            ("webhook_queue_max", &self.webhook_queue_max),
            ("webhook_retry_scale", &self.webhook_retry_scale),
        ];
        pairs.into_iter().filter_map(|(k, v)| v.as_deref().map(|v| (k, v))).collect()
    }
}
