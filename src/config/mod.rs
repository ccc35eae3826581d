//! Configuration in two steps: [`raw`] collects strings from defaults, file, environment and
//! flags; [`Config::from_raw`] validates them once into typed fields. Every error names the key,
//! the value and where the value came from.

pub mod docs;
pub mod example;
pub mod knobs;
pub mod raw;
mod tls;
mod values;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proto::addr_policy::Cidr;
pub use raw::{Origin, RawConfig, RawValue};
pub use tls::{AcmeChallenge, AcmeConfig, EabKey, TlsSource, TurnsAdvertise};
pub use values::{DnsName, PortRange};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown config key `{key}` in {origin}")]
    UnknownKey { key: String, origin: Origin },
    #[error("{key} = {value} (from {origin}): {reason}")]
    BadValue { key: &'static str, value: String, origin: Origin, reason: String },
    #[error("{first} and {second} both use {addr}")]
    ListenerClash { first: &'static str, second: &'static str, addr: SocketAddr },
    #[error("tls_cert and tls_key must be set together (only {given} is set)")]
    HalfTlsPair { given: &'static str },
}

/// The validated configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub signal_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub turn_listen: SocketAddr,
    pub turns_listen: SocketAddr,
    pub relay_ports: PortRange,
    pub public_ip: Option<IpAddr>,
    pub public_names: Vec<DnsName>,
    pub tls: TlsSource,
    pub turns_advertise: TurnsAdvertise,
    pub log_level: log::LevelFilter,
    pub shutdown_grace: Duration,
    /// Leeway on `exp`, `nbf` and `iat`.
    pub token_leeway_secs: i64,
    /// Capacity of the verified-token cache (0 turns it off).
    pub token_cache_entries: usize,
    /// Threads for TLS handshakes and HTTP requests; 0 is one per core.
    pub worker_threads: usize,
    /// TLS handshakes a source may start per second on each HTTPS listener (bursts of up to the
    /// per-source cap of unauthenticated connections).
    pub tls_handshakes_per_source_per_sec: u32,
    pub signal: SignalLimits,
    pub turn: TurnLimits,
    pub webhooks: WebhookSettings,
}

/// Webhook delivery (SPEC "Webhooks").
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Targets re-opened although denied by default (loopback, link-local, this box).
    pub allow: Vec<crate::webhooks::target::AllowEntry>,
    /// Deliveries queued per endpoint; past it the oldest are dropped and counted.
    pub queue_max: usize,
    /// Multiplies the retry schedule; below 1 only for tests.
    pub retry_scale: f64,
}

/// Signaling limits (SPEC "Signaling", all configurable).
#[derive(Debug, Clone, PartialEq)]
pub struct SignalLimits {
    pub auth_timeout: Duration,
    pub max_message_bytes: usize,
    pub rate_per_sec: f64,
    pub burst: f64,
    pub abuse_limit: u32,
    pub abuse_window: Duration,
    pub max_conns_per_project: usize,
    pub max_unauthenticated_per_ip: usize,
    pub max_queued_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

/// TURN relay settings (SPEC "TURN": realm, peer addresses, quotas, lifetimes).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnLimits {
    /// REALM of the long-term credentials; printable ASCII without spaces or `"`.
    pub realm: String,
    /// Peer blocks re-opened although denied by default (see `proto::addr_policy`).
    pub allow_peers: Vec<Cidr>,
    /// Peer blocks never relayed to; wins over `allow_peers`.
    pub deny_peers: Vec<Cidr>,
    /// Per (project, gid, pid).
    pub max_allocations_per_peer: usize,
    pub max_allocations_per_project: usize,
    pub max_permissions_per_allocation: usize,
    pub max_channels_per_allocation: usize,
    /// Token bucket per allocation, both directions summed, with a burst of one second's worth.
    pub bandwidth_bytes_per_sec: u64,
    /// Failed authentications tolerated per source IP per minute.
    pub auth_failures_per_minute: u32,
    /// How long the previous TURN secret stays valid after a rotation.
    pub secret_grace: Duration,
    /// Allocation lifetime when the request carries no LIFETIME.
    pub default_lifetime: Duration,
    /// Longest lifetime granted; never shorter than `default_lifetime`.
    pub max_lifetime: Duration,
}

