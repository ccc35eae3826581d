//! Answering the three challenges (RFC 8555 section 8, RFC 8737): the TLS-ALPN-01 certificate
//! put in the shared resolver, the HTTP-01 listener, the DNS-01 hook.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::{Response, StatusCode};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smol::net::TcpListener;
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::AcmeError;
use crate::shutdown::Signal;
use crate::tls::{TlsMaterial, TlsOrigin};

/// How long the operator's DNS hook may run (it may wait for the record to be visible).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections the HTTP-01 listener serves at once; more wait in the backlog.
const HTTP01_MAX_CONNECTIONS: usize = 64;
/// Connections one source (an IPv4 address, an IPv6 /64) may hold on it; one more closes its
/// oldest, so no single source can keep a CA's validator out (SPEC "Clients without credentials").
const HTTP01_MAX_PER_SOURCE: usize = 8;
const HTTP01_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// The self-signed certificate of RFC 8737 section 3: the name, and the SHA-256 of the key
/// authorization in a critical acmeIdentifier extension.
pub fn alpn_certificate(domain: &str, key_authorization_sha256: &[u8]) -> Result<TlsMaterial, AcmeError> {
    let err = |e: rcgen::Error| AcmeError::Local(format!("cannot make the tls-alpn-01 certificate: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(err)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(key_authorization_sha256)];
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(TlsMaterial {
        chain: vec![CertificateDer::from(cert.der().to_vec())],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        origin: TlsOrigin::Acme,
    })
}

/// HTTP-01 answers by token: the key authorization.
pub type Http01Tokens = Arc<Mutex<HashMap<String, String>>>;

/// Serves `GET /.well-known/acme-challenge/TOKEN` on `listener` until `stop`: each connection
/// for at most 15 s and 16 KiB of request head, 64 at once, 8 per source.
pub async fn serve_http01(listener: TcpListener, tokens: Http01Tokens, stop: Signal) {
    let slots = Arc::new(smol::lock::Semaphore::new(HTTP01_MAX_CONNECTIONS));
    let per_source = crate::net::slots::SlotPool::new(usize::MAX, HTTP01_MAX_PER_SOURCE);
    loop {
        let Some(permit) = stop.until(slots.acquire_arc()).await else { return };
        let (stream, peer) = match stop.until(listener.accept()).await {
            None => return,
            Some(Ok(conn)) => conn,
            Some(Err(e)) => {
                log::warn!("acme_http_listen: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = per_source.take_evicting(peer.ip()) else { continue };
        let tokens = tokens.clone();
        crate::rt::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let answer = req
                    .uri()
                    .path()
                    .strip_prefix("/.well-known/acme-challenge/")
                    .and_then(|token| tokens.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned());
                let rsp = match answer {
                    Some(key_authorization) => Response::builder()
                        .header("content-type", "application/octet-stream")
                        .body(Full::new(bytes::Bytes::from(key_authorization))),
                    None => Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(bytes::Bytes::new())),
                };
                async move { rsp }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(SmolTimer::new())
                .header_read_timeout(HTTP01_CONNECTION_TIMEOUT)
                .max_buf_size(16 * 1024)
                .serve_connection(FuturesIo::new(stream), service);
            let eviction = slot.eviction();
            let deadline = async {
                futures_lite::future::or(smol::Timer::after(HTTP01_CONNECTION_TIMEOUT), async {
                    eviction.wait().await;
                    Instant::now()
                })
                .await;
                Ok(())
            };
            if let Err(e) = futures_lite::future::or(conn, deadline).await {
                log::debug!("acme_http_listen: connection from {peer} ended: {e}");
            }
            drop(slot);
            drop(permit);
        })
        .detach();
    }
}

/// Runs `HOOK ACTION DOMAIN VALUE` (ACTION `set` or `clear`), its output going to the server's
/// own stderr (the journal under systemd); waits up to [`HOOK_TIMEOUT`], then kills it.
pub async fn run_hook(hook: &Path, action: &str, domain: &str, value: &str) -> Result<(), AcmeError> {
    let described = || format!("{} {action} {domain} {value}", hook.display());
    let mut child = std::process::Command::new(hook)
        .args([action, domain, value])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| AcmeError::Hook { command: described(), reason: format!("cannot run it: {e}") })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(AcmeError::Hook { command: described(), reason: status.to_string() }),
            Ok(None) if started.elapsed() > HOOK_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AcmeError::Hook {
                    command: described(),
                    reason: "still running after 300 s; killed".into(),
                });
            }
            Ok(None) => smol::Timer::after(Duration::from_millis(50)).await,
            Err(e) => return Err(AcmeError::Hook { command: described(), reason: e.to_string() }),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("hook");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    #[test]
    fn the_hook_gets_action_domain_and_value_and_its_exit_status_decides() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("args");
        let hook = script(tmp.path(), &format!("echo \"$@\" > {}", out.display()));
        smol::block_on(run_hook(&hook, "set", "box.example", "VALUE-1")).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "set box.example VALUE-1\n");
        let hook = script(tmp.path(), "exit 7");
        let e = smol::block_on(run_hook(&hook, "clear", "box.example", "v")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("hook clear box.example v") && text.contains("exit status: 7"), "{text}");
        let e = smol::block_on(run_hook(&tmp.path().join("missing"), "set", "d", "v")).unwrap_err();
        assert!(e.to_string().contains("cannot run it"), "{e}");
    }
}
