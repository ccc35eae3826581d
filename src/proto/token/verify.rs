//! The whole check: JWS syntax, key lookup, signature, claims; and [`Verifier`], which adds the
//! cache and owns the current key-set snapshot.

use std::sync::Arc;

use super::cache::{self, TokenCache};
use super::claims::{self, Claims, ClaimsError, TimeRules};
use super::es256::{self, SignatureError};
use super::jws::{self, JwsError};
use super::pattern::Identity;
use super::KeySet;
use crate::ids::{Kid, ProjectId};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Jws(#[from] JwsError),
    #[error("kid {0:?} names no key (unknown or deleted)")]
    UnknownKid(String),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub kid: Kid,
    pub project: ProjectId,
    pub claims: Claims,
    /// The project's max TTL the token was checked against (a change invalidates the cache).
    pub max_ttl_secs: i64,
    /// The payload's JSON text as sent, for `token verify` and introspection. Kept as text:
    /// a parsed map costs several times the memory, per live session.
    pub payload: Box<str>,
}

impl VerifiedToken {
    /// The payload as a JSON value.
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null)
    }

    pub fn identity(&self) -> Identity {
        Identity {
            project: self.project.clone(),
            gid: self.claims.gid.clone(),
            pid: self.claims.pid.clone(),
            policy: self.claims.policy.clone(),
        }
    }
}

/// Verifies `token` against `keys` at `now`, without a cache.
pub fn verify_token(token: &str, keys: &KeySet, now: UnixTime, leeway_secs: i64) -> Result<VerifiedToken, TokenError> {
    let jws = jws::parse(token)?;
    let kid_text = jws.kid.ok_or(JwsError::MissingKid)?;
    let entry = keys.get(&kid_text).ok_or_else(|| TokenError::UnknownKid(kid_text.clone()))?;
    es256::verify(&entry.point, jws.signing_input.as_bytes(), &jws.signature)?;
    let rules = TimeRules { leeway_secs, max_ttl_secs: entry.max_ttl_secs };
    let claims = claims::check(&jws.payload, now, rules)?;
    // `claims::check` parsed it as a JSON object, so it is UTF-8.
    let payload = String::from_utf8(jws.payload).map_err(|e| ClaimsError::NotJson(e.to_string()))?.into_boxed_str();
    Ok(VerifiedToken {
        kid: entry.kid.clone(),
        project: entry.project.clone(),
        claims,
        max_ttl_secs: entry.max_ttl_secs,
        payload,
    })
}

/// The verifier a server keeps: the current keys, the leeway and the cache.
pub struct Verifier {
    keys: Arc<KeySet>,
    cache: TokenCache,
    leeway_secs: i64,
}

impl Verifier {
    pub fn new(keys: Arc<KeySet>, leeway_secs: i64, cache_capacity: usize) -> Verifier {
        Verifier { keys, cache: TokenCache::new(cache_capacity), leeway_secs }
    }

    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    pub fn leeway_secs(&self) -> i64 {
        self.leeway_secs
    }

    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    pub fn verify(&mut self, token: &str, now: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        if token.len() > super::MAX_TOKEN_BYTES {
            return Err(JwsError::TooLarge(token.len()).into());
        }
        let key = cache::digest(token);
        if let Some(hit) = self.cache.get(&key, now, self.leeway_secs) {
            return Ok(hit);
        }
        let verified = Arc::new(verify_token(token, &self.keys, now, self.leeway_secs)?);
        self.cache.insert(key, verified.clone());
        Ok(verified)
    }

    /// Installs a new snapshot; returns the kids that disappeared (deleted keys).
    pub fn replace_keys(&mut self, keys: Arc<KeySet>) -> Vec<Kid> {
        let removed = keys.removed_since(&self.keys);
        self.cache.retain_valid(&keys);
        self.keys = keys;
        removed
    }
}

#[cfg(test)]
mod tests;
