//! Projects: the unit that owns keys, members, usage and allowed origins.

use rusqlite::params;

use super::{Actor, Store, StoreError};
use crate::ids::{ProjectId, ProjectName};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: UnixTime,
    pub max_token_ttl_secs: i64,
}

impl Store {
    /// Creates a project and its audit entry in one transaction.
    pub fn create_project(
        &mut self,
        id: &ProjectId,
        name: &ProjectName,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<Project, StoreError> {
        let tx = self.write_transaction()?;
        tx.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![id.as_str(), name.as_str(), now.secs()],
        )?;
        super::audit::insert(&tx, now, actor, "project.create", Some(id.as_str()), Some(name.as_str()))?;
        tx.commit()?;
        Ok(Project { id: id.clone(), name: name.as_str().to_owned(), created_at: now, max_token_ttl_secs: 86_400 })
    }

    /// Each project's allowed web origins (an empty list allows every origin).
    pub fn load_origins(&self) -> Result<std::collections::HashMap<ProjectId, Vec<String>>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, allowed_origins FROM projects")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (id, json) = row?;
            let (Ok(id), Ok(list)) = (ProjectId::parse(&id), serde_json::from_str::<Vec<String>>(&json)) else {
                log::warn!("skipping unreadable allowed_origins of project {id:?}");
                continue;
            };
            out.insert(id, list);
        }
        Ok(out)
    }

    pub fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, created_at, max_token_ttl_secs FROM projects ORDER BY created_at, id")?;
        let rows = stmt.query_map([], |r| {
            let id: String = r.get(0)?;
            Ok((id, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, created_at, ttl) = row?;
            // Ids are checked on the way in; a row that fails the check was written by hand.
            let Ok(id) = ProjectId::parse(&id) else {
                log::warn!("skipping project with malformed id {id:?}");
                continue;
            };
            out.push(Project { id, name, created_at: UnixTime(created_at), max_token_ttl_secs: ttl });
        }
        Ok(out)
    }
}