impl Config {
    /// Reads every layer: defaults, the optional file, the process environment, then `flags`.
    pub fn load<'a>(
        config_file: Option<&Path>,
        flags: impl IntoIterator<Item = (&'static str, &'a str)>,
    ) -> Result<Config, ConfigError> {
        let state_dir = std::env::var("STATE_DIRECTORY").ok();
        let mut raw = RawConfig::defaults(state_dir.as_deref());
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
            raw.apply_toml(path, &text)?;
        }
        raw.apply_env(std::env::vars())?;
        raw.apply_flags(flags);
        Config::from_raw(&raw)
    }

    pub fn from_raw(raw: &RawConfig) -> Result<Config, ConfigError> {
        let v = Validator { raw };
        let tls = v.tls_source()?;
        let config = Config {
            data_dir: v.opt_path("data_dir")?.unwrap_or_else(|| PathBuf::from("./edgebeam-data")),
            signal_listen: v.parse("signal_listen", parse_socket_addr)?,
            admin_listen: v.parse("admin_listen", parse_socket_addr)?,
            turn_listen: v.parse("turn_listen", parse_socket_addr)?,
            turns_listen: v.parse("turns_listen", parse_socket_addr)?,
            relay_ports: v.parse("relay_ports", PortRange::parse)?,
            public_ip: v.opt_parse("public_ip", parse_public_ip)?,
            public_names: v.list("public_names", DnsName::parse)?,
            tls,
            turns_advertise: v.parse("turns_advertise", |s| match s {
                "trusted" => Ok(TurnsAdvertise::Trusted),
                "always" => Ok(TurnsAdvertise::Always),
                _ => Err("expected trusted or always".into()),
            })?,
            log_level: v.parse("log_level", parse_level)?,
            shutdown_grace: v.parse("shutdown_grace_secs", |s| parse_secs(s, 1, 60))?,
            token_leeway_secs: v.parse("token_leeway_secs", |s| parse_int(s, 0, 300))?,
            token_cache_entries: v.parse("token_cache_entries", |s| parse_int(s, 0, 1_000_000).map(|n| n as usize))?,
            worker_threads: v.parse("worker_threads", |s| parse_int(s, 0, 1024).map(|n| n as usize))?,
            tls_handshakes_per_source_per_sec: v
                .parse("tls_handshakes_per_source_per_sec", |s| parse_int(s, 1, 1_000_000).map(|n| n as u32))?,
            signal: SignalLimits {
                auth_timeout: v.parse("signal_auth_timeout_secs", |s| parse_secs(s, 1, 300))?,
                max_message_bytes: v
                    .parse("signal_max_message_bytes", |s| parse_int(s, 1024, 16 << 20).map(|n| n as usize))?,
                rate_per_sec: v.parse("signal_rate_per_sec", |s| parse_int(s, 1, 100_000).map(|n| n as f64))?,
                burst: v.parse("signal_burst", |s| parse_int(s, 1, 1_000_000).map(|n| n as f64))?,
                abuse_limit: v.parse("signal_abuse_limit", |s| parse_int(s, 1, 1_000_000).map(|n| n as u32))?,
                abuse_window: v.parse("signal_abuse_window_secs", |s| parse_secs(s, 1, 3600))?,
                max_conns_per_project: v
                    .parse("signal_max_conns_per_project", |s| parse_int(s, 1, 10_000_000).map(|n| n as usize))?,
                max_unauthenticated_per_ip: v
                    .parse("signal_max_unauthenticated_per_ip", |s| parse_int(s, 1, 1_000_000).map(|n| n as usize))?,
                max_queued_bytes: v
                    .parse("signal_max_queued_bytes", |s| parse_int(s, 65_536, 1 << 30).map(|n| n as usize))?,
                ping_interval: v.parse("signal_ping_interval_secs", |s| parse_secs(s, 1, 3600))?,
                idle_timeout: v.parse("signal_idle_timeout_secs", |s| parse_secs(s, 2, 7200))?,
            },
            turn: v.turn_limits()?,
            webhooks: WebhookSettings {
                allow: v.list("webhook_allow", crate::webhooks::target::AllowEntry::parse)?,
                queue_max: v.parse("webhook_queue_max", |s| parse_int(s, 1, 100_000_000).map(|n| n as usize))?,
                retry_scale: v.parse("webhook_retry_scale", parse_scale)?,
            },
        };
        config.check_listener_clashes()?;
        v.check_relay_range(&config)?;
        Ok(config)
    }

    /// The TCP listeners must not share a port (the TURN port is used over both UDP and TCP).
    fn check_listener_clashes(&self) -> Result<(), ConfigError> {
        let tcp = [
            ("signal_listen", self.signal_listen),
            ("admin_listen", self.admin_listen),
            ("turn_listen", self.turn_listen),
            ("turns_listen", self.turns_listen),
        ];
        for (i, (first, a)) in tcp.iter().enumerate() {
            for (second, b) in &tcp[i + 1..] {
                let overlapping_ip = a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
                if a.port() != 0 && a.port() == b.port() && overlapping_ip {
                    return Err(ConfigError::ListenerClash { first, second, addr: *b });
                }
            }
        }
        Ok(())
    }
}

struct Validator<'a> {
    raw: &'a RawConfig,
}

