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
pub use audit::{Actor, AuditQuery, AuditRow};
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
    #[error("{path} was written by a newer edgebeam (schema version {found}; this one supports up to {supported}); it was left untouched: run the newer edgebeam again, or restore the edgebeam.db.pre-v{found}.bak backup it made (docs/operations.md, \"Upgrades and rollback\")")]
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

/// What [`Store::inspect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inspection {
    /// `user_version`: the schema the database is at.
    pub schema: i64,
    pub accounts: i64,
    /// Whether a first-run setup token's hash is stored (the token itself never is).
    pub setup_token_issued: bool,
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
        Store::open_with(data_dir, mode, &schema::migrations(), schema::latest_version())
    }

    /// [`Store::open`] with a given list of migrations, so tests can run today's fixtures
    /// through a later schema. `latest` is the version `migrations` ends at.
    pub(crate) fn open_with(
        data_dir: &Path,
        mode: OpenMode,
        migrations: &rusqlite_migration::Migrations<'_>,
        latest: i64,
    ) -> Result<Store, StoreError> {
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
            check_header(&path, latest)?;
            check_existing(&path, latest)?;
            fsutil::ensure_private_dir(data_dir).map_err(dir_err)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            fsutil::tighten_file(Path::new(&p)).map_err(dir_err)?;
        }
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > 0 && found < latest {
            let backup = backup::before_migration(&conn, &path, found, latest)?;
            log::info!("database schema {found} -> {latest}: backed up to {} first", backup.display());
        }
        migrations
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration { path: path.clone(), detail: e.to_string() })?;
        Ok(Store { conn, path })
    }

    /// A read-only look for `doctor`, or None when there is no database yet. Refuses what
    /// `open` refuses, and never writes or migrates.
    pub fn inspect(data_dir: &Path) -> Result<Option<Inspection>, StoreError> {
        let path = Store::db_path(data_dir);
        if !path.exists() {
            return Ok(None);
        }
        check_header(&path, schema::latest_version())?;
        check_existing(&path, schema::latest_version())?;
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let has = |table: &str| -> rusqlite::Result<bool> {
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })
        };
        let accounts: i64 =
            if has("accounts")? { conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))? } else { 0 };
        let issued = has("secrets")?
            && conn.query_row("SELECT count(*) FROM secrets WHERE name = ?1", [secrets::SETUP_TOKEN_HASH], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })?;
        Ok(Some(Inspection { schema: version, accounts, setup_token_issued: issued }))
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

/// Refuses, without opening it through SQLite, a non-empty file that is not an SQLite database,
/// or one whose header says a newer edgebeam wrote it: SQLite is not given the chance to replay
/// its WAL or touch it in any other way.
fn check_header(path: &Path, latest: i64) -> Result<(), StoreError> {
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
    // The header's user_version (offset 60) and application_id (68), big-endian.
    let field = |at: usize| i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let version = i64::from(field(60));
    if field(68) == schema::APPLICATION_ID && version > latest {
        return Err(StoreError::TooNew { path: path.to_owned(), found: version, supported: latest });
    }
    Ok(())
}

/// Read-only checks through SQLite (which also sees pages still in the WAL; a read-only
/// connection never writes the database or its WAL back).
fn check_existing(path: &Path, latest: i64) -> Result<(), StoreError> {
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
    if version > latest {
        return Err(StoreError::TooNew { path: path.to_owned(), found: version, supported: latest });
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(not_db)?;
    if check != "ok" {
        return Err(StoreError::Corrupt { path: path.to_owned(), detail: check });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
