//! Online backup: a consistent copy of the live database, taken with SQLite's backup API while
//! `serve` keeps running. The output is a fresh 0600 file; an existing file is never overwritten.

use std::path::Path;
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
        let mut dest = Connection::open(out)?;
        {
            let backup = Backup::new(&self.conn, &mut dest)?;
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
