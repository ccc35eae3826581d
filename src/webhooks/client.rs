//! The HTTP/1.1 client of webhook deliveries: hyper's client side on a smol `TcpStream`
//! (through smol-hyper's `FuturesIo`), with futures-rustls (ring) for `https://`. No second
//! runtime and no C library beyond ring's.
//!
//! TLS roots are the operating system's store (rustls-native-certs reads the PEM bundle or
//! directory, honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`): an appliance's webhooks often go to a
//! backend on the LAN behind a private CA the operator installed in the OS, and the OS keeps its
//! roots up to date, which a list compiled into the binary would not. A box without a store
//! delivers to `http://` only and logs why at start.
//!
//! One connection per endpoint is kept open between deliveries (its worker owns it): at a
//! thousand events a second a handshake per event would cost more than the event.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use rustls::pki_types::ServerName;
use smol_hyper::rt::FuturesIo;

use super::target::{Denied, Scheme, TargetPolicy, WebhookUrl};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of a receiver's answer read (and thrown away) before the connection is dropped.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("refused target: {0} (see webhook_allow)")]
    Refused(Denied),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("no TLS roots on this box")]
    NoRoots,
    #[error("HTTP: {0}")]
    Http(hyper::Error),
    #[error("no answer within {0:?}")]
    AnswerTimeout(Duration),
    #[error("{0:?} is not a TLS server name")]
    ServerName(String),
    #[error("cannot build the request: {0}")]
    Request(hyper::http::Error),
    #[error("no connection")]
    NotConnected,
    #[error("the connection closed before the answer")]
    Closed,
}

/// What an attempt got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub latency: Duration,
}

/// Shared by every worker: the TLS setup and the address rule.
pub struct HttpClient {
    tls: Option<futures_rustls::TlsConnector>,
    pub policy: TargetPolicy,
    pub answer_timeout: Duration,
}

/// A kept-open connection to one endpoint. Its hyper connection future is polled by the
/// worker's own task while a request is out (and once before the next one, to see whether the
/// receiver closed it), not by a task of its own: that would be two more wake-ups per delivery.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Result<()>> + Send>>,
}

impl HttpClient {
    pub fn new(policy: TargetPolicy, answer_timeout: Duration) -> HttpClient {
        HttpClient { tls: tls_connector(), policy, answer_timeout }
    }

    /// POSTs `body` with `headers` to `url`, on `conn` if it is still open, else on a new
    /// connection that is left in `conn`. Any error drops the connection. A kept-open connection
    /// that fails is tried once more on a new one: the receiver may have closed it while idle
    /// (the request may then arrive twice, which at-least-once allows).
    pub async fn post(
        &self,
        conn: &mut Option<Connection>,
        url: &WebhookUrl,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<Answer, DeliveryError> {
        let started = Instant::now();
        let reusable = match conn {
            // The connection future first (it notices a close, and says it can take a request),
            // then whether it can.
            Some(Connection { sender, driver }) => {
                let ended = async {
                    let _ = driver.as_mut().await;
                    false
                };
                future::poll_once(future::or(ended, async { sender.ready().await.is_ok() })).await == Some(true)
            }
            None => false,
        };
        if reusable {
            match self.send(conn, url, headers, body.clone(), started).await {
                Err(DeliveryError::Http(e)) => {
                    log::debug!("webhooks: a kept-open connection failed ({e}); reconnecting")
                }
                done => return done,
            }
        }
        *conn = None;
        *conn = Some(self.connect(url).await?);
        self.send(conn, url, headers, body, started).await
    }

    /// One request on the open connection `conn`.
    async fn send(
        &self,
        conn: &mut Option<Connection>,
        url: &WebhookUrl,
        headers: &[(&'static str, String)],
        body: String,
        started: Instant,
    ) -> Result<Answer, DeliveryError> {
        let Some(Connection { sender, driver }) = conn.as_mut() else { return Err(DeliveryError::NotConnected) };
        let mut req = hyper::Request::post(url.path.as_str())
            .header(hyper::header::HOST, url.host_header())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("edgebeam-webhooks/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        // Nothing was sent: the connection stays usable.
        let req = req.body(Full::new(Bytes::from(body))).map_err(DeliveryError::Request)?;
        let timeout = self.answer_timeout;
        let sent = async {
            let resp = sender.send_request(req).await.map_err(DeliveryError::Http)?;
            let status = resp.status().as_u16();
            // Read the answer so the connection can carry the next request, within bounds.
            let mut body = resp.into_body();
            let mut read = 0usize;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(DeliveryError::Http)?;
                read += frame.data_ref().map_or(0, |d| d.len());
                if read > MAX_ANSWER_BYTES {
                    return Ok((status, false));
                }
            }
            Ok((status, true))
        };
        let ended = async {
            // The connection ended (closed, or failed) before the answer did.
            let result = driver.as_mut().await;
            Some(result.map_err(DeliveryError::Http).and(Err(DeliveryError::Closed)))
        };
        let outcome = future::or(future::or(async { Some(sent.await) }, ended), async {
            smol::Timer::after(timeout.saturating_sub(started.elapsed())).await;
            None
        })
        .await;
        match outcome {
            Some(Ok((status, keep))) => {
                if !keep {
                    *conn = None;
                }
                Ok(Answer { status, latency: started.elapsed() })
            }
            Some(Err(e)) => {
                *conn = None;
                Err(e)
            }
            None => {
                *conn = None;
                Err(DeliveryError::AnswerTimeout(timeout))
            }
        }
    }

    /// Resolves the host, checks every address, and connects to the first allowed one.
    async fn connect(&self, url: &WebhookUrl) -> Result<Connection, DeliveryError> {
        let resolved: Vec<SocketAddr> = match url.literal() {
            Some(ip) => vec![SocketAddr::new(ip, url.port)],
            None => smol::net::resolve((url.host.as_str(), url.port))
                .await
                .map_err(|_| DeliveryError::Resolve(url.host.clone()))?,
        };
        let addr = self
            .policy
            .pick(&url.host, &resolved)
            .map_err(DeliveryError::Refused)?
            .ok_or_else(|| DeliveryError::Resolve(url.host.clone()))?;
        let tcp = future::or(async { Some(smol::net::TcpStream::connect(addr).await) }, async {
            smol::Timer::after(CONNECT_TIMEOUT).await;
            None
        })
        .await
        .ok_or(DeliveryError::ConnectTimeout)?
        .map_err(DeliveryError::Connect)?;
        let _ = tcp.set_nodelay(true);
        match url.scheme {
            Scheme::Http => handshake(tcp).await,
            Scheme::Https => {
                let tls = self.tls.as_ref().ok_or(DeliveryError::NoRoots)?;
                let name =
                    ServerName::try_from(url.host.clone()).map_err(|_| DeliveryError::ServerName(url.host.clone()))?;
                let stream = future::or(async { Some(tls.connect(name, tcp).await) }, async {
                    smol::Timer::after(CONNECT_TIMEOUT).await;
                    None
                })
                .await
                .ok_or(DeliveryError::ConnectTimeout)?
                .map_err(DeliveryError::Tls)?;
                handshake(stream).await
            }
        }
    }
}

async fn handshake<S>(io: S) -> Result<Connection, DeliveryError>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, driver) = http1::handshake(FuturesIo::new(io)).await.map_err(DeliveryError::Http)?;
    Ok(Connection { sender, driver: Box::pin(driver) })
}

fn tls_connector() -> Option<futures_rustls::TlsConnector> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        log::warn!("webhooks: no TLS root certificates found on this box; https:// endpoints will fail");
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(futures_rustls::TlsConnector::from(Arc::new(config)))
}
