//! A project's public keys. A key pair made here is returned once: the private half is never
//! stored or logged. Every key verifies tokens as soon as the answer goes out; deleting one
//! closes its sessions with 4003 and revokes its TURN credentials before the answer goes out.
//! Both are reported to webhooks (`key.created`, `key.deleted`); keys made with the CLI are
//! not (the CLI runs outside the server).

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::{Kid, ProjectId};
use crate::proto::token::keyset::{generate_key_pair, parse_public_key};
use crate::store::KeyOrigin;
use crate::unixtime::UnixTime;
use crate::webhooks::{Happened, Occurrence};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    /// An SPKI PEM string or a JWK object; absent: the server makes a pair.
    public_key: Option<serde_json::Value>,
}

pub async fn list(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let keys = ctx.read(move |s| s.list_keys(&project)).await?;
    let list: Vec<_> = keys
        .iter()
        .map(|k| json!({"kid": k.kid.as_str(), "created_at": k.created_at.secs(), "public_key": k.public_key_pem}))
        .collect();
    reply(StatusCode::OK, &list)
}

pub async fn create(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let given = super::body::optional_json::<Register>(&ctx.body)?.and_then(|r| r.public_key);
    let (private_pem, public, origin) = match given {
        None => {
            let (private, public) = loop {
                if let Some(pair) = generate_key_pair(crate::random::bytes()) {
                    break pair;
                }
            };
            (Some(private), public, KeyOrigin::Generated)
        }
        Some(value) => {
            let text = match value {
                serde_json::Value::String(pem) => pem,
                jwk @ serde_json::Value::Object(_) => jwk.to_string(),
                _ => return Err(ApiError::BadRequest("public_key must be a PEM string or a JWK object".into())),
            };
            let public = parse_public_key(&text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            (None, public, KeyOrigin::Registered)
        }
    };
    let kid = Kid::from_random(crate::random::bytes());
    let public_pem = public.spki_pem();
    let (stored_kid, stored_project, now) = (kid.clone(), project.clone(), UnixTime::now());
    ctx.write(move |s, actor| s.add_key(&stored_project, &stored_kid, &public, None, origin, actor, now)).await?;
    ctx.engine_changed().await;
    ctx.state.webhooks.sink.offer(Occurrence::now(project, Happened::KeyCreated { kid: kid.clone() }));
    let mut body = json!({"kid": kid.as_str(), "public_key": public_pem});
    if let Some(private) = private_pem {
        body["private_key"] = json!(private);
    }
    reply(StatusCode::CREATED, &body)
}

pub async fn delete(ctx: &Ctx<'_>, project: ProjectId, kid: Kid) -> Result<Response<Body>, ApiError> {
    let (p, k, now) = (project.clone(), kid.clone(), UnixTime::now());
    ctx.write(move |s, actor| s.delete_project_key(&p, &k, actor, now)).await?;
    ctx.engine_changed().await;
    ctx.state.webhooks.sink.offer(Occurrence::now(project, Happened::KeyDeleted { kid }));
    no_content()
}
