//! TLS material for every TLS listener (`tls_mode`): the operator's PEM files, reloaded on SIGHUP
//! and when they change ([`files`]); certificates from an ACME server ([`acme`]); else a
//! self-signed P-256 certificate made on first run under `DATA/tls/` (0600) and reused after,
//! which is also served in ACME mode until the first certificate arrives. Every listener resolves
//! its certificate through one [`live::CertResolver`], so a new one is used by the next handshake.
//! The SHA-256 fingerprint of the leaf is reported so clients can pin it.

pub mod acme;
pub mod files;
pub mod live;
mod selfsigned;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Config, TlsSource};
use crate::fsutil;
use crate::unixtime::UnixTime;

pub use live::{AcmeStatus, CertInfo, TlsState};
pub use selfsigned::{collect_sans, SanInputs};

pub const TLS_DIR: &str = "tls";
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key found (PKCS#8, SEC1 or PKCS#1)")]
    NoPrivateKey { path: PathBuf },
    #[error("{path}: {detail}")]
    BadPem { path: PathBuf, detail: String },
    #[error("the private key does not match the certificate ({cert})")]
    KeyMismatch { cert: PathBuf },
    #[error("cannot use the certificate: {0}")]
    Rejected(String),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Unwritable { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOrigin {
    OperatorFiles,
    SelfSignedCreated,
    SelfSignedReused,
    /// A certificate that an ACME server issued, kept in `DATA/tls/acme/`.
    Acme,
}

pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub origin: TlsOrigin,
}

impl TlsMaterial {
    /// SHA-256 of the leaf certificate, as colon-separated upper-case hex (as `openssl x509
    /// -fingerprint -sha256` prints it).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.chain[0])
    }

    /// A rustls server configuration for this certificate alone (see [`server_config`]).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let key = live::certified_key(self)?;
        server_config(Arc::new(live::Fixed(Arc::new(key))), alpn)
    }
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3) advertising `alpn`, with its
/// certificate from `resolver`.
///
/// ChaCha20-Poly1305 is preferred over AES-GCM whatever the client's order: ARM edge boxes
/// often lack AES instructions (Raspberry Pi 2-4), where ChaCha20 is several times faster.
pub fn server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        )
    });
    let provider = Arc::new(provider);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rejected(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Loads the configured certificate, or reuses or creates the self-signed one. In ACME mode, the
/// last certificate obtained if it is still valid, else the self-signed one.
pub fn load(config: &Config, sans: &SanInputs, now: UnixTime) -> Result<TlsMaterial, TlsError> {
    match &config.tls {
        TlsSource::Files { cert, key } => load_files(cert, key),
        TlsSource::SelfSigned => self_signed(&config.data_dir.join(TLS_DIR), sans, now),
        TlsSource::Acme(acme) => {
            let dir = acme::dir(&config.data_dir);
            match acme::load_saved(&dir, acme, now) {
                Some(material) => Ok(material),
                None => self_signed(&config.data_dir.join(TLS_DIR), sans, now),
            }
        }
    }
}

/// The task that keeps the certificate current: the files watcher, or the ACME task (with the
/// http-01 listener when it is bound). `None` for the self-signed certificate. `hups` delivers
/// SIGHUP.
pub fn spawn_renewal(
    config: &Config,
    state: Arc<TlsState>,
    hups: async_channel::Receiver<()>,
    acme_http: Option<smol::net::TcpListener>,
    stop: crate::shutdown::Signal,
) -> Option<smol::Task<()>> {
    match config.tls.clone() {
        TlsSource::SelfSigned => None,
        TlsSource::Files { cert, key } => Some(crate::rt::spawn(files::watch(state, cert, key, hups, stop))),
        TlsSource::Acme(acme) => {
            let tokens = acme::challenge::Http01Tokens::default();
            if let Some(listener) = acme_http {
                crate::rt::spawn(acme::challenge::serve_http01(listener, tokens.clone(), stop.clone())).detach();
            }
            let data_dir = config.data_dir.clone();
            Some(crate::rt::spawn(acme::run(acme, data_dir, state, tokens, hups, stop)))
        }
    }
}

/// The operator's pair, checked: the key must belong to the certificate.
pub fn load_files(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    let material = read_pair(cert, key, TlsOrigin::OperatorFiles)?;
    check_pair(&material, cert)?;
    Ok(material)
}

/// `tls_mode` as `/tls` reports it (the API's enum spells `self_signed` with an underscore).
pub fn mode_name(config: &Config) -> &'static str {
    match config.tls {
        TlsSource::SelfSigned => "self_signed",
        TlsSource::Files { .. } => "files",
        TlsSource::Acme(_) => "acme",
    }
}

fn self_signed(dir: &Path, sans: &SanInputs, now: UnixTime) -> Result<TlsMaterial, TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let unwritable = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Unwritable { path, source }
    };
    fsutil::ensure_private_dir(dir).map_err(unwritable(dir))?;
    if cert_path.exists() && key_path.exists() {
        fsutil::tighten_file(&key_path).map_err(unwritable(&key_path))?;
        fsutil::tighten_file(&cert_path).map_err(unwritable(&cert_path))?;
        return read_pair(&cert_path, &key_path, TlsOrigin::SelfSignedReused);
    }
    let (cert_pem, key_pem) = selfsigned::generate(&collect_sans(sans), now)?;
    // Key first: a crash between the two writes leaves no certificate, so the next start
    // makes a fresh pair instead of pairing a new certificate with a stale key.
    let _ = std::fs::remove_file(&cert_path);
    fsutil::write_private_atomic(&key_path, key_pem.as_bytes()).map_err(unwritable(&key_path))?;
    fsutil::write_private_atomic(&cert_path, cert_pem.as_bytes()).map_err(unwritable(&cert_path))?;
    let mut material = read_pair(&cert_path, &key_path, TlsOrigin::SelfSignedCreated)?;
    material.origin = TlsOrigin::SelfSignedCreated;
    Ok(material)
}

pub(crate) fn read_pair(cert: &Path, key: &Path, origin: TlsOrigin) -> Result<TlsMaterial, TlsError> {
    let cert_bytes = std::fs::read(cert).map_err(|source| TlsError::Unreadable { path: cert.to_owned(), source })?;
    let key_bytes = std::fs::read(key).map_err(|source| TlsError::Unreadable { path: key.to_owned(), source })?;
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem { path: cert.to_owned(), detail: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.to_owned() });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: key.to_owned() },
        other => TlsError::BadPem { path: key.to_owned(), detail: other.to_string() },
    })?;
    Ok(TlsMaterial { chain, key: key_der, origin })
}

/// An operator's key must belong to the operator's certificate.
pub(crate) fn check_pair(material: &TlsMaterial, cert_path: &Path) -> Result<(), TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(material.key.clone_key())
        .map_err(|e| TlsError::Rejected(e.to_string()))?;
    let certified = rustls::sign::CertifiedKey::new(material.chain.clone(), signing);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch { cert: cert_path.to_owned() })
}

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;
