//! An HTTPS accept loop: one task per connection doing the TLS handshake (with a deadline), then
//! hyper's HTTP/1.1 with upgrades. On shutdown it stops accepting and asks each connection to
//! finish its in-flight request and close.
//!
//! What a client without credentials can hold (SPEC "Clients without credentials"): each
//! connection has a slot of its source's (an IPv4 address or an IPv6 /64) from accept on, 64 per
//! source by default; one more evicts that source's oldest. An HTTP connection keeps its slot for
//! its life (a request proves nothing); a WebSocket upgrade takes it along
//! ([`ConnCtx::take_pending`]) until the session authenticates. A source may also start only so
//! many TLS handshakes a second: the rest are closed at accept, before any crypto. The handshake
//! has 10 s and 16 KiB ([`super::tls_stream::MAX_HANDSHAKE_BYTES`]), a request head 15 s and
//! 64 KiB, and an idle keep-alive connection is closed after the same 15 s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_lite::future::or;
use hyper::body::Incoming;
use hyper::{Request, Response};
use rustls::ServerConfig;
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::slots::{Slot, SlotPool};
use crate::proto::rate::RateBySource;
use crate::proto::source::SourceKey;
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
    /// Connections closed at accept: their source was over its handshake rate.
    pub handshakes_rate_limited: AtomicU64,
    /// Unauthenticated connections closed to make room for a newer one of the same source.
    pub unauthenticated_evicted: AtomicU64,
}

/// A listener and what it allows one source.
pub struct HttpsListener {
    pub name: &'static str,
    pub listener: TcpListener,
    pub tls: Arc<ServerConfig>,
    /// Connections a source may hold that have not authenticated.
    pub max_unauthenticated_per_source: usize,
    pub handshakes_per_source_per_sec: u32,
}

/// The connection a request came on: the peer, and the connection's unauthenticated slot until
/// a WebSocket upgrade takes it.
#[derive(Clone)]
pub struct ConnCtx {
    pub peer: SocketAddr,
    pending: Arc<Mutex<Option<Slot>>>,
}

impl ConnCtx {
    /// The slot, for a WebSocket session to keep until it authenticates. `None` if it was taken
    /// already or the connection was evicted.
    pub fn take_pending(&self) -> Option<Slot> {
        let slot = self.pending.lock().unwrap_or_else(PoisonError::into_inner).take();
        slot.filter(|s| !s.is_evicted())
    }
}

/// Sources tracked one by one by the handshake rate limit; beyond, they share one bucket.
const RATE_SOURCES: usize = 65_536;

/// Serves `listener` until `shutdown` fires. Each request goes to `handler`. Every connection
/// task holds a clone of `guard`, so the server's drain waits for in-flight requests.
pub async fn serve<H, F, B>(
    listening: HttpsListener,
    handler: H,
    counters: Arc<Counters>,
    shutdown: Signal,
    guard: Guard,
) where
    H: Fn(Request<Incoming>, ConnCtx) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let HttpsListener { name, listener, tls, max_unauthenticated_per_source, handshakes_per_source_per_sec } =
        listening;
    let slots = Arc::new(smol::lock::Semaphore::new(MAX_CONNECTIONS));
    let pending = SlotPool::new(usize::MAX, max_unauthenticated_per_source);
    let rate = f64::from(handshakes_per_source_per_sec);
    // A source may open its whole cap at once (or two seconds' worth, if that is more).
    let burst = (max_unauthenticated_per_source as f64).max(2.0 * rate);
    let mut handshakes = RateBySource::new(rate, burst, RATE_SOURCES, Instant::now());
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
        if !handshakes.allow(&SourceKey::of(peer.ip()), Instant::now()) {
            counters.handshakes_rate_limited.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: {peer} is over its handshake rate; closed at accept");
            continue;
        }
        // The pool has no total cap, so a slot is always had (the semaphore bounds the total).
        let Some(slot) = pending.take_evicting(peer.ip()) else { continue };
        let guard = guard.clone();
        let (tls, handler, counters, shutdown) = (tls.clone(), handler.clone(), counters.clone(), shutdown.clone());
        // Off the hub's thread: the handshake and the requests are the work a client without
        // credentials can ask for.
        crate::rt::spawn_worker(async move {
            counters.open_connections.fetch_add(1, Ordering::Relaxed);
            let conn = Conn { name, stream, peer, slot };
            serve_connection(conn, tls, handler, &counters, shutdown).await;
            counters.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            drop(guard);
        })
        .detach();
    }
    log::debug!("{name}: stopped accepting");
}

/// An accepted connection with its unauthenticated slot.
struct Conn {
    name: &'static str,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
}

enum Handshake<T> {
    Done(T),
    TimedOut,
    Evicted,
}

async fn serve_connection<H, F, B>(
    conn: Conn,
    tls: Arc<ServerConfig>,
    handler: H,
    counters: &Counters,
    shutdown: Signal,
) where
    H: Fn(Request<Incoming>, ConnCtx) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Conn { name, stream, peer, slot } = conn;
    let eviction = slot.eviction();
    let _ = stream.set_nodelay(true);
    let handshake = or(
        async { Handshake::Done(super::tls_stream::accept(stream, tls).await) },
        or(
            async {
                smol::Timer::after(TLS_HANDSHAKE_TIMEOUT).await;
                Handshake::TimedOut
            },
            async {
                eviction.wait().await;
                Handshake::Evicted
            },
        ),
    )
    .await;
    let stream = match handshake {
        Handshake::Done(Ok(s)) => s,
        Handshake::Done(Err(e)) => {
            counters.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: TLS handshake with {peer} failed: {e}");
            return;
        }
        Handshake::TimedOut => {
            counters.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: TLS handshake with {peer} timed out");
            return;
        }
        Handshake::Evicted => {
            counters.unauthenticated_evicted.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: evicted {peer} during its handshake");
            return;
        }
    };
    if stream.alpn_protocol() == Some(crate::tls::live::ACME_TLS_ALPN) {
        // A TLS-ALPN-01 validation (RFC 8737): the certificate was the answer; no HTTP follows.
        log::debug!("{name}: answered a tls-alpn-01 validation from {peer}");
        return;
    }
    let ctx = ConnCtx { peer, pending: Arc::new(Mutex::new(Some(slot))) };
    let service = hyper::service::service_fn(move |req| {
        let fut = handler(req, ctx.clone());
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(FuturesIo::new(stream), service)
        .with_upgrades();
    futures_lite::pin!(conn);
    let finished = or(async { Some(shutdown.until(conn.as_mut()).await) }, async {
        eviction.wait().await;
        None
    })
    .await;
    let result = match finished {
        Some(Some(result)) => result,
        Some(None) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        None => {
            // A connection that upgraded took its slot along; an eviction then is the session's.
            counters.unauthenticated_evicted.fetch_add(1, Ordering::Relaxed);
            log::debug!("{name}: evicted {peer}");
            return;
        }
    };
    if let Err(e) = result {
        log::debug!("{name}: connection from {peer} ended: {e}");
    }
}
