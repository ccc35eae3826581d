//! Accounts. Passwords arrive here already hashed (argon2id, see `crate::password`).

use rusqlite::{params, OptionalExtension};

use super::{Actor, Role, Store, StoreError};
use crate::ids::Username;
use crate::unixtime::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account named {0:?} already exists")]
    UsernameTaken(String),
    #[error("setup is done: an account already exists")]
    SetupDone,
    #[error("the setup token is wrong or already spent")]
    SetupTokenInvalid,
    #[error("no account named {0:?}")]
    NoSuchAccount(String),
    #[error("refusing to delete the last owner account")]
    LastOwner,
    #[error("{0:?} is an owner: owners see every project and are never members")]
    OwnerNotMember(String),
    #[error("role {0} is for accounts only; members and API keys are admin or viewer")]
    RoleNotAllowed(Role),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub created_at: UnixTime,
}

/// Columns for [`account_row`], from a table aliased `a`.
pub(super) const ACCOUNT_COLUMNS: &str = "a.id, a.username, a.role, a.created_at";

/// Reads [`ACCOUNT_COLUMNS`] starting at column `at`.
pub(super) fn account_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Account> {
    let username: String = r.get(at + 1)?;
    let username = Username::parse(&username)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(at + 1, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Account { id: r.get(at)?, username, role: r.get(at + 2)?, created_at: UnixTime(r.get(at + 3)?) })
}

/// Inserts an account and its audit entry, and spends the setup token (once an account exists,
/// setup is done).
fn insert_account(
    tx: &rusqlite::Transaction<'_>,
    username: &Username,
    password_hash: &str,
    role: Role,
    actor: Actor<'_>,
    now: UnixTime,
) -> Result<Account, StoreError> {
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO accounts (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![username.as_str(), password_hash, role, now.secs()],
    )?;
    if inserted == 0 {
        return Err(AccountError::UsernameTaken(username.as_str().to_owned()).into());
    }
    let id = tx.last_insert_rowid();
    tx.execute("DELETE FROM secrets WHERE name = ?1", [super::secrets::SETUP_TOKEN_HASH])?;
    let detail = format!("role={role}");
    super::audit::insert(tx, now, actor, "account.create", Some(username.as_str()), Some(&detail))?;
    Ok(Account { id, username: username.clone(), role, created_at: now })
}

impl Store {
    pub fn account_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?)
    }

    /// Creates an account (also the CLI's `admin create`, which makes an owner). The setup token,
    /// if any, is spent in the same transaction.
    pub fn create_account(
        &mut self,
        username: &Username,
        password_hash: &str,
        role: Role,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Account, StoreError> {
        let tx = self.write_transaction()?;
        let account = insert_account(&tx, username, password_hash, role, actor, now)?;
        tx.commit()?;
        Ok(account)
    }

    /// `POST /setup`: the first owner, only while no account exists and only with the setup
    /// token whose SHA-256 is stored; the token is spent in the same transaction.
    pub fn create_first_owner(
        &mut self,
        username: &Username,
        password_hash: &str,
        setup_token_sha256: &[u8],
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Account, StoreError> {
        let tx = self.write_transaction()?;
        let accounts: i64 = tx.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))?;
        if accounts > 0 {
            return Err(AccountError::SetupDone.into());
        }
        let stored: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM secrets WHERE name = ?1", [super::secrets::SETUP_TOKEN_HASH], |r| r.get(0))
            .optional()?;
        let matches = stored.is_some_and(|s| crate::proto::stun::integrity::constant_time_eq(&s, setup_token_sha256));
        if !matches {
            return Err(AccountError::SetupTokenInvalid.into());
        }
        let account = insert_account(&tx, username, password_hash, Role::Owner, actor, now)?;
        tx.commit()?;
        Ok(account)
    }

    /// The account with exactly this username, with its password hash.
    pub fn account(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS}, a.password_hash FROM accounts a WHERE a.username = ?1");
        Ok(self.conn.query_row(&sql, [username], |r| Ok((account_row(r, 0)?, r.get(4)?))).optional()?)
    }

    pub fn account_by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1");
        Ok(self.conn.query_row(&sql, [id], |r| account_row(r, 0)).optional()?)
    }

    /// Every account, oldest first.
    pub fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.created_at, a.id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| account_row(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes an account; its sessions, API keys and memberships go with it (foreign keys).
    /// The last owner cannot be deleted: nobody could manage accounts any more.
    pub fn delete_account(&mut self, username: &str, actor: Actor<'_>, now: UnixTime) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let found: Option<(i64, Role)> = tx
            .query_row("SELECT id, role FROM accounts WHERE username = ?1", [username], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((id, role)) = found else {
            return Err(AccountError::NoSuchAccount(username.to_owned()).into());
        };
        if role == Role::Owner {
            let owners: i64 = tx.query_row("SELECT count(*) FROM accounts WHERE role = 'owner'", [], |r| r.get(0))?;
            if owners <= 1 {
                return Err(AccountError::LastOwner.into());
            }
        }
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id])?;
        super::audit::insert(&tx, now, actor, "account.delete", Some(username), None)?;
        tx.commit()?;
        Ok(())
    }
}
