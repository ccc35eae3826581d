//! Projects: the unit that owns keys, members, usage and allowed origins. Names, origins and
//! ranges are validated by the caller (the HTTP layer or the CLI); this module stores them and
//! reads back what it wrote (`allowed_origins` is a JSON array in a TEXT column).

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::{Actor, Store, StoreError};
use crate::ids::{Kid, ProjectId, ProjectName};
use crate::unixtime::UnixTime;

pub const DEFAULT_MAX_TOKEN_TTL_SECS: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: UnixTime,
    /// Empty: every origin is allowed.
    pub allowed_origins: Vec<String>,
    pub max_token_ttl_secs: i64,
    /// `None`: the server's `signal_max_conns_per_project`.
    pub max_connections: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub name: ProjectName,
    pub allowed_origins: Vec<String>,
    pub max_token_ttl_secs: i64,
    pub max_connections: Option<i64>,
}

/// The fields a `PATCH` changes; `None` leaves a field as it is. `max_connections:
/// Some(None)` resets it to the server default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub allowed_origins: Option<Vec<String>>,
    pub max_token_ttl_secs: Option<i64>,
    pub max_connections: Option<Option<i64>>,
}

/// What the signaling hub enforces per project (defined beside the hub, which reads it).
pub use crate::proto::signal::ProjectPolicy;

const PROJECT_SELECT: &str =
    "SELECT id, name, created_at, allowed_origins, max_token_ttl_secs, max_connections FROM projects";

type ProjectRow = (String, String, i64, String, i64, Option<i64>);

fn project_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

/// A row as a [`Project`]; `None`, with a warning, for a row written by hand that fails the checks
/// every write makes.
fn project_of((id, name, created_at, origins, ttl, max_connections): ProjectRow) -> Option<Project> {
    let (Ok(pid), Ok(allowed_origins)) = (ProjectId::parse(&id), serde_json::from_str::<Vec<String>>(&origins)) else {
        log::warn!("skipping unreadable project row {id:?}");
        return None;
    };
    Some(Project {
        id: pid,
        name,
        created_at: UnixTime(created_at),
        allowed_origins,
        max_token_ttl_secs: ttl,
        max_connections,
    })
}

fn origins_json(origins: &[String]) -> String {
    serde_json::Value::from(origins).to_string()
}

fn read_project(conn: &rusqlite::Connection, id: &ProjectId) -> Result<Option<Project>, StoreError> {
    let row = conn.query_row(&format!("{PROJECT_SELECT} WHERE id = ?1"), [id.as_str()], project_row).optional()?;
    Ok(row.and_then(project_of))
}

impl Store {
    /// Creates a project with defaults (the CLI's `project create`).
    pub fn create_project(
        &mut self,
        id: &ProjectId,
        name: &ProjectName,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Project, StoreError> {
        let p = NewProject {
            name: name.clone(),
            allowed_origins: Vec::new(),
            max_token_ttl_secs: DEFAULT_MAX_TOKEN_TTL_SECS,
            max_connections: None,
        };
        self.create_project_with(id, &p, actor, now)
    }

    /// Creates a project and its audit entry in one transaction.
    pub fn create_project_with(
        &mut self,
        id: &ProjectId,
        p: &NewProject,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Project, StoreError> {
        let tx = self.write_transaction()?;
        tx.execute(
            "INSERT INTO projects (id, name, created_at, max_token_ttl_secs, allowed_origins, max_connections)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.as_str(),
                p.name.as_str(),
                now.secs(),
                p.max_token_ttl_secs,
                origins_json(&p.allowed_origins),
                p.max_connections
            ],
        )?;
        super::audit::insert(&tx, now, actor, "project.create", Some(id.as_str()), Some(p.name.as_str()))?;
        tx.commit()?;
        Ok(Project {
            id: id.clone(),
            name: p.name.as_str().to_owned(),
            created_at: now,
            allowed_origins: p.allowed_origins.clone(),
            max_token_ttl_secs: p.max_token_ttl_secs,
            max_connections: p.max_connections,
        })
    }

    pub fn project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        read_project(&self.conn, id)
    }

    /// Applies `patch`; the audit detail lists the fields whose value changed.
    pub fn update_project(
        &mut self,
        id: &ProjectId,
        patch: &ProjectPatch,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Project, StoreError> {
        let tx = self.write_transaction()?;
        let Some(old) = read_project(&tx, id)? else {
            return Err(StoreError::NoSuchProject(id.as_str().to_owned()));
        };
        let mut new = old.clone();
        if let Some(name) = &patch.name {
            new.name = name.as_str().to_owned();
        }
        if let Some(origins) = &patch.allowed_origins {
            new.allowed_origins = origins.clone();
        }
        if let Some(ttl) = patch.max_token_ttl_secs {
            new.max_token_ttl_secs = ttl;
        }
        if let Some(max) = patch.max_connections {
            new.max_connections = max;
        }
        let changed: Vec<&str> = [
            ("name", old.name != new.name),
            ("allowed_origins", old.allowed_origins != new.allowed_origins),
            ("max_token_ttl", old.max_token_ttl_secs != new.max_token_ttl_secs),
            ("max_connections", old.max_connections != new.max_connections),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect();
        tx.execute(
            "UPDATE projects SET name = ?2, allowed_origins = ?3, max_token_ttl_secs = ?4, max_connections = ?5
             WHERE id = ?1",
            params![
                id.as_str(),
                new.name,
                origins_json(&new.allowed_origins),
                new.max_token_ttl_secs,
                new.max_connections
            ],
        )?;
        let detail = (!changed.is_empty()).then(|| changed.join(","));
        super::audit::insert(&tx, now, actor, "project.update", Some(id.as_str()), detail.as_deref())?;
        tx.commit()?;
        Ok(new)
    }

    /// Deletes a project; its keys, members and usage go with it (foreign keys). Returns the
    /// kids its keys had, so the caller can end their sessions.
    pub fn delete_project(&mut self, id: &ProjectId, actor: Actor<'_>, now: UnixTime) -> Result<Vec<Kid>, StoreError> {
        let tx = self.write_transaction()?;
        let name: Option<String> =
            tx.query_row("SELECT name FROM projects WHERE id = ?1", [id.as_str()], |r| r.get(0)).optional()?;
        let Some(name) = name else {
            return Err(StoreError::NoSuchProject(id.as_str().to_owned()));
        };
        let kids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT kid FROM keys WHERE project_id = ?1 ORDER BY kid")?;
            let rows = stmt.query_map([id.as_str()], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute("DELETE FROM projects WHERE id = ?1", [id.as_str()])?;
        super::audit::insert(&tx, now, actor, "project.delete", Some(id.as_str()), Some(&name))?;
        tx.commit()?;
        Ok(kids.iter().filter_map(|k| Kid::parse(k).ok()).collect())
    }

    /// What the signaling hub enforces, per project.
    pub fn load_project_policies(&self) -> Result<HashMap<ProjectId, ProjectPolicy>, StoreError> {
        Ok(self
            .list_projects()?
            .into_iter()
            .map(|p| {
                let max_connections = p.max_connections.and_then(|n| usize::try_from(n).ok());
                (p.id, ProjectPolicy { allowed_origins: p.allowed_origins, max_connections })
            })
            .collect())
    }

    /// Every project, oldest first.
    pub fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{PROJECT_SELECT} ORDER BY created_at, id"))?;
        let rows = stmt.query_map([], project_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(project_of(row?));
        }
        Ok(out)
    }
}
