//! Admin accounts. Passwords arrive here already hashed (argon2id, see `crate::password`).

use rusqlite::params;

use super::{Actor, Store, StoreError};
use crate::ids::Username;
use crate::unixtime::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account named {0:?} already exists")]
    UsernameTaken(String),
}

impl Store {
    pub fn account_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?)
    }

    /// Creates a box-wide admin account; the setup token, if any, is spent in the same transaction.
    pub fn create_admin(
        &mut self,
        username: &Username,
        password_hash: &str,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO accounts (username, password_hash, role, created_at) VALUES (?1, ?2, 'admin', ?3)",
            params![username.as_str(), password_hash, now.secs()],
        )?;
        if inserted == 0 {
            return Err(AccountError::UsernameTaken(username.as_str().to_owned()).into());
        }
        tx.execute("DELETE FROM secrets WHERE name = ?1", [super::secrets::SETUP_TOKEN_HASH])?;
        super::audit::insert(&tx, now, actor, "account.create", Some(username.as_str()), Some("role=admin"))?;
        tx.commit()?;
        Ok(())
    }
}
