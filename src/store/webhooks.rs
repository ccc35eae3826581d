//! Webhook endpoints, their durable delivery queue and their recent attempts. The dispatcher
//! (`crate::webhooks::dispatch`) writes through [`Store::apply_webhook_batch`]: new deliveries,
//! outcomes and attempts of many events in one transaction, so a thousand events a second cost
//! a few dozen commits, not thousands.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};

use super::{Actor, Store, StoreError};
use crate::ids::{ProjectId, WebhookId};
use crate::unixtime::UnixTime;

/// Attempts kept per endpoint for `GET .../deliveries`.
pub const ATTEMPTS_KEPT: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: WebhookId,
    pub project: ProjectId,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_...`; never leaves the server after the answer that made it.
    pub secret: String,
    /// The secret before the last rotation, and until when it still signs.
    pub previous: Option<(String, UnixTime)>,
    pub created_at: UnixTime,
    /// When and why it was disabled (a 410).
    pub disabled: Option<(UnixTime, String)>,
    pub dropped: i64,
    /// Deliveries waiting now.
    pub queued: i64,
}

/// One delivery of one event to one endpoint, to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub webhook: WebhookId,
    pub event_id: String,
    pub event_type: &'static str,
    pub body: String,
    pub at: UnixTime,
}

/// A queued delivery as a worker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedDelivery {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    pub queued_at: UnixTime,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_at_ms: i64,
}

/// What became of a queued delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueChange {
    /// Delivered, or given up after 24 h: the row goes.
    Done {
        seq: i64,
    },
    Retry {
        seq: i64,
        attempts: u32,
        next_at_ms: i64,
    },
    /// The receiver answered 410: the endpoint is disabled (its queue stays, for the record).
    Gone,
}

/// An attempt, for `GET .../deliveries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub webhook: WebhookId,
    pub at: UnixTime,
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One transaction's worth of dispatcher writes.
#[derive(Debug, Default)]
pub struct WebhookBatch {
    pub new: Vec<NewDelivery>,
    pub changes: Vec<(WebhookId, QueueChange)>,
    pub attempts: Vec<AttemptRow>,
    /// Endpoints over their queue bound, and how many of their oldest deliveries to drop (the
    /// dispatcher keeps the counts, so trimming costs the rows dropped, not the queue's length).
    pub trims: Vec<(WebhookId, u64)>,
}

impl WebhookBatch {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changes.is_empty() && self.attempts.is_empty()
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRow> {
    let id: String = r.get(0)?;
    let project: String = r.get(1)?;
    let events: String = r.get(3)?;
    let previous = match (r.get::<_, Option<String>>(5)?, r.get::<_, Option<i64>>(6)?) {
        (Some(s), Some(until)) => Some((s, UnixTime(until))),
        _ => None,
    };
    let disabled = match (r.get::<_, Option<i64>>(8)?, r.get::<_, Option<String>>(9)?) {
        (Some(at), why) => Some((UnixTime(at), why.unwrap_or_default())),
        _ => None,
    };
    let bad = |e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into());
    Ok(WebhookRow {
        id: WebhookId::parse(&id).map_err(|e| bad(e.to_string()))?,
        project: ProjectId::parse(&project).map_err(|e| bad(e.to_string()))?,
        url: r.get(2)?,
        events: serde_json::from_str(&events).map_err(|e| bad(e.to_string()))?,
        secret: r.get(4)?,
        previous,
        created_at: UnixTime(r.get(7)?),
        disabled,
        dropped: r.get(10)?,
        queued: r.get(11)?,
    })
}

