//! Password hashing off the executors, at most [`CONCURRENT`] at a time (argon2id with 19 MiB
//! and 2 passes takes tens of milliseconds of one core: a burst of sign-ins must not stall
//! signaling, nor take every core). Callers beyond [`MAX_WAITING`] are told to come back
//! (429) rather than queued without bound.
//!
//! An unknown user is checked against [`Hasher::dummy`], a hash of a random password made once,
//! so that "no such user" takes as long as "wrong password" and answers the same.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use smol::lock::Semaphore;

use crate::password;

pub const CONCURRENT: usize = 2;
pub const MAX_WAITING: usize = 64;

#[derive(Debug, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Busy;

pub struct Hasher {
    slots: Semaphore,
    waiting: AtomicUsize,
    dummy: OnceLock<String>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher { slots: Semaphore::new(CONCURRENT), waiting: AtomicUsize::new(0), dummy: OnceLock::new() }
    }
}

/// Counts a waiting caller while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hasher {
    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Busy);
        }
        let _waiting = Waiting(&self.waiting);
        let _slot = self.slots.acquire().await;
        Ok(smol::unblock(job).await)
    }

    /// Whether `password` matches the stored PHC string; against the dummy when `phc` is `None`
    /// (then always false).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Busy> {
        let known = phc.is_some();
        let phc = match phc {
            Some(p) => p,
            None => self.dummy().await?,
        };
        let matched = self.run(move || password::verify(&password, &phc)).await?;
        Ok(known && matched)
    }

    /// A PHC string for `password` (which passed `password::check_policy`).
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        let salt = crate::random::bytes::<16>();
        self.run(move || password::hash(&password, salt)).await
    }

    /// Makes the dummy hash now (at start), so that the first unknown user's sign-in is not
    /// the one that pays for it, and takes no longer than a known user's.
    pub async fn warm(&self) {
        let _ = self.dummy().await;
    }

    async fn dummy(&self) -> Result<String, Busy> {
        if let Some(d) = self.dummy.get() {
            return Ok(d.clone());
        }
        let made = self.hash(crate::random::token::<16>()).await?;
        Ok(self.dummy.get_or_init(|| made).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_and_refuses_unknown_users_after_the_same_work() {
        let h = Hasher::default();
        smol::block_on(async {
            let phc = h.hash("a long passphrase".into()).await.unwrap();
            assert!(h.verify("a long passphrase".into(), Some(phc.clone())).await.unwrap());
            assert!(!h.verify("another one".into(), Some(phc)).await.unwrap());
            assert!(!h.verify("a long passphrase".into(), None).await.unwrap());
            assert!(h.dummy.get().unwrap().starts_with("$argon2id$"));
        });
    }

    #[test]
    fn callers_past_the_queue_bound_are_turned_away() {
        let h = Hasher::default();
        h.waiting.store(MAX_WAITING, Ordering::Relaxed);
        assert!(smol::block_on(h.hash("x".repeat(12))).is_err());
        assert_eq!(h.waiting.load(Ordering::Relaxed), MAX_WAITING);
    }
}
