//! [`Live`]: what the admin API reads from, and does to, the running engine. It asks the hub task
//! ([`AdminRequest`]) and the turn thread ([`Control::Allocations`]) over their channels and
//! waits for the answer; neither owner shares its state. Once the server is stopping and an
//! owner has gone, queries answer empty and a kick answers false.
//!
//! After the admin API writes to the store, [`Live::store_changed`] brings the engine in step:
//! the token service reloads, and signaling and TURN pick up keys, policies and the TURN secret.

pub mod hourly;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::ser::SerializeStruct;

use crate::ids::{GroupId, PeerId, ProjectId};
use crate::net::signal::hub_task::{AdminRequest, SignalUsage};
use crate::net::turn::Control;
use crate::proto::signal::PeerAddr;
use crate::store::worker::StoreHandle;
use crate::tokens::TokenService;
use crate::unixtime::UnixTime;

/// A peer with a live signaling session, as `GET /projects/{id}/peers` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePeer {
    pub gid: GroupId,
    pub pid: PeerId,
    pub connected_at: UnixTime,
    /// The `exp` of its current token.
    pub expires_at: UnixTime,
    /// TURN allocations its identity holds now.
    pub allocations: u32,
}

impl serde::Serialize for LivePeer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut peer = s.serialize_struct("LivePeer", 5)?;
        peer.serialize_field("gid", self.gid.as_str())?;
        peer.serialize_field("pid", self.pid.as_str())?;
        peer.serialize_field("connected_at", &self.connected_at.secs())?;
        peer.serialize_field("expires_at", &self.expires_at.secs())?;
        peer.serialize_field("allocations", &self.allocations)?;
        peer.end()
    }
}

/// Signaling's figures for `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Signaling connections, authenticated or not.
    pub connections: usize,
    pub sessions: usize,
    /// Project id to live sessions; projects without any are left out.
    pub sessions_per_project: BTreeMap<String, usize>,
}

#[derive(Clone)]
pub struct Live {
    hub: async_channel::Sender<AdminRequest>,
    turn: async_channel::Sender<Control>,
    tokens: Arc<TokenService>,
    store: StoreHandle,
}

impl Live {
    pub fn new(
        hub: async_channel::Sender<AdminRequest>,
        turn: async_channel::Sender<Control>,
        tokens: Arc<TokenService>,
        store: StoreHandle,
    ) -> Live {
        Live { hub, turn, tokens, store }
    }

    /// The live sessions of `project` with their TURN allocation counts, ordered by (gid, pid).
    pub async fn peers(&self, project: &ProjectId) -> Vec<LivePeer> {
        let project = project.clone();
        let sessions =
            self.ask_hub(|reply| AdminRequest::Peers { project: project.clone(), reply }).await.unwrap_or_default();
        if sessions.is_empty() {
            return Vec::new();
        }
        let (reply, answer) = async_channel::bounded(1);
        let allocations = match self.turn.send(Control::Allocations { project, reply }).await {
            Ok(()) => answer.recv().await.unwrap_or_default(),
            Err(_) => HashMap::new(),
        };
        sessions
            .into_iter()
            .map(|s| {
                let allocations = allocations.get(&(s.gid.clone(), s.pid.clone())).copied().unwrap_or(0);
                LivePeer { gid: s.gid, pid: s.pid, connected_at: s.connected_at, expires_at: s.expires_at, allocations }
            })
            .collect()
    }

    /// Kicks a peer: its session, if live, closes with 4003, and its identity's TURN allocations
    /// and credentials are revoked whether or not it was connected. True if a session closed.
    pub async fn kick(&self, project: &ProjectId, gid: &GroupId, pid: &PeerId) -> bool {
        let peer = PeerAddr { gid: gid.clone(), pid: pid.clone() };
        let project = project.clone();
        self.ask_hub(|reply| AdminRequest::Kick { project, peer, reply }).await.unwrap_or(false)
    }

    pub async fn stats(&self) -> LiveStats {
        let Some(stats) = self.ask_hub(|reply| AdminRequest::Stats { reply }).await else {
            return LiveStats::default();
        };
        LiveStats {
            connections: stats.connections,
            sessions: stats.sessions,
            sessions_per_project: stats
                .sessions_per_project
                .into_iter()
                .map(|(p, n)| (p.as_str().to_owned(), n))
                .collect(),
        }
    }

    /// The admin API has written to the store: reloads the key set (deleted keys close their
    /// sessions with 4003 and lose their TURN credentials) and has signaling and TURN reload the
    /// projects' policies and the TURN secret. On return the hub has applied the reload; the
    /// turn side has been told (it applies it within a store round trip).
    pub async fn store_changed(&self) {
        if self.tokens.reload_now(&self.store).await.is_err() {
            return;
        }
        let _ = self.ask_hub(|reply| AdminRequest::Settled { reply }).await;
    }

    /// Signaling's usage since the last take, for [`hourly`].
    pub(crate) async fn take_signal_usage(&self) -> SignalUsage {
        self.ask_hub(|reply| AdminRequest::TakeUsage { reply }).await.unwrap_or_default()
    }

    /// Sends the request `make` builds around a reply channel; `None` once the hub task is gone.
    async fn ask_hub<T>(&self, make: impl FnOnce(async_channel::Sender<T>) -> AdminRequest) -> Option<T> {
        let (reply, answer) = async_channel::bounded(1);
        self.hub.send(make(reply)).await.ok()?;
        answer.recv().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_peer_serializes_with_the_contracts_field_names() {
        let peer = LivePeer {
            gid: GroupId::parse("room").unwrap(),
            pid: PeerId::parse("alice").unwrap(),
            connected_at: UnixTime(1_800_000_000),
            expires_at: UnixTime(1_800_003_600),
            allocations: 2,
        };
        assert_eq!(
            serde_json::to_value(&peer).unwrap(),
            serde_json::json!({"gid": "room", "pid": "alice", "connected_at": 1_800_000_000i64,
                "expires_at": 1_800_003_600i64, "allocations": 2})
        );
    }
}
