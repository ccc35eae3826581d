//! The `ice_servers` list of `welcome` and `refreshed` (SPEC "TURN", credentials): this box's
//! `stun:`, `turn:` (UDP and TCP) and `turns:` URLs, with the REST shared-secret credentials of
//! coturn's `use-auth-secret`: username `EXPIRY:PROJECT:GID:PID`, credential
//! `base64(HMAC-SHA1(secret, username))`, where the secret is used as text and EXPIRY is the
//! token's `exp`. `turns:` is left out while the certificate is self-signed: browsers cannot use
//! TURN over TLS with a certificate they do not trust (SPEC "TLS", `turns_advertise`).

use base64::Engine;
use serde_json::Value;

use crate::proto::token::VerifiedToken;

/// Where clients reach this box's TURN service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceEndpoints {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub turn_port: u16,
    pub turns_port: u16,
}

impl IceEndpoints {
    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

pub fn turn_username(exp: i64, project: &str, gid: &str, pid: &str) -> String {
    format!("{exp}:{project}:{gid}:{pid}")
}

pub fn turn_credential(secret: &[u8], username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = ring::hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The RTCIceServer list for one verified token.
pub fn ice_servers(endpoints: &IceEndpoints, secret: &[u8], token: &VerifiedToken, with_turns: bool) -> Value {
    let host = endpoints.host_for_url();
    let username = turn_username(
        token.claims.exp.secs(),
        token.project.as_str(),
        token.claims.gid.as_str(),
        token.claims.pid.as_str(),
    );
    let credential = turn_credential(secret, &username);
    let mut urls = vec![
        format!("turn:{host}:{}?transport=udp", endpoints.turn_port),
        format!("turn:{host}:{}?transport=tcp", endpoints.turn_port),
    ];
    if with_turns {
        urls.push(format!("turns:{host}:{}?transport=tcp", endpoints.turns_port));
    }
    serde_json::json!([
        {"urls": [format!("stun:{host}:{}", endpoints.turn_port)]},
        {
            "urls": urls,
            "username": username,
            "credential": credential,
        }
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GroupId, Kid, PeerId, ProjectId};
    use crate::proto::token::claims::Claims;
    use crate::proto::token::AllowPolicy;
    use crate::unixtime::UnixTime;

    #[test]
    fn credentials_match_the_rest_secret_definition() {
        // Expected value computed independently with Python's hmac module.
        let user = turn_username(1_800_000_600, "prj_a", "room", "alice");
        assert_eq!(user, "1800000600:prj_a:room:alice");
        assert_eq!(turn_credential(b"sekrit-text-secret", &user), "rDlywjfeeguf9G1gxgaZGcxcUcA=");
    }

    #[test]
    fn the_list_has_stun_turn_udp_tcp_and_turns() {
        let gid = GroupId::parse("room").unwrap();
        let token = VerifiedToken {
            kid: Kid::from_random([1; 8]),
            project: ProjectId::parse("prj_a").unwrap(),
            claims: Claims {
                gid: gid.clone(),
                pid: PeerId::parse("alice").unwrap(),
                policy: AllowPolicy::default_for(&gid),
                exp: UnixTime(1_800_000_600),
                nbf: None,
                iat: None,
            },
            max_ttl_secs: 86_400,
            payload: "{}".into(),
        };
        let v4 = IceEndpoints { host: "192.168.1.20".into(), turn_port: 3478, turns_port: 5349 };
        let list = ice_servers(&v4, b"sekrit-text-secret", &token, true);
        assert_eq!(list[0]["urls"][0], "stun:192.168.1.20:3478");
        assert_eq!(list[1]["urls"][0], "turn:192.168.1.20:3478?transport=udp");
        assert_eq!(list[1]["urls"][1], "turn:192.168.1.20:3478?transport=tcp");
        assert_eq!(list[1]["urls"][2], "turns:192.168.1.20:5349?transport=tcp");
        assert_eq!(list[1]["username"], "1800000600:prj_a:room:alice");
        assert_eq!(list[1]["credential"], "rDlywjfeeguf9G1gxgaZGcxcUcA=");
        let v6 = IceEndpoints { host: "fd00::1".into(), turn_port: 3478, turns_port: 5349 };
        assert_eq!(ice_servers(&v6, b"s", &token, true)[0]["urls"][0], "stun:[fd00::1]:3478");
        let untrusted = ice_servers(&v4, b"s", &token, false);
        let urls = untrusted[1]["urls"].as_array().unwrap();
        assert_eq!(urls.len(), 2);
        assert!(urls.iter().all(|u| !u.as_str().unwrap().starts_with("turns:")), "{urls:?}");
    }
}
