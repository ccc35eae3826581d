//! Usage counters: per project and day (relayed bytes and packets, allocations), and per project
//! and hour (peak connections, signaling messages, TURN bytes and allocations).

use rusqlite::params;

use super::{Store, StoreError};
use crate::ids::ProjectId;
use crate::unixtime::UnixTime;

/// One project's relay usage to add to a day's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayUsage {
    pub bytes: u64,
    pub packets: u64,
    pub allocations: u64,
}

/// Days since the Unix epoch (UTC), the `usage.day` column.
pub fn day_of(t: UnixTime) -> i64 {
    t.secs().div_euclid(86_400)
}

impl Store {
    /// Adds relay usage to today's rows in one transaction. Projects deleted meanwhile are skipped.
    pub fn add_relay_usage(&mut self, day: i64, usage: &[(ProjectId, RelayUsage)]) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO usage (project_id, day, relayed_bytes, relayed_packets, allocations)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1)
                 ON CONFLICT(project_id, day) DO UPDATE SET
                   relayed_bytes = relayed_bytes + excluded.relayed_bytes,
                   relayed_packets = relayed_packets + excluded.relayed_packets,
                   allocations = allocations + excluded.allocations",
            )?;
            for (project, u) in usage {
                stmt.execute(params![project.as_str(), day, u.bytes as i64, u.packets as i64, u.allocations as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Relay usage of one project on one day (bytes, packets, allocations).
    pub fn relay_usage(&self, project: &ProjectId, day: i64) -> Result<RelayUsage, StoreError> {
        let row = self.conn.query_row(
            "SELECT relayed_bytes, relayed_packets, allocations FROM usage WHERE project_id = ?1 AND day = ?2",
            params![project.as_str(), day],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
        );
        match row {
            Ok((b, p, a)) => Ok(RelayUsage { bytes: b as u64, packets: p as u64, allocations: a as u64 }),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(RelayUsage::default()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One project's figures for one hour (`usage_hourly`, `GET /projects/{id}/usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourUsage {
    /// The most connections open at once during the hour.
    pub peak_connections: u64,
    pub signals: u64,
    pub turn_bytes: u64,
    pub turn_allocations: u64,
}

/// The start of the hour `t` falls in, in unix seconds (the `usage_hourly.hour` column).
pub fn hour_of(t: UnixTime) -> i64 {
    t.secs() - t.secs().rem_euclid(3600)
}

/// SQLite integers are signed; a counter past `i64::MAX` is saturated rather than wrapped.
fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Merges one hour's figures in one transaction: the peak is the larger of the two, the other
    /// counters add up. Projects deleted meanwhile are skipped.
    pub fn add_hourly_usage(&mut self, hour: i64, usage: &[(ProjectId, HourUsage)]) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO usage_hourly (project_id, hour, peak_connections, signals, turn_bytes, turn_allocations)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?1)
                 ON CONFLICT(project_id, hour) DO UPDATE SET
                   peak_connections = max(peak_connections, excluded.peak_connections),
                   signals = signals + excluded.signals,
                   turn_bytes = turn_bytes + excluded.turn_bytes,
                   turn_allocations = turn_allocations + excluded.turn_allocations",
            )?;
            for (project, u) in usage {
                stmt.execute(params![
                    project.as_str(),
                    hour,
                    sql_count(u.peak_connections),
                    sql_count(u.signals),
                    sql_count(u.turn_bytes),
                    sql_count(u.turn_allocations)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stored hours `from_hour <= hour <= to_hour`, ascending. Hours without a row are absent;
    /// the caller zero-fills.
    pub fn hourly_usage(
        &self,
        project: &ProjectId,
        from_hour: i64,
        to_hour: i64,
    ) -> Result<Vec<(i64, HourUsage)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hour, peak_connections, signals, turn_bytes, turn_allocations FROM usage_hourly
             WHERE project_id = ?1 AND hour BETWEEN ?2 AND ?3 ORDER BY hour",
        )?;
        let count = |r: &rusqlite::Row<'_>, i| r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        let rows = stmt.query_map(params![project.as_str(), from_hour, to_hour], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                HourUsage {
                    peak_connections: count(r, 1)?,
                    signals: count(r, 2)?,
                    turn_bytes: count(r, 3)?,
                    turn_allocations: count(r, 4)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
