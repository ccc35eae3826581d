//! The server's token service: the verifier (key snapshot and cache) shared by every listener,
//! kept in step with the database, and the revocation events that signaling and TURN
//! subscribe to. The CLI may delete a key while `serve` runs: a watcher polls
//! `PRAGMA data_version` twice a second and reloads the key set when it moves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ids::Kid;
use crate::proto::token::{KeySet, TokenError, VerifiedToken, Verifier};
use crate::shutdown::Signal;
use crate::store::worker::StoreHandle;
use crate::unixtime::UnixTime;

pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Published when keys disappear; subscribers close the sessions and allocations of those kids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    KeysDeleted(Vec<Kid>),
    /// Another process changed the database (projects' settings may have changed).
    StoreChanged,
}

pub struct TokenService {
    verifier: Mutex<Verifier>,
    subscribers: Mutex<Vec<async_channel::Sender<KeyEvent>>>,
}

impl TokenService {
    pub fn new(keys: KeySet, leeway_secs: i64, cache_entries: usize) -> Arc<TokenService> {
        Arc::new(TokenService {
            verifier: Mutex::new(Verifier::new(Arc::new(keys), leeway_secs, cache_entries)),
            subscribers: Mutex::new(Vec::new()),
        })
    }

    fn verifier(&self) -> std::sync::MutexGuard<'_, Verifier> {
        // A panic while holding the lock cannot leave the verifier half-updated (every method
        // is a single assignment), so a poisoned lock is still usable.
        self.verifier.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn verify(&self, token: &str, now: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        self.verifier().verify(token, now)
    }

    pub fn key_count(&self) -> usize {
        self.verifier().keys().len()
    }

    pub fn subscribe(&self) -> async_channel::Receiver<KeyEvent> {
        let (tx, rx) = async_channel::unbounded();
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// Installs a fresh key set and tells subscribers which kids are gone.
    pub fn install(&self, keys: KeySet) -> Vec<Kid> {
        let removed = self.verifier().replace_keys(Arc::new(keys));
        if !removed.is_empty() {
            self.publish(KeyEvent::KeysDeleted(removed.clone()));
        }
        removed
    }

    fn publish(&self, event: KeyEvent) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|tx| tx.try_send(event.clone()).is_ok());
    }
}

/// Reloads the key set whenever another process commits to the database.
pub async fn watch_store(service: Arc<TokenService>, store: StoreHandle, stop: Signal) {
    let mut seen: Option<i64> = None;
    let mut ticks = crate::shutdown::every(WATCH_INTERVAL, stop);
    while ticks.tick().await {
        let reloaded = store
            .call(move |s| {
                let version = s.data_version()?;
                if seen == Some(version) {
                    return Ok((version, None));
                }
                s.load_keyset().map(|keys| (version, Some(keys)))
            })
            .await;
        match reloaded {
            Ok(Ok((version, keys))) => {
                seen = Some(version);
                if let Some(keys) = keys {
                    service.publish(KeyEvent::StoreChanged);
                    let removed = service.install(keys);
                    if !removed.is_empty() {
                        log::info!("keys deleted: {}", removed.iter().map(Kid::as_str).collect::<Vec<_>>().join(", "));
                    }
                }
            }
            Ok(Err(e)) => log::warn!("cannot reload keys: {e}"),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProjectId;
    use crate::proto::token::keyset::generate_key_pair;
    use crate::proto::token::KeyEntry;

    fn entry(seed: u8) -> KeyEntry {
        let (_, public) = generate_key_pair([seed; 32]).unwrap();
        KeyEntry {
            kid: Kid::from_random([seed; 8]),
            project: ProjectId::parse("prj").unwrap(),
            point: public.point,
            max_ttl_secs: 60,
        }
    }

    #[test]
    fn subscribers_hear_about_deleted_kids_only() {
        let (a, b) = (entry(1), entry(2));
        let service = TokenService::new(KeySet::new([a.clone(), b.clone()]), 30, 10);
        let events = service.subscribe();
        let c = entry(3);
        assert!(service.install(KeySet::new([a.clone(), b.clone(), c.clone()])).is_empty());
        assert!(events.try_recv().is_err(), "adding a key is not a revocation");
        assert_eq!(service.install(KeySet::new([b.clone(), c])), vec![a.kid.clone()]);
        assert_eq!(events.try_recv().unwrap(), KeyEvent::KeysDeleted(vec![a.kid.clone()]));
        assert_eq!(service.key_count(), 2);
        drop(events);
        // A dropped subscriber is forgotten, not an error.
        service.install(KeySet::default());
        assert_eq!(service.subscribers.lock().unwrap().len(), 0);
    }
}
