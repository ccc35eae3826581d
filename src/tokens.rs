//! The server's token service: the verifier (key snapshot and cache) shared by every listener,
//! kept in step with the database, and the revocation events that signaling and TURN
//! subscribe to.
//!
//! The CLI may add or delete a key while `serve` runs. Deletions: a watcher polls
//! `PRAGMA data_version` twice a second and reloads the key set when it moves. Additions must
//! verify at once (SPEC "Admin API"), so a well-formed kid the snapshot lacks is looked up in
//! the store on the spot ([`TokenService::look_up`]), within the server-wide budget of
//! [`KidLookups`]. Reloads and lookups take turns under one lock, so a snapshot read before a
//! key was made never lands after that key was added (it would read as the key's deletion).
//!
//! The admin API writes through serve's own connection, whose commits never move its
//! `data_version`: after each write it calls [`TokenService::reload_now`] (through
//! `crate::net::live::Live::store_changed`), a reload that does not ask.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::Kid;
use crate::proto::token::lookup::KidLookups;
use crate::proto::token::verify::Lookup;
use crate::proto::token::{KeySet, TokenError, VerifiedToken, Verifier};
use crate::shutdown::Signal;
use crate::store::worker::{StoreGone, StoreHandle};
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
    lookups: Mutex<KidLookups>,
    /// Held across a store read and the install of what it read; inside, the `data_version`
    /// the installed set was read at.
    store_turn: smol::lock::Mutex<Option<i64>>,
}

