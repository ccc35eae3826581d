//! The server's own secrets (the TURN secret, the one-time setup token hash). Values never leave
//! this module except to the code that uses them, and are never logged.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::unixtime::UnixTime;

pub const TURN_SECRET: &str = "turn_secret";
pub const SETUP_TOKEN_HASH: &str = "setup_token_sha256";

impl Store {
    pub fn secret(&self, name: &str) -> Result<Option<(Vec<u8>, UnixTime)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value, created_at FROM secrets WHERE name = ?1", [name], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, UnixTime(r.get(1)?)))
            })
            .optional()?)
    }

    /// Returns the stored secret, or stores and returns `fresh` if there is none. Two processes
    /// racing here agree on one value: the insert is conditional and the winner is read back.
    pub fn secret_or_insert(&mut self, name: &str, fresh: &[u8], now: UnixTime) -> Result<Vec<u8>, StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3)",
            params![name, fresh, now.secs()],
        )?;
        Ok(self.secret(name)?.map(|(v, _)| v).unwrap_or_else(|| fresh.to_vec()))
    }

    pub fn put_secret(&mut self, name: &str, value: &[u8], now: UnixTime) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            params![name, value, now.secs()],
        )?;
        Ok(())
    }

    pub fn delete_secret(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM secrets WHERE name = ?1", [name])?;
        Ok(())
    }
}

/// The TURN secret replaced by the last rotation; its `created_at` is the rotation time.
pub const TURN_SECRET_PREVIOUS: &str = "turn_secret_previous";

/// The current TURN secret and, after a rotation, the previous one with the rotation time.
pub struct StoredTurnSecrets {
    pub current: Vec<u8>,
    pub previous: Option<(Vec<u8>, UnixTime)>,
}

impl Store {
    /// The current TURN secret and, after a rotation, the previous one with the rotation time.
    pub fn turn_secrets(&self) -> Result<Option<StoredTurnSecrets>, StoreError> {
        let Some((current, _)) = self.secret(TURN_SECRET)? else { return Ok(None) };
        Ok(Some(StoredTurnSecrets { current, previous: self.secret(TURN_SECRET_PREVIOUS)? }))
    }

    /// Makes `fresh` the TURN secret and keeps the old one as the previous secret, in one
    /// transaction so a crash never loses both.
    pub fn rotate_turn_secret(
        &mut self,
        fresh: &[u8],
        now: UnixTime,
        actor: super::Actor<'_>,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        super::audit::insert(&tx, now, actor, "turn.rotate_secret", None, None)?;
        tx.execute(
            "INSERT INTO secrets (name, value, created_at)
             SELECT ?1, value, ?2 FROM secrets WHERE name = ?3
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            params![TURN_SECRET_PREVIOUS, now.secs(), TURN_SECRET],
        )?;
        tx.execute(
            "INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            params![TURN_SECRET, fresh, now.secs()],
        )?;
        tx.commit()?;
        Ok(())
    }
}
