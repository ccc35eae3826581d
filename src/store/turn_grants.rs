//! TURN usernames handed out by signaling, and which key's token each was handed out for: the
//! record that lets a key deletion or a kick refuse TURN credentials until they expire, whether
//! the server restarted since they were handed out or not (docs/turn.md, "Revocation").
//!
//! A username is revoked while it has not expired and one of its rows is kicked or names a kid
//! that is no longer in `keys`. Deriving key revocation from `keys` itself means a key deleted
//! while the server was down (`edgebeam key delete` with no `serve` running) or by a project's
//! deletion needs no event to take effect.
//!
//! A row is (identity, expiry, kid): the username is `EXPIRY:IDENTITY`, so it is not stored
//! twice. Measured with 360,000 rows (`cargo test --lib measure_turn_grants -- --ignored`, debug
//! build with dependencies at opt-level 1): see docs/benchmarks.md, "TURN credential record".

use std::collections::BTreeSet;

use rusqlite::params;

use super::{Store, StoreError};
use crate::ids::Kid;
use crate::unixtime::UnixTime;

/// One username handed out for a token of `kid`: `identity` is its `PROJECT:GID:PID` and
/// `expiry` its `EXPIRY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnGrant {
    pub identity: String,
    pub expiry: UnixTime,
    pub kid: Kid,
}

/// The username of (expiry, identity): `EXPIRY:PROJECT:GID:PID`, as `proto::ice::turn_username`
/// makes it (a test holds the two together).
fn username(expiry: i64, identity: &str) -> String {
    format!("{expiry}:{identity}")
}

fn usernames(rows: impl Iterator<Item = rusqlite::Result<(i64, String)>>) -> Result<Vec<String>, StoreError> {
    let mut out = BTreeSet::new();
    for row in rows {
        let (expiry, identity) = row?;
        out.insert(username(expiry, &identity));
    }
    Ok(out.into_iter().collect())
}

