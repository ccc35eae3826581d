//! The events and their bodies (docs/webhooks.md shows one of each).

use serde_json::{json, Value};

use crate::ids::{GroupId, Kid, PeerId, ProjectId};
use crate::proto::signal::messages::PeerAddr;
use crate::proto::signal::PeerEvent;
use crate::proto::turn::{Identity, Transport, TurnEvent};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    PeerJoined,
    PeerLeft,
    PeerKicked,
    KeyCreated,
    KeyDeleted,
    AllocationCreated,
    AllocationDeleted,
    /// Sent by `POST .../webhooks/{wid}/test` to that endpoint only; no filter is needed.
    Test,
}

impl EventKind {
    /// The kinds an endpoint may subscribe to.
    pub const ALL: [EventKind; 7] = [
        EventKind::PeerJoined,
        EventKind::PeerLeft,
        EventKind::PeerKicked,
        EventKind::KeyCreated,
        EventKind::KeyDeleted,
        EventKind::AllocationCreated,
        EventKind::AllocationDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PeerJoined => "peer.joined",
            EventKind::PeerLeft => "peer.left",
            EventKind::PeerKicked => "peer.kicked",
            EventKind::KeyCreated => "key.created",
            EventKind::KeyDeleted => "key.deleted",
            EventKind::AllocationCreated => "turn.allocation.created",
            EventKind::AllocationDeleted => "turn.allocation.deleted",
            EventKind::Test => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What happened, with the details its body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    PeerJoined { gid: GroupId, pid: PeerId },
    PeerLeft { gid: GroupId, pid: PeerId, reason: &'static str },
    PeerKicked { gid: GroupId, pid: PeerId },
    KeyCreated { kid: Kid },
    KeyDeleted { kid: Kid },
    AllocationCreated { gid: GroupId, pid: PeerId, allocation: u64, transport: &'static str },
    AllocationDeleted { gid: GroupId, pid: PeerId, allocation: u64, reason: &'static str, bytes: u64, packets: u64 },
    Test { webhook: String },
}

/// An event as the engine reports it: the dispatcher gives it an id and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub project: ProjectId,
    pub at: UnixTime,
    pub what: Happened,
}

impl Occurrence {
    pub fn now(project: ProjectId, what: Happened) -> Occurrence {
        Occurrence { project, at: UnixTime::now(), what }
    }

    /// A hub's peer event (`crate::proto::signal::Command::Peer`).
    pub fn of_peer(project: ProjectId, peer: PeerAddr, event: PeerEvent) -> Occurrence {
        let PeerAddr { gid, pid } = peer;
        let what = match event {
            PeerEvent::Joined => Happened::PeerJoined { gid, pid },
            PeerEvent::Left(reason) => Happened::PeerLeft { gid, pid, reason: reason.as_str() },
            PeerEvent::Kicked => Happened::PeerKicked { gid, pid },
        };
        Occurrence::now(project, what)
    }

    /// An allocation created or deleted by the TURN core.
    pub fn of_turn(event: TurnEvent) -> Occurrence {
        let transport = |t| match t {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        let (project, what) = match event {
            TurnEvent::AllocationCreated { alloc, identity, transport: t } => {
                let Identity { project, gid, pid } = identity;
                (project, Happened::AllocationCreated { gid, pid, allocation: alloc.0, transport: transport(t) })
            }
            TurnEvent::AllocationDeleted { alloc, identity, reason, usage } => {
                let Identity { project, gid, pid } = identity;
                let what = Happened::AllocationDeleted {
                    gid,
                    pid,
                    allocation: alloc.0,
                    reason: reason.as_str(),
                    bytes: usage.bytes,
                    packets: usage.packets,
                };
                (project, what)
            }
        };
        Occurrence::now(project, what)
    }

    pub fn kind(&self) -> EventKind {
        match self.what {
            Happened::PeerJoined { .. } => EventKind::PeerJoined,
            Happened::PeerLeft { .. } => EventKind::PeerLeft,
            Happened::PeerKicked { .. } => EventKind::PeerKicked,
            Happened::KeyCreated { .. } => EventKind::KeyCreated,
            Happened::KeyDeleted { .. } => EventKind::KeyDeleted,
            Happened::AllocationCreated { .. } => EventKind::AllocationCreated,
            Happened::AllocationDeleted { .. } => EventKind::AllocationDeleted,
            Happened::Test { .. } => EventKind::Test,
        }
    }

    fn data(&self) -> Value {
        match &self.what {
            Happened::PeerJoined { gid, pid } | Happened::PeerKicked { gid, pid } => {
                json!({"gid": gid.as_str(), "pid": pid.as_str()})
            }
            Happened::PeerLeft { gid, pid, reason } => {
                json!({"gid": gid.as_str(), "pid": pid.as_str(), "reason": reason})
            }
            Happened::KeyCreated { kid } | Happened::KeyDeleted { kid } => json!({"kid": kid.as_str()}),
            Happened::AllocationCreated { gid, pid, allocation, transport } => {
                json!({"gid": gid.as_str(), "pid": pid.as_str(), "allocation": allocation, "transport": transport})
            }
            Happened::AllocationDeleted { gid, pid, allocation, reason, bytes, packets } => json!({
                "gid": gid.as_str(), "pid": pid.as_str(), "allocation": allocation, "reason": reason,
                "bytes_relayed": bytes, "packets_relayed": packets,
            }),
            Happened::Test { webhook } => json!({"webhook": webhook}),
        }
    }

    /// The body every endpoint gets: `{"id","type","timestamp","project","data"}`.
    pub fn body(&self, id: &str) -> String {
        json!({
            "id": id,
            "type": self.kind().as_str(),
            "timestamp": self.at.secs(),
            "project": self.project.as_str(),
            "data": self.data(),
        })
        .to_string()
    }
}

/// A fresh event id: `evt_` and 32 hex digits (128 random bits), the `webhook-id` of every
/// attempt of its deliveries.
pub fn new_event_id() -> String {
    let bytes: [u8; 16] = crate::random::bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscribable_kind_parses_back_and_test_is_not_subscribable() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("webhook.test"), None);
        assert_eq!(EventKind::parse("peer.*"), None);
    }

    #[test]
    fn a_body_has_the_five_fields() {
        let o = Occurrence {
            project: ProjectId::parse("prj").unwrap(),
            at: UnixTime(1_700_000_000),
            what: Happened::PeerLeft {
                gid: GroupId::parse("room").unwrap(),
                pid: PeerId::parse("alice").unwrap(),
                reason: "expired",
            },
        };
        let v: Value = serde_json::from_str(&o.body("evt_1")).unwrap();
        assert_eq!(
            v,
            json!({"id": "evt_1", "type": "peer.left", "timestamp": 1_700_000_000, "project": "prj",
                   "data": {"gid": "room", "pid": "alice", "reason": "expired"}})
        );
        let (a, b) = (new_event_id(), new_event_id());
        assert!(a.starts_with("evt_") && a.len() == 36 && a != b);
    }
}
