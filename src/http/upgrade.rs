//! The `/v1/signal` upgrade in HTTP terms: judge the request with the pure handshake
//! ([`crate::proto::ws::handshake`]), take over the connection's unauthenticated slot, answer 101,
//! and once hyper hands over the connection give the TLS stream to [`crate::net::signal`].

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::FuturesIo;

use super::{text, Body};
use crate::net::https::ConnCtx;
use crate::net::signal::SignalShared;
use crate::net::tls_stream::TlsStream;
use crate::proto::signal::ConnInfo;
use crate::proto::ws::handshake::{accept_key, UpgradeRequest};

fn all(headers: &HeaderMap, name: HeaderName) -> Vec<&str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

fn upgrade_request<'a>(method: &Method, headers: &'a HeaderMap) -> UpgradeRequest<'a> {
    UpgradeRequest {
        is_get: method == Method::GET,
        connection: all(headers, CONNECTION),
        upgrade: all(headers, UPGRADE),
        version: headers.get(hyper::header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes),
        key: headers.get(hyper::header::SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes),
    }
}

fn info(headers: &HeaderMap) -> ConnInfo {
    let get = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    ConnInfo { origin: get(ORIGIN), host: get(HOST) }
}

pub fn accept<B>(shared: &Arc<SignalShared>, mut req: Request<B>, conn: &ConnCtx) -> Response<Body>
where
    B: Send + 'static,
{
    let accept = match accept_key(&upgrade_request(req.method(), req.headers())) {
        Ok(k) => k,
        Err(why) => {
            let mut r = Response::new(Body::new(Bytes::from(format!("{why}\n"))));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut().insert(hyper::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
    };
    // The connection's unauthenticated slot goes with the session until it authenticates.
    let Some(slot) = conn.take_pending() else {
        return text(StatusCode::TOO_MANY_REQUESTS, "too many unauthenticated connections from this address\n");
    };
    let info = info(req.headers());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared = shared.clone();
    crate::rt::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                log::debug!("signal: upgrade failed: {e}");
                return;
            }
        };
        let Ok(parts) = upgraded.downcast::<FuturesIo<TlsStream>>() else {
            log::error!("signal: upgraded connection is not a TLS stream");
            return;
        };
        let hyper::upgrade::Parts { io, read_buf, .. } = parts;
        crate::net::signal::start(io.into_inner(), read_buf, shared, info, slot);
    })
    .detach();

    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_read_from_every_header_line() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("keep-alive"));
        h.append(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.append(UPGRADE, HeaderValue::from_static("websocket"));
        h.append(hyper::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        h.append(hyper::header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(accept_key(&upgrade_request(&Method::GET, &h)).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert!(accept_key(&upgrade_request(&Method::POST, &h)).is_err());
    }
}
