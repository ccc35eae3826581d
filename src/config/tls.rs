//! The TLS keys (SPEC "TLS"): `tls_mode` and the keys of each mode, validated into
//! [`TlsSource`], and `turns_advertise`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::{parse_socket_addr, ConfigError, DnsName, Validator};

/// Where the TLS certificate comes from (`tls_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Created on first run under `DATA/tls/` and reused afterwards.
    SelfSigned,
    /// Operator-provided PEM files, reloaded on SIGHUP and when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// Certificates from an RFC 8555 server; the self-signed one until the first arrives.
    Acme(AcmeConfig),
}

/// How the ACME server checks that this box holds the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// RFC 8737, answered on the signal listener.
    TlsAlpn01,
    /// RFC 8555 8.3, answered on `acme_http_listen`.
    Http01 { listen: SocketAddr },
    /// RFC 8555 8.4, TXT records set and cleared by the operator's hook.
    Dns01 { hook: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    pub domains: Vec<DnsName>,
    pub email: Option<String>,
    pub directory: String,
    pub ca_file: Option<PathBuf>,
    pub challenge: AcmeChallenge,
    /// External account binding (RFC 8555 section 7.3.4), for CAs that require it.
    pub eab: Option<EabKey>,
}

/// A key id and HMAC key the CA handed out for binding the new account to an existing one.
#[derive(Clone, PartialEq, Eq)]
pub struct EabKey {
    pub kid: String,
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for EabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: never in a log or a panic message.
        f.debug_struct("EabKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// When `turns:` URLs are put in `ice_servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnsAdvertise {
    /// Only while the certificate is not self-signed: browsers refuse TURN over TLS otherwise.
    Trusted,
    Always,
}

impl Validator<'_> {
    /// `tls_mode` and the keys of its mode. Without `tls_mode`, a `tls_cert` means `files`.
    pub(super) fn tls_source(&self) -> Result<TlsSource, ConfigError> {
        let pair = match (self.opt_path("tls_cert")?, self.opt_path("tls_key")?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::HalfTlsPair { given: "tls_cert" }),
            (None, Some(_)) => return Err(ConfigError::HalfTlsPair { given: "tls_key" }),
        };
        let mode = self.opt_parse("tls_mode", |s| match s {
            "self-signed" | "files" | "acme" => Ok(s.to_owned()),
            _ => Err("expected self-signed, files or acme".into()),
        })?;
        let mode = mode.unwrap_or_else(|| if pair.is_some() { "files" } else { "self-signed" }.to_owned());
        match (mode.as_str(), pair) {
            ("files", Some((cert, key))) => Ok(TlsSource::Files { cert, key }),
            ("files", None) => Err(self.bad("tls_mode", "files", "needs tls_cert and tls_key".into())),
            (other, Some(_)) => {
                Err(self.bad("tls_mode", other, "tls_cert and tls_key are only used with files".into()))
            }
            ("acme", None) => self.acme().map(TlsSource::Acme),
            _ => Ok(TlsSource::SelfSigned),
        }
    }

    fn acme(&self) -> Result<AcmeConfig, ConfigError> {
        let domains = self.list("acme_domains", acme_domain)?;
        if domains.is_empty() {
            return Err(self.bad("acme_domains", "", "tls_mode = acme needs at least one DNS name".into()));
        }
        let directory = self.parse("acme_directory", |s| {
            if s.starts_with("https://") || s.starts_with("http://") {
                Ok(s.to_owned())
            } else {
                Err("expected an https:// URL".into())
            }
        })?;
        let ca_file = self.opt_parse("acme_ca_file", |s| match std::fs::read(s) {
            Ok(_) => Ok(PathBuf::from(s)),
            Err(e) => Err(format!("cannot read it: {e}")),
        })?;
        let challenge = match self.parse("acme_challenge", |s| Ok(s.to_owned()))?.as_str() {
            "tls-alpn-01" => AcmeChallenge::TlsAlpn01,
            "http-01" => AcmeChallenge::Http01 { listen: self.parse("acme_http_listen", parse_socket_addr)? },
            "dns-01" => match self.opt_parse("acme_dns_hook", executable)? {
                Some(hook) => AcmeChallenge::Dns01 { hook },
                None => return Err(self.bad("acme_dns_hook", "", "acme_challenge = dns-01 needs a hook".into())),
            },
            other => return Err(self.bad("acme_challenge", other, "expected tls-alpn-01, http-01 or dns-01".into())),
        };
        if !matches!(challenge, AcmeChallenge::Dns01 { .. }) {
            if let Some(wildcard) = domains.iter().find(|d| d.as_str().starts_with("*.")) {
                let reason = "a wildcard can only be proven with acme_challenge = dns-01".into();
                return Err(self.bad("acme_domains", wildcard.as_str(), reason));
            }
        }
        let email = self.opt_parse("acme_email", |s| {
            if s.contains('@') && !s.contains(char::is_whitespace) {
                Ok(s.to_owned())
            } else {
                Err("not an e-mail address".into())
            }
        })?;
        let eab = match (self.opt_parse("acme_eab_kid", |s| Ok(s.to_owned()))?, self.one("acme_eab_hmac_key")?) {
            (None, None | Some("")) => None,
            (Some(kid), Some(key)) if !key.is_empty() => Some(EabKey {
                kid,
                hmac_key: eab_hmac_key(key).map_err(
                    // The value is a secret: the error does not repeat it.
                    |reason| self.bad("acme_eab_hmac_key", "(hidden)", reason),
                )?,
            }),
            (Some(_), _) => return Err(self.bad("acme_eab_hmac_key", "", "acme_eab_kid needs it".into())),
            (None, Some(_)) => return Err(self.bad("acme_eab_kid", "", "acme_eab_hmac_key needs it".into())),
        };
        Ok(AcmeConfig { domains, email, directory, ca_file, challenge, eab })
    }
}

/// A DNS name for an ACME order; `*.` asks for a wildcard (dns-01 only, as CAs require).
fn acme_domain(s: &str) -> Result<DnsName, String> {
    if s.trim_start_matches("*.").parse::<IpAddr>().is_ok() {
        return Err("an IP address cannot be an ACME domain; give DNS names".into());
    }
    match s.strip_prefix("*.") {
        Some(rest) => DnsName::parse(rest).map(|n| DnsName::wildcard(&n)),
        None => DnsName::parse(s),
    }
}

/// The HMAC key as CAs show it: base64url, with or without padding.
fn eab_hmac_key(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let trimmed = s.trim_end_matches('=');
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed) {
        Ok(key) if key.len() >= 16 => Ok(key),
        Ok(_) => Err("shorter than 16 bytes".into()),
        Err(_) => Err("not base64url".into()),
    }
}

/// The dns-01 hook must be a file that this user may run.
fn executable(s: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(s).map_err(|e| format!("cannot use it: {e}"))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err("not an executable file".into());
    }
    Ok(PathBuf::from(s))
}
