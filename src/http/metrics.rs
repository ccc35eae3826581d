//! Prometheus text exposition (format 0.0.4) of process, store and HTTP figures.

use std::fmt::Write;
use std::time::Duration;

use crate::ids::ProjectId;
use crate::net::turn::stats::{ProjectUsage, StreamFigures};
use crate::procstat::ProcessStats;
use crate::proto::turn::Totals;
use crate::store::StoreStats;

pub struct Snapshot {
    pub uptime: Duration,
    pub process: Option<ProcessStats>,
    pub store: Option<StoreStats>,
    pub admin_requests: u64,
    pub signal_requests: u64,
    pub tls_handshake_failures: u64,
    pub open_connections: u64,
    pub handshakes_rate_limited: u64,
    pub unauthenticated_evicted: u64,
    pub token_keys: u64,
    /// `notAfter` of the certificate in service, as a Unix time.
    pub tls_expiry: Option<i64>,
    pub turn: Totals,
    pub turn_streams: StreamFigures,
    /// Relay usage since start per project id (never usernames or addresses).
    pub turn_projects: Vec<(ProjectId, ProjectUsage)>,
    /// Webhook deliveries: (delivered, failed, queued, dropped).
    pub webhooks: [u64; 4],
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

impl Snapshot {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP edgebeam_build_info Always 1; the version is in the label.\n# TYPE edgebeam_build_info gauge\n\
             edgebeam_build_info{{version=\"{}\"}} 1",
            crate::VERSION
        );
        metric(
            &mut out,
            "edgebeam_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            self.uptime.as_secs(),
        );
        if let Some(p) = &self.process {
            metric(&mut out, "process_resident_memory_bytes", "gauge", "Resident set size.", p.rss_bytes);
            metric(&mut out, "process_virtual_memory_bytes", "gauge", "Virtual memory size.", p.vsize_bytes);
            metric(
                &mut out,
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time.",
                format!("{:.2}", p.cpu_seconds),
            );
            metric(&mut out, "process_open_fds", "gauge", "Open file descriptors.", p.open_fds);
            metric(&mut out, "process_threads", "gauge", "OS threads.", p.threads);
        }
        let up = if self.store.is_some() { 1 } else { 0 };
        metric(&mut out, "edgebeam_store_up", "gauge", "1 when the database answers.", up);
        if let Some(s) = &self.store {
            metric(&mut out, "edgebeam_store_projects", "gauge", "Projects in the database.", s.projects);
            metric(&mut out, "edgebeam_store_accounts", "gauge", "Admin accounts.", s.accounts);
            metric(&mut out, "edgebeam_store_keys", "gauge", "Registered public keys.", s.keys);
            metric(
                &mut out,
                "edgebeam_store_size_bytes",
                "gauge",
                "Database size (pages times page size).",
                s.db_bytes,
            );
        }
        let _ = writeln!(
            out,
            "# HELP edgebeam_http_requests_total HTTP requests by listener.\n# TYPE edgebeam_http_requests_total counter\n\
             edgebeam_http_requests_total{{listener=\"admin\"}} {}\nedgebeam_http_requests_total{{listener=\"signal\"}} {}",
            self.admin_requests, self.signal_requests
        );
        metric(
            &mut out,
            "edgebeam_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            self.tls_handshake_failures,
        );
        metric(
            &mut out,
            "edgebeam_https_handshakes_rate_limited_total",
            "counter",
            "Connections closed at accept: their source was over its TLS handshake rate.",
            self.handshakes_rate_limited,
        );
        metric(
            &mut out,
            "edgebeam_unauthenticated_evicted_total",
            "counter",
            "Unauthenticated HTTPS and WebSocket connections closed for a newer one of their source.",
            self.unauthenticated_evicted,
        );
        if let Some(expiry) = self.tls_expiry {
            metric(
                &mut out,
                "edgebeam_tls_certificate_expiry_timestamp_seconds",
                "gauge",
                "notAfter of the certificate the TLS listeners serve, as a Unix time.",
                expiry,
            );
        }
        metric(&mut out, "edgebeam_token_keys", "gauge", "Public keys the running verifier knows.", self.token_keys);
        metric(&mut out, "edgebeam_http_open_connections", "gauge", "Open HTTPS connections.", self.open_connections);
        self.render_turn(&mut out);
        let [delivered, failed, queued, dropped] = self.webhooks;
        metric(&mut out, "edgebeam_webhook_delivered_total", "counter", "Webhook attempts answered 2xx.", delivered);
        metric(&mut out, "edgebeam_webhook_failed_total", "counter", "Webhook attempts that failed.", failed);
        metric(&mut out, "edgebeam_webhook_queued", "gauge", "Webhook deliveries waiting in the store.", queued);
        metric(
            &mut out,
            "edgebeam_webhook_dropped_total",
            "counter",
            "Webhook events dropped by a full queue.",
            dropped,
        );
        out
    }

