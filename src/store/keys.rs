//! Public keys of projects. Private keys never reach this module.

use rusqlite::{params, OptionalExtension};

use super::{Actor, Store, StoreError};
use crate::ids::{Kid, ProjectId};
use crate::proto::token::keyset::PublicKeyMaterial;
use crate::proto::token::{KeyEntry, KeySet};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: Kid,
    pub project: ProjectId,
    pub created_at: UnixTime,
    pub label: Option<String>,
    /// SPKI PEM of the stored key.
    pub public_key_pem: String,
}

/// How a key came to be, for its audit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Made by the server (`key.create`); the private key went to the caller once.
    Generated,
    /// An operator's own public key (`key.add`).
    Registered,
}

impl KeyOrigin {
    fn audit_action(self) -> &'static str {
        match self {
            KeyOrigin::Generated => "key.create",
            KeyOrigin::Registered => "key.add",
        }
    }
}

impl Store {
    pub fn project_exists(&self, id: &ProjectId) -> Result<bool, StoreError> {
        Ok(self.conn.query_row("SELECT 1 FROM projects WHERE id = ?1", [id.as_str()], |_| Ok(())).optional()?.is_some())
    }

    /// Registers a public key under `kid` for `project`, with its audit entry.
    #[allow(clippy::too_many_arguments)]
    pub fn add_key(
        &mut self,
        project: &ProjectId,
        kid: &Kid,
        key: &PublicKeyMaterial,
        label: Option<&str>,
        origin: KeyOrigin,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let exists = tx.query_row("SELECT 1 FROM projects WHERE id = ?1", [project.as_str()], |_| Ok(())).optional()?;
        if exists.is_none() {
            return Err(StoreError::NoSuchProject(project.as_str().to_owned()));
        }
        tx.execute(
            "INSERT INTO keys (kid, project_id, public_key_spki, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kid.as_str(), project.as_str(), key.spki_der, label, now.secs()],
        )?;
        super::audit::insert(&tx, now, actor, origin.audit_action(), Some(kid.as_str()), Some(project.as_str()))?;
        tx.commit()?;
        Ok(())
    }

    pub fn list_keys(&self, project: &ProjectId) -> Result<Vec<StoredKey>, StoreError> {
        if !self.project_exists(project)? {
            return Err(StoreError::NoSuchProject(project.as_str().to_owned()));
        }
        let mut stmt = self.conn.prepare(
            "SELECT kid, created_at, label, public_key_spki FROM keys WHERE project_id = ?1 ORDER BY created_at, kid",
        )?;
        let rows = stmt.query_map([project.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Vec<u8>>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kid, created_at, label, spki) = row?;
            let (Ok(kid), Some(material)) = (Kid::parse(&kid), PublicKeyMaterial::from_spki_der(&spki)) else {
                log::warn!("skipping unreadable key row {kid:?}");
                continue;
            };
            let public_key_pem = material.spki_pem();
            out.push(StoredKey {
                kid,
                project: project.clone(),
                created_at: UnixTime(created_at),
                label,
                public_key_pem,
            });
        }
        Ok(out)
    }

    /// Deletes a key; its tokens stop verifying once the server reloads the key set.
    pub fn delete_key(&mut self, kid: &Kid, actor: Actor<'_>, now: UnixTime) -> Result<ProjectId, StoreError> {
        let tx = self.write_transaction()?;
        let project: Option<String> =
            tx.query_row("SELECT project_id FROM keys WHERE kid = ?1", [kid.as_str()], |r| r.get(0)).optional()?;
        let Some(project) = project else {
            return Err(StoreError::NoSuchKey(kid.as_str().to_owned()));
        };
        tx.execute("DELETE FROM keys WHERE kid = ?1", [kid.as_str()])?;
        super::audit::insert(&tx, now, actor, "key.delete", Some(kid.as_str()), Some(&project))?;
        tx.commit()?;
        ProjectId::parse(&project).map_err(|_| StoreError::NoSuchProject(project))
    }

    /// Deletes `kid` only if it is `project`'s (`DELETE /projects/{id}/keys/{kid}`).
    pub fn delete_project_key(
        &mut self,
        project: &ProjectId,
        kid: &Kid,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let deleted =
            tx.execute("DELETE FROM keys WHERE kid = ?1 AND project_id = ?2", [kid.as_str(), project.as_str()])?;
        if deleted == 0 {
            return Err(StoreError::NoSuchKey(kid.as_str().to_owned()));
        }
        super::audit::insert(&tx, now, actor, "key.delete", Some(kid.as_str()), Some(project.as_str()))?;
        tx.commit()?;
        Ok(())
    }

    /// Every key of every project, ready for the verifier. A row that cannot be read is skipped
    /// with a warning rather than taking every other key down with it.
    pub fn load_keyset(&self) -> Result<KeySet, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{KEY_ENTRY_SELECT} JOIN projects p ON p.id = k.project_id"))?;
        let rows = stmt.query_map([], key_row)?;
        let mut entries = Vec::new();
        for row in rows {
            entries.extend(key_entry(row?));
        }
        Ok(KeySet::new(entries))
    }

    /// One key, ready for the verifier, read as [`Store::load_keyset`] reads it: the running
    /// server's way to learn of a key another process made (one indexed row, not the whole set).
    pub fn load_key(&self, kid: &Kid) -> Result<Option<KeyEntry>, StoreError> {
        let sql = format!("{KEY_ENTRY_SELECT} JOIN projects p ON p.id = k.project_id WHERE k.kid = ?1");
        let row = self.conn.query_row(&sql, [kid.as_str()], key_row).optional()?;
        Ok(row.and_then(key_entry))
    }

    /// Changes whenever another connection commits (`PRAGMA data_version`): the cheap signal
    /// that the CLI changed something while `serve` runs.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

const KEY_ENTRY_SELECT: &str = "SELECT k.kid, k.project_id, k.public_key_spki, p.max_token_ttl_secs FROM keys k";

type KeyRow = (String, String, Vec<u8>, i64);

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

/// A row as the verifier needs it; `None`, with a warning, if it cannot be read.
fn key_entry((kid, project, spki, max_ttl_secs): KeyRow) -> Option<KeyEntry> {
    match (Kid::parse(&kid), ProjectId::parse(&project), PublicKeyMaterial::from_spki_der(&spki)) {
        (Ok(kid), Ok(project), Some(material)) => Some(KeyEntry { kid, project, point: material.point, max_ttl_secs }),
        _ => {
            log::warn!("skipping unreadable key row {kid:?}");
            None
        }
    }
}
