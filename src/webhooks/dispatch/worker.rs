//! One endpoint's worker: reads the endpoint's queue in pages, oldest first, and delivers one
//! row at a time (per-endpoint concurrency 1, so a receiver sees each endpoint's events in
//! order; a failing row holds the ones behind it until it is delivered or given up). Each
//! attempt is reported to the dispatcher, which writes it; the worker never writes itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_lite::future::or;

use crate::ids::WebhookId;
use crate::store::webhooks::{AttemptRow, QueueChange, QueuedDelivery, WebhookRow};
use crate::store::worker::StoreHandle;
use crate::unixtime::UnixTime;
use crate::webhooks::client::{Connection, HttpClient};
use crate::webhooks::schedule::next_delay;
use crate::webhooks::sign::{signature_header, Secret};
use crate::webhooks::target::WebhookUrl;

const PAGE: i64 = 256;

/// What a worker needs of its endpoint; sent again when the endpoint changes (a rotation).
pub struct EndpointConfig {
    url: WebhookUrl,
    secret: Option<Secret>,
    previous: Option<(Secret, UnixTime)>,
}

impl EndpointConfig {
    pub fn of(row: &WebhookRow, url: WebhookUrl) -> EndpointConfig {
        EndpointConfig {
            url,
            secret: Secret::parse(&row.secret),
            previous: row.previous.as_ref().and_then(|(s, until)| Some((Secret::parse(s)?, *until))),
        }
    }

    /// The secrets that sign now: the current one, and the previous one during its grace.
    fn signing(&self, now: UnixTime) -> Vec<Secret> {
        let previous = self.previous.as_ref().filter(|(_, until)| *until > now).map(|(s, _)| s.clone());
        self.secret.iter().cloned().chain(previous).collect()
    }
}

pub enum WorkerMsg {
    /// New rows were written for this endpoint.
    Nudge,
    Config(Box<EndpointConfig>),
}

pub struct Report {
    pub delivered: bool,
    pub change: QueueChange,
    pub attempt: AttemptRow,
}

pub struct Worker {
    pub id: WebhookId,
    pub config: EndpointConfig,
    pub client: Arc<HttpClient>,
    pub store: StoreHandle,
    pub reports: async_channel::Sender<Report>,
    pub msgs: async_channel::Receiver<WorkerMsg>,
    pub retry_scale: f64,
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Worker {
    pub async fn run(mut self) {
        let mut last_seq = 0i64;
        let mut rows: VecDeque<QueuedDelivery> = VecDeque::new();
        let mut conn: Option<Connection> = None;
        loop {
            while let Ok(msg) = self.msgs.try_recv() {
                self.take(msg);
            }
            if rows.is_empty() {
                let id = self.id.clone();
                match self.store.call(move |s| s.webhook_queue_page(&id, last_seq, PAGE)).await {
                    Ok(Ok(page)) if !page.is_empty() => {
                        last_seq = page.last().map_or(last_seq, |d| d.seq);
                        rows.extend(page);
                    }
                    Ok(Ok(_)) => {
                        // Nothing queued: wait for the dispatcher to write some.
                        match self.msgs.recv().await {
                            Ok(msg) => self.take(msg),
                            Err(_) => return,
                        }
                        continue;
                    }
                    Ok(Err(e)) => {
                        log::warn!("webhooks: cannot read the queue of {}: {e}", self.id);
                        smol::Timer::after(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => return,
                }
            }
            let Some(head) = rows.front_mut() else { continue };
            let wait = head.next_at_ms - unix_ms();
            if wait > 0 {
                let until = Instant::now() + Duration::from_millis(wait as u64);
                let msg = or(async { self.msgs.recv().await.ok() }, async {
                    smol::Timer::at(until).await;
                    None
                })
                .await;
                if let Some(msg) = msg {
                    self.take(msg);
                }
                continue;
            }
            let report = self.attempt(head, &mut conn).await;
            let (gone, finished) = match report.change {
                QueueChange::Gone => (true, false),
                QueueChange::Done { .. } => (false, true),
                QueueChange::Retry { .. } => (false, false),
            };
            if finished {
                rows.pop_front();
            }
            if self.reports.send(report).await.is_err() || gone {
                return;
            }
        }
    }

    fn take(&mut self, msg: WorkerMsg) {
        match msg {
            WorkerMsg::Nudge => {}
            WorkerMsg::Config(c) => self.config = *c,
        }
    }

    /// One attempt of `d`; `d` is updated for its retry.
    async fn attempt(&self, d: &mut QueuedDelivery, conn: &mut Option<Connection>) -> Report {
        let now = UnixTime::now();
        let ts = now.secs();
        let secrets = self.config.signing(now);
        let headers = [
            ("webhook-id", d.event_id.clone()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", signature_header(&secrets, &d.event_id, ts, &d.body)),
        ];
        let started = Instant::now();
        let result = self.client.post(conn, &self.config.url, &headers, d.body.clone()).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let number = d.attempts + 1;
        let (status, error) = match &result {
            Ok(a) => (Some(a.status), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let change = if delivered {
            QueueChange::Done { seq: d.seq }
        } else if status == Some(410) {
            QueueChange::Gone
        } else {
            let age = Duration::from_secs((ts - d.queued_at.secs()).max(0) as u64);
            match next_delay(number, age, self.retry_scale) {
                Some(delay) => {
                    d.attempts = number;
                    d.next_at_ms = unix_ms() + delay.as_millis() as i64;
                    QueueChange::Retry { seq: d.seq, attempts: number, next_at_ms: d.next_at_ms }
                }
                None => {
                    log::info!("webhooks: {} gave up on {} after {number} attempts", self.id, d.event_id);
                    QueueChange::Done { seq: d.seq }
                }
            }
        };
        if let Some(e) = &error {
            log::debug!("webhooks: {} attempt {number} of {}: {e}", self.id, d.event_id);
        }
        let attempt = AttemptRow {
            webhook: self.id.clone(),
            at: now,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            attempt: number,
            status,
            latency_ms,
            error: error.or_else(|| (!delivered).then(|| format!("HTTP {}", status.unwrap_or_default()))),
        };
        Report { delivered, change, attempt }
    }
}