    fn render_turn(&self, out: &mut String) {
        let t = &self.turn;
        metric(out, "edgebeam_turn_allocations", "gauge", "Live TURN allocations.", t.allocations);
        metric(
            out,
            "edgebeam_turn_allocations_created_total",
            "counter",
            "TURN allocations made.",
            t.allocations_created,
        );
        metric(
            out,
            "edgebeam_turn_auth_failures_total",
            "counter",
            "TURN requests with bad credentials.",
            t.auth_failures,
        );
        metric(
            out,
            "edgebeam_turn_forbidden_peers_total",
            "counter",
            "Peer addresses refused by policy.",
            t.forbidden_peers,
        );
        metric(
            out,
            "edgebeam_turn_dropped_packets_total",
            "counter",
            "Relayed packets dropped (no permission or over bandwidth).",
            t.dropped_packets,
        );
        metric(out, "edgebeam_turn_stream_clients", "gauge", "TURN clients on TCP or TLS.", self.turn_streams.clients);
        metric(
            out,
            "edgebeam_turn_streams_evicted_total",
            "counter",
            "TURN TCP/TLS clients without an allocation closed for a newer one of their source.",
            self.turn_streams.evicted,
        );
        metric(
            out,
            "edgebeam_turn_streams_timed_out_total",
            "counter",
            "TURN TCP/TLS clients closed for having no allocation 30 s after they connected.",
            t.streams_timed_out,
        );
        let families = [
            ("edgebeam_turn_relayed_bytes_total", "Payload bytes relayed, both directions.", 0),
            ("edgebeam_turn_relayed_packets_total", "Packets relayed, both directions.", 1),
            ("edgebeam_turn_project_allocations_total", "TURN allocations made per project.", 2),
        ];
        for (name, help, which) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (project, u) in &self.turn_projects {
                let v = [u.bytes, u.packets, u.allocations][which];
                let _ = writeln!(out, "{name}{{project=\"{}\"}} {v}", project.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_valid_exposition_lines() {
        let s = Snapshot {
            uptime: Duration::from_secs(5),
            process: Some(ProcessStats {
                rss_bytes: 4096,
                vsize_bytes: 8192,
                cpu_seconds: 0.5,
                open_fds: 9,
                threads: 3,
            }),
            store: Some(StoreStats { projects: 2, accounts: 1, keys: 0, db_bytes: 4096 }),
            admin_requests: 7,
            signal_requests: 1,
            tls_handshake_failures: 0,
            open_connections: 1,
            handshakes_rate_limited: 4,
            unauthenticated_evicted: 5,
            token_keys: 2,
            tls_expiry: Some(1_900_000_000),
            turn: Totals { allocations: 3, ..Totals::default() },
            turn_streams: StreamFigures { clients: 1, evicted: 6 },
            turn_projects: vec![(
                ProjectId::parse("prj_a").unwrap(),
                ProjectUsage { bytes: 100, packets: 2, allocations: 1 },
            )],
            webhooks: [8, 2, 1, 0],
        };
        let text = s.render();
        assert!(text.contains("\nedgebeam_store_projects 2\n"), "{text}");
        assert!(text.contains("edgebeam_http_requests_total{listener=\"admin\"} 7"));
        assert!(text.contains("edgebeam_build_info{version="));
        assert!(text.contains("\nedgebeam_turn_allocations 3\n"), "{text}");
        assert!(text.contains("\nedgebeam_turn_streams_evicted_total 6\n"), "{text}");
        assert!(text.contains("\nedgebeam_https_handshakes_rate_limited_total 4\n"), "{text}");
        assert!(text.contains("\nedgebeam_unauthenticated_evicted_total 5\n"), "{text}");
        assert!(text.contains("edgebeam_turn_relayed_bytes_total{project=\"prj_a\"} 100"), "{text}");
        assert!(text.contains("\nedgebeam_webhook_delivered_total 8\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(!name.is_empty());
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
        }
    }
}
