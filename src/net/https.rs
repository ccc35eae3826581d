//! An HTTPS accept loop: one task per connection doing the TLS handshake (with a deadline), then
//! hyper's HTTP/1.1 with upgrades. On shutdown it stops accepting and asks each connection to
//! finish its in-flight request and close.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use rustls::ServerConfig;
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use crate::shutdown::{Guard, Signal};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound of concurrent connections per listener; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 4096;

/// Counters shared by every connection task (atomics: no locks on the request path).
#[derive(Debug, Default)]
pub struct Counters {
    pub admin_requests: AtomicU64,
    pub signal_requests: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub open_connections: AtomicU64,
}

/// Serves `listener` until `shutdown` fires. Each request goes to `handler`. Every connection
/// task holds a clone of `guard`, so the server's drain waits for in-flight requests.
pub async fn serve<H, F, B>(
    name: &'static str,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    handler: H,
    counters: Arc<Counters>,
    shutdown: Signal,
    guard: Guard,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = Arc::new(smol::lock::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Some(permit) = shutdown.until(slots.acquire_arc()).await else { break };
        let accepted = shutdown.until(listener.accept()).await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(conn)) => conn,
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("{name}: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let guard = guard.clone();
        let (tls, handler, counters, shutdown) = (tls.clone(), handler.clone(), counters.clone(), shutdown.clone());
        crate::rt::spawn(async move {
            counters.open_connections.fetch_add(1, Ordering::Relaxed);
            serve_connection(name, stream, peer, tls, handler, &counters, shutdown).await;
            counters.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            drop(guard);
        })
        .detach();
    }
    log::debug!("{name}: stopped accepting");
}

async fn serve_connection<H, F, B>(
    name: &'static str,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Arc<ServerConfig>,
    handler: H,
    counters: &Counters,
    shutdown: Signal,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let handshake = futures_lite::future::or(async { Some(super::tls_stream::accept(stream, tls).await) }, async {
        smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
        None
    })
    .await;
    let stream = match handshake {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            counters.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: TLS handshake with {peer} failed: {e}");
            return;
        }
        None => {
            counters.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: TLS handshake with {peer} timed out");
            return;
        }
    };
    let service = hyper::service::service_fn(move |req| {
        let fut = handler(req, peer);
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(FuturesIo::new(stream), service)
        .with_upgrades();
    futures_lite::pin!(conn);
    let finished = shutdown.until(conn.as_mut()).await;
    let result = match finished {
        Some(result) => result,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        log::debug!("{name}: connection from {peer} ended: {e}");
    }
}
