//! The hyper service shared by the HTTPS listeners: [`router`] decides what a request is (pure),
//! [`health`] and [`metrics`] render bodies (pure), and [`handle`] performs the IO they need
//! (a store call) and wraps every response in the security headers of [`headers`].

pub mod api;
pub mod assets;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod router;
pub mod upgrade;
mod whoami;

pub use api::ApiState;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

use crate::net::https::ConnCtx;
pub use crate::net::https::Counters;
use crate::procstat;
use crate::store::worker::StoreHandle;
use api::ApiError;
use router::{Listener, Route};

pub type Body = Full<Bytes>;

/// What a request handler can reach.
pub struct HttpState {
    pub store: StoreHandle,
    pub started: Instant,
    pub counters: Arc<Counters>,
    pub tokens: Arc<crate::tokens::TokenService>,
    pub signal: Arc<crate::net::signal::SignalShared>,
    pub turn: Arc<crate::net::turn::TurnStats>,
    /// The running engine: live peers, kicks, counts, and `store_changed` after each write.
    pub live: crate::net::live::Live,
    /// The webhook dispatcher: endpoint changes, test events, and the counters.
    pub webhooks: crate::webhooks::dispatch::WebhookHandle,
    pub api: ApiState,
}

const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn handle<B>(state: Arc<HttpState>, listener: Listener, req: Request<B>, conn: ConnCtx) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let counter = match listener {
        Listener::Admin => &state.counters.admin_requests,
        Listener::Signal => &state.counters.signal_requests,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let route = router::route(listener, req.method(), req.uri().path());
    let mut response = match route {
        Route::Health => health_response(&state).await,
        Route::Metrics => match api::authenticate(&state, req.headers()).await {
            Ok(Some(_)) => metrics_response(&state).await,
            Ok(None) => ApiError::Unauthenticated.response(),
            Err(e) => e.response(),
        },
        Route::Api => api::handle(&state, req, &conn).await,
        Route::WhoAmI => whoami::respond(&state.tokens, &state.store, req.headers()).await,
        Route::Preflight => whoami::preflight(),
        Route::SignalUpgrade => upgrade::accept(&state.signal, req, &conn),
        Route::Asset(asset) => asset_response(asset, req.headers()),
        Route::NotFound => ApiError::NotFound.response(),
        Route::MethodNotAllowed { allow } => ApiError::MethodNotAllowed { allow }.response(),
    };
    headers::apply_security_headers(response.headers_mut());
    response
}

async fn health_response(state: &HttpState) -> Response<Body> {
    let probe = state.store.call(|s| s.ping().is_ok());
    let store_ok = futures_lite::future::or(async { probe.await.unwrap_or(false) }, async {
        smol::Timer::after(STORE_PROBE_TIMEOUT).await;
        false
    })
    .await;
    let turn = state.turn.health(Instant::now());
    let report = health::Report { version: crate::VERSION, uptime: state.started.elapsed(), store_ok, turn };
    let status = if report.healthy() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json(status, report.to_json())
}

async fn metrics_response(state: &HttpState) -> Response<Body> {
    let store = state.store.call(|s| s.stats()).await;
    let store = match store {
        Ok(Ok(stats)) => Some(stats),
        Ok(Err(e)) => {
            log::warn!("metrics: store stats failed: {e}");
            None
        }
        Err(_) => None,
    };
    let (turn, turn_streams) = state.turn.totals();
    let snapshot = metrics::Snapshot {
        uptime: state.started.elapsed(),
        process: procstat::read(),
        store,
        admin_requests: state.counters.admin_requests.load(Ordering::Relaxed),
        signal_requests: state.counters.signal_requests.load(Ordering::Relaxed),
        tls_handshake_failures: state.counters.tls_handshake_failures.load(Ordering::Relaxed),
        open_connections: state.counters.open_connections.load(Ordering::Relaxed),
        handshakes_rate_limited: state.counters.handshakes_rate_limited.load(Ordering::Relaxed),
        unauthenticated_evicted: state.counters.unauthenticated_evicted.load(Ordering::Relaxed),
        token_keys: state.tokens.key_count() as u64,
        tls_expiry: state.api.tls.as_ref().map(|t| t.expiry().secs()),
        turn,
        turn_streams,
        turn_projects: state.turn.per_project(),
        webhooks: {
            let w = &state.webhooks.stats;
            [&w.delivered, &w.failed, &w.queued, &w.dropped].map(|c| c.load(Ordering::Relaxed))
        },
    };
    let mut r = Response::new(Full::new(Bytes::from(snapshot.render())));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The file (gzipped if the client takes it), or a 304 with no body when the browser's copy
/// (`If-None-Match`) is current.
fn asset_response(asset: &'static assets::Asset, request: &hyper::HeaderMap) -> Response<Body> {
    use hyper::header::{
        HeaderValue, ACCEPT_ENCODING, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG,
        IF_NONE_MATCH, VARY,
    };
    let header = |name| request.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let gzip = asset.gzip_for(header(ACCEPT_ENCODING));
    let etag = asset.etag(gzip.is_some());
    let fresh = assets::not_modified(header(IF_NONE_MATCH), &etag);
    let body = match (fresh, gzip) {
        (true, _) => Bytes::new(),
        (false, Some(gz)) => Bytes::from_static(gz),
        (false, None) => Bytes::from_static(asset.body.as_bytes()),
    };
    let mut r = Response::new(Full::new(body));
    if fresh {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    if asset.gzip.is_some() {
        h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip.is_some() && !fresh {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if asset.cors {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    }
    r
}

pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

pub fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}
