//! The dispatcher: the one owner of webhook delivery. It takes [`Occurrence`]s from the
//! [`Sink`], writes one queue row per matching endpoint in batched transactions, and runs one
//! [`worker`] per enabled endpoint that delivers that endpoint's rows in order, one at a time.
//! Workers report each attempt back here, and those reports ride in the same batches.
//!
//! The dispatcher, its workers and their connections run on the worker threads
//! (`crate::rt::spawn_worker`), never on the hub's: the first benchmark, with them on the hub's
//! thread, took the relay p99 at 5,000 signals/s from 3.1 ms to 502 ms while 1,000 joins and
//! leaves a second were delivered (on a machine loaded by other work too).
//!
//! A batch is written `BATCH_WINDOW` after its first item: at 1,000 events a second that is 20
//! commits a second instead of 1,000 (each commit is an fsync under `synchronous = FULL`), and an
//! event reaches its receiver well within the 2 s the tests allow. Until the batch's timer fires
//! the dispatcher listens for nothing but it and the API, so the hub's hand-off of an event wakes
//! no thread: at 1,000 events a second that is 20 wake-ups instead of 1,000.

mod worker;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;

use super::client::HttpClient;
use super::event::{new_event_id, EventKind, Happened, Occurrence};
use super::target::{TargetPolicy, WebhookUrl};
use super::{Sink, WebhookStats};
use crate::config::WebhookSettings;
use crate::ids::{ProjectId, WebhookId};
use crate::store::webhooks::{NewDelivery, QueueChange, WebhookBatch, WebhookRow};
use crate::store::worker::StoreHandle;
use worker::{Report, Worker, WorkerMsg};

const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Items (events and reports) past which a batch is written at once.
const BATCH_MAX: usize = 4096;

/// What the admin API asks of the dispatcher. Each carries its reply channel (of one).
pub enum Control {
    /// Endpoints changed in the store: reload them. Answered once reloaded.
    Reload { reply: async_channel::Sender<()> },
    /// Queue a `webhook.test` event for one endpoint; answered with its event id once written.
    Test { project: ProjectId, webhook: WebhookId, reply: async_channel::Sender<String> },
    /// The engine has stopped: write what is pending and end.
    Shutdown,
}

/// The admin API's and the app's handle on the dispatcher.
#[derive(Clone)]
pub struct WebhookHandle {
    control: async_channel::Sender<Control>,
    pub sink: Sink,
    pub stats: Arc<WebhookStats>,
    /// The address rule deliveries follow; the API checks new URLs with it too.
    pub policy: Arc<TargetPolicy>,
}

impl WebhookHandle {
    /// Returns once the dispatcher runs with the endpoints now in the store.
    pub async fn changed(&self) {
        let (reply, answer) = async_channel::bounded(1);
        if self.control.send(Control::Reload { reply }).await.is_ok() {
            let _ = answer.recv().await;
        }
    }

    /// Queues a test event for `webhook`; its event id once it is written.
    pub async fn send_test(&self, project: ProjectId, webhook: WebhookId) -> Option<String> {
        let (reply, answer) = async_channel::bounded(1);
        self.control.send(Control::Test { project, webhook, reply }).await.ok()?;
        answer.recv().await.ok()
    }

    pub async fn shutdown(&self) {
        let _ = self.control.send(Control::Shutdown).await;
    }
}

struct Endpoint {
    project: ProjectId,
    kinds: Vec<EventKind>,
    /// Deliveries in its queue (as of the last write).
    queued: u64,
    worker: async_channel::Sender<WorkerMsg>,
    _task: smol::Task<()>,
}

pub struct Dispatcher {
    store: StoreHandle,
    events: async_channel::Receiver<Occurrence>,
    control: async_channel::Receiver<Control>,
    sink: Sink,
    stats: Arc<WebhookStats>,
    client: Arc<HttpClient>,
    settings: WebhookSettings,
    endpoints: HashMap<WebhookId, Endpoint>,
    reports_tx: async_channel::Sender<Report>,
    reports: async_channel::Receiver<Report>,
    pending: Vec<Occurrence>,
    batch: WebhookBatch,
}

enum Input {
    Event(Occurrence),
    Report(Report),
    Control(Control),
    Flush,
}

