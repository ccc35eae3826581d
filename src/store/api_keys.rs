//! API keys: bearer secrets for scripts. The store keeps the SHA-256 of the key only. A key acts
//! as its account, at most with the key's own role (the caller takes the lower of the two).

use rusqlite::{params, OptionalExtension};

use super::accounts::{account_row, Account, ACCOUNT_COLUMNS};
use super::{AccountError, Actor, Role, Store, StoreError};
use crate::ids::Username;
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The account the key belongs to.
    pub account: Username,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// Columns for [`key_row`]: `k` is `api_keys`, `a` its account.
const KEY_COLUMNS: &str = "k.id, k.name, k.role, a.username, k.created_at, k.last_used_at";

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    let account: String = r.get(3)?;
    let account = Username::parse(&account)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(ApiKeyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        account,
        created_at: UnixTime(r.get(4)?),
        last_used_at: r.get::<_, Option<i64>>(5)?.map(UnixTime),
    })
}

impl Store {
    /// Stores a new key (`role` admin or viewer) for an account, with its audit entry.
    #[allow(clippy::too_many_arguments)]
    pub fn create_api_key(
        &mut self,
        id: &str,
        account_id: i64,
        name: &str,
        role: Role,
        key_hash: &[u8; 32],
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<ApiKeyRow, StoreError> {
        if role == Role::Owner {
            return Err(AccountError::RoleNotAllowed(role).into());
        }
        let tx = self.write_transaction()?;
        let account: Option<String> =
            tx.query_row("SELECT username FROM accounts WHERE id = ?1", [account_id], |r| r.get(0)).optional()?;
        let Some(account) = account else {
            return Err(AccountError::NoSuchAccount(format!("#{account_id}")).into());
        };
        tx.execute(
            "INSERT INTO api_keys (id, account_id, name, role, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, account_id, name, role, &key_hash[..], now.secs()],
        )?;
        super::audit::insert(&tx, now, actor, "api_key.create", Some(id), Some(name))?;
        tx.commit()?;
        let account = Username::parse(&account).map_err(|_| AccountError::NoSuchAccount(account))?;
        Ok(ApiKeyRow { id: id.to_owned(), name: name.to_owned(), role, account, created_at: now, last_used_at: None })
    }

    /// Every key (`None`) or one account's keys, oldest first.
    pub fn list_api_keys(&self, account_id: Option<i64>) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE ?1 IS NULL OR k.account_id = ?1 ORDER BY k.created_at, k.id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([account_id], key_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a key; with `account_id`, only if it is that account's. False if nothing matched
    /// (and then nothing is audited).
    pub fn delete_api_key(
        &mut self,
        id: &str,
        account_id: Option<i64>,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let tx = self.write_transaction()?;
        let deleted = tx.execute(
            "DELETE FROM api_keys WHERE id = ?1 AND (?2 IS NULL OR account_id = ?2)",
            params![id, account_id],
        )?;
        if deleted == 0 {
            return Ok(false);
        }
        super::audit::insert(&tx, now, actor, "api_key.delete", Some(id), None)?;
        tx.commit()?;
        Ok(true)
    }

    /// The key with this hash and its account; records `now` as its last use.
    pub fn api_key_by_hash(
        &mut self,
        key_hash: &[u8; 32],
        now: UnixTime,
    ) -> Result<Option<(ApiKeyRow, Account)>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS}, {ACCOUNT_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.key_hash = ?1"
        );
        let found = self.conn.query_row(&sql, [&key_hash[..]], |r| Ok((key_row(r)?, account_row(r, 6)?))).optional()?;
        let Some((mut key, account)) = found else { return Ok(None) };
        if key.last_used_at != Some(now) {
            self.conn.execute("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", params![key.id, now.secs()])?;
            key.last_used_at = Some(now);
        }
        Ok(Some((key, account)))
    }
}
