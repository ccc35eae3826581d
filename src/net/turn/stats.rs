//! Figures the turn thread publishes for `/metrics` and for the store's usage table. Labels are
//! project ids only; usernames and client addresses never appear.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::ProjectId;
use crate::proto::turn::{Totals, Usage};

/// TCP and TLS clients: connected now, and evicted since start (a source that opened more than
/// its share of connections without an allocation loses its oldest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamFigures {
    pub clients: usize,
    pub evicted: u64,
}

/// Relayed traffic and allocations of one project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectUsage {
    pub bytes: u64,
    pub packets: u64,
    pub allocations: u64,
}

struct Inner {
    /// When the turn thread last published (it does at least once a second).
    last_tick: Instant,
    udp_failed: bool,
    totals: Totals,
    streams: StreamFigures,
    /// Since start, for `/metrics`.
    total: HashMap<ProjectId, ProjectUsage>,
    /// Not yet written to the store's daily relay usage.
    unsaved: HashMap<ProjectId, ProjectUsage>,
    /// Not yet handed to the hourly usage (`crate::net::live::hourly`): a table of its own, so
    /// a failed daily write, given back with `restore_unsaved`, is not counted twice there.
    unsaved_hourly: HashMap<ProjectId, ProjectUsage>,
}

pub struct TurnStats {
    inner: Mutex<Inner>,
}

impl Default for TurnStats {
    fn default() -> Self {
        let inner = Inner {
            last_tick: Instant::now(),
            udp_failed: false,
            totals: Totals::default(),
            streams: StreamFigures::default(),
            total: HashMap::new(),
            unsaved: HashMap::new(),
            unsaved_hourly: HashMap::new(),
        };
        TurnStats { inner: Mutex::new(inner) }
    }
}

/// Longest silence of the turn thread before `/healthz` calls the relay stuck.
const STUCK_AFTER: Duration = Duration::from_secs(5);

impl TurnStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_totals(&self, totals: Totals, streams: StreamFigures) {
        let mut g = self.lock();
        g.last_tick = Instant::now();
        g.totals = totals;
        g.streams = streams;
    }

    pub fn add_usage(&self, usage: HashMap<ProjectId, (Usage, u64)>) {
        let mut g = self.lock();
        let g = &mut *g;
        for (project, (u, allocations)) in usage {
            for map in [&mut g.total, &mut g.unsaved, &mut g.unsaved_hourly] {
                let e = map.entry(project.clone()).or_default();
                e.bytes += u.bytes;
                e.packets += u.packets;
                e.allocations += allocations;
            }
        }
    }

    pub fn mark_udp_failed(&self) {
        self.lock().udp_failed = true;
    }

    /// `Err` names what is wrong with the relay, for `/healthz`.
    pub fn health(&self, now: Instant) -> Result<(), &'static str> {
        let g = self.lock();
        if g.udp_failed {
            Err("udp listener failed")
        } else if now.saturating_duration_since(g.last_tick) > STUCK_AFTER {
            Err("not responding")
        } else {
            Ok(())
        }
    }

    pub fn totals(&self) -> (Totals, StreamFigures) {
        let g = self.lock();
        (g.totals, g.streams)
    }

    pub fn per_project(&self) -> Vec<(ProjectId, ProjectUsage)> {
        let mut v: Vec<_> = self.lock().total.iter().map(|(p, u)| (p.clone(), *u)).collect();
        v.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        v
    }

    /// Takes the usage not yet stored; on a failed write the caller gives it back.
    pub fn take_unsaved(&self) -> HashMap<ProjectId, ProjectUsage> {
        std::mem::take(&mut self.lock().unsaved)
    }

    /// Takes the usage not yet handed to the hourly usage.
    pub fn take_unsaved_hourly(&self) -> HashMap<ProjectId, ProjectUsage> {
        std::mem::take(&mut self.lock().unsaved_hourly)
    }

    pub fn restore_unsaved(&self, usage: HashMap<ProjectId, ProjectUsage>) {
        let mut g = self.lock();
        for (p, u) in usage {
            let e = g.unsaved.entry(p).or_default();
            e.bytes += u.bytes;
            e.packets += u.packets;
            e.allocations += u.allocations;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reports_a_failed_listener_and_a_silent_thread() {
        let stats = TurnStats::default();
        let now = Instant::now();
        assert_eq!(stats.health(now), Ok(()));
        assert_eq!(stats.health(now + Duration::from_secs(6)), Err("not responding"));
        stats.set_totals(Totals::default(), StreamFigures::default());
        assert_eq!(stats.health(Instant::now()), Ok(()));
        stats.mark_udp_failed();
        assert_eq!(stats.health(Instant::now()), Err("udp listener failed"));
    }
}
