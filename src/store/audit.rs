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
    pub fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_page(&AuditQuery { limit, before: None, actor: None, action: None })
    }
}

/// One page of `GET /audit`. `limit` is the caller's to bound (1..=500 in the API).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: u32,
    /// Only entries with an id below this one: the next page after the last id seen.
    pub before: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: UnixTime,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    /// Entries matching `q`, newest first. The SQL names only the filters given, so that
    /// `audit_by_actor` or `audit_by_action` serves a filtered page.
    pub fn audit_page(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql = String::from("SELECT id, at, actor, source, action, target, detail FROM audit_log WHERE 1");
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
        if let Some(before) = &q.before {
            args.push(before);
            sql.push_str(&format!(" AND id < ?{}", args.len()));
        }
        if let Some(actor) = &q.actor {
            args.push(actor);
            sql.push_str(&format!(" AND actor = ?{}", args.len()));
        }
        if let Some(action) = &q.action {
            args.push(action);
            sql.push_str(&format!(" AND action = ?{}", args.len()));
        }
        args.push(&q.limit);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(args.as_slice(), |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at: UnixTime(r.get(1)?),
                actor: r.get(2)?,
                source: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An audit entry for an action that writes nothing else (login, logout, a failed login, a
    /// kick).
    pub fn record(
        &mut self,
        actor: Actor<'_>,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        insert(&self.conn, now, actor, action, target, detail)?;
        Ok(())
    }
}
