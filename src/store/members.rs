//! Project members: a non-owner account with at least one membership sees only its member
//! projects, each with its member role. Owners see every project and are never members.

use rusqlite::{params, OptionalExtension};

use super::{AccountError, Actor, Role, Store, StoreError};
use crate::ids::{ProjectId, Username};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub username: Username,
    pub role: Role,
    pub added_at: UnixTime,
}

fn project_must_exist(conn: &rusqlite::Connection, project: &ProjectId) -> Result<(), StoreError> {
    let found = conn.query_row("SELECT 1 FROM projects WHERE id = ?1", [project.as_str()], |_| Ok(())).optional()?;
    found.ok_or_else(|| StoreError::NoSuchProject(project.as_str().to_owned()))
}

fn username_of(s: String) -> rusqlite::Result<Username> {
    Username::parse(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

impl Store {
    /// Makes `username` a member of `project` with `role` (admin or viewer), or changes the role
    /// of an existing member (keeping `added_at`). Returns the member and whether it is new.
    pub fn set_member(
        &mut self,
        project: &ProjectId,
        username: &str,
        role: Role,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(Member, bool), StoreError> {
        if role == Role::Owner {
            return Err(AccountError::RoleNotAllowed(role).into());
        }
        let tx = self.write_transaction()?;
        project_must_exist(&tx, project)?;
        let account: Option<(i64, Role)> = tx
            .query_row("SELECT id, role FROM accounts WHERE username = ?1", [username], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((account_id, account_role)) = account else {
            return Err(AccountError::NoSuchAccount(username.to_owned()).into());
        };
        if account_role == Role::Owner {
            return Err(AccountError::OwnerNotMember(username.to_owned()).into());
        }
        let existing: Option<i64> = tx
            .query_row(
                "SELECT added_at FROM project_members WHERE project_id = ?1 AND account_id = ?2",
                params![project.as_str(), account_id],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT INTO project_members (project_id, account_id, role, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(project_id, account_id) DO UPDATE SET role = excluded.role",
            params![project.as_str(), account_id, role, now.secs()],
        )?;
        let target = format!("{}/{}", project.as_str(), username);
        super::audit::insert(&tx, now, actor, "member.set", Some(&target), Some(role.as_str()))?;
        tx.commit()?;
        let username = username_of(username.to_owned())?;
        let added_at = UnixTime(existing.unwrap_or(now.secs()));
        Ok((Member { username, role, added_at }, existing.is_none()))
    }

    /// A project's members, in the order they were added.
    pub fn list_members(&self, project: &ProjectId) -> Result<Vec<Member>, StoreError> {
        project_must_exist(&self.conn, project)?;
        let mut stmt = self.conn.prepare(
            "SELECT a.username, m.role, m.added_at FROM project_members m JOIN accounts a ON a.id = m.account_id
             WHERE m.project_id = ?1 ORDER BY m.added_at, a.username",
        )?;
        let rows = stmt.query_map([project.as_str()], |r| {
            Ok(Member { username: username_of(r.get(0)?)?, role: r.get(1)?, added_at: UnixTime(r.get(2)?) })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ends a membership; false if `username` was not a member (nothing is audited then).
    pub fn remove_member(
        &mut self,
        project: &ProjectId,
        username: &str,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let tx = self.write_transaction()?;
        project_must_exist(&tx, project)?;
        let removed = tx.execute(
            "DELETE FROM project_members
             WHERE project_id = ?1 AND account_id = (SELECT id FROM accounts WHERE username = ?2)",
            params![project.as_str(), username],
        )?;
        if removed == 0 {
            return Ok(false);
        }
        let target = format!("{}/{}", project.as_str(), username);
        super::audit::insert(&tx, now, actor, "member.remove", Some(&target), None)?;
        tx.commit()?;
        Ok(true)
    }

    /// An account's memberships, by project id. Empty: its account role applies everywhere.
    pub fn memberships(&self, account_id: i64) -> Result<Vec<(ProjectId, Role)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT project_id, role FROM project_members WHERE account_id = ?1 ORDER BY project_id")?;
        let rows = stmt.query_map([account_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Role>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, role) = row?;
            match ProjectId::parse(&id) {
                Ok(id) => out.push((id, role)),
                Err(_) => log::warn!("skipping membership of malformed project id {id:?}"),
            }
        }
        Ok(out)
    }
}
