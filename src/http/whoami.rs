//! `GET /v1/whoami` on the signal listener: an app developer's check of a token against the
//! running server (the same verifier signaling uses, and the same store lookup for a kid made a
//! moment ago). `Authorization: Bearer TOKEN` in; the verified claims, or `401` with the
//! reason, out. CORS is open, like the SDK.

use hyper::header::{HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION};
use hyper::{Response, StatusCode};

use super::api::ApiError;
use super::{json, Body};
use crate::store::worker::StoreHandle;
use crate::tokens::TokenService;

fn cors(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn respond(tokens: &TokenService, store: &StoreHandle, headers: &HeaderMap) -> Response<Body> {
    let Some(token) = bearer(headers) else {
        return cors(ApiError::MissingBearer.response());
    };
    match tokens.verify_or_look_up(store, token).await {
        Ok(v) => {
            let body = serde_json::json!({
                "project": v.project.as_str(),
                "kid": v.kid.as_str(),
                "gid": v.claims.gid.as_str(),
                "pid": v.claims.pid.as_str(),
                "ap": {"group_id": v.claims.policy.group_id.as_str(), "peer_id": v.claims.policy.peer_id.as_str()},
                "expires_at": v.claims.exp.secs(),
                "claims": v.payload_json(),
            });
            cors(json(StatusCode::OK, body.to_string()))
        }
        Err(e) => cors(ApiError::TokenInvalid(e.to_string()).response()),
    }
}

pub fn preflight() -> Response<Body> {
    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert("access-control-allow-methods", HeaderValue::from_static("GET, OPTIONS"));
    h.insert("access-control-allow-headers", HeaderValue::from_static("authorization"));
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    r
}
