//! Admin UI sessions. The store keeps the SHA-256 of the session id only, so a copy of the
//! database does not sign anyone in. A session ends at `expires_at` (absolute) or after
//! `idle_secs` without a request (idle); both limits are inclusive: a session seen exactly at
//! its limit is still good.

use rusqlite::{params, OptionalExtension};

use super::accounts::{account_row, Account, ACCOUNT_COLUMNS};
use super::{Store, StoreError};
use crate::unixtime::UnixTime;

/// `last_seen_at` is rewritten only when at least this old: one write a minute per session,
/// not one per request; idle limits are hours, so a minute of slack does not matter.
const LAST_SEEN_GRANULARITY_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub account: Account,
    pub csrf_token: String,
}

impl Store {
    /// Stores a new session, and deletes every session past its absolute expiry (cheap
    /// housekeeping, so the table does not grow with abandoned sessions).
    pub fn create_session(
        &mut self,
        id_hash: &[u8; 32],
        account_id: i64,
        csrf_token: &str,
        source: &str,
        now: UnixTime,
        lifetime_secs: i64,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [now.secs()])?;
        tx.execute(
            "INSERT INTO sessions (id_hash, account_id, csrf_token, source, created_at, last_seen_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![&id_hash[..], account_id, csrf_token, source, now.secs(), now.secs().saturating_add(lifetime_secs)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The live session with this id hash and its account. An expired or idle session is
    /// deleted and reads as `None`.
    pub fn session(
        &mut self,
        id_hash: &[u8; 32],
        now: UnixTime,
        idle_secs: i64,
    ) -> Result<Option<SessionView>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.csrf_token, s.last_seen_at, s.expires_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = ?1"
        );
        let row = self
            .conn
            .query_row(&sql, [&id_hash[..]], |r| {
                Ok((account_row(r, 0)?, r.get::<_, String>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?))
            })
            .optional()?;
        let Some((account, csrf_token, last_seen_at, expires_at)) = row else { return Ok(None) };
        let now = now.secs();
        if now > expires_at || now.saturating_sub(last_seen_at) > idle_secs {
            self.conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash[..]])?;
            return Ok(None);
        }
        if now.saturating_sub(last_seen_at) >= LAST_SEEN_GRANULARITY_SECS {
            self.conn
                .execute("UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1", params![&id_hash[..], now])?;
        }
        Ok(Some(SessionView { account, csrf_token }))
    }

    /// Deletes a session (logout); false if there was none.
    pub fn delete_session(&mut self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash[..]])? > 0)
    }
}
