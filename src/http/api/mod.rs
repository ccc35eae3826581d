//! The admin REST API's home (`/api/v1/` on the admin listener, SPEC "Admin API").
//!
//! How it is laid out, so that each piece has one place:
//! - [`error`]: the one table from a condition to its status and `error` code; every handler
//!   returns `Result<_, ApiError>` and nothing else builds an error response.
//! - Routing of `/api/v1/…` goes through [`crate::http::router`] (pure: method and path in, a
//!   route out), like every other path of both listeners.
//! - Handlers, one file per resource family (accounts and sessions, API keys, projects, keys,
//!   peers, usage, audit), call the store through `StoreHandle::call` and the hub and TURN
//!   thread through their channels; session and API-key state is the store's, so no handler
//!   holds state of its own.
//!
//! Until the API's routes land, every `/api/v1/` path answers the API's own 404.

pub mod error;

pub use error::ApiError;
