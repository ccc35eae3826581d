//! A bounded cache of verified tokens, so a reconnect storm costs one signature check per
//! distinct token. Keyed by what the token says, not by its text: ECDSA twins (r, s) and
//! (r, n−s) are two texts of one token (see `es256`), and base64url is held canonical by `jws`,
//! so the key is the SHA-256 of the signing input, `r` and the low `s`. Entries leave at `exp` plus the leeway
//! (checked on every hit against the `now` given), when their key is deleted, and oldest-first
//! when the cache is full.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::verify::VerifiedToken;
use super::KeySet;
use crate::unixtime::UnixTime;

pub type Digest = [u8; 32];

/// The cache key of a token: `signing_input` as sent, and its signature in
/// [`es256::canonical`](super::es256::canonical) form (fixed length, so the concatenation is
/// unambiguous).
pub fn digest(signing_input: &str, canonical_signature: &[u8; 64]) -> Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(signing_input.as_bytes());
    ctx.update(canonical_signature);
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub struct TokenCache {
    entries: HashMap<Digest, Arc<VerifiedToken>>,
    order: VecDeque<Digest>,
    capacity: usize,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache { entries: HashMap::with_capacity(capacity.min(4096)), order: VecDeque::new(), capacity }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached token, unless it expired (then it is dropped and `None` returned).
    pub fn get(&mut self, key: &Digest, now: UnixTime, leeway_secs: i64) -> Option<Arc<VerifiedToken>> {
        let hit = self.entries.get(key)?;
        if now.secs() >= hit.claims.exp.secs().saturating_add(leeway_secs) {
            self.entries.remove(key);
            return None;
        }
        Some(hit.clone())
    }

    pub fn insert(&mut self, key: Digest, token: Arc<VerifiedToken>) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.insert(key, token).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        // Keys dropped by expiry or revocation linger in `order`; compact when it doubles.
        if self.order.len() > 2 * self.capacity.max(16) {
            self.order.retain(|k| self.entries.contains_key(k));
        }
    }

    /// Drops every entry whose key is not in `keys` or whose project settings changed.
    pub fn retain_valid(&mut self, keys: &KeySet) {
        self.entries.retain(|_, t| {
            keys.get(t.kid.as_str()).is_some_and(|e| e.project == t.project && e.max_ttl_secs == t.max_ttl_secs)
        });
        self.order.retain(|k| self.entries.contains_key(k));
    }
}
