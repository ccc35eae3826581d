//! `serve`: open the store, bind the listeners ([`Listeners::bind`]), then [`run`] on them until
//! SIGTERM or SIGINT. `run` loads TLS, spawns the shells, waits for its shutdown future, drains and
//! closes the store; tests hand it listeners bound to 127.0.0.1 port 0 and a future of their own.
//! Everything that can fail at start fails before the server reports ready, with one line naming
//! the cause.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use futures_lite::StreamExt;
use smol::net::TcpListener;

use crate::config::{AcmeChallenge, AcmeConfig, Config, TlsSource, TurnsAdvertise};
use crate::http::router::Listener;
use crate::http::{Counters, HttpState};
use crate::net::https::HttpsListener;
use crate::net::live::Live;
use crate::net::signal::directory::{load_policies, ServerDirectory};
use crate::net::signal::hub_task::HubTask;
use crate::net::signal::SignalShared;
use crate::proto::signal::{Hub, HubConfig};
use crate::shutdown::{self, Drain};
use crate::store::worker::StoreHandle;
use crate::store::{secrets, OpenMode, Store, StoreError};
use crate::tls::{self, SanInputs, TlsError, TlsOrigin, TlsState};
use crate::tokens::TokenService;
use crate::unixtime::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind { key: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Every socket the server listens on, bound before anything else starts.
pub struct Listeners {
    pub admin: TcpListener,
    pub signal: TcpListener,
    pub turn_udp: UdpSocket,
    pub turn_tcp: TcpListener,
    pub turns: TcpListener,
    /// `acme_http_listen`, bound only for the http-01 challenge.
    pub acme_http: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses of `config`; an error names the setting and the address.
    pub async fn bind(config: &Config) -> Result<Listeners, AppError> {
        Ok(Listeners {
            admin: bind("admin_listen", config.admin_listen).await?,
            signal: bind("signal_listen", config.signal_listen).await?,
            turn_udp: UdpSocket::bind(config.turn_listen).map_err(|source| AppError::Bind {
                key: "turn_listen",
                addr: config.turn_listen,
                source,
            })?,
            turn_tcp: bind("turn_listen", config.turn_listen).await?,
            turns: bind("turns_listen", config.turns_listen).await?,
            acme_http: match &config.tls {
                TlsSource::Acme(AcmeConfig { challenge: AcmeChallenge::Http01 { listen }, .. }) => {
                    Some(bind("acme_http_listen", *listen).await?)
                }
                _ => None,
            },
        })
    }

    fn local(&self) -> std::io::Result<LocalAddrs> {
        Ok(LocalAddrs {
            admin: self.admin.local_addr()?,
            signal: self.signal.local_addr()?,
            turn: self.turn_udp.local_addr()?,
            turns: self.turns.local_addr()?,
        })
    }
}

/// The addresses actually bound (a port 0 in the config is the kernel's choice here).
struct LocalAddrs {
    admin: SocketAddr,
    signal: SocketAddr,
    turn: SocketAddr,
    turns: SocketAddr,
}

/// Connections a source may hold on the admin listener (SPEC "Clients without credentials"). The
/// signal listener's is `signal_max_unauthenticated_per_ip`.
const ADMIN_MAX_UNAUTHENTICATED_PER_SOURCE: usize = 64;

pub fn serve(config: Config) -> Result<(), AppError> {
    crate::rt::block_on(async {
        // The data dir first: a database that cannot be used is the cause to report, whatever
        // the ports, and nothing is bound for it.
        let store = Store::open(&config.data_dir, OpenMode::CreateIfMissing)?;
        let listeners = Listeners::bind(&config).await?;
        let mut signals = async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
            .map_err(AppError::Signals)?;
        let on_signal = async move {
            let name = match signals.next().await {
                Some(Ok(async_signal::Signal::Int)) => "SIGINT",
                Some(Ok(_)) => "SIGTERM",
                _ => "the end of the signal stream",
            };
            log::info!("received {name}; shutting down");
        };
        run(config, store, listeners, on_signal).await
    })
}

/// Serves `store` on `listeners` until `shutdown` resolves, then drains within the grace period.
pub async fn run(
    config: Config,
    mut store: Store,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    let started = Instant::now();
    let workers = crate::rt::start_workers(config.worker_threads);
    let local =
        listeners.local().map_err(|source| AppError::Bind { key: "listeners", addr: config.admin_listen, source })?;
    let now = UnixTime::now();
    let turn_secret = store.secret_or_insert(secrets::TURN_SECRET, crate::random::token::<32>().as_bytes(), now)?;
    let policies = load_policies(&store)?;
    let setup_token = issue_setup_token_if_needed(&mut store, now)?;
    let tokens = TokenService::new(store.load_keyset()?, config.token_leeway_secs, config.token_cache_entries);

    // In ACME mode the self-signed certificate of first run names the ACME domains as well.
    let mut names = config.public_names.clone();
    if let TlsSource::Acme(acme) = &config.tls {
        names.extend(acme.domains.iter().filter(|d| !d.as_str().starts_with("*.")).cloned());
    }
    let sans = SanInputs::from_system(config.public_ip, &names);
    let material = tls::load(&config, &sans, now)?;
    match material.origin {
        TlsOrigin::SelfSignedCreated => {
            log::info!("created a self-signed certificate in {}", config.data_dir.join(tls::TLS_DIR).display())
        }
        TlsOrigin::SelfSignedReused => {
            log::info!("using the self-signed certificate in {}", config.data_dir.join(tls::TLS_DIR).display())
        }
        TlsOrigin::OperatorFiles => log::info!("using the operator's certificate files"),
        TlsOrigin::Acme => log::info!("using the ACME certificate in {}", tls::acme::dir(&config.data_dir).display()),
    }
    if let TlsSource::Acme(_) = config.tls {
        if material.origin != TlsOrigin::Acme {
            log::info!("ACME: serving the self-signed certificate until the first ACME certificate arrives");
        }
    }
    log::info!("TLS certificate SHA-256 fingerprint {}", material.fingerprint());
    // One resolver for every TLS listener: a swap reaches each of them at its next handshake.
    let tls_state = TlsState::new(tls::mode_name(&config), &material)?;
    let alpn_challenge = matches!(&config.tls, TlsSource::Acme(AcmeConfig { challenge: AcmeChallenge::TlsAlpn01, .. }));
    let https_alpn: &[&[u8]] = if alpn_challenge { &[b"http/1.1", tls::live::ACME_TLS_ALPN] } else { &[b"http/1.1"] };
    let https_config = tls::server_config(tls_state.resolver(), https_alpn)?;
    let turns_config = tls::server_config(tls_state.resolver(), &[])?;
    let (hup_tx, hups) = async_channel::bounded(1);
    let mut hup_signals = async_signal::Signals::new([async_signal::Signal::Hup]).map_err(AppError::Signals)?;

    let relays = crate::net::turn::relay_setup(local.turn, config.public_ip, config.relay_ports);
    for (family, bind, announce) in
        [("IPv4", relays.bind_v4, relays.advertise_v4), ("IPv6", relays.bind_v6, relays.advertise_v6)]
    {
        match (bind, announce) {
            (Some(b), Some(a)) => log::info!("TURN {family} relays bind {b} and are announced as {a}"),
            _ => log::info!("TURN {family} relays: none (Allocate asking for {family} gets 440)"),
        }
    }
    let turn_secrets = crate::turn::load_secrets(&store, config.turn.secret_grace)?
        .unwrap_or(crate::proto::turn::Secrets { current: turn_secret.clone(), previous: None });
    let mut turn_core =
        crate::turn::build_core(&config, turn_secrets, relays.bind_v4.is_some(), relays.bind_v6.is_some());
    let revoked = crate::turn::revoked_at_start(&mut store, now)?;
    if !revoked.is_empty() {
        log::info!("TURN: {} handed-out credentials stay refused (deleted keys, kicks)", revoked.len());
    }
    turn_core.handle_revoke(revoked);
    let turn_stats = Arc::new(crate::net::turn::TurnStats::default());
    let (store, store_thread) = StoreHandle::spawn(store);
    let own_addresses = if_addrs::get_if_addrs().map(|l| l.into_iter().map(|i| i.ip()).collect()).unwrap_or_default();
    let (dispatcher, webhooks) = crate::webhooks::dispatch::Dispatcher::new(
        store.clone(),
        config.webhooks.clone(),
        own_addresses,
        Arc::default(),
    );
    // On the worker threads: delivery work never competes with the hub for its thread.
    let dispatcher = crate::rt::spawn_worker(dispatcher.run());
    let Listeners { admin, signal: signal_listener, turn_udp, turn_tcp, turns, acme_http } = listeners;
    let turn_streams = vec![(turn_tcp, None), (turns, Some(turns_config))];
    let turn =
        crate::net::turn::spawn(turn_core, turn_udp, relays, turn_stats.clone(), turn_streams, webhooks.sink.clone())
            .map_err(|source| AppError::Bind { key: "turn_listen", addr: local.turn, source })?;

    let counters = Arc::new(Counters::default());
    let (events_tx, events) = async_channel::bounded(4096);
    let (credentials_tx, credentials) = async_channel::unbounded();
    let signal = SignalShared::new(events_tx, config.signal.clone());
    // Bounded: the admin API waits for each answer, so a queue holds at most one per request
    // in flight.
    let (admin_tx, admin_requests) = async_channel::bounded(64);
    let live = Live::new(admin_tx, turn.control.clone(), tokens.clone(), store.clone());
    let state = Arc::new(HttpState {
        store: store.clone(),
        started,
        counters: counters.clone(),
        tokens: tokens.clone(),
        signal: signal.clone(),
        turn: turn_stats.clone(),
        live: live.clone(),
        webhooks: webhooks.clone(),
        api: crate::http::ApiState { tls: Some(tls_state.clone()), ..Default::default() },
    });
    let hasher = state.api.hasher.clone();
    crate::rt::spawn(async move { hasher.warm().await }).detach();
    let (trigger, stop) = shutdown::channel();
    let drain = Drain::new();
    let hub = HubTask {
        hub: Hub::new(hub_config(&config)),
        dir: ServerDirectory {
            tokens: tokens.clone(),
            projects: policies,
            public_host: public_host(&config),
            turn_port: local.turn.port(),
            turns_port: local.turns.port(),
            turn_secret,
            tls: Some(tls_state.clone()),
            always_turns: config.turns_advertise == TurnsAdvertise::Always,
        },
        events,
        keys: tokens.subscribe(),
        admin: admin_requests,
        store: store.clone(),
        turn: Some(credentials_tx),
        max_queued_bytes: config.signal.max_queued_bytes,
        shared: signal.clone(),
        webhooks: webhooks.sink.clone(),
    };
    let hub_task = crate::rt::spawn(hub.run(stop.clone(), config.shutdown_grace, drain.guard()));
    let watcher = crate::rt::spawn(crate::tokens::watch_store(tokens.clone(), store.clone(), stop.clone()));
    let turn_follower = crate::rt::spawn(crate::turn::follow_store(
        tokens.subscribe(),
        credentials,
        store.clone(),
        turn.control.clone(),
        config.turn.secret_grace,
    ));
    let hup_forwarder = crate::rt::spawn(async move {
        while let Some(Ok(_)) = hup_signals.next().await {
            // A full channel means a reload is pending already.
            if let Err(async_channel::TrySendError::Closed(())) = hup_tx.try_send(()) {
                log::info!("SIGHUP: nothing to reload with the self-signed certificate");
            }
        }
    });
    let tls_task = tls::spawn_renewal(&config, tls_state.clone(), hups, acme_http, stop.clone());
    let usage_saver = crate::rt::spawn(crate::turn::save_usage(turn_stats.clone(), store.clone(), stop.clone()));
    let hourly_saver =
        crate::rt::spawn(crate::net::live::hourly::save_hourly(live, turn_stats.clone(), store.clone(), stop.clone()));

    let mut listeners = Vec::new();
    let https = [
        ("admin", admin, Listener::Admin, ADMIN_MAX_UNAUTHENTICATED_PER_SOURCE),
        ("signal", signal_listener, Listener::Signal, config.signal.max_unauthenticated_per_ip),
    ];
    for (name, listener, kind, max_unauthenticated_per_source) in https {
        let state = state.clone();
        let handler = move |req, conn| crate::http::handle(state.clone(), kind, req, conn);
        let listening = HttpsListener {
            name,
            listener,
            tls: https_config.clone(),
            max_unauthenticated_per_source,
            handshakes_per_source_per_sec: config.tls_handshakes_per_source_per_sec,
        };
        let (counters, stop, guard) = (counters.clone(), stop.clone(), drain.guard());
        listeners.push(crate::rt::spawn_worker(crate::net::https::serve(listening, handler, counters, stop, guard)));
    }

    if let Some(token) = setup_token {
        print_setup_link(&config, local.admin, &token);
    }
    log::info!(
        "edgebeam {} ready in {} ms: admin https://{} signal https://{} turn {} (udp, tcp) turns {} relay ports {}, {} worker threads",
        crate::VERSION,
        started.elapsed().as_millis(),
        local.admin,
        local.signal,
        local.turn,
        local.turns,
        config.relay_ports,
        workers
    );
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    shutdown.await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    trigger.fire();
    if !drain.wait(config.shutdown_grace).await {
        log::warn!("connections still open after {:?}; closing them", config.shutdown_grace);
    }
    for task in listeners {
        drop(task.cancel());
    }
    watcher.cancel().await;
    hup_forwarder.cancel().await;
    if let Some(task) = tls_task {
        task.cancel().await;
    }
    // Done by now unless the grace ran out: then its last minute of usage is lost.
    let signal_usage = hub_task.cancel().await.unwrap_or_default();
    // Signaling has stopped: the follower records what it handed out last, then ends.
    turn_follower.await;
    let _ = turn.control.send(crate::net::turn::Control::Shutdown).await;
    if turn.thread.join().is_err() {
        log::error!("the turn thread panicked");
    }
    // Signaling and TURN have stopped: their last events are in the queue; write them.
    webhooks.shutdown().await;
    dispatcher.await;
    drop(webhooks);
    usage_saver.await;
    crate::turn::flush_usage(&turn_stats, &store).await;
    hourly_saver.await;
    crate::net::live::hourly::flush(signal_usage, &turn_stats, &store).await;
    drop(signal);
    drop(state);
    drop(store);
    if store_thread.join().is_err() {
        log::error!("the store thread panicked");
    }
    log::info!("stopped");
    Ok(())
}

fn hub_config(config: &Config) -> HubConfig {
    let s = &config.signal;
    let fixed = HubConfig::default();
    HubConfig {
        auth_timeout: s.auth_timeout,
        rate_per_sec: s.rate_per_sec,
        burst: s.burst,
        abuse_limit: s.abuse_limit,
        abuse_window: s.abuse_window,
        max_conns_per_project: s.max_conns_per_project,
        expiring_notice: std::time::Duration::from_secs(60),
        leeway_secs: config.token_leeway_secs,
        // Not settings: a client needs one refresh per token lifetime (docs/signaling.md).
        refresh_per_sec: fixed.refresh_per_sec,
        refresh_burst: fixed.refresh_burst,
    }
}

/// The host put in ICE server URLs: the first public name, else the public IP; without either,
/// each client gets the host it used to reach the signal listener.
fn public_host(config: &Config) -> Option<String> {
    config.public_names.first().map(|n| n.as_str().to_owned()).or_else(|| config.public_ip.map(|ip| ip.to_string()))
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).await.map_err(|source| AppError::Bind { key, addr, source })
}

