//! Figures the turn thread publishes for `/metrics` and for the store's usage table. Labels are
//! project ids only; usernames and client addresses never appear.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ids::ProjectId;
use crate::proto::turn::{Totals, Usage};

/// Relayed traffic and allocations of one project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectUsage {
    pub bytes: u64,
    pub packets: u64,
    pub allocations: u64,
}

#[derive(Default)]
struct Inner {
    totals: Totals,
    stream_clients: usize,
    /// Since start, for `/metrics`.
    total: HashMap<ProjectId, ProjectUsage>,
    /// Not yet written to the store.
    unsaved: HashMap<ProjectId, ProjectUsage>,
}

#[derive(Default)]
pub struct TurnStats {
    inner: Mutex<Inner>,
}

impl TurnStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_totals(&self, totals: Totals, stream_clients: usize) {
        let mut g = self.lock();
        g.totals = totals;
        g.stream_clients = stream_clients;
    }

    pub fn add_usage(&self, usage: HashMap<ProjectId, (Usage, u64)>) {
        let mut g = self.lock();
        let g = &mut *g;
        for (project, (u, allocations)) in usage {
            for map in [&mut g.total, &mut g.unsaved] {
                let e = map.entry(project.clone()).or_default();
                e.bytes += u.bytes;
                e.packets += u.packets;
                e.allocations += allocations;
            }
        }
    }

    pub fn totals(&self) -> (Totals, usize) {
        let g = self.lock();
        (g.totals, g.stream_clients)
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