impl Dispatcher {
    /// The dispatcher and its handle; `own` are this box's addresses (denied as targets).
    pub fn new(
        store: StoreHandle,
        settings: WebhookSettings,
        own: Vec<std::net::IpAddr>,
        stats: Arc<WebhookStats>,
    ) -> (Dispatcher, WebhookHandle) {
        let (sink, events) = Sink::new(settings.queue_max, stats.clone());
        let (control_tx, control) = async_channel::unbounded();
        let policy = TargetPolicy { allow: settings.allow.clone(), own };
        let handle_policy = Arc::new(policy.clone());
        let client = Arc::new(HttpClient::new(policy, super::schedule::ANSWER_TIMEOUT));
        let (reports_tx, reports) = async_channel::unbounded();
        let handle =
            WebhookHandle { control: control_tx, sink: sink.clone(), stats: stats.clone(), policy: handle_policy };
        let dispatcher = Dispatcher {
            store,
            events,
            control,
            sink,
            stats,
            client,
            settings,
            endpoints: HashMap::new(),
            reports_tx,
            reports,
            pending: Vec::new(),
            batch: WebhookBatch::default(),
        };
        (dispatcher, handle)
    }

    pub async fn run(mut self) {
        self.reload().await;
        if let Ok(Ok(n)) = self.store.call(|s| s.webhook_queue_len()).await {
            self.stats.queued.store(n.max(0) as u64, Ordering::Relaxed);
        }
        // Armed by the first event or report after a write; until it fires nothing else wakes
        // the dispatcher: what arrives meanwhile is taken in one go when it does.
        let mut armed = false;
        let mut timer = smol::Timer::never();
        loop {
            let control = async { self.control.recv().await.map_or(Input::Control(Control::Shutdown), Input::Control) };
            let input = if armed {
                or(control, async {
                    (&mut timer).await;
                    Input::Flush
                })
                .await
            } else {
                or(
                    async { self.events.recv().await.map_or(Input::Control(Control::Shutdown), Input::Event) },
                    or(async { self.reports.recv().await.map_or(Input::Flush, Input::Report) }, control),
                )
                .await
            };
            match input {
                Input::Event(o) => self.pending.push(o),
                Input::Report(r) => self.on_report(r),
                Input::Flush => {
                    armed = false;
                    self.take_waiting();
                    self.flush().await;
                    // More than one batch waited: write the next one at once.
                    if !self.events.is_empty() || !self.reports.is_empty() {
                        armed = true;
                        timer.set_at(Instant::now());
                    }
                    continue;
                }
                Input::Control(Control::Reload { reply }) => {
                    self.take_waiting();
                    self.flush().await;
                    self.reload().await;
                    let _ = reply.try_send(());
                }
                Input::Control(Control::Test { project, webhook, reply }) => {
                    // What waited goes first, so the id answered is the test event's.
                    self.take_waiting();
                    self.flush().await;
                    let what = Happened::Test { webhook: webhook.as_str().to_owned() };
                    self.pending.push(Occurrence::now(project, what));
                    let id = self.flush().await;
                    let _ = reply.try_send(id.unwrap_or_default());
                }
                Input::Control(Control::Shutdown) => {
                    // The last events, and the outcomes of attempts made (else sent again); a few
                    // batches at most, as the workers go on delivering meanwhile.
                    for _ in 0..8 {
                        self.take_waiting();
                        self.flush().await;
                        if self.events.is_empty() && self.reports.is_empty() {
                            break;
                        }
                    }
                    return;
                }
            }
            if !armed && self.pending.len() + self.batch.changes.len() > 0 {
                armed = true;
                timer.set_at(Instant::now() + BATCH_WINDOW);
            }
        }
    }

    /// Takes the events and reports that arrived while the timer was armed, a batch's worth.
    fn take_waiting(&mut self) {
        while self.pending.len() + self.batch.changes.len() < BATCH_MAX {
            if let Ok(o) = self.events.try_recv() {
                self.pending.push(o);
            } else if let Ok(r) = self.reports.try_recv() {
                self.on_report(r);
            } else {
                break;
            }
        }
    }

