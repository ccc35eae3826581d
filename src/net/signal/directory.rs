//! The hub's view of the rest of the server: the token service, each project's policy (allowed
//! web origins, session cap), and the TURN endpoints and secret for ICE server lists. Queries
//! only: what the hub wants done comes out of it as a command, carried out by the hub task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::ids::{Kid, ProjectId};
use crate::proto::ice::{ice_servers, IceEndpoints};
use crate::proto::signal::{Directory, ProjectPolicy};
use crate::proto::token::{TokenError, VerifiedToken};
use crate::store::{Store, StoreError};
use crate::tokens::TokenService;
use crate::unixtime::UnixTime;

pub struct ServerDirectory {
    pub tokens: Arc<TokenService>,
    /// From [`load_policies`], at start and whenever the store changes.
    pub projects: HashMap<ProjectId, ProjectPolicy>,
    /// From `public_names` or `public_ip`; else the Host the client used.
    pub public_host: Option<String>,
    pub turn_port: u16,
    pub turns_port: u16,
    pub turn_secret: Vec<u8>,
    /// The certificate in service: `turns:` URLs are offered only while it is trusted, unless
    /// `always_turns`.
    pub tls: Option<Arc<crate::tls::TlsState>>,
    pub always_turns: bool,
}

impl Directory for ServerDirectory {
    fn verify(&mut self, token: &str, wall: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        self.tokens.verify(token, wall)
    }

    fn verify_cached(&mut self, token: &str, wall: UnixTime) -> Option<Result<Arc<VerifiedToken>, TokenError>> {
        self.tokens.verify_cached(token, wall)
    }

    fn admit_kid_lookup(&mut self, kid: &Kid, now: Instant) -> bool {
        self.tokens.admit_lookup(kid, now)
    }

    fn origin_allowed(&self, project: &ProjectId, origin: Option<&str>) -> bool {
        self.projects.get(project).is_none_or(|p| p.origin_allowed(origin))
    }

    fn max_connections(&self, project: &ProjectId) -> Option<usize> {
        self.projects.get(project).and_then(|p| p.max_connections)
    }

    fn ice_servers(&self, token: &VerifiedToken, host: Option<&str>) -> Value {
        let host =
            self.public_host.clone().or_else(|| host.map(host_without_port)).unwrap_or_else(|| "localhost".into());
        let endpoints = IceEndpoints { host, turn_port: self.turn_port, turns_port: self.turns_port };
        let with_turns = self.always_turns || self.tls.as_ref().is_some_and(|t| t.trusted());
        ice_servers(&endpoints, &self.turn_secret, token, with_turns)
    }
}

/// Every project's signaling policy, as stored.
pub fn load_policies(store: &Store) -> Result<HashMap<ProjectId, ProjectPolicy>, StoreError> {
    store.load_project_policies()
}

/// `example.org:8443` -> `example.org`; `[fd00::1]:8443` -> `fd00::1`.
fn host_without_port(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_owned();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h.to_owned(),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_loses_its_port() {
        assert_eq!(host_without_port("edge.lan:8443"), "edge.lan");
        assert_eq!(host_without_port("edge.lan"), "edge.lan");
        assert_eq!(host_without_port("[fd00::1]:8443"), "fd00::1");
        assert_eq!(host_without_port("192.168.1.2:8443"), "192.168.1.2");
    }
}
