//! A project's webhook endpoints (SPEC "Webhooks"): add one (its secret is shown once), list
//! them with their status, delete one, list its recent attempts, send it a test event, rotate
//! its secret (the previous one keeps signing for [`ROTATION_GRACE_SECS`]). Every change is in
//! the audit log and reaches the dispatcher before the answer goes out.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::records::{integer, query_params};
use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::{ProjectId, WebhookId};
use crate::store::webhooks::{AttemptRow, WebhookRow};
use crate::unixtime::UnixTime;
use crate::webhooks::event::EventKind;
use crate::webhooks::sign::Secret;
use crate::webhooks::target::WebhookUrl;

/// How long the secret before a rotation keeps signing: a day to deploy the new one.
pub const ROTATION_GRACE_SECS: i64 = 86_400;
const MAX_PER_PROJECT: usize = 20;
const DELIVERIES_MAX_LIMIT: i64 = 100;
/// How long adding an endpoint waits for its host name to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
}

fn webhook_json(w: &WebhookRow) -> serde_json::Value {
    json!({
        "id": w.id.as_str(),
        "url": w.url,
        "events": w.events,
        "created_at": w.created_at.secs(),
        "enabled": w.disabled.is_none(),
        "disabled_at": w.disabled.as_ref().map(|(at, _)| at.secs()),
        "disabled_reason": w.disabled.as_ref().map(|(_, why)| why.as_str()),
        "queued": w.queued,
        "dropped": w.dropped,
        "previous_secret_until": w.previous.as_ref().map(|(_, until)| until.secs()),
    })
}

fn attempt_json(a: &AttemptRow) -> serde_json::Value {
    json!({
        "time": a.at.secs(),
        "event_id": a.event_id,
        "event_type": a.event_type,
        "attempt": a.attempt,
        "status": a.status,
        "latency_ms": a.latency_ms,
        "error": a.error,
    })
}

fn events(list: Vec<String>) -> Result<Vec<String>, ApiError> {
    if list.is_empty() {
        return Err(ApiError::BadRequest("events must list at least one event type".into()));
    }
    let mut kinds = Vec::new();
    for name in &list {
        let kind = EventKind::parse(name).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            let shown: String = name.chars().take(40).collect();
            ApiError::BadRequest(format!("unknown event type {shown:?}; known: {}", known.join(", ")))
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds.iter().map(|k| k.as_str().to_owned()).collect())
}

/// Refuses a URL whose host is, or resolves only to, addresses denied without `webhook_allow`.
/// Deliveries check again at every connection; this is for the operator's early answer.
async fn check_target(ctx: &Ctx<'_>, url: &WebhookUrl) -> Result<(), ApiError> {
    let resolved = match url.literal() {
        Some(ip) => vec![std::net::SocketAddr::new(ip, url.port)],
        // A name that does not resolve now (or not within RESOLVE_TIMEOUT) may later:
        // deliveries check it again and retry.
        None => {
            let lookup = async { smol::net::resolve((url.host.as_str(), url.port)).await.unwrap_or_default() };
            let give_up = async {
                smol::Timer::after(RESOLVE_TIMEOUT).await;
                Vec::new()
            };
            futures_lite::future::or(lookup, give_up).await
        }
    };
    match ctx.state.webhooks.policy.pick(&url.host, &resolved) {
        Err(why) => Err(ApiError::BadRequest(format!("the url's host is {why}; webhook_allow may list it"))),
        Ok(_) => Ok(()),
    }
}

pub async fn list(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let rows = ctx.read(move |s| s.list_webhooks(&project)).await?;
    reply(StatusCode::OK, &rows.iter().map(webhook_json).collect::<Vec<_>>())
}

pub async fn get(ctx: &Ctx<'_>, project: ProjectId, id: WebhookId) -> Result<Response<Body>, ApiError> {
    let row = ctx.read(move |s| s.webhook(&project, &id)).await?;
    reply(StatusCode::OK, &webhook_json(&row))
}