/// While no admin account exists, every start makes a fresh one-time setup token (the previous
/// one stops working) and prints its link once. Only the token's SHA-256 is stored.
fn issue_setup_token_if_needed(store: &mut Store, now: UnixTime) -> Result<Option<String>, StoreError> {
    if store.account_count()? > 0 {
        store.delete_secret(secrets::SETUP_TOKEN_HASH)?;
        return Ok(None);
    }
    let token = crate::random::token::<32>();
    // Hashed as `POST /api/v1/setup` hashes the token it is given.
    let hash = crate::http::api::auth::sha256(token.as_bytes());
    store.put_secret(secrets::SETUP_TOKEN_HASH, &hash, now)?;
    Ok(Some(token))
}

fn print_setup_link(config: &Config, admin: SocketAddr, token: &str) {
    let ip = admin.ip();
    let host = if !ip.is_unspecified() {
        match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        }
    } else if let Some(name) = config.public_names.first() {
        name.as_str().to_owned()
    } else if let Some(public) = config.public_ip {
        public.to_string()
    } else {
        "localhost".to_owned()
    };
    // stdout, not the log: the token is a secret and logs are kept.
    println!(
        "No admin account yet. Create one at https://{host}:{}/setup#{token}\n(or run: edgebeam admin create --username NAME --data-dir {})",
        admin.port(),
        config.data_dir.display()
    );
}
