//! `edgebeam doctor`: the checks, as pure functions of facts gathered elsewhere
//! (`cli::doctor` binds the sockets, reads the files and the clock). Each check gives one
//! [`Finding`]: passed, a warning, or fatal, with the fix to apply. No IO and no clock here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub check: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

impl Finding {
    fn pass(check: &'static str, message: impl Into<String>) -> Self {
        Finding { status: Status::Pass, check, message: message.into(), fix: None }
    }
    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { status: Status::Warn, check, message: message.into(), fix: Some(fix.into()) }
    }
    fn fatal(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { status: Status::Fatal, check, message: message.into(), fix: Some(fix.into()) }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Pass => "✓",
            Status::Warn => "⚠",
            Status::Fatal => "✗",
        };
        write!(f, "{mark} {}: {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, " — fix: {fix}")?;
        }
        Ok(())
    }
}

/// Whether any finding stops `serve` from working.
pub fn any_fatal(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.status == Status::Fatal)
}

/// Why a test bind failed, reduced to what decides the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindFailure {
    InUse,
    Denied,
    NotLocal,
    Other,
}

impl BindFailure {
    pub fn of(kind: std::io::ErrorKind) -> Self {
        match kind {
            std::io::ErrorKind::AddrInUse => BindFailure::InUse,
            std::io::ErrorKind::PermissionDenied => BindFailure::Denied,
            std::io::ErrorKind::AddrNotAvailable => BindFailure::NotLocal,
            _ => BindFailure::Other,
        }
    }
}

/// One listener's test bind (`proto` is "tcp" or "udp").
pub fn port(key: &'static str, proto: &str, addr: SocketAddr, result: Result<(), BindFailure>) -> Finding {
    let what = format!("{key} {proto} {addr}");
    match result {
        Ok(()) => Finding::pass("port", format!("{what} is free")),
        Err(BindFailure::InUse) => Finding::fatal(
            "port",
            format!("{what} is taken by another process"),
            format!(
                "find it with `ss -lntup | grep :{}`; stop it or set {key}; if it is edgebeam itself, run doctor with --running",
                addr.port()
            ),
        ),
        Err(BindFailure::Denied) => Finding::fatal(
            "port",
            format!("{what} may not be bound by this user (port below 1024)"),
            "run under the systemd unit (it grants CAP_NET_BIND_SERVICE) or pick a port from 1024 up",
        ),
        Err(BindFailure::NotLocal) => Finding::fatal(
            "port",
            format!("{what}: {} is not an address of this host", addr.ip()),
            format!("set {key} to one of this host's addresses, or 0.0.0.0"),
        ),
        Err(BindFailure::Other) => {
            Finding::fatal("port", format!("{what} cannot be bound"), format!("check {key} and the firewall"))
        }
    }
}

/// The data dir as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFacts {
    pub path: String,
    /// None: it does not exist yet.
    pub owner_mode: Option<(u32, u32)>,
    /// (name, mode) of the files in it that hold secrets (database, WAL, TLS key).
    pub files: Vec<(String, u32)>,
}

pub fn data_dir(facts: &DirFacts, euid: u32) -> Vec<Finding> {
    let Some((owner, mode)) = facts.owner_mode else {
        return vec![Finding::pass("data dir", format!("{} does not exist yet; serve creates it (0700)", facts.path))];
    };
    let mut out = Vec::new();
    if owner != euid && euid != 0 {
        out.push(Finding::fatal(
            "data dir",
            format!("{} is owned by uid {owner}, not by this user (uid {euid})", facts.path),
            format!("run as its owner, or `chown -R {euid} {}`", facts.path),
        ));
    } else if mode & 0o077 != 0 {
        out.push(Finding::warn(
            "data dir",
            format!("{} has mode {mode:04o}: others may look inside", facts.path),
            format!("`chmod 700 {}` (serve also tightens it at start)", facts.path),
        ));
    } else {
        out.push(Finding::pass("data dir", format!("{} owner uid {owner}, mode {mode:04o}", facts.path)));
    }
    for (name, mode) in &facts.files {
        if mode & 0o077 != 0 {
            out.push(Finding::warn(
                "data dir",
                format!("{name} has mode {mode:04o}: it holds secrets"),
                format!("`chmod 600 {name}` (serve also tightens it at start)"),
            ));
        }
    }
    out
}

/// The served certificate's leaf, as read from its PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub path: String,
    pub not_before: i64,
    pub not_after: i64,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
}

const RENEW_WARNING_SECS: i64 = 14 * 86_400;

