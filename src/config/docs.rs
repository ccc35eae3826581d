//! What each knob means, for the generated `config.example.toml` (`edgebeam config example`).
//! Kept beside the knob table rather than in it so that adding a knob is a one-line change there
//! and a one-line change here; a test fails while a knob has no line.

/// Knob key -> one sentence (or a few) for an operator. No trailing period; it is wrapped into
/// TOML comments.
pub const DOCS: &[(&str, &str)] = &[
    ("data_dir", "Where the database (edgebeam.db) and tls/ live; created 0700. Under systemd leave it unset: the unit's StateDirectory (/var/lib/edgebeam) is used"),
    ("signal_listen", "WSS signaling, SDK, demo, /healthz (TLS)"),
    ("admin_listen", "Admin UI, REST API, /healthz, /metrics (TLS)"),
    ("turn_listen", "STUN/TURN over UDP and TCP"),
    ("turns_listen", "TURN over TLS"),
    ("relay_ports", "UDP ports for relayed addresses, LO-HI, 1024 ≤ LO ≤ HI"),
    ("public_ip", "The address put in ICE server URLs and XOR-RELAYED-ADDRESS; added to the certificate"),
    ("public_names", "Host names of the box: added to the self-signed certificate, used in ICE URLs"),
    ("tls_cert", "The operator's certificate chain (PEM file); set together with tls_key to replace the self-signed certificate"),
    ("tls_key", "The private key (PEM file) of tls_cert; both or neither"),
    ("tls_mode", "Where every TLS listener's certificate comes from: self-signed, files (tls_cert and tls_key, reloaded on SIGHUP and when they change) or acme; unset: files if tls_cert is set, else self-signed. See docs/tls.md"),
    ("acme_domains", "acme: the DNS names to get a certificate for (at least one; no IP addresses; *.name with dns-01 only)"),
    ("acme_email", "acme: contact address given to the CA (expiry notices)"),
    ("acme_directory", "acme: the CA's directory URL (Let's Encrypt production by default; step-ca: https://CA:PORT/acme/PROVISIONER/directory)"),
    ("acme_ca_file", "acme: a PEM root trusted for the ACME server's own HTTPS besides the public roots (a LAN CA such as step-ca); must be readable at start"),
    ("acme_challenge", "acme: tls-alpn-01 (answered on signal_listen, which the CA must reach on port 443), http-01 (on acme_http_listen, port 80 for the CA) or dns-01 (by acme_dns_hook)"),
    ("acme_http_listen", "acme with http-01: where /.well-known/acme-challenge/ is answered (bound only then)"),
    ("acme_dns_hook", "acme with dns-01: an executable run as HOOK set DOMAIN VALUE and HOOK clear DOMAIN VALUE, publishing or removing the TXT record _acme-challenge.DOMAIN"),
    ("acme_eab_kid", "acme: external account binding key id, for CAs that require it (ZeroSSL, Google Trust Services); set with acme_eab_hmac_key"),
    ("acme_eab_hmac_key", "acme: the base64url external account binding HMAC key the CA shows; never logged"),
    ("turns_advertise", "trusted: turns: URLs are offered in ice_servers only while the certificate is not self-signed (browsers refuse TURN over TLS they cannot verify); always: always"),
    ("log_level", "How much to log: error, warn, info, debug or trace"),
    ("shutdown_grace_secs", "On SIGTERM, how long in-flight requests may take to finish (1–60)"),
    ("worker_threads", "Threads for TLS handshakes and HTTP requests, so a flood of them cannot stall signaling, which keeps the main thread (0–1,024; 0 is one per core)"),
    ("tls_handshakes_per_source_per_sec", "TLS handshakes a source may start per second on each HTTPS listener, in bursts of its unauthenticated cap (or two seconds' worth, if more); the rest are closed at accept, before any crypto (1–1,000,000)"),
    ("token_leeway_secs", "Leeway on token exp, nbf and iat (0–300); see tokens"),
    ("token_cache_entries", "Verified tokens kept in memory (0–1,000,000; 0 turns the cache off)"),
    ("signal_auth_timeout_secs", "Seconds a new signaling connection has to send auth (1–300)"),
    ("signal_max_message_bytes", "Largest signaling message (1024–16 MiB); a larger one closes with 1009"),
    ("signal_rate_per_sec", "Signaling messages per second per connection, token bucket rate (1–100,000)"),
    ("signal_burst", "Token bucket burst per connection (1–1,000,000)"),
    ("signal_abuse_limit", "Errors or rate-limited messages tolerated per window before close 4008 (1–1,000,000)"),
    ("signal_abuse_window_secs", "The window of signal_abuse_limit, seconds (1–3600)"),
    ("signal_max_conns_per_project", "Signaling sessions per project; over it, close 1013 (1–10,000,000)"),
    ("signal_max_unauthenticated_per_ip", "Connections to the signal listener a source (an IPv4 address, an IPv6 /64) may hold before they authenticate, from accept to welcome; one more closes that source's oldest (1–1,000,000). The admin listener's cap is 64"),
    ("signal_max_queued_bytes", "Bytes queued to a slow reader before close 4007 (65,536–1 GiB)"),
    ("signal_ping_interval_secs", "Seconds between server pings (1–3600)"),
    ("signal_idle_timeout_secs", "Seconds of silence after which a peer is dropped, and the longest a write may wait for a peer that stopped reading (2–7200)"),
    ("turn_realm", "TURN realm: 1–127 printable ASCII characters, no spaces, no \""),
    ("turn_allow_peers", "CIDRs (127.0.0.0/8, fd00::/8, or a bare address) the relay may reach although they are denied by default"),
    ("turn_deny_peers", "CIDRs the relay never reaches; an entry here wins over turn_allow_peers"),
    ("turn_max_allocations_per_peer", "TURN allocations per peer (project, group, peer id): a browser makes one per TURN URL per local interface per call, so a six-person mesh on a laptop with two interfaces needs 30 (1–1000)"),
    ("turn_max_allocations_per_project", "TURN allocations per project (1–1,000,000)"),
    ("turn_max_permissions_per_allocation", "Peer permissions per allocation (1–1000)"),
    ("turn_max_channels_per_allocation", "Channel bindings per allocation (1–4096)"),
    ("turn_bandwidth_bytes_per_sec", "Relayed bytes per second per allocation, both directions summed; a token bucket with a burst of one second (1000–1,000,000,000)"),
    ("turn_auth_failures_per_minute", "Failed TURN authentications per minute from one source IP (IPv6: per /64); past it, that source's requests get 401 unchecked for the rest of the minute (1–100,000)"),
    ("turn_secret_grace_secs", "How long the previous TURN secret stays valid after a rotation (0–2,592,000, i.e. 30 days)"),
    ("turn_default_lifetime_secs", "Allocation lifetime when the client asks for none (60–3600)"),
    ("turn_max_lifetime_secs", "Longest allocation lifetime granted (60–86,400); not less than turn_default_lifetime_secs"),
];

pub fn doc(key: &str) -> Option<&'static str> {
    DOCS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}