const SELECT: &str = "SELECT w.id, w.project_id, w.url, w.events, w.secret, w.previous_secret, w.previous_until,
    w.created_at, w.disabled_at, w.disabled_reason, w.dropped,
    (SELECT count(*) FROM webhook_queue q WHERE q.webhook_id = w.id) FROM webhooks w";

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub fn create_webhook(
        &mut self,
        project: &ProjectId,
        id: &WebhookId,
        url: &str,
        events: &[String],
        secret: &str,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<WebhookRow, StoreError> {
        let tx = self.write_transaction()?;
        let exists = tx.query_row("SELECT 1 FROM projects WHERE id = ?1", [project.as_str()], |_| Ok(())).optional()?;
        if exists.is_none() {
            return Err(StoreError::NoSuchProject(project.as_str().to_owned()));
        }
        let events_json = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO webhooks (id, project_id, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id.as_str(), project.as_str(), url, events_json, secret, now.secs()],
        )?;
        super::audit::insert(&tx, now, actor, "webhook.create", Some(id.as_str()), Some(project.as_str()))?;
        let created = tx.query_row(&format!("{SELECT} WHERE w.id = ?1"), [id.as_str()], row)?;
        tx.commit()?;
        Ok(created)
    }

    pub fn list_webhooks(&self, project: &ProjectId) -> Result<Vec<WebhookRow>, StoreError> {
        if !self.project_exists(project)? {
            return Err(StoreError::NoSuchProject(project.as_str().to_owned()));
        }
        let mut stmt = self.conn.prepare(&format!("{SELECT} WHERE w.project_id = ?1 ORDER BY w.created_at, w.id"))?;
        let rows = stmt.query_map([project.as_str()], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every endpoint of every project (the dispatcher's view).
    pub fn all_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!("{SELECT} ORDER BY w.id"))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn webhook(&self, project: &ProjectId, id: &WebhookId) -> Result<WebhookRow, StoreError> {
        self.conn
            .query_row(&format!("{SELECT} WHERE w.id = ?1 AND w.project_id = ?2"), [id.as_str(), project.as_str()], row)
            .optional()?
            .ok_or_else(|| StoreError::NoSuchWebhook(id.as_str().to_owned()))
    }

    pub fn delete_webhook(
        &mut self,
        project: &ProjectId,
        id: &WebhookId,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let n =
            tx.execute("DELETE FROM webhooks WHERE id = ?1 AND project_id = ?2", [id.as_str(), project.as_str()])?;
        if n == 0 {
            return Err(StoreError::NoSuchWebhook(id.as_str().to_owned()));
        }
        super::audit::insert(&tx, now, actor, "webhook.delete", Some(id.as_str()), Some(project.as_str()))?;
        tx.commit()?;
        Ok(())
    }

    /// A new secret; the current one keeps signing until `grace_until`.
    pub fn rotate_webhook_secret(
        &mut self,
        project: &ProjectId,
        id: &WebhookId,
        secret: &str,
        grace_until: UnixTime,
        actor: Actor<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let n = tx.execute(
            "UPDATE webhooks SET previous_secret = secret, previous_until = ?3, secret = ?4
             WHERE id = ?1 AND project_id = ?2",
            params![id.as_str(), project.as_str(), grace_until.secs(), secret],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchWebhook(id.as_str().to_owned()));
        }
        super::audit::insert(&tx, now, actor, "webhook.rotate_secret", Some(id.as_str()), Some(project.as_str()))?;
        tx.commit()?;
        Ok(())
    }

    /// The newest `limit` attempts of an endpoint, newest first.
    pub fn webhook_attempts(&self, id: &WebhookId, limit: i64) -> Result<Vec<AttemptRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, event_id, event_type, attempt, status, latency_ms, error FROM webhook_attempts
             WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![id.as_str(), limit], |r| {
            Ok(AttemptRow {
                webhook: id.clone(),
                at: UnixTime(r.get(0)?),
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                attempt: r.get(3)?,
                status: r.get(4)?,
                latency_ms: r.get::<_, i64>(5)?.max(0) as u64,
                error: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` queued deliveries of `id` after `after_seq`, oldest first.
    pub fn webhook_queue_page(
        &self,
        id: &WebhookId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<QueuedDelivery>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, event_id, event_type, body, queued_at, attempts, next_at FROM webhook_queue
             WHERE webhook_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id.as_str(), after_seq, limit], |r| {
            Ok(QueuedDelivery {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                body: r.get(3)?,
                queued_at: UnixTime(r.get(4)?),
                attempts: r.get(5)?,
                next_at_ms: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes a batch in one transaction, dropping the oldest deliveries its `trims` name and
    /// counting them in each endpoint's `dropped`. Returns the drops per endpoint.
    pub fn apply_webhook_batch(&mut self, batch: &WebhookBatch) -> Result<HashMap<WebhookId, u64>, StoreError> {
        let tx = self.write_transaction()?;
        let mut dropped = HashMap::new();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO webhook_queue (webhook_id, event_id, event_type, body, queued_at, next_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)",
            )?;
            for d in &batch.new {
                let at = d.at.secs();
                insert.execute(params![d.webhook.as_str(), d.event_id, d.event_type, d.body, at, at * 1000])?;
            }
            let mut done = tx.prepare_cached("DELETE FROM webhook_queue WHERE seq = ?1")?;
            let mut retry = tx.prepare_cached("UPDATE webhook_queue SET attempts = ?2, next_at = ?3 WHERE seq = ?1")?;
            for (id, change) in &batch.changes {
                match change {
                    QueueChange::Done { seq } => done.execute([seq])?,
                    QueueChange::Retry { seq, attempts, next_at_ms } => {
                        retry.execute(params![seq, attempts, next_at_ms])?
                    }
                    QueueChange::Gone => tx.execute(
                        "UPDATE webhooks SET disabled_at = ?2, disabled_reason = 'the receiver answered 410 Gone'
                         WHERE id = ?1 AND disabled_at IS NULL",
                        params![id.as_str(), UnixTime::now().secs()],
                    )?,
                };
            }
            let mut attempt = tx.prepare_cached(
                "INSERT INTO webhook_attempts (webhook_id, at, event_id, event_type, attempt, status, latency_ms, error)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)",
            )?;
            let mut touched: Vec<&WebhookId> = Vec::new();
            for a in &batch.attempts {
                attempt.execute(params![
                    a.webhook.as_str(),
                    a.at.secs(),
                    a.event_id,
                    a.event_type,
                    a.attempt,
                    a.status,
                    a.latency_ms as i64,
                    a.error
                ])?;
                if !touched.contains(&&a.webhook) {
                    touched.push(&a.webhook);
                }
            }
            let mut trim_attempts = tx.prepare_cached(
                "DELETE FROM webhook_attempts WHERE webhook_id = ?1 AND id <= (SELECT id FROM webhook_attempts
                 WHERE webhook_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?;
            for id in touched {
                trim_attempts.execute(params![id.as_str(), ATTEMPTS_KEPT])?;
            }
            let mut trim_queue = tx.prepare_cached(
                "DELETE FROM webhook_queue WHERE seq IN (SELECT seq FROM webhook_queue
                 WHERE webhook_id = ?1 ORDER BY seq LIMIT ?2)",
            )?;
            let mut count_drop = tx.prepare_cached("UPDATE webhooks SET dropped = dropped + ?2 WHERE id = ?1")?;
            for (id, excess) in &batch.trims {
                let n = trim_queue.execute(params![id.as_str(), *excess as i64])?;
                if n > 0 {
                    count_drop.execute(params![id.as_str(), n as i64])?;
                    dropped.insert(id.clone(), n as u64);
                }
            }
        }
        tx.commit()?;
        Ok(dropped)
    }

    /// Deliveries queued now, across every endpoint (for the metric at start).
    pub fn webhook_queue_len(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM webhook_queue", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewProject;

    fn store_with_hook() -> (tempfile::TempDir, Store, ProjectId, WebhookId) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), crate::store::OpenMode::CreateIfMissing).unwrap();
        let project = ProjectId::parse("prj").unwrap();
        let new = NewProject {
            name: crate::ids::ProjectName::parse("app").unwrap(),
            allowed_origins: vec![],
            max_token_ttl_secs: 3600,
            max_connections: None,
        };
        store.create_project_with(&project, &new, Actor::CLI, UnixTime(1)).unwrap();
        let id = WebhookId::from_random([1; 8]);
        let events = vec!["peer.joined".to_owned()];
        store.create_webhook(&project, &id, "http://x/", &events, "whsec_AA==", Actor::CLI, UnixTime(2)).unwrap();
        (dir, store, project, id)
    }

    fn delivery(id: &WebhookId, n: u32) -> NewDelivery {
        NewDelivery {
            webhook: id.clone(),
            event_id: format!("evt_{n}"),
            event_type: "peer.joined",
            body: "{}".into(),
            at: UnixTime(10),
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_them() {
        let (_dir, mut store, project, id) = store_with_hook();
        let batch = WebhookBatch {
            new: (0..5).map(|n| delivery(&id, n)).collect(),
            trims: vec![(id.clone(), 2)],
            ..Default::default()
        };
        let dropped = store.apply_webhook_batch(&batch).unwrap();
        assert_eq!(dropped.get(&id), Some(&2));
        let page = store.webhook_queue_page(&id, 0, 10).unwrap();
        assert_eq!(page.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["evt_2", "evt_3", "evt_4"]);
        let row = store.webhook(&project, &id).unwrap();
        assert_eq!((row.dropped, row.queued), (2, 3));
        // Paging by seq: what comes after the last one seen.
        assert_eq!(store.webhook_queue_page(&id, page[1].seq, 10).unwrap().len(), 1);
    }

    #[test]
    fn outcomes_delete_reschedule_and_disable() {
        let (_dir, mut store, project, id) = store_with_hook();
        let batch = WebhookBatch { new: (0..2).map(|n| delivery(&id, n)).collect(), ..Default::default() };
        store.apply_webhook_batch(&batch).unwrap();
        let page = store.webhook_queue_page(&id, 0, 10).unwrap();
        let attempt = AttemptRow {
            webhook: id.clone(),
            at: UnixTime(11),
            event_id: "evt_0".into(),
            event_type: "peer.joined".into(),
            attempt: 1,
            status: Some(503),
            latency_ms: 3,
            error: None,
        };
        let batch = WebhookBatch {
            new: vec![],
            changes: vec![
                (id.clone(), QueueChange::Done { seq: page[0].seq }),
                (id.clone(), QueueChange::Retry { seq: page[1].seq, attempts: 1, next_at_ms: 99 }),
                (id.clone(), QueueChange::Gone),
            ],
            attempts: vec![attempt.clone()],
            trims: vec![],
        };
        store.apply_webhook_batch(&batch).unwrap();
        let left = store.webhook_queue_page(&id, 0, 10).unwrap();
        assert_eq!((left.len(), left[0].attempts, left[0].next_at_ms), (1, 1, 99));
        assert!(store.webhook(&project, &id).unwrap().disabled.is_some());
        assert_eq!(store.webhook_attempts(&id, 10).unwrap(), vec![attempt]);
        store.delete_webhook(&project, &id, Actor::CLI, UnixTime(12)).unwrap();
        assert_eq!(store.webhook_queue_len().unwrap(), 0);
        let actions: Vec<String> = store.recent_audit(10).unwrap().into_iter().map(|e| e.action).collect();
        assert!(actions.contains(&"webhook.create".to_owned()) && actions.contains(&"webhook.delete".to_owned()));
    }
}
