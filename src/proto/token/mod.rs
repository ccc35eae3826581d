//! ES256 access tokens (SPEC "Tokens"): compact JWS (RFC 7515) signed with ECDSA P-256 / SHA-256
//! (RFC 7518 §3.4), JWT claims (RFC 7519) plus edgebeam's `gid`, `pid` and `ap`.
//!
//! Layers, each usable alone:
//! - [`jws`]: size cap, three base64url segments, the header (`alg` must be `ES256`);
//! - [`es256`]: the JOSE `r||s` signature check (ring); DER signatures are refused, `r` and `s`
//!   outside [1, n−1] too, by name; the low-S form that both ECDSA twins of a signature share;
//! - [`claims`]: `exp`/`nbf`/`iat` with leeway, `gid`/`pid`, the allow policy, the max lifetime;
//! - [`pattern`]: allow patterns and the "who may reach whom" rule;
//! - [`keyset`]: a snapshot of every project's public keys;
//! - [`verify`]: the composition, with a bounded cache of verified tokens ([`cache`]);
//! - [`lookup`]: how often an unknown kid may send the server to its store.
//!
//! Left out on purpose: every other `alg`, the `jku`/`jwk`/`x5u` headers (never fetched or
//! trusted), `crit` extensions (a token with `crit` is refused), JWE, and `aud`/`iss` checks
//! (the `kid` already names the project).

pub mod cache;
pub mod claims;
pub mod es256;
pub mod jws;
pub mod keyset;
pub mod lookup;
pub mod mint;
pub mod pattern;
pub mod verify;

pub use claims::{Claims, DEFAULT_LEEWAY_SECS};
pub use keyset::{KeyEntry, KeySet};
pub use pattern::{AllowPolicy, Identity, Pattern};
pub use verify::{TokenError, VerifiedToken, Verifier};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;
