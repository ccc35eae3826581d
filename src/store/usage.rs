//! Per-project, per-day usage counters (relayed bytes and packets, allocations).

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
