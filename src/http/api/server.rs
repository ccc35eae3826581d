//! The box itself: TLS status, TURN secret rotation, the token tester, the OpenAPI document.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::unixtime::UnixTime;

/// The certificate in service, read from it at each swap, and the ACME plan.
pub fn tls(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let Some(tls) = &ctx.state.api.tls else {
        return reply(StatusCode::OK, &json!({"mode": "self_signed", "acme": crate::tls::AcmeStatus::default()}));
    };
    let mut body = serde_json::to_value(tls.info()).unwrap_or(Value::Null);
    body["mode"] = json!(tls.mode);
    body["acme"] = serde_json::to_value(tls.acme()).unwrap_or(Value::Null);
    reply(StatusCode::OK, &body)
}

pub async fn rotate_turn_secret(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let fresh = crate::random::token::<32>();
    let now = UnixTime::now();
    ctx.write(move |s, actor| s.rotate_turn_secret(fresh.as_bytes(), now, actor)).await?;
    ctx.engine_changed().await;
    no_content()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Inspect {
    token: String,
}

/// The header and claims of a compact JWS, decoded without any check (for display); `{}` for a
/// part that is not base64url JSON. The signature is never decoded or returned.
pub fn decode_parts(token: &str) -> (Value, Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut parts = token.trim().splitn(3, '.');
    let mut part = || {
        parts
            .next()
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}))
    };
    let header = part();
    (header, part())
}

pub async fn inspect_token(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let Inspect { token } = ctx.json_body()?;
    let (header, claims) = decode_parts(&token);
    let verified = ctx.state.tokens.verify_or_look_up(&ctx.state.store, token.trim()).await;
    let error = verified.as_ref().err().map(ToString::to_string);
    reply(StatusCode::OK, &json!({"valid": verified.is_ok(), "header": header, "claims": claims, "error": error}))
}

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn openapi() -> Response<Body> {
    crate::http::json(StatusCode::OK, OPENAPI.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_parts_decode_for_display_only() {
        let (h, c) = decode_parts("eyJhbGciOiJFUzI1NiJ9.eyJnaWQiOiJnIn0.c2ln");
        assert_eq!(h, json!({"alg": "ES256"}));
        assert_eq!(c, json!({"gid": "g"}));
        assert_eq!(decode_parts("garbage"), (json!({}), json!({})));
        assert_eq!(decode_parts(""), (json!({}), json!({})));
    }

    /// The document and the router agree: every (path, method) of the route table is described,
    /// and the document describes nothing the router does not serve.
    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        use std::collections::BTreeSet;
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if ["get", "post", "patch", "delete", "put", "head", "options"].contains(&method.as_str()) {
                    assert!(op["responses"].is_object(), "{method} {path} has responses");
                    documented.insert((path.clone(), method.to_uppercase()));
                }
            }
        }
        let served: BTreeSet<_> = super::super::routes::PATHS
            .iter()
            .flat_map(|spec| spec.methods.iter().map(move |m| (spec.pattern.to_owned(), (*m).to_owned())))
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "openapi.json describes routes the server lacks: {unserved:?}");
    }
}
