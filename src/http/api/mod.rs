//! The admin REST API (`/api/v1/` on the admin listener, SPEC "Admin API").
//!
//! A request goes through [`handle`] in one order, each step with its own module:
//! 1. [`routes`]: method and path to an [`ApiRoute`] with validated ids (404, 405, 400);
//! 2. [`auth`]: the session cookie or API key, looked up in the store (401), the CSRF header of
//!    a session's change (403 `csrf`), the role the route needs (403, or 404 for a project the
//!    caller may not see);
//! 3. [`body`]: the body, bounded in bytes and time (413, 400), parsed strictly by the handler;
//! 4. the handler, one file per resource family ([`session`], [`accounts`], [`projects`],
//!    [`keys`], [`members`], [`live`], [`records`], [`server`], [`webhooks`]). Handlers return
//!    `Result<Response, ApiError>`; [`error`] is the one table from a condition to a status.
//!
//! Changes that the running engine must see at once (projects, keys, the TURN secret) end with
//! [`Ctx::engine_changed`], which reloads keys and project policies into the hub and TURN.

mod accounts;
pub mod auth;
pub mod body;
pub mod error;
pub mod hashing;
mod keys;
mod live;
mod members;
mod projects;
mod records;
pub mod routes;
mod server;
mod session;
pub mod throttle;
mod webhooks;

use std::net::IpAddr;
use std::sync::Mutex;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

pub use error::ApiError;
pub use routes::ApiRoute;

use super::{json, Body, HttpState};
use crate::net::https::ConnCtx;
use crate::store::{Actor, Store, StoreError};
use auth::Principal;

pub const PREFIX: &str = "/api/v1";

/// When the password hasher's queue is full, come back in a second.
pub const HASHER_BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the API keeps beside the store: the password hasher and the sign-in throttle.
#[derive(Default)]
pub struct ApiState {
    /// Shared with the task that makes the dummy hash at start, which must hold nothing else of
    /// the state (a store handle held past shutdown would keep the store thread from ending).
    pub hasher: std::sync::Arc<hashing::Hasher>,
    pub throttle: Mutex<throttle::LoginThrottle>,
    /// The certificate in service and the ACME state (`None` in tests that need no TLS).
    pub tls: Option<std::sync::Arc<crate::tls::TlsState>>,
}

/// A request on its way through a handler.
pub struct Ctx<'a> {
    pub state: &'a HttpState,
    /// `None` only on the routes that need no credentials.
    pub who: Option<Principal>,
    pub source: IpAddr,
    pub headers: &'a HeaderMap,
    pub query: &'a str,
    pub body: Bytes,
}

pub async fn handle<B>(state: &HttpState, req: Request<B>, conn: &ConnCtx) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match respond(state, req, conn).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn respond<B>(state: &HttpState, req: Request<B>, conn: &ConnCtx) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let admitted = admit(state, &parts).await;
    let body = match &admitted {
        Ok(_) if parts.method != Method::GET && parts.method != Method::HEAD => body::read(body).await?,
        _ => {
            body::discard(body).await;
            Bytes::new()
        }
    };
    let (route, who) = admitted?;
    let ctx = Ctx {
        state,
        who,
        source: crate::proto::addr_policy::canonical(conn.peer.ip()),
        headers: &parts.headers,
        query: parts.uri.query().unwrap_or_default(),
        body,
    };
    dispatch(&ctx, route).await
}

/// Steps 1 and 2: the route, and the caller if the route needs one.
async fn admit(
    state: &HttpState,
    parts: &hyper::http::request::Parts,
) -> Result<(ApiRoute, Option<Principal>), ApiError> {
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let route = routes::route(&parts.method, path)?;
    let need = route.need();
    if need == routes::Need::Nobody {
        return Ok((route, None));
    }
    let who = authenticate(state, &parts.headers).await?.ok_or(ApiError::Unauthenticated)?;
    who.check_csrf(&parts.method, &parts.headers)?;
    who.authorize(need)?;
    Ok((route, Some(who)))
}

