//! Online backup: a consistent copy of the live database, taken with SQLite's backup API while
//! `serve` keeps running. The output is a fresh 0600 file; an existing file is never overwritten.
//! [`Store::open`] also takes one before it migrates a database to a newer schema, so that a
//! rollback to the previous release has the data as it was.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::Connection;

use super::{Store, StoreError};
use crate::fsutil;

impl Store {
    /// Copies the database to `out`, then checks the copy. Returns the number of pages copied.
    pub fn backup_to(&self, out: &Path) -> Result<i64, StoreError> {
        match fsutil::create_new_private(out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::OutputExists(out.to_owned()))
            }
            Err(source) => return Err(StoreError::Output { path: out.to_owned(), source }),
        }
        let result = self.copy_into(out);
        if result.is_err() {
            let _ = std::fs::remove_file(out);
        }
        result
    }

    fn copy_into(&self, out: &Path) -> Result<i64, StoreError> {
        copy_into(&self.conn, out)
    }
}

/// Copies the database of `conn` (schema `found`) to `DB.pre-vLATEST.bak` beside it before a
/// migration to `latest`; when that name is taken (an earlier attempt, a rollback and a second
/// upgrade), to `DB.pre-vLATEST.N.bak` with the first free N.
pub(super) fn before_migration(conn: &Connection, db: &Path, found: i64, latest: i64) -> Result<PathBuf, StoreError> {
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for n in 0u32.. {
        let file = if n == 0 { format!("{name}.pre-v{latest}.bak") } else { format!("{name}.pre-v{latest}.{n}.bak") };
        let out = db.with_file_name(file);
        match fsutil::create_new_private(&out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(StoreError::Output { path: out, source }),
        }
        if let Err(e) = copy_into(conn, &out) {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
        log::debug!("backup of schema {found} written to {}", out.display());
        return Ok(out);
    }
    unreachable!("u32 names run out only after 4 billion backups")
}

fn copy_into(conn: &Connection, out: &Path) -> Result<i64, StoreError> {
    {
        let mut dest = Connection::open(out)?;
        {
            let backup = Backup::new(conn, &mut dest)?;
            // Small steps with pauses let a busy server keep writing during a large backup.
            backup.run_to_completion(256, Duration::from_millis(5), None)?;
        }
        let check: String = dest.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Corrupt { path: out.to_owned(), detail: check });
        }
        let pages: i64 = dest.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        dest.close().map_err(|(_, e)| e)?;
        Ok(pages)
    }
}
