//! What the admin API reads from the hub: the live peers of a project, connection and session
//! counts, and usage since the last take (peak sessions and routed signals per project, for the
//! hourly usage table). Queries and a take only; kicking is [`Hub::handle_kick`].

use std::collections::{BTreeMap, HashMap};

use super::{Hub, PeerAddr, State};
use crate::ids::{GroupId, PeerId, ProjectId};
use crate::unixtime::UnixTime;

/// A live session as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    pub gid: GroupId,
    pub pid: PeerId,
    /// When the session went live (a replacing connection starts afresh).
    pub connected_at: UnixTime,
    /// The `exp` of the session's current token (a `refresh` moves it).
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Every connection, authenticated or not.
    pub connections: usize,
    pub sessions: usize,
    /// Projects with at least one live session.
    pub sessions_per_project: BTreeMap<ProjectId, usize>,
}

impl Hub {
    /// The live sessions of `project`, ordered by (gid, pid) (the presence index's order).
    pub fn peers(&self, project: &ProjectId) -> Vec<PeerView> {
        self.presence
            .of(project)
            .filter_map(|(gid, pid)| {
                let key = (project.clone(), PeerAddr { gid: gid.clone(), pid: pid.clone() });
                match &self.conns.get(self.sessions.get(&key)?)?.state {
                    State::Live(l) => Some(PeerView {
                        gid: gid.clone(),
                        pid: pid.clone(),
                        connected_at: l.connected_at,
                        expires_at: l.token.claims.exp,
                    }),
                    State::Pending | State::Verifying | State::Resolving(_) => None,
                }
            })
            .collect()
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            connections: self.conns.len(),
            sessions: self.sessions.len(),
            sessions_per_project: self.per_project.iter().map(|(p, n)| (p.clone(), n)).collect(),
        }
    }

    /// Per project, `(peak_sessions, signals)` since the last take: the most sessions live at
    /// once, and the signals routed (each delivered `signal` once; refused ones are not).
    /// Projects with neither are left out. The peak starts again from the sessions live now.
    pub fn take_usage(&mut self) -> HashMap<ProjectId, (u64, u64)> {
        let taken = std::mem::take(&mut self.usage);
        for (project, live) in self.per_project.iter() {
            self.usage.insert(project.clone(), (live as u64, 0));
        }
        taken
    }

    /// A session of `project` went live (not a replacement): the peak may rise.
    pub(super) fn note_session_added(&mut self, project: &ProjectId) {
        let live = self.per_project.get(project) as u64;
        let entry = self.usage.entry(project.clone()).or_default();
        entry.0 = entry.0.max(live);
    }
}

/// A signal of `project` was routed. A free function over the usage table, so routing can count
/// while it holds the sender's session, without cloning the project id of every signal.
pub(super) fn count_signal(usage: &mut HashMap<ProjectId, (u64, u64)>, project: &ProjectId) {
    match usage.get_mut(project) {
        Some(entry) => entry.1 += 1,
        None => {
            usage.insert(project.clone(), (0, 1));
        }
    }
}
