//! edgebeam: a self-hosted WebRTC appliance in one binary.
//!
//! How the pieces fit:
//! - [`cli`] parses the command line (argh) and runs one command; `serve` hands a validated
//!   [`config::Config`] to [`app::serve`].
//! - [`config`] reads defaults, the TOML file, `EDGEBEAM_*` variables and flags as raw strings
//!   ([`config::raw`]), then validates them once into typed fields.
//! - [`store`] is the SQLite database behind a synchronous API; the server reaches it through
//!   [`store::worker::StoreHandle`], a dedicated thread, so the executor never blocks on SQLite.
//! - [`tls`] holds the one certificate resolver every TLS listener uses, filled from the
//!   self-signed certificate, the operator's files (reloaded on SIGHUP and change) or ACME.
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
pub mod doctor;
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

/// The version printed by `edgebeam version` and reported by `/healthz`: Cargo.toml's, or the
/// one `cross/release.sh` passes in (build.rs).
pub const VERSION: &str = env!("EB_BUILD_VERSION");
/// The git commit built, with `-dirty` for uncommitted changes; "unknown" without git.
pub const COMMIT: &str = env!("EB_BUILD_COMMIT");
/// The target triple built for.
pub const TARGET: &str = env!("EB_BUILD_TARGET");
/// The build date (UTC, YYYY-MM-DD; `SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("EB_BUILD_DATE");
/// The build time as Unix seconds, for `doctor`'s clock check.
pub const BUILD_EPOCH: &str = env!("EB_BUILD_EPOCH");

/// What `edgebeam version` and `edgebeam --version` print.
pub fn version_report() -> String {
    format!("edgebeam {VERSION}\ncommit: {COMMIT}\ntarget: {TARGET}\nbuilt: {BUILD_DATE}")
}