pub fn certificate(cert: &CertFacts, now: i64, public_names: &[String], public_ip: Option<IpAddr>) -> Vec<Finding> {
    let mut out = Vec::new();
    let days = |secs: i64| secs.div_euclid(86_400);
    if now < cert.not_before {
        out.push(Finding::fatal(
            "certificate",
            format!("{} is not valid for another {} days", cert.path, days(cert.not_before - now) + 1),
            "check the clock (below), or install a certificate valid now",
        ));
    } else if now >= cert.not_after {
        out.push(Finding::fatal(
            "certificate",
            format!("{} expired {} days ago", cert.path, days(now - cert.not_after)),
            "renew it and restart, or remove tls_cert/tls_key for a self-signed one",
        ));
    } else if cert.not_after - now < RENEW_WARNING_SECS {
        out.push(Finding::warn(
            "certificate",
            format!("{} expires in {} days", cert.path, days(cert.not_after - now)),
            "renew it soon",
        ));
    } else {
        out.push(Finding::pass(
            "certificate",
            format!("{} valid for {} more days", cert.path, days(cert.not_after - now)),
        ));
    }
    let mut missing: Vec<String> =
        public_names.iter().filter(|n| !cert.dns_names.iter().any(|san| name_matches(san, n))).cloned().collect();
    if let Some(ip) = public_ip.filter(|ip| !cert.ips.contains(ip)) {
        missing.push(ip.to_string());
    }
    if missing.is_empty() {
        let mut names = cert.dns_names.clone();
        names.extend(cert.ips.iter().map(IpAddr::to_string));
        out.push(Finding::pass("certificate names", format!("covers {}", names.join(", "))));
    } else {
        out.push(Finding::warn(
            "certificate names",
            format!("does not cover {}: browsers reject it under those names", missing.join(", ")),
            "add them to the certificate (the self-signed one: delete DATA/tls/ and restart to remake it)",
        ));
    }
    out
}

fn name_matches(san: &str, name: &str) -> bool {
    let (san, name) = (san.to_ascii_lowercase(), name.to_ascii_lowercase());
    match san.strip_prefix("*.") {
        Some(suffix) => name.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => san == name,
    }
}

pub fn public_ip(public_ip: Option<IpAddr>, local: &[IpAddr]) -> Finding {
    let usable: Vec<String> =
        local.iter().filter(|ip| !ip.is_loopback() && !is_link_local(ip)).map(IpAddr::to_string).collect();
    let suggestion = if usable.is_empty() { "this host's LAN address".to_owned() } else { usable.join(" or ") };
    match public_ip {
        None => Finding::warn(
            "public_ip",
            "not set: ICE server URLs and relayed addresses may carry an address clients cannot reach",
            format!("set public_ip (EDGEBEAM_PUBLIC_IP) to the address clients reach, e.g. {suggestion}"),
        ),
        Some(ip) if local.contains(&ip) => Finding::pass("public_ip", format!("{ip} is an address of this host")),
        Some(ip) => Finding::warn(
            "public_ip",
            format!("{ip} is not an address of this host"),
            format!("fine behind a 1:1 NAT that forwards every port; otherwise set it to {suggestion}"),
        ),
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// 2024-01-01T00:00:00Z: no clock of a box running this release is honestly earlier.
const EARLIEST_SANE: i64 = 1_704_067_200;

/// `now` and `built` are Unix seconds (the build date is at most a day off: it is a date).
pub fn clock(now: i64, built: i64) -> Finding {
    if now < EARLIEST_SANE.max(built - 86_400) {
        Finding::fatal(
            "clock",
            format!("the system time ({now} s since 1970) is earlier than this binary's build date"),
            "enable time sync (`timedatectl set-ntp true`; boxes without a battery-backed clock need it), then restart edgebeam: token expiry and certificates depend on it",
        )
    } else {
        Finding::pass("clock", "the system time is after the build date")
    }
}

/// The soft "Max open files" limit from `/proc/self/limits`.
pub fn parse_open_file_limit(proc_limits: &str) -> Option<u64> {
    let line = proc_limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.trim_start_matches("Max open files").split_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// Each signaling connection, TURN TCP stream and relayed port is a file descriptor.
pub fn open_files(soft: Option<u64>) -> Finding {
    match soft {
        None => Finding::warn("open files", "cannot read the limit", "check `ulimit -n`"),
        Some(n) if n < 4096 => Finding::warn(
            "open files",
            format!("this process may open {n} files: too few for more than a few hundred peers"),
            "the packaged unit sets LimitNOFILE=65536; elsewhere raise `ulimit -n`",
        ),
        Some(n) => Finding::pass(
            "open files",
            format!("limit {}", if n == u64::MAX { "unlimited".into() } else { n.to_string() }),
        ),
    }
}

/// What a read-only look at the database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFacts {
    Missing,
    Refused(String),
    Open { schema: i64, supported: i64, accounts: i64, setup_token_issued: bool },
}

pub fn database(facts: &DbFacts) -> Vec<Finding> {
    match facts {
        DbFacts::Missing => vec![Finding::pass("database", "none yet; serve creates it on first start")],
        DbFacts::Refused(why) => {
            vec![Finding::fatal("database", why.clone(), "see docs/operations.md, \"Upgrades and rollback\"")]
        }
        DbFacts::Open { schema, supported, accounts, setup_token_issued } => {
            let mut out = vec![if schema < supported {
                Finding::pass(
                    "database",
                    format!("schema {schema}; serve migrates it to {supported} at start, after a backup"),
                )
            } else {
                Finding::pass("database", format!("schema {schema}, current"))
            }];
            out.push(match (accounts, setup_token_issued) {
                (0, true) => Finding::warn(
                    "first run",
                    "no admin account yet; a setup link was printed when serve last started (see `journalctl -u edgebeam`); only its hash is kept, so it cannot be shown here",
                    "restart edgebeam for a fresh link, or create an owner with `edgebeam admin create --username NAME`",
                ),
                (0, false) => Finding::warn(
                    "first run",
                    "no admin account yet and no setup link issued",
                    "start edgebeam (it prints the setup link; `journalctl -u edgebeam`), or `edgebeam admin create --username NAME`",
                ),
                (n, _) => Finding::pass("first run", format!("{n} admin account(s)")),
            });
            out
        }
    }
}

#[cfg(test)]
mod tests;