/// Poisoned locks stay usable: every update under them is a single assignment or insert, so a
/// panic cannot leave them half-done.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TokenService {
    pub fn new(keys: KeySet, leeway_secs: i64, cache_entries: usize) -> Arc<TokenService> {
        Arc::new(TokenService {
            verifier: Mutex::new(Verifier::new(Arc::new(keys), leeway_secs, cache_entries)),
            subscribers: Mutex::new(Vec::new()),
            lookups: Mutex::new(KidLookups::default()),
            store_turn: smol::lock::Mutex::new(None),
        })
    }

    fn verifier(&self) -> std::sync::MutexGuard<'_, Verifier> {
        lock(&self.verifier)
    }

    /// The whole check. The signature math runs with the verifier unlocked, so a check on a
    /// worker thread never holds up the hub's cache hits.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        let pending = match self.verifier().lookup(token, now) {
            Lookup::Done(result) => return result,
            Lookup::NeedsSignature(pending) => pending,
        };
        let (key, checked) = pending.check(token, now);
        self.verifier().finish(key, checked?)
    }

    /// The check when it needs no signature math (a cache hit, or a refusal); `None` when it
    /// does, for the caller to run [`TokenService::verify`] off its own thread.
    pub fn verify_cached(&self, token: &str, now: UnixTime) -> Option<Result<Arc<VerifiedToken>, TokenError>> {
        match self.verifier().lookup(token, now) {
            Lookup::Done(result) => Some(result),
            Lookup::NeedsSignature(_) => None,
        }
    }

    /// [`TokenService::verify`], and for a well-formed kid the snapshot lacks, one lookup in
    /// the store (if the budget admits it) and a second try: `/v1/whoami`'s path.
    pub async fn verify_or_look_up(&self, store: &StoreHandle, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        let first = self.verify(token, UnixTime::now());
        let Err(TokenError::UnknownKid(kid)) = &first else { return first };
        let Ok(kid) = Kid::parse(kid) else { return first };
        if !self.admit_lookup(&kid, Instant::now()) || !self.look_up(store, kid).await {
            return first;
        }
        self.verify(token, UnixTime::now())
    }

    pub fn key_count(&self) -> usize {
        self.verifier().keys().len()
    }

    pub fn subscribe(&self) -> async_channel::Receiver<KeyEvent> {
        let (tx, rx) = async_channel::unbounded();
        lock(&self.subscribers).push(tx);
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
        lock(&self.subscribers).retain(|tx| tx.try_send(event.clone()).is_ok());
    }

    /// Spends a store lookup on `kid` (server-wide budget; refused for a kid just missed).
    pub fn admit_lookup(&self, kid: &Kid, now: Instant) -> bool {
        lock(&self.lookups).admit(kid, now)
    }

    /// Looks `kid` up in the store, after [`TokenService::admit_lookup`] said yes, and adds it
    /// to the snapshot if it is there. True when the snapshot now has it.
    pub async fn look_up(&self, store: &StoreHandle, kid: Kid) -> bool {
        let _turn = self.store_turn.lock().await;
        if self.verifier().keys().get(kid.as_str()).is_some() {
            return true;
        }
        let wanted = kid.clone();
        match store.call(move |s| s.load_key(&wanted)).await {
            Ok(Ok(Some(entry))) => {
                log::info!("key {kid} picked up at its first token");
                self.verifier().add_key(entry);
                true
            }
            Ok(Ok(None)) => {
                lock(&self.lookups).missed(&kid, Instant::now());
                false
            }
            Ok(Err(e)) => {
                log::warn!("cannot look key {kid} up: {e}");
                false
            }
            Err(StoreGone) => false,
        }
    }

    /// Reloads the key set if another process committed since the last load.
    async fn reload(&self, store: &StoreHandle) -> Result<(), StoreGone> {
        self.reload_if(store, false).await
    }

    /// Reloads the key set and publishes [`KeyEvent::StoreChanged`] whatever `data_version`
    /// says: serve's own connection committed (the admin API), and `data_version` moves only for
    /// other connections' commits. Deleted kids are published as for [`TokenService::reload`].
    pub async fn reload_now(&self, store: &StoreHandle) -> Result<(), StoreGone> {
        self.reload_if(store, true).await
    }

    async fn reload_if(&self, store: &StoreHandle, force: bool) -> Result<(), StoreGone> {
        let mut seen = self.store_turn.lock().await;
        let last = *seen;
        let reloaded = store
            .call(move |s| {
                let version = s.data_version()?;
                if !force && last == Some(version) {
                    return Ok((version, None));
                }
                s.load_keyset().map(|keys| (version, Some(keys)))
            })
            .await?;
        match reloaded {
            Ok((version, keys)) => {
                *seen = Some(version);
                if let Some(keys) = keys {
                    self.publish(KeyEvent::StoreChanged);
                    let removed = self.install(keys);
                    if !removed.is_empty() {
                        log::info!("keys deleted: {}", removed.iter().map(Kid::as_str).collect::<Vec<_>>().join(", "));
                    }
                }
            }
            Err(e) => log::warn!("cannot reload keys: {e}"),
        }
        Ok(())
    }
}