impl Validator<'_> {
    fn bad(&self, key: &'static str, value: &str, reason: String) -> ConfigError {
        let origin = self.raw.entry(key).map(|e| e.origin.clone()).unwrap_or(Origin::Default);
        ConfigError::BadValue { key, value: format!("{value:?}"), origin, reason }
    }

    fn one(&self, key: &'static str) -> Result<Option<&str>, ConfigError> {
        match self.raw.entry(key).map(|e| &e.value) {
            None => Ok(None),
            Some(RawValue::One(s)) => Ok(Some(s.as_str())),
            Some(RawValue::List(l)) => Err(self.bad(key, &l.join(","), "expected a single value".into())),
        }
    }

    fn opt_parse<T>(&self, key: &'static str, f: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, ConfigError> {
        match self.one(key)? {
            None => Ok(None),
            Some("") => Ok(None),
            Some(s) => f(s).map(Some).map_err(|reason| self.bad(key, s, reason)),
        }
    }

    fn parse<T>(&self, key: &'static str, f: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        self.opt_parse(key, f)?.ok_or_else(|| self.bad(key, "", "a value is required".into()))
    }

    fn opt_path(&self, key: &'static str) -> Result<Option<PathBuf>, ConfigError> {
        self.opt_parse(key, |s| Ok(PathBuf::from(s)))
    }

    fn list<T>(&self, key: &'static str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, ConfigError> {
        match self.raw.entry(key).map(|e| &e.value) {
            None => Ok(Vec::new()),
            Some(RawValue::One(s)) => Err(self.bad(key, s, "expected a list".into())),
            Some(RawValue::List(items)) => {
                items.iter().map(|s| f(s).map_err(|reason| self.bad(key, s, reason))).collect()
            }
        }
    }

    fn turn_limits(&self) -> Result<TurnLimits, ConfigError> {
        let count = |key: &'static str, max: i64| self.parse(key, |s| parse_int(s, 1, max).map(|n| n as usize));
        let limits = TurnLimits {
            realm: self.parse("turn_realm", parse_realm)?,
            allow_peers: self.list("turn_allow_peers", Cidr::parse)?,
            deny_peers: self.list("turn_deny_peers", Cidr::parse)?,
            max_allocations_per_peer: count("turn_max_allocations_per_peer", 1000)?,
            max_allocations_per_project: count("turn_max_allocations_per_project", 1_000_000)?,
            max_permissions_per_allocation: count("turn_max_permissions_per_allocation", 1000)?,
            max_channels_per_allocation: count("turn_max_channels_per_allocation", 4096)?,
            bandwidth_bytes_per_sec: self
                .parse("turn_bandwidth_bytes_per_sec", |s| parse_int(s, 1000, 1_000_000_000).map(|n| n as u64))?,
            auth_failures_per_minute: self
                .parse("turn_auth_failures_per_minute", |s| parse_int(s, 1, 100_000).map(|n| n as u32))?,
            secret_grace: self.parse("turn_secret_grace_secs", |s| parse_secs(s, 0, 2_592_000))?,
            default_lifetime: self.parse("turn_default_lifetime_secs", |s| parse_secs(s, 60, 3600))?,
            max_lifetime: self.parse("turn_max_lifetime_secs", |s| parse_secs(s, 60, 86_400))?,
        };
        if limits.max_lifetime < limits.default_lifetime {
            let value = limits.max_lifetime.as_secs().to_string();
            let reason = format!("shorter than turn_default_lifetime_secs ({})", limits.default_lifetime.as_secs());
            return Err(self.bad("turn_max_lifetime_secs", &value, reason));
        }
        Ok(limits)
    }

    /// A relay port equal to the TURN listener's UDP port would let a permission on the box's
    /// own address (open on relay ports) feed relayed data back into the TURN listener.
    fn check_relay_range(&self, config: &Config) -> Result<(), ConfigError> {
        let port = config.turn_listen.port();
        let range = config.relay_ports;
        if (range.low..=range.high).contains(&port) {
            let reason = format!("includes the UDP port of turn_listen ({port})");
            return Err(self.bad("relay_ports", &range.to_string(), reason));
        }
        Ok(())
    }
}

pub(crate) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| "not a socket address (expected IP:PORT or [IPv6]:PORT)".to_owned())
}

fn parse_public_ip(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = s.parse().map_err(|_| "not an IP address".to_owned())?;
    if ip.is_unspecified() || ip.is_multicast() {
        return Err("must be a unicast address that clients can reach".into());
    }
    Ok(ip)
}

/// RFC 8489 14.9: fewer than 128 characters; printable ASCII keeps it safe to quote anywhere.
fn parse_realm(s: &str) -> Result<String, String> {
    let printable = |b: u8| b.is_ascii_graphic() && b != b'"';
    if (1..=127).contains(&s.len()) && s.bytes().all(printable) {
        Ok(s.to_owned())
    } else {
        Err("expected 1 to 127 printable ASCII characters without spaces or `\"`".into())
    }
}

fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Ok(log::LevelFilter::Error),
        "warn" => Ok(log::LevelFilter::Warn),
        "info" => Ok(log::LevelFilter::Info),
        "debug" => Ok(log::LevelFilter::Debug),
        "trace" => Ok(log::LevelFilter::Trace),
        _ => Err("expected one of error, warn, info, debug, trace".into()),
    }
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.001..=1.0).contains(&x) => Ok(x),
        _ => Err("expected a number from 0.001 to 1".into()),
    }
}

fn parse_secs(s: &str, min: u64, max: u64) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!("expected a whole number of seconds from {min} to {max}")),
    }
}

fn parse_int(s: &str, min: i64, max: i64) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests;
