//! Keeps the store's record of handed-out TURN credentials (`store::turn_grants`) and the TURN
//! core's revoked usernames in step with signaling and the key set.
//!
//! Why the store and not only the core: the core's memory of which key each username came from
//! started empty after a restart (a key deleted then left pre-restart credentials usable until
//! their EXPIRY, up to the token TTL), was capped (a grant pushed out of a full table could not
//! be revoked), and remembered one kid per username (a refresh with another key's token of the
//! same `exp` yields the same username). The store keeps every (username, kid) pair until the
//! username expires, whatever the restarts; a username is revoked when one of its kids is gone.
//!
//! Ordering: grants and kicks come from signaling in one queue, in the order they happened, so a
//! kick covers every username handed out before it. Key deletions come from the token service on
//! another queue; a grant of a key that is already deleted (a token verified just before the
//! deletion) is revoked as it is recorded, so the two queues need no common order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::ids::Kid;
use crate::net::turn::Control;
use crate::proto::turn::auth::TurnUser;
use crate::proto::turn::Identity;
use crate::store::turn_grants::TurnGrant;
use crate::store::worker::StoreHandle;
use crate::store::Store;
use crate::unixtime::UnixTime;

/// What signaling tells the TURN side about credentials, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialEvent {
    /// `username` was handed out (in `welcome` or `refreshed`) for a token signed by `kid`.
    Granted { username: String, kid: Kid },
    /// An admin kicked this identity: its allocations go, and its usernames are refused until
    /// they expire.
    Kicked(Identity),
}

/// Most events written in one store call (one transaction for the grants among them).
pub const MAX_BATCH: usize = 4096;
/// How often grants past their expiry are deleted from the store.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub struct Ledger {
    store: StoreHandle,
    control: async_channel::Sender<Control>,
    /// Kids deleted since the server started.
    deleted: HashSet<Kid>,
    last_prune: Instant,
}

impl Ledger {
    pub fn new(store: StoreHandle, control: async_channel::Sender<Control>) -> Ledger {
        Ledger { store, control, deleted: HashSet::new(), last_prune: Instant::now() }
    }

    /// Records a batch of signaling's events, in order, and revokes what they call for.
    pub async fn record(&mut self, batch: Vec<CredentialEvent>) {
        // A kick takes the identity's allocations at once; the store then names every username
        // it was handed out, which are revoked below.
        for event in &batch {
            if let CredentialEvent::Kicked(identity) = event {
                self.tell(Control::Kick(identity.clone())).await;
            }
        }
        let mut revoke: Vec<String> = batch
            .iter()
            .filter_map(|e| match e {
                CredentialEvent::Granted { username, kid, .. } if self.deleted.contains(kid) => Some(username.clone()),
                _ => None,
            })
            .collect();
        let (now, prune) = (UnixTime::now(), self.last_prune.elapsed() >= PRUNE_EVERY);
        if prune {
            self.last_prune = Instant::now();
        }
        if let Ok(kicked) = self.store.call(move |s| write(s, batch, now, prune)).await {
            revoke.extend(kicked);
        }
        if !revoke.is_empty() {
            self.tell(Control::Revoke(revoke)).await;
        }
    }

    /// Keys are gone: every username handed out for their tokens is revoked.
    pub async fn keys_deleted(&mut self, kids: Vec<Kid>) {
        self.deleted.extend(kids.iter().cloned());
        let now = UnixTime::now();
        match self.store.call(move |s| s.turn_usernames_of(&kids, now)).await {
            Ok(Ok(usernames)) if !usernames.is_empty() => self.tell(Control::Revoke(usernames)).await,
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => log::warn!("turn: cannot look up the TURN credentials of deleted keys: {e}"),
        }
    }

    async fn tell(&self, msg: Control) {
        // Fails only once the turn thread has stopped (shutting down).
        let _ = self.control.send(msg).await;
    }
}

