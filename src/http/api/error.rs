//! Every error an HTTP client of this server can get, named for its condition, and the one table
//! from each to its status and its `error` code (SPEC "Admin API": `{"error": CODE, "message":
//! TEXT}`). Handlers return an [`ApiError`]; [`ApiError::response`] is the only place an error
//! becomes a response, so a status is never chosen at a call site.

use std::time::Duration;

use hyper::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use crate::http::{json, Body};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A malformed request: bad JSON, an unknown field, a bad id in the path.
    #[error("{0}")]
    BadRequest(String),
    /// No session or API key, or one that has expired or been revoked.
    #[error("sign in or send Authorization: Bearer KEY")]
    Unauthenticated,
    /// No bearer token where one is the only credential (`/v1/whoami`).
    #[error("send Authorization: Bearer TOKEN")]
    MissingBearer,
    /// A bearer token that does not verify (`/v1/whoami`).
    #[error("{0}")]
    TokenInvalid(String),
    /// A sign-in with a wrong user name or password (the same answer for either).
    #[error("wrong user name or password")]
    InvalidCredentials,
    /// The account's role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// A state-changing request with a session but without its `X-CSRF-Token`.
    #[error("missing or wrong X-CSRF-Token")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// The thing exists already, or another change came first.
    #[error("{0}")]
    Conflict(String),
    #[error("request body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Too many attempts; try again after the wait.
    #[error("too many attempts; try again later")]
    RateLimited { retry_after: Duration },
    /// A dependency of the request (the store) is not answering.
    #[error("the server cannot answer this now")]
    Unavailable,
}

impl ApiError {
    /// The table: each condition's status and `error` code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::MissingBearer | ApiError::TokenInvalid(_) => (StatusCode::UNAUTHORIZED, "token_invalid"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }

    /// The JSON error body with its status, and the headers the condition calls for.
    pub fn response(&self) -> Response<Body> {
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({"error": code, "message": self.to_string()});
        let mut r = json(status, body.to_string());
        let h = r.headers_mut();
        match self {
            ApiError::MethodNotAllowed { allow } => {
                h.insert(ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::RateLimited { retry_after } => {
                // Whole seconds, rounded up: a client that waits this long is let in.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                h.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            ApiError::Unauthenticated | ApiError::MissingBearer => {
                h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TokenInvalid(_) => {
                h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: Response<Body>) -> serde_json::Value {
        use http_body_util::BodyExt;
        let bytes = smol::block_on(r.into_body().collect()).unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn every_error_has_its_status_code_and_json_body() {
        let table = [
            (ApiError::BadRequest("unknown field `x`".into()), 400, "bad_request"),
            (ApiError::Unauthenticated, 401, "unauthenticated"),
            (ApiError::MissingBearer, 401, "token_invalid"),
            (ApiError::TokenInvalid("expired".into()), 401, "token_invalid"),
            (ApiError::InvalidCredentials, 401, "invalid_credentials"),
            (ApiError::Forbidden, 403, "forbidden"),
            (ApiError::Csrf, 403, "csrf"),
            (ApiError::NotFound, 404, "not_found"),
            (ApiError::MethodNotAllowed { allow: "GET, HEAD" }, 405, "method_not_allowed"),
            (ApiError::Conflict("exists".into()), 409, "conflict"),
            (ApiError::PayloadTooLarge { limit: 65_536 }, 413, "payload_too_large"),
            (ApiError::RateLimited { retry_after: Duration::from_secs(30) }, 429, "rate_limited"),
            (ApiError::Unavailable, 503, "unavailable"),
        ];
        for (error, status, code) in table {
            let r = error.response();
            assert_eq!(r.status().as_u16(), status, "{error:?}");
            assert_eq!(r.headers()["content-type"], "application/json");
            let b = body(r);
            assert_eq!(b["error"], code, "{error:?}");
            assert_eq!(b["message"], error.to_string());
        }
    }

    #[test]
    fn the_headers_each_condition_calls_for() {
        let r = ApiError::RateLimited { retry_after: Duration::from_millis(1500) }.response();
        assert_eq!(r.headers()["retry-after"], "2");
        let r = ApiError::MethodNotAllowed { allow: "GET, HEAD" }.response();
        assert_eq!(r.headers()["allow"], "GET, HEAD");
        assert_eq!(ApiError::Unauthenticated.response().headers()["www-authenticate"], "Bearer");
        assert_eq!(ApiError::MissingBearer.response().headers()["www-authenticate"], "Bearer");
        let r = ApiError::TokenInvalid("expired".into()).response();
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
        assert!(ApiError::NotFound.response().headers().get("retry-after").is_none());
    }
}
