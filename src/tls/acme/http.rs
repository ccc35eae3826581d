//! The ACME client's HTTP: instant-acme's [`HttpClient`] on hyper's HTTP/1.1 client over smol,
//! one connection per request (an order makes a dozen requests, days apart), each bounded by
//! [`REQUEST_TIMEOUT`]. The ACME server's certificate is checked against the Mozilla roots of
//! `webpki-roots` (the box may have no CA bundle) plus `acme_ca_file` when set.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;

use crate::tls::TlsError;

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SmolClient {
    tls: futures_rustls::TlsConnector,
}

impl SmolClient {
    pub fn new(ca_file: Option<&Path>) -> Result<SmolClient, TlsError> {
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|source| TlsError::Unreadable { path: path.to_owned(), source })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::BadPem { path: path.to_owned(), detail: e.to_string() })?;
                roots.add(cert).map_err(|e| TlsError::BadPem { path: path.to_owned(), detail: e.to_string() })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rejected(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(SmolClient { tls: futures_rustls::TlsConnector::from(Arc::new(config)) })
    }
}

impl HttpClient for SmolClient {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            let timeout = async {
                smol::Timer::after(REQUEST_TIMEOUT).await;
                Err(Error::Str("no answer from the ACME server within 30 s"))
            };
            futures_lite::future::or(send(tls, req), timeout).await
        })
    }
}

async fn send(tls: futures_rustls::TlsConnector, req: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, Error> {
    let (mut parts, body) = req.into_parts();
    let uri = parts.uri.clone();
    let host = uri.host().ok_or(Error::Str("ACME URL without a host"))?.to_owned();
    let https = uri.scheme_str() != Some("http");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tcp = TcpStream::connect((bare_host.as_str(), port)).await.map_err(other)?;
    let host_header = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    parts.headers.insert(hyper::header::HOST, host_header.parse().map_err(|_| Error::Str("bad ACME host"))?);
    parts.uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse()?;
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let req = Request::from_parts(parts, Full::new(body));
    if https {
        let name = ServerName::try_from(bare_host).map_err(other)?;
        let stream = tls.connect(name, tcp).await.map_err(other)?;
        exchange(stream, req).await
    } else {
        exchange(tcp, req).await
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<BytesResponse, Error>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(io)).await.map_err(other)?;
    let driver = crate::rt::spawn(async move {
        let _ = conn.await;
    });
    let rsp = sender.send_request(req).await.map_err(other)?;
    let (parts, body) = rsp.into_parts();
    let bytes = body.collect().await.map_err(other)?.to_bytes();
    drop(sender);
    driver.cancel().await;
    Ok(BytesResponse::from(hyper::Response::from_parts(parts, Full::new(bytes))))
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Other(Box::new(e))
}
