//! The `/healthz` body.

use std::time::Duration;

pub struct Report {
    pub version: &'static str,
    pub uptime: Duration,
    pub store_ok: bool,
    /// `Err` names what is wrong with the TURN relay.
    pub turn: Result<(), &'static str>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "status": if self.healthy() { "ok" } else { "degraded" },
            "version": self.version,
            "uptime_seconds": self.uptime.as_secs(),
            "store": if self.store_ok { "ok" } else { "unavailable" },
            "turn": match self.turn { Ok(()) => "ok", Err(why) => why },
        })
        .to_string()
    }

    pub fn healthy(&self) -> bool {
        self.store_ok && self.turn.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_version_uptime_and_store() {
        let r = Report { version: "1.2.3", uptime: Duration::from_millis(61_500), store_ok: true, turn: Ok(()) };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["uptime_seconds"], 61);
        assert_eq!(v["store"], "ok");
        let bad = Report { store_ok: false, ..r };
        let v: serde_json::Value = serde_json::from_str(&bad.to_json()).unwrap();
        assert_eq!(v["store"], "unavailable");
        assert_eq!(v["status"], "degraded");
        let stuck = Report { turn: Err("not responding"), ..r };
        let v: serde_json::Value = serde_json::from_str(&stuck.to_json()).unwrap();
        assert_eq!((v["status"].as_str(), v["turn"].as_str()), (Some("degraded"), Some("not responding")));
        assert!(!stuck.healthy());
    }
}