impl Store {
    /// Records grants in one transaction; a grant already recorded (same username and kid)
    /// keeps its row, kicked or not.
    pub fn record_turn_grants(&mut self, grants: &[TurnGrant]) -> Result<(), StoreError> {
        let kids: BTreeSet<&str> = grants.iter().map(|g| g.kid.as_str()).collect();
        let tx = self.write_transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT OR IGNORE INTO turn_grants (identity, expiry, kid) VALUES (?1, ?2, ?3)")?;
            for g in grants {
                stmt.execute(params![g.identity, g.expiry.secs(), g.kid.as_str()])?;
            }
            let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO turn_grant_kids (kid) VALUES (?1)")?;
            for kid in kids {
                stmt.execute([kid])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks every unexpired username of `identity` kicked and returns them.
    pub fn kick_turn_identity(&mut self, identity: &str, now: UnixTime) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE turn_grants SET kicked = 1 WHERE identity = ?1 AND expiry > ?2 RETURNING expiry, identity",
        )?;
        let rows = stmt.query_map(params![identity, now.secs()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        usernames(rows)
    }

    /// The unexpired usernames handed out for tokens of these kids.
    pub fn turn_usernames_of(&self, kids: &[Kid], now: UnixTime) -> Result<Vec<String>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT expiry, identity FROM turn_grants WHERE kid = ?1 AND expiry > ?2")?;
        let mut out = Vec::new();
        for kid in kids {
            let rows = stmt.query_map(params![kid.as_str(), now.secs()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            out.extend(usernames(rows)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every unexpired username that is revoked: kicked, or handed out for a token of a key
    /// that is gone. What the TURN core starts with; reads the revoked rows only.
    pub fn revoked_turn_usernames(&self, now: UnixTime) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT kid FROM turn_grant_kids WHERE kid NOT IN (SELECT kid FROM keys)")?;
        let gone: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let gone: Vec<Kid> = gone.iter().filter_map(|k| Kid::parse(k).ok()).collect();
        let mut out = self.turn_usernames_of(&gone, now)?;
        let mut stmt =
            self.conn.prepare("SELECT expiry, identity FROM turn_grants WHERE kicked = 1 AND expiry > ?1")?;
        out.extend(usernames(stmt.query_map([now.secs()], |r| Ok((r.get(0)?, r.get(1)?)))?)?);
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Forgets grants whose username has expired (it is refused as expired anyway), and kids no
    /// grant names any more. Returns how many grants went.
    pub fn prune_turn_grants(&mut self, now: UnixTime) -> Result<usize, StoreError> {
        let tx = self.write_transaction()?;
        let n = tx.execute("DELETE FROM turn_grants WHERE expiry <= ?1", [now.secs()])?;
        if n > 0 {
            tx.execute(
                "DELETE FROM turn_grant_kids WHERE NOT EXISTS
                 (SELECT 1 FROM turn_grants g WHERE g.kid = turn_grant_kids.kid)",
                [],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProjectId, ProjectName};
    use crate::proto::ice::turn_username;
    use crate::proto::token::keyset::generate_key_pair;
    use crate::store::{Actor, OpenMode};

    /// A store with one project and keys `kid(1)..=kid(n)`.
    fn store_with_keys(dir: &std::path::Path, n: u8) -> Store {
        let mut store = Store::open(dir, OpenMode::CreateIfMissing).unwrap();
        let project = ProjectId::from_random([1; 16]);
        store.create_project(&project, &ProjectName::parse("app").unwrap(), Actor::CLI, UnixTime(1)).unwrap();
        for i in 1..=n {
            let (_, material) = generate_key_pair([i; 32]).unwrap();
            store
                .add_key(
                    &project,
                    &kid(i),
                    &material,
                    None,
                    crate::store::KeyOrigin::Registered,
                    Actor::CLI,
                    UnixTime(1),
                )
                .unwrap();
        }
        store
    }

    fn kid(n: u8) -> Kid {
        Kid::from_random([n; 8])
    }

    fn grant(username: &str, k: u8) -> TurnGrant {
        let (expiry, identity) = username.split_once(':').unwrap();
        TurnGrant { identity: identity.into(), expiry: UnixTime(expiry.parse().unwrap()), kid: kid(k) }
    }

    #[test]
    fn usernames_are_made_as_signaling_makes_them() {
        assert_eq!(username(1_800_000_000, "prj_a:room:alice"), turn_username(1_800_000_000, "prj_a", "room", "alice"));
    }

    #[test]
    fn a_deleted_keys_usernames_are_revoked_also_after_reopening() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = store_with_keys(tmp.path(), 2);
        let now = UnixTime(1_000);
        store.record_turn_grants(&[grant("2000:p:g:alice", 1), grant("2000:p:g:bob", 2)]).unwrap();
        assert!(store.revoked_turn_usernames(now).unwrap().is_empty());
        store.delete_key(&kid(1), Actor::CLI, now).unwrap();
        assert_eq!(store.turn_usernames_of(&[kid(1)], now).unwrap(), ["2000:p:g:alice"]);
        assert_eq!(store.revoked_turn_usernames(now).unwrap(), ["2000:p:g:alice"]);
        drop(store);
        // A restart: the server starts from what the database says.
        let store = Store::open(tmp.path(), OpenMode::MustExist).unwrap();
        assert_eq!(store.revoked_turn_usernames(now).unwrap(), ["2000:p:g:alice"]);
        // Once expired it is refused as expired, and no longer listed.
        assert!(store.revoked_turn_usernames(UnixTime(2_000)).unwrap().is_empty());
    }

    #[test]
    fn a_username_handed_out_for_two_keys_goes_with_either() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = store_with_keys(tmp.path(), 2);
        let now = UnixTime(1_000);
        // A welcome with a token of kid 1, then a refresh with kid 2's token of the same exp.
        store.record_turn_grants(&[grant("2000:p:g:alice", 1)]).unwrap();
        store.record_turn_grants(&[grant("2000:p:g:alice", 2)]).unwrap();
        store.delete_key(&kid(2), Actor::CLI, now).unwrap();
        assert_eq!(store.turn_usernames_of(&[kid(2)], now).unwrap(), ["2000:p:g:alice"]);
        assert_eq!(store.revoked_turn_usernames(now).unwrap(), ["2000:p:g:alice"]);
    }

    #[test]
    fn a_kicked_identity_stays_refused_until_its_usernames_expire() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = store_with_keys(tmp.path(), 1);
        let now = UnixTime(1_000);
        let grants = [grant("1500:p:g:alice", 1), grant("2000:p:g:alice", 1), grant("900:p:g:alice", 1)];
        store.record_turn_grants(&grants).unwrap();
        store.record_turn_grants(&[grant("2000:p:g:bob", 1)]).unwrap();
        assert_eq!(store.kick_turn_identity("p:g:alice", now).unwrap(), ["1500:p:g:alice", "2000:p:g:alice"]);
        // Granted again (the same token reconnecting): still kicked.
        store.record_turn_grants(&[grant("2000:p:g:alice", 1)]).unwrap();
        drop(store);
        let mut store = Store::open(tmp.path(), OpenMode::MustExist).unwrap();
        assert_eq!(store.revoked_turn_usernames(now).unwrap(), ["1500:p:g:alice", "2000:p:g:alice"]);
        assert_eq!(store.prune_turn_grants(UnixTime(1_500)).unwrap(), 2);
        assert_eq!(store.revoked_turn_usernames(UnixTime(1_500)).unwrap(), ["2000:p:g:alice"]);
    }

    /// The in-memory registry this replaced held at most 200,000 grants and forgot the ones
    /// expiring first: a credential pushed out of it outlived its key.
    #[test]
    fn no_number_of_later_grants_pushes_one_out() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = store_with_keys(tmp.path(), 2);
        let now = UnixTime(1_000);
        store.record_turn_grants(&[grant("1001:p:g:first", 1)]).unwrap();
        let later: Vec<TurnGrant> = (0..200_001).map(|i| grant(&format!("{}:p:g:u{i}", 5_000 + i), 2)).collect();
        store.record_turn_grants(&later).unwrap();
        store.delete_key(&kid(1), Actor::CLI, now).unwrap();
        assert_eq!(store.turn_usernames_of(&[kid(1)], now).unwrap(), ["1001:p:g:first"]);
        assert_eq!(store.revoked_turn_usernames(now).unwrap(), ["1001:p:g:first"]);
    }
}
#[cfg(test)]
mod measure {
    use super::*;
    use crate::store::OpenMode;

    /// Prints what the record costs; run by hand: `cargo test --lib measure_turn_grants --
    /// --ignored --nocapture` (figures in docs/benchmarks.md).
    #[test]
    #[ignore]
    fn measure_turn_grants() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
        let g = |i: usize| TurnGrant {
            identity: format!("prj_0123456789abcdef:room-{}:peer-{i}", i / 10),
            expiry: UnixTime(2_000_000_000 + i as i64),
            kid: Kid::from_random([(i % 7) as u8; 8]),
        };
        for batch in [1usize, 10, 100, 1000] {
            let n = if batch == 1 { 500 } else { 20_000 };
            let t = std::time::Instant::now();
            for first in (0..n).step_by(batch) {
                let b: Vec<_> = (first..first + batch).map(|j| g(1_000_000 * batch + j)).collect();
                store.record_turn_grants(&b).unwrap();
            }
            let e = t.elapsed();
            let per_commit = e / (n / batch) as u32;
            eprintln!("batches of {batch}: {:.0} rows/s, {per_commit:?} per commit", n as f64 / e.as_secs_f64());
        }
        store.record_turn_grants(&(0..300_000).map(g).collect::<Vec<_>>()).unwrap();
        let rows: i64 = store.conn.query_row("SELECT count(*) FROM turn_grants", [], |r| r.get(0)).unwrap();
        store.conn.execute_batch("INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)").unwrap();
        for k in 0..6u8 {
            store
                .conn
                .execute(
                    "INSERT INTO keys (kid, project_id, public_key_spki, created_at) VALUES (?1, 'p', x'00', 0)",
                    [Kid::from_random([k; 8]).as_str()],
                )
                .unwrap();
        }
        let now = UnixTime(1_000);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let r = store.revoked_turn_usernames(now).unwrap();
            eprintln!("start: {} revoked of {rows} rows (one kid of 7 deleted) in {:?}", r.len(), t.elapsed());
        }
        store
            .conn
            .execute(
                "INSERT INTO keys (kid, project_id, public_key_spki, created_at) VALUES (?1, 'p', x'00', 0)",
                [Kid::from_random([6; 8]).as_str()],
            )
            .unwrap();
        let t = std::time::Instant::now();
        let r = store.revoked_turn_usernames(now).unwrap();
        eprintln!("start: {} revoked of {rows} rows (no key deleted) in {:?}", r.len(), t.elapsed());
        let t = std::time::Instant::now();
        let r = store.turn_usernames_of(&[Kid::from_random([3; 8])], now).unwrap();
        eprintln!("key deletion: {} usernames of one kid in {:?}", r.len(), t.elapsed());
        let t = std::time::Instant::now();
        let r = store.kick_turn_identity("prj_0123456789abcdef:room-7:peer-77", now).unwrap();
        eprintln!("kick: {} usernames in {:?}", r.len(), t.elapsed());
        let t = std::time::Instant::now();
        let n = store.prune_turn_grants(UnixTime(2_000_000_000 + 30_000)).unwrap();
        eprintln!("prune: {n} rows in {:?}", t.elapsed());
        eprintln!("database: {} bytes for {rows} rows", store.stats().unwrap().db_bytes);
    }
}