/// Writes `batch` in order on the store thread; returns the usernames its kicks revoked. A
/// failed write is logged and the rest still written: losing one grant's record must not lose
/// a later kick.
fn write(store: &mut Store, batch: Vec<CredentialEvent>, now: UnixTime, prune: bool) -> Vec<String> {
    let mut kicked = Vec::new();
    let mut grants: Vec<TurnGrant> = Vec::new();
    let flush = |store: &mut Store, grants: &mut Vec<TurnGrant>| {
        if grants.is_empty() {
            return;
        }
        if let Err(e) = store.record_turn_grants(grants) {
            log::warn!("turn: cannot record {} handed-out TURN credentials: {e}", grants.len());
        }
        grants.clear();
    };
    for event in batch {
        match event {
            CredentialEvent::Granted { username, kid } => {
                let Some(user) = TurnUser::parse(&username) else { continue };
                grants.push(TurnGrant { identity: user.identity.to_string(), expiry: user.expiry, kid });
            }
            CredentialEvent::Kicked(identity) => {
                flush(store, &mut grants);
                match store.kick_turn_identity(&identity.to_string(), now) {
                    Ok(usernames) => kicked.extend(usernames),
                    Err(e) => log::warn!("turn: cannot record a kick: {e}"),
                }
            }
        }
    }
    flush(store, &mut grants);
    if prune {
        match store.prune_turn_grants(now) {
            Ok(n) => log::debug!("turn: forgot {n} expired TURN credentials"),
            Err(e) => log::warn!("turn: cannot prune expired TURN credentials: {e}"),
        }
    }
    kicked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupId, PeerId, ProjectId};
    use crate::store::OpenMode;

    fn identity(pid: &str) -> Identity {
        let project = ProjectId::parse("prj").unwrap();
        Identity { project, gid: GroupId::parse("room").unwrap(), pid: PeerId::parse(pid).unwrap() }
    }

    fn granted(expiry: i64, pid: &str, kid: u8) -> CredentialEvent {
        CredentialEvent::Granted { username: format!("{expiry}:prj:room:{pid}"), kid: Kid::from_random([kid; 8]) }
    }

    fn ledger() -> (Ledger, async_channel::Receiver<Control>, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let (store, _thread) = StoreHandle::spawn(Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap());
        let (control, rx) = async_channel::unbounded();
        (Ledger::new(store, control), rx, tmp)
    }

    fn revoked(msg: Control) -> Vec<String> {
        match msg {
            Control::Revoke(mut usernames) => {
                usernames.sort();
                usernames
            }
            _ => panic!("expected Control::Revoke"),
        }
    }

    #[test]
    fn a_kick_takes_the_allocations_at_once_then_every_username_handed_out_before_it() {
        let (mut ledger, control, _dir) = ledger();
        let exp = UnixTime::now().secs() + 3600;
        smol::block_on(async {
            let batch = vec![granted(exp, "alice", 1), granted(exp + 60, "alice", 2), granted(exp, "bob", 1)];
            ledger.record(batch).await;
            assert!(control.is_empty(), "nothing to revoke yet");
            ledger.record(vec![CredentialEvent::Kicked(identity("alice")), granted(exp + 120, "alice", 1)]).await;
            assert!(matches!(control.try_recv(), Ok(Control::Kick(who)) if who == identity("alice")));
            let want = [format!("{exp}:prj:room:alice"), format!("{}:prj:room:alice", exp + 60)];
            assert_eq!(revoked(control.try_recv().unwrap()), want, "not bob's, nor the one after the kick");
            assert!(control.is_empty());
        });
    }

    #[test]
    fn a_grant_of_a_key_deleted_before_it_was_recorded_is_revoked_as_it_is() {
        let (mut ledger, control, _dir) = ledger();
        let exp = UnixTime::now().secs() + 3600;
        smol::block_on(async {
            ledger.record(vec![granted(exp, "alice", 1)]).await;
            ledger.keys_deleted(vec![Kid::from_random([1; 8])]).await;
            assert_eq!(revoked(control.try_recv().unwrap()), [format!("{exp}:prj:room:alice")]);
            // A token of that key verified just before its deletion: its grant arrives after.
            ledger.record(vec![granted(exp + 1, "bob", 1), granted(exp + 1, "carol", 2)]).await;
            assert_eq!(revoked(control.try_recv().unwrap()), [format!("{}:prj:room:bob", exp + 1)]);
            assert!(control.is_empty());
        });
    }
}