    fn on_report(&mut self, r: Report) {
        let counter = if r.delivered { &self.stats.delivered } else { &self.stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        if matches!(r.change, QueueChange::Gone) {
            log::info!("webhooks: endpoint {} answered 410 Gone; disabled", r.attempt.webhook);
            self.endpoints.remove(&r.attempt.webhook);
            self.sink.set_active(!self.endpoints.is_empty());
        }
        self.batch.changes.push((r.attempt.webhook.clone(), r.change));
        self.batch.attempts.push(r.attempt);
    }

    /// Writes the pending events and reports in one transaction and wakes the workers that got
    /// new rows. Returns the id of the last event written.
    async fn flush(&mut self) -> Option<String> {
        let mut last_id = None;
        for o in std::mem::take(&mut self.pending) {
            let kind = o.kind();
            let wanted: Vec<&WebhookId> = self
                .endpoints
                .iter()
                .filter(|(id, e)| {
                    e.project == o.project
                        && match &o.what {
                            Happened::Test { webhook } => id.as_str() == webhook,
                            _ => e.kinds.contains(&kind),
                        }
                })
                .map(|(id, _)| id)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let id = new_event_id();
            let body = o.body(&id);
            for webhook in wanted {
                let (event_id, body) = (id.clone(), body.clone());
                let d = NewDelivery { webhook: webhook.clone(), event_id, event_type: kind.as_str(), body, at: o.at };
                self.batch.new.push(d);
            }
            last_id = Some(id);
        }
        if self.batch.is_empty() {
            return last_id;
        }
        self.count_queues();
        let batch = std::mem::take(&mut self.batch);
        let result = self
            .store
            .call(move |s| {
                let r = s.apply_webhook_batch(&batch);
                (batch, r)
            })
            .await;
        let Ok((batch, result)) = result else { return None };
        let done = batch.changes.iter().filter(|(_, c)| matches!(c, QueueChange::Done { .. })).count() as u64;
        match result {
            Ok(dropped) => {
                let lost: u64 = dropped.values().sum();
                self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
                let added = batch.new.len() as u64;
                let q = &self.stats.queued;
                let now = q.load(Ordering::Relaxed).saturating_add(added).saturating_sub(done + lost);
                q.store(now, Ordering::Relaxed);
            }
            Err(e) => {
                log::error!("webhooks: cannot write {} deliveries to the store: {e}", batch.new.len());
                self.stats.dropped.fetch_add(batch.new.len() as u64, Ordering::Relaxed);
            }
        }
        let mut woken: Vec<&WebhookId> = batch.new.iter().map(|d| &d.webhook).collect();
        woken.dedup();
        for id in woken {
            if let Some(e) = self.endpoints.get(id) {
                let _ = e.worker.try_send(WorkerMsg::Nudge);
            }
        }
        last_id
    }

    /// Keeps each endpoint's queue length, and asks the batch to drop the oldest deliveries of
    /// those past `webhook_queue_max`.
    fn count_queues(&mut self) {
        for d in &self.batch.new {
            if let Some(e) = self.endpoints.get_mut(&d.webhook) {
                e.queued += 1;
            }
        }
        for (id, change) in &self.batch.changes {
            if let (Some(e), QueueChange::Done { .. }) = (self.endpoints.get_mut(id), change) {
                e.queued = e.queued.saturating_sub(1);
            }
        }
        let max = self.settings.queue_max as u64;
        for (id, e) in &mut self.endpoints {
            if e.queued > max {
                self.batch.trims.push((id.clone(), e.queued - max));
                e.queued = max;
            }
        }
    }

    /// Brings workers in line with the enabled endpoints in the store.
    async fn reload(&mut self) {
        let rows = match self.store.call(|s| s.all_webhooks()).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return log::error!("webhooks: cannot read the endpoints: {e}"),
            Err(_) => return,
        };
        let enabled: Vec<WebhookRow> = rows.into_iter().filter(|r| r.disabled.is_none()).collect();
        self.endpoints.retain(|id, _| enabled.iter().any(|r| &r.id == id));
        for row in enabled {
            let Ok(url) = WebhookUrl::parse(&row.url) else { continue };
            let config = worker::EndpointConfig::of(&row, url);
            if let Some(e) = self.endpoints.get_mut(&row.id) {
                e.queued = row.queued.max(0) as u64;
                let _ = e.worker.try_send(WorkerMsg::Config(Box::new(config)));
                continue;
            }
            let (tx, rx) = async_channel::unbounded();
            let w = Worker {
                id: row.id.clone(),
                config,
                client: self.client.clone(),
                store: self.store.clone(),
                reports: self.reports_tx.clone(),
                msgs: rx,
                retry_scale: self.settings.retry_scale,
            };
            let kinds = row.events.iter().filter_map(|k| EventKind::parse(k)).collect();
            let task = crate::rt::spawn_worker(w.run());
            let queued = row.queued.max(0) as u64;
            let endpoint = Endpoint { project: row.project, kinds, queued, worker: tx, _task: task };
            self.endpoints.insert(row.id.clone(), endpoint);
        }
        self.sink.set_active(!self.endpoints.is_empty());
        if let Ok(Ok(n)) = self.store.call(|s| s.webhook_queue_len()).await {
            self.stats.queued.store(n.max(0) as u64, Ordering::Relaxed);
        }
    }
}