/// Reloads the key set whenever another process commits to the database.
pub async fn watch_store(service: Arc<TokenService>, store: StoreHandle, stop: Signal) {
    let mut ticks = crate::shutdown::every(WATCH_INTERVAL, stop);
    while ticks.tick().await {
        if service.reload(&store).await.is_err() {
            return;
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

    /// A store as `serve` has it (on its thread), and a second connection standing for the CLI.
    fn stores() -> (tempfile::TempDir, StoreHandle, crate::store::Store, ProjectId) {
        use crate::ids::ProjectName;
        use crate::store::{Actor, OpenMode, Store};
        let tmp = tempfile::tempdir().unwrap();
        let served = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
        let (handle, _thread) = StoreHandle::spawn(served);
        let mut cli = Store::open(tmp.path(), OpenMode::MustExist).unwrap();
        let project = ProjectId::from_random([4; 16]);
        cli.create_project(&project, &ProjectName::parse("app").unwrap(), Actor::CLI, UnixTime(1)).unwrap();
        (tmp, handle, cli, project)
    }

    #[test]
    fn a_key_another_process_made_is_found_by_its_kid_and_a_missing_kid_is_remembered() {
        use crate::store::Actor;
        let (_tmp, store, mut cli, project) = stores();
        let service = TokenService::new(KeySet::default(), 30, 10);
        let events = service.subscribe();
        let (_, public) = generate_key_pair([5; 32]).unwrap();
        let kid = Kid::from_random([5; 8]);
        cli.add_key(&project, &kid, &public, None, crate::store::KeyOrigin::Registered, Actor::CLI, UnixTime(2))
            .unwrap();
        let t0 = Instant::now();
        assert!(service.admit_lookup(&kid, t0));
        assert!(smol::block_on(service.look_up(&store, kid.clone())));
        assert_eq!(service.key_count(), 1);
        // The watcher's next reload reads the same key: nothing is reported deleted.
        smol::block_on(service.reload(&store)).unwrap();
        assert_eq!(service.key_count(), 1);
        assert_eq!(events.try_recv(), Ok(KeyEvent::StoreChanged));
        assert!(events.try_recv().is_err(), "no deletion");

        let missing = Kid::from_random([6; 8]);
        assert!(service.admit_lookup(&missing, t0));
        assert!(!smol::block_on(service.look_up(&store, missing.clone())));
        assert!(!service.admit_lookup(&missing, Instant::now()), "remembered as missing");
    }

    #[test]
    fn reload_now_sees_serves_own_writes_which_the_watcher_cannot() {
        use crate::store::Actor;
        let (_tmp, store, mut cli, project) = stores();
        let (_, public) = generate_key_pair([9; 32]).unwrap();
        let kid = Kid::from_random([9; 8]);
        cli.add_key(&project, &kid, &public, None, crate::store::KeyOrigin::Registered, Actor::CLI, UnixTime(2))
            .unwrap();
        let service = TokenService::new(KeySet::default(), 30, 10);
        smol::block_on(service.reload(&store)).unwrap();
        assert_eq!(service.key_count(), 1);
        let events = service.subscribe();
        // The admin API deletes the key through serve's own connection.
        let gone = kid.clone();
        smol::block_on(store.call(move |s| s.delete_key(&gone, Actor::CLI, UnixTime(3)))).unwrap().unwrap();
        smol::block_on(service.reload(&store)).unwrap();
        assert!(events.try_recv().is_err(), "data_version did not move for serve's own commit");
        assert_eq!(service.key_count(), 1);
        smol::block_on(service.reload_now(&store)).unwrap();
        assert_eq!(events.try_recv(), Ok(KeyEvent::StoreChanged));
        assert_eq!(events.try_recv(), Ok(KeyEvent::KeysDeleted(vec![kid])));
        assert_eq!(service.key_count(), 0);
    }

    #[test]
    fn verify_or_look_up_verifies_a_token_of_a_key_made_after_the_last_reload() {
        use crate::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
        use crate::store::Actor;
        let (_tmp, store, mut cli, project) = stores();
        let service = TokenService::new(KeySet::default(), 30, 10);
        smol::block_on(service.reload(&store)).unwrap();
        let (pem, public) = generate_key_pair([7; 32]).unwrap();
        let kid = Kid::from_random([7; 8]);
        cli.add_key(&project, &kid, &public, None, crate::store::KeyOrigin::Registered, Actor::CLI, UnixTime(2))
            .unwrap();
        let request = MintRequest {
            kid: &kid,
            gid: &crate::ids::GroupId::parse("g").unwrap(),
            pid: &crate::ids::PeerId::parse("p").unwrap(),
            policy: None,
            iat: UnixTime::now(),
            ttl_secs: 60,
        };
        let token = mint(&signing_key_from_pem(&pem).unwrap(), &request).unwrap();
        assert!(matches!(service.verify(&token, UnixTime::now()), Err(TokenError::UnknownKid(_))));
        let verified = smol::block_on(service.verify_or_look_up(&store, &token)).unwrap();
        assert_eq!(verified.project, project);
        // A token of a kid no store has is refused as before, without a second store trip.
        let stranger =
            mint(&signing_key_from_pem(&pem).unwrap(), &MintRequest { kid: &Kid::from_random([8; 8]), ..request })
                .unwrap();
        let e = smol::block_on(service.verify_or_look_up(&store, &stranger)).unwrap_err();
        assert!(matches!(e, TokenError::UnknownKid(_)), "{e}");
    }
}
