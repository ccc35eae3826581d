//! Hourly usage per project (`GET /projects/{id}/usage`): signaling's peak sessions and routed
//! signals, from the hub, and TURN's relayed bytes and allocations, from the turn thread's
//! figures. Collected every minute and at shutdown, added to the hour they were collected in.
//! The daily relay usage (`crate::turn::save_usage`) is kept apart, as it was.

use std::collections::HashMap;
use std::time::Duration;

use super::Live;
use crate::ids::ProjectId;
use crate::net::signal::hub_task::SignalUsage;
use crate::net::turn::TurnStats;
use crate::shutdown::Signal;
use crate::store::usage::{hour_of, HourUsage};
use crate::store::worker::StoreHandle;
use crate::unixtime::UnixTime;

const SAVE_EVERY: Duration = Duration::from_secs(60);

/// One project's figures for one collection, added to its hour's row (the peak is the
/// highest of the hour's collections; the other figures add up).
pub type HourRow = HourUsage;

/// Saves the hourly usage every minute until `stop`. The last figures are saved by [`flush`]
/// once signaling and the turn thread have stopped.
pub async fn save_hourly(live: Live, turn: std::sync::Arc<TurnStats>, store: StoreHandle, stop: Signal) {
    let mut ticks = crate::shutdown::every(SAVE_EVERY, stop);
    while ticks.tick().await {
        let signal = live.take_signal_usage().await;
        flush(signal, &turn, &store).await;
    }
}

/// Saves `signal` (the hub's usage) and the turn thread's usage not yet saved hourly.
pub async fn flush(signal: SignalUsage, turn: &TurnStats, store: &StoreHandle) {
    let rows = merge(signal, turn.take_unsaved_hourly().into_iter().map(|(p, u)| (p, u.bytes, u.allocations)));
    if !rows.is_empty() {
        persist_hourly(store, hour_of(UnixTime::now()), rows).await;
    }
}

/// One row per project that has any figure, ordered by project id.
fn merge(signal: SignalUsage, turn: impl Iterator<Item = (ProjectId, u64, u64)>) -> Vec<(ProjectId, HourRow)> {
    let mut rows: HashMap<ProjectId, HourRow> = HashMap::new();
    for (project, (peak, signals)) in signal {
        let row = rows.entry(project).or_default();
        (row.peak_connections, row.signals) = (peak, signals);
    }
    for (project, bytes, allocations) in turn {
        let row = rows.entry(project).or_default();
        (row.turn_bytes, row.turn_allocations) = (bytes, allocations);
    }
    let mut rows: Vec<_> = rows.into_iter().filter(|(_, r)| *r != HourRow::default()).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

async fn persist_hourly(store: &StoreHandle, hour: i64, rows: Vec<(ProjectId, HourRow)>) {
    match store.call(move |s| s.add_hourly_usage(hour, &rows)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("usage: cannot save the hourly usage: {e}"),
        Err(_) => log::warn!("usage: the store has stopped; the last minute of hourly usage is lost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signaling_and_turn_figures_of_a_project_share_its_row() {
        let (a, b, c) =
            (ProjectId::parse("a").unwrap(), ProjectId::parse("b").unwrap(), ProjectId::parse("c").unwrap());
        let signal = HashMap::from([(a.clone(), (3, 40)), (c.clone(), (0, 0))]);
        let rows = merge(signal, [(b.clone(), 1000, 2), (a.clone(), 10, 1)].into_iter());
        let row = |peak_connections, signals, turn_bytes, turn_allocations| HourRow {
            peak_connections,
            signals,
            turn_bytes,
            turn_allocations,
        };
        assert_eq!(rows, [(a, row(3, 40, 10, 1)), (b, row(0, 0, 1000, 2))], "c has nothing to add");
    }
}
