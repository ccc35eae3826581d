//! edgebeam: a self-hosted WebRTC appliance in one binary.
//!
//! How the pieces fit:
//! - [`cli`] parses the command line (argh) and runs one command; `serve` hands a validated
//!   [`config::Config`] to [`app::serve`].
//! - [`config`] reads defaults, the TOML file, `EDGEBEAM_*` variables and flags as raw strings
//!   ([`config::raw`]), then validates them once into typed fields.
//! - [`store`] is the SQLite database behind a synchronous API; the server reaches it through
//!   [`store::worker::StoreHandle`], a dedicated thread, so the executor never blocks on SQLite.
//! - [`tls`] loads the operator's certificate or creates and reuses a self-signed one.
//! - [`net`] holds the socket shells (accept loops, TLS handshakes, graceful drain), and
//!   [`net::live::Live`], the admin API's handle on the running signaling hub and TURN thread.
//! - [`http`] is the hyper service: pure routing, health, metrics, security headers.
//! - [`webhooks`] delivers what happens (joins, leaves, kicks, keys, TURN allocations) to each
//!   project's HTTP endpoints: durable in the store, signed as Standard Webhooks.
//! - [`app`] wires it all together and owns shutdown.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod fsutil;
pub mod http;
pub mod ids;
pub mod logging;
pub mod net;
pub mod password;
pub mod procstat;
pub mod proto;
pub mod random;
pub mod rt;
pub mod shutdown;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod turn;
pub mod unixtime;
pub mod webhooks;

/// The version printed by `edgebeam version` and reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
