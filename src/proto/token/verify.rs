//! The whole check: JWS syntax, key lookup, signature, claims; and [`Verifier`], which adds the
//! cache and owns the current key-set snapshot.

use std::sync::Arc;

use super::cache::{self, TokenCache};
use super::claims::{self, Claims, ClaimsError, TimeRules};
use super::es256::{self, SignatureError};
use super::jws::{self, JwsError, UnverifiedJws};
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
    check(jws::parse(token)?, keys, now, leeway_secs)
}

/// Everything after parsing: key lookup, signature, claims.
fn check(jws: UnverifiedJws<'_>, keys: &KeySet, now: UnixTime, leeway_secs: i64) -> Result<VerifiedToken, TokenError> {
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

/// What [`Verifier::lookup`] found.
pub enum Lookup {
    /// Decided without the curve math: a cache hit, or a refusal.
    Done(Result<Arc<VerifiedToken>, TokenError>),
    /// The key is known; the signature must be checked.
    NeedsSignature(Pending),
}

/// A token whose signature is still to be checked, with the key snapshot to check it against.
pub struct Pending {
    key: cache::Digest,
    keys: Arc<KeySet>,
    leeway_secs: i64,
}

impl Pending {
    /// The ES256 check and the claims; no verifier state is touched, so no lock need be held.
    pub fn check(self, token: &str, now: UnixTime) -> (cache::Digest, Result<VerifiedToken, TokenError>) {
        (self.key, verify_token(token, &self.keys, now, self.leeway_secs))
    }
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
        match self.lookup(token, now) {
            Lookup::Done(result) => result,
            Lookup::NeedsSignature(pending) => {
                let (key, checked) = pending.check(token, now);
                self.finish(key, checked?)
            }
        }
    }

    /// Everything short of the signature: the size, the cache, the JWS syntax and the key. A
    /// token that needs the curve math comes back as [`Lookup::NeedsSignature`], to be checked
    /// with no lock held ([`Pending::check`]) and cached with [`Verifier::finish`]: the ES256
    /// check (about 60 µs) is the only costly step, and the one a caller may run elsewhere.
    pub fn lookup(&mut self, token: &str, now: UnixTime) -> Lookup {
        let key = match self.cache_key(token) {
            Ok(key) => key,
            Err(e) => return Lookup::Done(Err(e)),
        };
        if let Some(hit) = self.cache.get(&key, now, self.leeway_secs) {
            return Lookup::Done(Ok(hit));
        }
        let known = jws::parse(token).map_err(TokenError::from).and_then(|jws| {
            let kid = jws.kid.ok_or(JwsError::MissingKid)?;
            self.keys.get(&kid).map(|_| ()).ok_or(TokenError::UnknownKid(kid))
        });
        match known {
            Ok(()) => Lookup::NeedsSignature(Pending { key, keys: self.keys.clone(), leeway_secs: self.leeway_secs }),
            Err(e) => Lookup::Done(Err(e)),
        }
    }

    fn cache_key(&self, token: &str) -> Result<cache::Digest, TokenError> {
        if token.len() > super::MAX_TOKEN_BYTES {
            return Err(JwsError::TooLarge(token.len()).into());
        }
        // Both ECDSA twins of a token land on one entry: its text is not its identity. Only the
        // signature is decoded before the lookup: a hit costs 0.55 µs so, 1.9 µs parsing the
        // whole token first (0.40 µs when the text was the key; best of 5, benches/tokens.rs).
        let (signing_input, signature) = jws::split_signed(token)?;
        let signature = signature.map_err(SignatureError::BadLength)?;
        Ok(cache::digest(signing_input, &es256::canonical(&signature)?))
    }

    /// Caches a token [`Pending::check`] verified, unless its key went away meanwhile: then it
    /// is refused as the key's other tokens are.
    pub fn finish(&mut self, key: cache::Digest, verified: VerifiedToken) -> Result<Arc<VerifiedToken>, TokenError> {
        if self.keys.get(verified.kid.as_str()).is_none() {
            return Err(TokenError::UnknownKid(verified.kid.as_str().to_owned()));
        }
        let verified = Arc::new(verified);
        self.cache.insert(key, verified.clone());
        Ok(verified)
    }

    /// Adds one key to the snapshot; cached tokens stay (no key went away).
    pub fn add_key(&mut self, entry: super::KeyEntry) {
        self.keys = Arc::new(self.keys.with(entry));
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
