//! `tls_mode = "acme"`: certificates from an RFC 8555 server (Let's Encrypt, step-ca, ...).
//!
//! The client is instant-acme (account, orders, JWS, key authorizations; EAB if ever needed)
//! driven here on smol: [`http`] is its HTTP client, [`issue`] one order with smol's timer,
//! [`challenge`] the three ways of answering, [`schedule`] the pure renewal plan. [`run`] is the
//! shell: one task that sleeps until the plan says, orders, installs the certificate in the shared
//! resolver and saves it, or logs the failure and backs off while the old certificate is served.
//!
//! Files, in `DATA/tls/acme/` (0700; files 0600): `account.json` (the directory URL and the
//! account's key and URL), `cert.pem` and `key.pem` (the last certificate and its key).
//!
//! Left out on purpose: revocation, ARI (RFC 9773), IP identifiers.

pub mod challenge;
pub mod http;
pub mod issue;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{Account, AccountCredentials, NewAccount};
use serde::{Deserialize, Serialize};

use self::challenge::Http01Tokens;
use self::schedule::{Plan, Validity};
use super::{AcmeStatus, TlsError, TlsMaterial, TlsOrigin, TlsState};
use crate::config::AcmeConfig;
use crate::fsutil;
use crate::shutdown::Signal;
use crate::unixtime::UnixTime;

pub const ACME_DIR: &str = "acme";
const ACCOUNT_FILE: &str = "account.json";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// The longest sleep between looks at the plan: the wall clock may jump (suspend, NTP).
const MAX_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME server: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("the CA refused: {0}")]
    Refused(String),
    #[error("the CA offers no {domain} challenge of the configured type")]
    NoChallenge { domain: String },
    #[error("acme_dns_hook `{command}` failed: {reason}")]
    Hook { command: String, reason: String },
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Local(String),
}

impl AcmeError {
    /// The CA answered `accountDoesNotExist` (RFC 8555 section 6.7).
    pub fn is_unknown_account(&self) -> bool {
        match self {
            AcmeError::Protocol(instant_acme::Error::Api(problem)) => {
                problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist")
            }
            _ => false,
        }
    }
}

fn forget_account(dir: &Path) {
    let path = dir.join(ACCOUNT_FILE);
    let old = dir.join("account.json.unknown");
    match std::fs::rename(&path, &old) {
        Ok(()) => log::warn!(
            "ACME: the CA does not know the saved account; kept it as {} and making a new one",
            old.display()
        ),
        Err(e) => log::warn!("ACME: cannot set aside {}: {e}", path.display()),
    }
}

/// Where the last certificate obtained is kept (`edgebeam doctor` reads it).
pub fn saved_cert_path(data_dir: &Path) -> PathBuf {
    dir(data_dir).join(CERT_FILE)
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(super::TLS_DIR).join(ACME_DIR)
}

/// The certificate saved by an earlier run, if it covers every configured name and is still
/// valid at `now`.
pub fn load_saved(dir: &Path, config: &AcmeConfig, now: UnixTime) -> Option<TlsMaterial> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !cert.exists() {
        return None;
    }
    let material = match super::read_pair(&cert, &key, TlsOrigin::Acme) {
        Ok(m) => m,
        Err(e) => {
            log::warn!("ACME: ignoring the saved certificate: {e}");
            return None;
        }
    };
    let info = super::CertInfo::of(&material);
    let covered = config.domains.iter().all(|d| info.sans.iter().any(|s| s.eq_ignore_ascii_case(d.as_str())));
    if !covered || info.not_after <= now.secs() || super::check_pair(&material, &cert).is_err() {
        log::info!("ACME: the saved certificate does not cover acme_domains or has expired; ordering a new one");
        return None;
    }
    Some(material)
}

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The ACME task: orders when the plan says (at once without a certificate), renews at two
/// thirds of the lifetime, backs off on failure. `hups` forces an order now.
pub async fn run(
    config: AcmeConfig,
    data_dir: PathBuf,
    state: Arc<TlsState>,
    http01: Http01Tokens,
    hups: async_channel::Receiver<()>,
    stop: Signal,
) {
    let dir = dir(&data_dir);
    let saved = (state.info().not_after > 0 && state.mode == "acme" && !state.info().self_signed).then(|| {
        let info = state.info();
        Validity { not_before: UnixTime(info.not_before), not_after: UnixTime(info.not_after) }
    });
    let mut plan = Plan::new(saved, UnixTime::now());
    let responders = issue::Responders { state: state.clone(), http01 };
    let mut account: Option<Account> = None;
    loop {
        publish(&state, &plan);
        let now = UnixTime::now();
        if !plan.is_due(now) {
            let wait = Duration::from_secs((plan.poll_timeout().secs() - now.secs()).max(1) as u64).min(MAX_SLEEP);
            let woke = futures_lite::future::or(
                async {
                    let _ = hups.recv().await;
                    true
                },
                async {
                    smol::Timer::after(wait).await;
                    false
                },
            );
            match stop.until(woke).await {
                None => return,
                Some(true) => {
                    log::info!("SIGHUP: ordering a new ACME certificate now");
                    plan.handle_forced(UnixTime::now());
                }
                Some(false) => {}
            }
            continue;
        }
        plan.handle_attempt_started();
        publish(&state, &plan);
        log::info!("ACME: ordering a certificate for {} from {}", names(&config), config.directory);
        let attempt = stop.until(attempt(&config, &dir, &mut account, &responders)).await;
        let Some(result) = attempt else { return };
        let ended = UnixTime::now();
        match result {
            Ok(material) => match state.install(&material) {
                Ok(info) => {
                    log::info!(
                        "ACME: now serving a certificate for {} from {} (SHA-256 {}), valid until unix time {}",
                        info.sans.join(", "),
                        info.issuer,
                        info.sha256_fingerprint,
                        info.not_after
                    );
                    plan.handle_issued(Validity {
                        not_before: UnixTime(info.not_before),
                        not_after: UnixTime(info.not_after),
                    });
                }
                Err(e) => plan.handle_failure(e.to_string(), ended),
            },
            Err(e) => {
                // Reopened next time; an account the CA no longer knows (its database was reset,
                // as a LAN CA's may be) is forgotten, so the next attempt makes a new one.
                if matches!(e, AcmeError::Protocol(_)) {
                    account = None;
                }
                if e.is_unknown_account() {
                    forget_account(&dir);
                }
                plan.handle_failure(e.to_string(), ended);
            }
        }
        if let Some(error) = plan.last_error() {
            let retry = plan.poll_timeout().secs() - ended.secs();
            let serving = if state.trusted() { "the current certificate" } else { "the self-signed certificate" };
            log::warn!("ACME: attempt {} failed: {error}; retrying in {retry} s, serving {serving}", plan.failures());
        }
    }
}

