//! Who is asking: the first account (`/setup`), sign-in and sign-out, `/me`.

use std::time::Instant;

use hyper::header::SET_COOKIE;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, Principal, Via};
use super::{reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::Username;
use crate::proto::source::SourceKey;
use crate::store::Actor;
use crate::unixtime::UnixTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    token: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

fn throttled(ctx: &Ctx<'_>, username: Option<&str>) -> Result<(), ApiError> {
    let mut throttle = ctx.state.api.throttle.lock().unwrap_or_else(|p| p.into_inner());
    match throttle.check(username, SourceKey::of(ctx.source), Instant::now()) {
        Some(wait) => Err(ApiError::RateLimited { retry_after: wait }),
        None => Ok(()),
    }
}

fn count_failure(ctx: &Ctx<'_>, username: Option<&str>) {
    let mut throttle = ctx.state.api.throttle.lock().unwrap_or_else(|p| p.into_inner());
    throttle.failed(username, SourceKey::of(ctx.source), Instant::now());
}

pub fn check_new_credentials(username: &str, password: &str) -> Result<Username, ApiError> {
    let name = Username::parse(username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    crate::password::check_policy(password).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(name)
}

/// `POST /setup`: the first account, made with the token of the setup link; the operator is
/// signed in by the answer.
pub async fn setup(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body: SetupBody = ctx.json_body()?;
    throttled(ctx, None)?;
    let username = check_new_credentials(&body.username, &body.password)?;
    let token_hash = auth::sha256(body.token.as_bytes());
    // Cheap checks before the costly hash; the store checks both again as it writes.
    let open = ctx
        .read(move |s| {
            let stored = s.secret(crate::store::secrets::SETUP_TOKEN_HASH)?;
            let matches = stored.is_some_and(|(h, _)| crate::proto::stun::integrity::constant_time_eq(&h, &token_hash));
            Ok((s.account_count()? == 0, matches))
        })
        .await?;
    match open {
        (false, _) => return Err(ApiError::Conflict("setup is done: an account exists; sign in".into())),
        (true, false) => {
            count_failure(ctx, None);
            return Err(ApiError::Forbidden);
        }
        (true, true) => {}
    }
    let hash = ctx.hash_password(body.password).await?;
    let now = UnixTime::now();
    let account = ctx.write(move |s, actor| s.create_first_owner(&username, &hash, &token_hash, actor, now)).await?;
    start_session(ctx, account, StatusCode::CREATED).await
}

/// `POST /login`.
pub async fn login(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body: LoginBody = ctx.json_body()?;
    throttled(ctx, Some(&body.username))?;
    let name = body.username.clone();
    let found = ctx.read(move |s| s.account(&name)).await?;
    let (account, phc) = match found {
        Some((a, phc)) => (Some(a), Some(phc)),
        None => (None, None),
    };
    let ok = ctx
        .state
        .api
        .hasher
        .verify(body.password, phc)
        .await
        .map_err(|_| ApiError::RateLimited { retry_after: super::HASHER_BUSY_RETRY })?;
    match account {
        Some(account) if ok => start_session(ctx, account, StatusCode::OK).await,
        _ => {
            count_failure(ctx, Some(&body.username));
            // The name tried, if it is one a user could have; never the password.
            let tried = Username::parse(&body.username).map(|u| u.as_str().to_owned()).unwrap_or_else(|_| "?".into());
            let source = ctx.source_text();
            let now = UnixTime::now();
            ctx.read(move |s| {
                s.record(Actor { name: &tried, source: &source }, "session.login_failed", None, None, now)
            })
            .await?;
            Err(ApiError::InvalidCredentials)
        }
    }
}

async fn start_session(
    ctx: &Ctx<'_>,
    account: crate::store::Account,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let id = crate::random::token::<32>();
    let id_hash = auth::sha256(id.as_bytes());
    let csrf = crate::random::token::<32>();
    let (csrf_stored, source, now) = (csrf.clone(), ctx.source_text(), UnixTime::now());
    let (account_id, name) = (account.id, account.username.as_str().to_owned());
    ctx.read(move |s| {
        s.create_session(&id_hash, account_id, &csrf_stored, &source, now, auth::SESSION_LIFETIME_SECS)?;
        s.record(Actor { name: &name, source: &source }, "session.login", None, None, now)
    })
    .await?;
    let mut r =
        reply(status, &json!({"username": account.username.as_str(), "role": account.role, "csrf_token": csrf}))?;
    r.headers_mut().insert(SET_COOKIE, auth::session_set_cookie(&id));
    Ok(r)
}

/// `POST /logout`: the session ends; an API key has nothing to end.
pub async fn logout(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let who = ctx.who()?;
    let mut r = super::no_content()?;
    if let Via::Session { id_hash, .. } = &who.via {
        let id_hash = *id_hash;
        ctx.write(move |s, actor| {
            s.delete_session(&id_hash)?;
            s.record(actor, "session.logout", None, None, UnixTime::now())
        })
        .await?;
        r.headers_mut().insert(SET_COOKIE, auth::session_clear_cookie());
    }
    Ok(r)
}

/// `GET /me`.
pub async fn me(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let who = ctx.who()?;
    reply(StatusCode::OK, &me_body(who))
}

fn me_body(who: &Principal) -> serde_json::Value {
    let (auth, csrf) = match &who.via {
        Via::Session { csrf_token, .. } => ("session", Some(csrf_token.as_str())),
        Via::ApiKey { .. } => ("api_key", None),
    };
    let projects: Vec<_> = who.memberships.iter().map(|(p, r)| json!({"id": p.as_str(), "role": r})).collect();
    json!({"username": who.name(), "role": who.role, "csrf_token": csrf, "auth": auth, "projects": projects})
}
