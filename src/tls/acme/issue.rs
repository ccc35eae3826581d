//! One certificate order, from `newOrder` to the downloaded chain (RFC 8555 section 7.4). The
//! order's state is polled here with smol's timer (instant-acme's `poll_*` helpers would sleep
//! on tokio's), each wait bounded, the whole order by [`ORDER_TIMEOUT`].

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use instant_acme::{Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus};

use super::challenge::{self, Http01Tokens};
use super::AcmeError;
use crate::config::{AcmeChallenge, AcmeConfig};
use crate::tls::TlsState;

/// How long the CA may take to validate and to issue, before the attempt counts as failed.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(180);

/// Where each challenge is answered.
pub struct Responders {
    pub state: Arc<TlsState>,
    pub http01: Http01Tokens,
}

/// What to undo once the order is decided.
enum Cleanup {
    Alpn(String),
    Http(String),
    Dns { hook: PathBuf, domain: String, value: String },
}

/// Orders a certificate for `config.domains`: the PEM chain and the PEM key of a new P-256 key.
pub async fn order(
    account: &Account,
    config: &AcmeConfig,
    responders: &Responders,
) -> Result<(String, String), AcmeError> {
    let identifiers: Vec<Identifier> = config.domains.iter().map(|d| Identifier::Dns(d.as_str().to_owned())).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut cleanups = Vec::new();
    let validated = async {
        answer_challenges(&mut order, config, responders, &mut cleanups).await?;
        wait_ready(&mut order).await
    }
    .await;
    for cleanup in cleanups {
        undo(cleanup, responders).await;
    }
    validated?;
    let key_pem = order.finalize().await?;
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        if let Some(chain) = order.certificate().await? {
            return Ok((chain, key_pem));
        }
        if started.elapsed() > ORDER_TIMEOUT {
            return Err(AcmeError::Timeout("the certificate to be issued"));
        }
        smol::Timer::after(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn answer_challenges(
    order: &mut Order,
    config: &AcmeConfig,
    responders: &Responders,
    cleanups: &mut Vec<Cleanup>,
) -> Result<(), AcmeError> {
    let kind = match config.challenge {
        AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        AcmeChallenge::Http01 { .. } => ChallengeType::Http01,
        AcmeChallenge::Dns01 { .. } => ChallengeType::Dns01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(AcmeError::Refused(format!("authorization is {other:?}"))),
        }
        let name = authz.identifier().to_string();
        let mut ch = authz.challenge(kind.clone()).ok_or_else(|| AcmeError::NoChallenge { domain: name.clone() })?;
        let domain = match ch.identifier().identifier {
            Identifier::Dns(d) => d.clone(),
            other => return Err(AcmeError::Refused(format!("unexpected identifier {other:?}"))),
        };
        let key_authorization = ch.key_authorization();
        match &config.challenge {
            AcmeChallenge::TlsAlpn01 => {
                let material = challenge::alpn_certificate(&domain, key_authorization.digest().as_ref())?;
                let key = crate::tls::live::certified_key(&material)?;
                responders.state.add_alpn_challenge(&domain, key);
                cleanups.push(Cleanup::Alpn(domain.clone()));
            }
            AcmeChallenge::Http01 { .. } => {
                let token = ch.token.clone();
                let mut tokens = responders.http01.lock().unwrap_or_else(PoisonError::into_inner);
                tokens.insert(token.clone(), key_authorization.as_str().to_owned());
                cleanups.push(Cleanup::Http(token));
            }
            AcmeChallenge::Dns01 { hook } => {
                let value = key_authorization.dns_value();
                // Pushed first: a hook that fails half-way gets its clear too.
                cleanups.push(Cleanup::Dns { hook: hook.clone(), domain: domain.clone(), value: value.clone() });
                challenge::run_hook(hook, "set", &domain, &value).await?;
            }
        }
        log::debug!("ACME: {} challenge ready for {name}", kind_name(&config.challenge));
        ch.set_ready().await?;
    }
    Ok(())
}

async fn wait_ready(order: &mut Order) -> Result<(), AcmeError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        let state = order.refresh().await?;
        match state.status {
            OrderStatus::Ready | OrderStatus::Valid => return Ok(()),
            OrderStatus::Invalid => return Err(AcmeError::Refused(invalid_reason(order).await)),
            OrderStatus::Pending | OrderStatus::Processing => {}
        }
        if started.elapsed() > ORDER_TIMEOUT {
            return Err(AcmeError::Timeout("the challenges to be validated"));
        }
        smol::Timer::after(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The CA's word on why the order failed: the first challenge error it reports.
async fn invalid_reason(order: &mut Order) -> String {
    if let Some(problem) = &order.state().error {
        return problem.to_string();
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let name = authz.identifier().to_string();
        if authz.refresh().await.is_err() {
            continue;
        }
        if let Some(problem) = authz.challenges.iter().find_map(|c| c.error.as_ref()) {
            return format!("{name}: {problem}");
        }
    }
    "the order became invalid".into()
}

async fn undo(cleanup: Cleanup, responders: &Responders) {
    match cleanup {
        Cleanup::Alpn(domain) => responders.state.remove_alpn_challenge(&domain),
        Cleanup::Http(token) => {
            responders.http01.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
        }
        Cleanup::Dns { hook, domain, value } => {
            if let Err(e) = challenge::run_hook(&hook, "clear", &domain, &value).await {
                log::warn!("ACME: {e}");
            }
        }
    }
}

pub fn kind_name(challenge: &AcmeChallenge) -> &'static str {
    match challenge {
        AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        AcmeChallenge::Http01 { .. } => "http-01",
        AcmeChallenge::Dns01 { .. } => "dns-01",
    }
}