fn names(config: &AcmeConfig) -> String {
    config.domains.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
}

fn publish(state: &TlsState, plan: &Plan) {
    state.set_acme(AcmeStatus {
        status: plan.status(),
        last_error: plan.last_error().map(str::to_owned),
        next_renewal: Some(plan.poll_timeout().secs()),
    });
}

async fn attempt(
    config: &AcmeConfig,
    dir: &Path,
    account: &mut Option<Account>,
    responders: &issue::Responders,
) -> Result<TlsMaterial, AcmeError> {
    let acct = match account.take() {
        Some(a) => a,
        None => open_account(config, dir).await?,
    };
    let ordered = issue::order(&acct, config, responders).await;
    *account = Some(acct);
    let (chain_pem, key_pem) = ordered?;
    save(dir, &chain_pem, &key_pem)?;
    let material = super::read_pair(&dir.join(CERT_FILE), &dir.join(KEY_FILE), TlsOrigin::Acme)?;
    Ok(material)
}

/// The saved account for this directory, else a new one (saved before use).
async fn open_account(config: &AcmeConfig, dir: &Path) -> Result<Account, AcmeError> {
    let client = || http::SmolClient::new(config.ca_file.as_deref());
    let path = dir.join(ACCOUNT_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match serde_json::from_str::<SavedAccount>(&text) {
            Ok(saved) if saved.directory == config.directory => {
                let builder = Account::builder_with_http(Box::new(client()?));
                return Ok(builder.from_credentials(saved.credentials).await?);
            }
            Ok(_) => log::info!("ACME: acme_directory changed; making a new account"),
            Err(e) => log::warn!("ACME: cannot read {}: {e}; making a new account", path.display()),
        }
    }
    let contact = config.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
    let eab = config.eab.as_ref().map(|k| instant_acme::ExternalAccountKey::new(k.kid.clone(), &k.hmac_key));
    let builder = Account::builder_with_http(Box::new(client()?));
    let (account, credentials) = builder.create(&new, config.directory.clone(), eab.as_ref()).await?;
    let saved = SavedAccount { directory: config.directory.clone(), credentials };
    let json = serde_json::to_vec_pretty(&saved).map_err(|e| AcmeError::Local(e.to_string()))?;
    write_private(dir, &path, &json)?;
    log::info!("ACME: made an account at {} (saved in {})", config.directory, path.display());
    Ok(account)
}

fn save(dir: &Path, chain_pem: &str, key_pem: &str) -> Result<(), AcmeError> {
    // Key first, as for the self-signed pair: a crash between the writes leaves a certificate
    // whose key check fails at the next start, which then orders again.
    write_private(dir, &dir.join(KEY_FILE), key_pem.as_bytes())?;
    write_private(dir, &dir.join(CERT_FILE), chain_pem.as_bytes())?;
    Ok(())
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let unwritable = |source| TlsError::Unwritable { path: path.to_owned(), source };
    fsutil::ensure_private_dir(dir).map_err(unwritable)?;
    fsutil::write_private_atomic(path, bytes).map_err(unwritable)?;
    Ok(())
}
