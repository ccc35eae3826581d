//! The `/v1/signal` upgrade (RFC 6455 §4.2): check the request, answer 101, and once hyper
//! hands over the connection start its task. permessage-deflate is never negotiated.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::FuturesIo;

use super::socket::WsSocket;
use super::SignalShared;
use crate::net::tls_stream::TlsStream;

use crate::http::{text, Body};
use crate::proto::signal::ConnInfo;

fn header_has_token(headers: &HeaderMap, name: hyper::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Validates an upgrade request; the `Sec-WebSocket-Accept` value, or why not.
pub fn check(method: &Method, headers: &HeaderMap) -> Result<String, &'static str> {
    if method != Method::GET {
        return Err("a WebSocket upgrade must be a GET");
    }
    if !header_has_token(headers, CONNECTION, "upgrade") || !header_has_token(headers, UPGRADE, "websocket") {
        return Err("this endpoint speaks WebSocket only (Upgrade: websocket)");
    }
    if headers.get("sec-websocket-version").map(|v| v.as_bytes()) != Some(b"13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = headers.get(SEC_WEBSOCKET_KEY).ok_or("Sec-WebSocket-Key is missing")?;
    Ok(derive_accept_key(key.as_bytes()))
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and the
/// protocol's GUID. SHA-1 is what the RFC fixes here; it proves nothing beyond "speaks WebSocket".
fn derive_accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

fn info(headers: &HeaderMap) -> ConnInfo {
    let get = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    ConnInfo { origin: get(ORIGIN), host: get(HOST) }
}

pub fn accept<B>(shared: &Arc<SignalShared>, mut req: Request<B>, peer: SocketAddr) -> Response<Body>
where
    B: Send + 'static,
{
    let accept_key = match check(req.method(), req.headers()) {
        Ok(k) => k,
        Err(why) => {
            let mut r = Response::new(Body::new(Bytes::from(format!("{why}\n"))));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut().insert(hyper::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
    };
    let Some(slot) = shared.unauthenticated.take(peer.ip()) else {
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
        let parts = match upgraded.downcast::<FuturesIo<TlsStream>>() {
            Ok(p) => p,
            Err(_) => {
                log::error!("signal: upgraded connection is not a TLS stream");
                return;
            }
        };
        let hyper::upgrade::Parts { io, read_buf, .. } = parts;
        let ws = WsSocket::new(io.into_inner(), &read_buf, shared.limits.max_message_bytes);
        // hyper's read buffer goes now, not at the end of the connection.
        drop(read_buf);
        // A task of its own: this one's state (the upgrade futures) is freed now.
        crate::rt::spawn(super::conn::run(Box::new(ws), shared, info, slot)).detach();
    })
    .detach();

    let mut r = Response::new(Body::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept_key) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(hyper::header::HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rfc6455_sample_handshake_is_accepted() {
        let h = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(check(&Method::GET, &h).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn non_websocket_requests_are_refused() {
        let ok = [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "x"),
        ];
        assert!(check(&Method::POST, &headers(&ok)).is_err());
        assert!(check(&Method::GET, &headers(&ok[1..])).is_err());
        assert!(check(&Method::GET, &headers(&[ok[0], ok[1], ok[3]])).is_err());
        assert!(check(&Method::GET, &headers(&ok[..3])).is_err());
        assert!(check(&Method::GET, &HeaderMap::new()).is_err());
    }
}
