//! The audit log: every admin action with time, actor and source address.

use rusqlite::{params, Connection};

use super::{Store, StoreError};
use crate::unixtime::UnixTime;

/// Who did something, for the audit log: an account or `cli`, and the source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub source: &'a str,
}

impl Actor<'static> {
    /// A management command run on the box itself.
    pub const CLI: Actor<'static> = Actor { name: "cli", source: "local" };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: UnixTime,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

pub(super) fn insert(
    conn: &Connection,
    now: UnixTime,
    actor: Actor<'_>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, source, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now.secs(), actor.name, actor.source, action, target, detail],
    )?;
    Ok(())
}

impl Store {
    /// The newest `limit` entries, newest first.
    pub fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, actor, source, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                at: UnixTime(r.get(0)?),
                actor: r.get(1)?,
                source: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