pub async fn create(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let input: NewWebhook = ctx.json_body()?;
    let url = WebhookUrl::parse(&input.url).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let events = events(input.events)?;
    check_target(ctx, &url).await?;
    let listed = project.clone();
    let count = ctx.read(move |s| s.list_webhooks(&listed)).await?.len();
    if count >= MAX_PER_PROJECT {
        return Err(ApiError::Conflict(format!("a project has at most {MAX_PER_PROJECT} webhooks")));
    }
    let id = WebhookId::from_random(crate::random::bytes());
    let secret = Secret::generate().encoded();
    let (stored_secret, now) = (secret.clone(), UnixTime::now());
    let row = ctx
        .write(move |s, actor| s.create_webhook(&project, &id, &url.text, &events, &stored_secret, actor, now))
        .await?;
    ctx.state.webhooks.changed().await;
    let mut body = webhook_json(&row);
    body["secret"] = json!(secret);
    reply(StatusCode::CREATED, &body)
}

pub async fn delete(ctx: &Ctx<'_>, project: ProjectId, id: WebhookId) -> Result<Response<Body>, ApiError> {
    let now = UnixTime::now();
    ctx.write(move |s, actor| s.delete_webhook(&project, &id, actor, now)).await?;
    ctx.state.webhooks.changed().await;
    no_content()
}

pub async fn deliveries(ctx: &Ctx<'_>, project: ProjectId, id: WebhookId) -> Result<Response<Body>, ApiError> {
    let params = query_params(ctx.query, &["limit"])?;
    let limit = match integer(&params, "limit")? {
        None => 50,
        Some(n) if (1..=DELIVERIES_MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::BadRequest(format!("limit must be 1-{DELIVERIES_MAX_LIMIT}"))),
    };
    let rows = ctx
        .read(move |s| {
            s.webhook(&project, &id)?;
            s.webhook_attempts(&id, limit)
        })
        .await?;
    reply(StatusCode::OK, &rows.iter().map(attempt_json).collect::<Vec<_>>())
}

pub async fn test(ctx: &Ctx<'_>, project: ProjectId, id: WebhookId) -> Result<Response<Body>, ApiError> {
    let (p, w) = (project.clone(), id.clone());
    let row = ctx.read(move |s| s.webhook(&p, &w)).await?;
    if row.disabled.is_some() {
        return Err(ApiError::Conflict("the webhook is disabled (its receiver answered 410)".into()));
    }
    let event_id = ctx.state.webhooks.send_test(project, id).await.filter(|e| !e.is_empty());
    let event_id = event_id.ok_or(ApiError::Unavailable)?;
    reply(StatusCode::ACCEPTED, &json!({"event_id": event_id}))
}

pub async fn rotate_secret(ctx: &Ctx<'_>, project: ProjectId, id: WebhookId) -> Result<Response<Body>, ApiError> {
    let secret = Secret::generate().encoded();
    let now = UnixTime::now();
    let until = UnixTime(now.secs() + ROTATION_GRACE_SECS);
    let (stored, w) = (secret.clone(), id.clone());
    ctx.write(move |s, actor| s.rotate_webhook_secret(&project, &w, &stored, until, actor, now)).await?;
    ctx.state.webhooks.changed().await;
    reply(StatusCode::OK, &json!({"id": id.as_str(), "secret": secret, "previous_secret_until": until.secs()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_must_be_known_and_are_deduplicated() {
        assert_eq!(events(vec!["peer.left".into(), "peer.left".into()]).unwrap(), ["peer.left"]);
        assert!(events(vec![]).is_err());
        assert!(events(vec!["webhook.test".into()]).is_err());
        assert!(serde_json::from_str::<NewWebhook>(r#"{"url":"http://x","events":[],"x":1}"#).is_err());
    }
}
