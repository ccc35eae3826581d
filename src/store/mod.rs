//! SQLite storage behind a synchronous API.
//!
//! Opening is careful: a file that is not an SQLite database, an SQLite database of another
//! program, a database written by a newer edgebeam, or one failing `PRAGMA quick_check` is refused
//! before anything is written to it. The server calls the store through
//! [`worker::StoreHandle`] (one dedicated thread); CLI commands call it directly. Both may run at
//! once on one data dir: WAL mode and a busy timeout make that safe.

mod accounts;
mod api_keys;
mod audit;
mod backup;
mod keys;
mod members;
mod projects;
mod roles;
pub mod schema;
pub mod secrets;
mod sessions;
pub mod turn_grants;
pub mod usage;
pub mod webhooks;
pub mod worker;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use accounts::{Account, AccountError};
pub use api_keys::ApiKeyRow;
pub use audit::{Actor, AuditEntry, AuditQuery, AuditRow};
pub use keys::{KeyOrigin, StoredKey};
pub use members::Member;
pub use projects::{NewProject, Project, ProjectPatch, ProjectPolicy, DEFAULT_MAX_TOKEN_TTL_SECS};
pub use roles::Role;
pub use sessions::SessionView;

use crate::fsutil;

pub const DB_FILE: &str = "edgebeam.db";
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database at {0} (has `edgebeam serve` run with this --data-dir?)")]
    Missing(PathBuf),
    #[error("cannot use data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("{0} is not an SQLite database; refusing to touch it")]
    NotADatabase(PathBuf),
    #[error("{0} is an SQLite database of another program; refusing to touch it")]
    ForeignDatabase(PathBuf),
    #[error("{path} has schema version {found}, newer than this edgebeam supports ({supported}); use a newer edgebeam or restore a backup")]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("{path} failed its integrity check ({detail}); restore a backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot migrate {path}: {detail}")]
    Migration { path: PathBuf, detail: String },
    #[error("output file {0} already exists; refusing to overwrite it")]
    OutputExists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    #[error("no project with id {0:?}")]
    NoSuchProject(String),
    #[error("no key with kid {0:?}")]
    NoSuchKey(String),
    #[error("no webhook with id {0:?}")]
    NoSuchWebhook(String),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Whether opening may create the data dir and database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    CreateIfMissing,
    MustExist,
}

/// Figures for `/metrics` and `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub projects: i64,
    pub accounts: i64,
    pub keys: i64,
    pub db_bytes: i64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    pub fn db_path(data_dir: &Path) -> PathBuf {
        data_dir.join(DB_FILE)
    }

    pub fn open(data_dir: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let path = Store::db_path(data_dir);
        let dir_err = |source| StoreError::DataDir { path: data_dir.to_owned(), source };
        if !path.exists() {
            if mode == OpenMode::MustExist {
                return Err(StoreError::Missing(path));
            }
            fsutil::ensure_private_dir(data_dir).map_err(dir_err)?;
            match fsutil::create_new_private(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(dir_err(e)),
            }
        } else {
            check_header(&path)?;
            check_existing(&path)?;
            fsutil::ensure_private_dir(data_dir).map_err(dir_err)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            fsutil::tighten_file(Path::new(&p)).map_err(dir_err)?;
        }
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration { path: path.clone(), detail: e.to_string() })?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write transaction that takes the write lock when it begins. A deferred one that reads
    /// first cannot take the lock once another connection has committed since its read (the
    /// CLI and `serve` both write), and fails at once with "database is locked" instead of
    /// waiting out the busy timeout.
    fn write_transaction(&mut self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
    }

    /// A cheap liveness probe for `/healthz`.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let count = |table: &str| -> rusqlite::Result<i64> {
            self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        };
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(StoreStats {
            projects: count("projects")?,
            accounts: count("accounts")?,
            keys: count("keys")?,
            db_bytes: pages * page_size,
        })
    }

    /// `PRAGMA integrity_check`: "ok" or the first problems found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("database journal mode is {mode}, not WAL");
    }
    // FULL: a create command that exited 0 survives a power cut, not only a crash.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA trusted_schema = OFF;",
    )?;
    Ok(())
}

/// Refuses, without opening it through SQLite, a non-empty file that is not an SQLite database.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut head = [0u8; 100];
    let mut file = File::open(path).map_err(|source| StoreError::DataDir { path: path.to_owned(), source })?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(source) => return Err(StoreError::DataDir { path: path.to_owned(), source }),
        }
    }
    if filled == 0 {
        return Ok(()); // an empty file is an empty database
    }
    if filled < head.len() || &head[..16] != SQLITE_MAGIC {
        return Err(StoreError::NotADatabase(path.to_owned()));
    }
    Ok(())
}

/// Read-only checks through SQLite (which also sees pages still in the WAL).
fn check_existing(path: &Path) -> Result<(), StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let not_db = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase(path.to_owned()),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_owned(), detail: e.to_string() }
        }
        _ => StoreError::Sqlite(e),
    };
    let conn = Connection::open_with_flags(path, flags).map_err(not_db)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(not_db)?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(not_db)?;
    if app_id != schema::APPLICATION_ID && !(app_id == 0 && objects == 0) {
        return Err(StoreError::ForeignDatabase(path.to_owned()));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(not_db)?;
    if version > schema::latest_version() {
        return Err(StoreError::TooNew { path: path.to_owned(), found: version, supported: schema::latest_version() });
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(not_db)?;
    if check != "ok" {
        return Err(StoreError::Corrupt { path: path.to_owned(), detail: check });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
