//! The certificate in service, shared by every TLS listener. One [`CertResolver`] sits in the
//! rustls configurations of the signal, admin and turns listeners: [`TlsState::install`] swaps
//! the certificate and the next handshake on any of them gets the new one. Live connections
//! finished their handshake already and keep their session keys, so a swap drops none.
//!
//! The resolver also answers TLS-ALPN-01 (RFC 8737): a ClientHello that offers only
//! `acme-tls/1` for a name with a pending challenge gets that challenge's certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Serialize;

use super::{TlsError, TlsMaterial};
use crate::unixtime::UnixTime;

/// RFC 8737 section 6.2.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // RFC 8737 section 3: the validator offers `acme-tls/1` and nothing else.
        let acme_only = hello.alpn().is_some_and(|offered| {
            let mut offered = offered.peekable();
            offered.peek().is_some() && offered.all(|p| p == ACME_TLS_ALPN)
        });
        if acme_only {
            let name = hello.server_name()?.to_ascii_lowercase();
            let challenges = self.alpn_challenges.read().unwrap_or_else(PoisonError::into_inner);
            return challenges.get(&name).cloned();
        }
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// One certificate, always (tests and benchmarks that need no swap).
#[derive(Debug)]
pub struct Fixed(pub Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// What `/tls`, the log and the metrics tell of the certificate in service.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub sha256_fingerprint: String,
    pub self_signed: bool,
}

/// The ACME side of `/tls`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AcmeStatus {
    /// `off`, `pending` (no certificate yet), `valid`, `renewing`, `retrying`.
    pub status: &'static str,
    pub last_error: Option<String>,
    pub next_renewal: Option<i64>,
}

impl Default for AcmeStatus {
    fn default() -> Self {
        AcmeStatus { status: "off", last_error: None, next_renewal: None }
    }
}

/// The certificate in service and what is known about it, for every listener and reader.
#[derive(Debug)]
pub struct TlsState {
    pub mode: &'static str,
    resolver: Arc<CertResolver>,
    info: Mutex<CertInfo>,
    acme: Mutex<AcmeStatus>,
}

impl TlsState {
    pub fn new(mode: &'static str, material: &TlsMaterial) -> Result<Arc<TlsState>, TlsError> {
        let key = certified_key(material)?;
        let resolver = Arc::new(CertResolver {
            current: RwLock::new(Arc::new(key)),
            alpn_challenges: RwLock::new(HashMap::new()),
        });
        Ok(Arc::new(TlsState {
            mode,
            resolver,
            info: Mutex::new(CertInfo::of(material)),
            acme: Mutex::new(AcmeStatus::default()),
        }))
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Puts `material` in service for every next handshake. A key that does not match its
    /// certificate is refused and the old pair stays.
    pub fn install(&self, material: &TlsMaterial) -> Result<CertInfo, TlsError> {
        let key = certified_key(material)?;
        key.keys_match().map_err(|_| TlsError::Rejected("the private key does not match the certificate".into()))?;
        let info = CertInfo::of(material);
        *self.resolver.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        *self.info.lock().unwrap_or_else(PoisonError::into_inner) = info.clone();
        Ok(info)
    }

    pub fn info(&self) -> CertInfo {
        self.info.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn acme(&self) -> AcmeStatus {
        self.acme.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_acme(&self, status: AcmeStatus) {
        *self.acme.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    /// Whether clients can be expected to trust the certificate (it is not self-signed).
    pub fn trusted(&self) -> bool {
        !self.info.lock().unwrap_or_else(PoisonError::into_inner).self_signed
    }

    pub fn add_alpn_challenge(&self, name: &str, key: CertifiedKey) {
        let mut map = self.resolver.alpn_challenges.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(name.to_ascii_lowercase(), Arc::new(key));
    }

    pub fn remove_alpn_challenge(&self, name: &str) {
        let mut map = self.resolver.alpn_challenges.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(&name.to_ascii_lowercase());
    }

    pub fn expiry(&self) -> UnixTime {
        UnixTime(self.info.lock().unwrap_or_else(PoisonError::into_inner).not_after)
    }
}

pub fn certified_key(material: &TlsMaterial) -> Result<CertifiedKey, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(material.key.clone_key())
        .map_err(|e| TlsError::Rejected(e.to_string()))?;
    Ok(CertifiedKey::new(material.chain.clone(), signing))
}

impl CertInfo {
    pub fn of(material: &TlsMaterial) -> CertInfo {
        let mut info = CertInfo { sha256_fingerprint: material.fingerprint(), ..CertInfo::default() };
        let Some(leaf) = material.chain.first() else { return info };
        match x509_parser::parse_x509_certificate(leaf.as_ref()) {
            Ok((_, cert)) => {
                info.subject = cert.subject().to_string();
                info.issuer = cert.issuer().to_string();
                info.not_before = cert.validity().not_before.timestamp();
                info.not_after = cert.validity().not_after.timestamp();
                // Self-issued: what a browser cannot trust without being told to.
                info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw();
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    info.sans = san.value.general_names.iter().map(general_name).collect();
                }
            }
            Err(e) => log::warn!("cannot read the served certificate: {e}"),
        }
        info
    }
}

fn general_name(n: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match n {
        GeneralName::DNSName(d) => (*d).to_owned(),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b).map(|a| std::net::Ipv4Addr::from(a).to_string()).unwrap_or_default(),
            16 => <[u8; 16]>::try_from(*b).map(|a| std::net::Ipv6Addr::from(a).to_string()).unwrap_or_default(),
            _ => String::new(),
        },
        other => other.to_string(),
    }
}