async fn dispatch(ctx: &Ctx<'_>, route: ApiRoute) -> Result<Response<Body>, ApiError> {
    use ApiRoute::*;
    match route {
        Setup => session::setup(ctx).await,
        Login => session::login(ctx).await,
        Logout => session::logout(ctx).await,
        Me => session::me(ctx).await,
        ListAccounts => accounts::list(ctx).await,
        CreateAccount => accounts::create(ctx).await,
        DeleteAccount(name) => accounts::delete(ctx, name).await,
        ListApiKeys => accounts::list_api_keys(ctx).await,
        CreateApiKey => accounts::create_api_key(ctx).await,
        DeleteApiKey(id) => accounts::delete_api_key(ctx, id).await,
        ListProjects => projects::list(ctx).await,
        CreateProject => projects::create(ctx).await,
        GetProject(p) => projects::get(ctx, p).await,
        UpdateProject(p) => projects::update(ctx, p).await,
        DeleteProject(p) => projects::delete(ctx, p).await,
        ListKeys(p) => keys::list(ctx, p).await,
        CreateKey(p) => keys::create(ctx, p).await,
        DeleteKey(p, kid) => keys::delete(ctx, p, kid).await,
        ListMembers(p) => members::list(ctx, p).await,
        SetMember(p) => members::set(ctx, p).await,
        RemoveMember(p, name) => members::remove(ctx, p, name).await,
        ListPeers(p) => live::peers(ctx, p).await,
        Kick(p, gid, pid) => live::kick(ctx, p, gid, pid).await,
        Usage(p) => records::usage(ctx, p).await,
        ListWebhooks(p) => webhooks::list(ctx, p).await,
        CreateWebhook(p) => webhooks::create(ctx, p).await,
        GetWebhook(p, w) => webhooks::get(ctx, p, w).await,
        DeleteWebhook(p, w) => webhooks::delete(ctx, p, w).await,
        WebhookDeliveries(p, w) => webhooks::deliveries(ctx, p, w).await,
        TestWebhook(p, w) => webhooks::test(ctx, p, w).await,
        RotateWebhookSecret(p, w) => webhooks::rotate_secret(ctx, p, w).await,
        Audit => records::audit(ctx).await,
        Stats => live::stats(ctx).await,
        Tls => server::tls(ctx),
        RotateTurnSecret => server::rotate_turn_secret(ctx).await,
        InspectToken => server::inspect_token(ctx).await,
        OpenApi => Ok(server::openapi()),
    }
}

/// The principal behind the request's credentials; `Ok(None)` when it presents none, 401 when
/// they are unknown, expired or revoked.
pub async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    use auth::{Presented, Via};
    let Some(presented) = auth::presented(headers) else { return Ok(None) };
    let now = crate::unixtime::UnixTime::now();
    let found = state
        .store
        .call(move |s| -> Result<Option<Principal>, StoreError> {
            let mut key_role = None;
            let (account, role, via) = match presented {
                Presented::Malformed => return Ok(None),
                Presented::ApiKey(hash) => match s.api_key_by_hash(&hash, now)? {
                    Some((key, account)) => {
                        key_role = Some(key.role);
                        let role = key.role.min(account.role);
                        (account, role, Via::ApiKey { id: key.id })
                    }
                    None => return Ok(None),
                },
                Presented::Session(id_hash) => match s.session(&id_hash, now, auth::SESSION_IDLE_SECS)? {
                    Some(v) => {
                        let role = v.account.role;
                        (v.account, role, Via::Session { id_hash, csrf_token: v.csrf_token })
                    }
                    None => return Ok(None),
                },
            };
            let memberships = s.memberships(account.id)?;
            Ok(Some(Principal { account, role, key_role, memberships, via }))
        })
        .await
        .map_err(|_| ApiError::Unavailable)?
        .map_err(store_error)?;
    found.map(Some).ok_or(ApiError::Unauthenticated)
}

/// The one mapping from a store failure to an API error.
pub fn store_error(e: StoreError) -> ApiError {
    use crate::store::AccountError as A;
    match e {
        StoreError::NoSuchProject(_)
        | StoreError::NoSuchKey(_)
        | StoreError::NoSuchWebhook(_)
        | StoreError::Account(A::NoSuchAccount(_)) => ApiError::NotFound,
        StoreError::Account(A::UsernameTaken(_))
        | StoreError::Account(A::LastOwner)
        | StoreError::Account(A::SetupDone) => ApiError::Conflict(e.to_string()),
        StoreError::Account(A::SetupTokenInvalid) => ApiError::Forbidden,
        StoreError::Account(A::OwnerNotMember(_)) => ApiError::BadRequest(e.to_string()),
        other => {
            log::error!("admin API: store error: {other}");
            ApiError::Unavailable
        }
    }
}

impl Ctx<'_> {
    /// The signed-in caller (every route but setup, login and the OpenAPI document has one).
    pub fn who(&self) -> Result<&Principal, ApiError> {
        self.who.as_ref().ok_or(ApiError::Unauthenticated)
    }

    pub fn source_text(&self) -> String {
        self.source.to_string()
    }

    /// Runs a read on the store thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.state.store.call(f).await.map_err(|_| ApiError::Unavailable)?.map_err(store_error)
    }

    /// Runs a change on the store thread, with the caller as the audit log's actor.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store, Actor<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let name = self.who.as_ref().map_or_else(|| "setup".to_owned(), |w| w.name().to_owned());
        let source = self.source_text();
        self.read(move |s| f(s, Actor { name: &name, source: &source })).await
    }

    /// The running engine (hub, TURN) picks up what was just written: keys, project policies,
    /// the TURN secret. Returns once the hub has been told.
    pub async fn engine_changed(&self) {
        self.state.live.store_changed().await;
    }

    /// An argon2id hash of a new password, made off the executors ([`hashing`]).
    pub async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        self.state.api.hasher.hash(password).await.map_err(|_| ApiError::RateLimited { retry_after: HASHER_BUSY_RETRY })
    }

    pub fn json_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        body::json(&self.body)
    }
}

pub fn reply(status: StatusCode, value: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(value).map_err(|e| {
        log::error!("admin API: cannot serialize a response: {e}");
        ApiError::Unavailable
    })?;
    Ok(json(status, text))
}

pub fn no_content() -> Result<Response<Body>, ApiError> {
    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}
