//! The signaling wire format (SPEC "Signaling"): JSON text frames. Parsing is strict about
//! types and lenient about extra fields; every failure is a [`ParseError`] that the hub answers
//! with `bad_request`, echoing the message's `id` when it had a readable one.

use serde::Deserialize;
use serde_json::Value;

use crate::ids::{GroupId, PeerId};

/// A peer's address: group id and peer id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    pub gid: GroupId,
    pub pid: PeerId,
}

impl PeerAddr {
    pub fn to_json(&self) -> Value {
        serde_json::json!({"gid": self.gid.as_str(), "pid": self.pid.as_str()})
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Auth { token: String },
    Signal { to: PeerAddr, data: Value, id: Option<u64> },
    Refresh { token: String },
    Ping { id: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is not a JSON object")]
    NotJson,
    #[error("message has no string \"type\"")]
    MissingType,
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("malformed {kind} message: {detail}")]
    Malformed { kind: &'static str, detail: String },
    #[error("\"to\" must name a peer: {0}")]
    BadAddress(String),
}

/// A parse failure, with the `id` to echo if the message carried one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub id: Option<u64>,
    pub error: ParseError,
}

#[derive(Deserialize)]
struct RawAddr {
    gid: String,
    pid: String,
}

#[derive(Deserialize)]
struct RawAuth {
    token: String,
}

#[derive(Deserialize)]
struct RawSignal {
    to: RawAddr,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    id: Option<u64>,
}

#[derive(Deserialize)]
struct RawPing {
    #[serde(default)]
    id: Option<u64>,
}

fn typed<T: serde::de::DeserializeOwned>(v: Value, kind: &'static str) -> Result<T, ParseError> {
    serde_json::from_value(v).map_err(|e| ParseError::Malformed { kind, detail: e.to_string() })
}

pub fn parse_client(text: &str) -> Result<ClientMessage, Rejected> {
    let value: Value = serde_json::from_str(text).map_err(|_| Rejected { id: None, error: ParseError::NotJson })?;
    let Value::Object(ref map) = value else {
        return Err(Rejected { id: None, error: ParseError::NotJson });
    };
    let id = map.get("id").and_then(Value::as_u64);
    let reject = |error| Rejected { id, error };
    let kind = map.get("type").and_then(Value::as_str).ok_or_else(|| reject(ParseError::MissingType))?.to_owned();
    match kind.as_str() {
        "auth" => typed::<RawAuth>(value, "auth").map(|a| ClientMessage::Auth { token: a.token }).map_err(reject),
        "refresh" => {
            typed::<RawAuth>(value, "refresh").map(|a| ClientMessage::Refresh { token: a.token }).map_err(reject)
        }
        "ping" => typed::<RawPing>(value, "ping").map(|p| ClientMessage::Ping { id: p.id }).map_err(reject),
        "signal" => {
            let raw = typed::<RawSignal>(value, "signal").map_err(reject)?;
            let gid = GroupId::parse(&raw.to.gid).map_err(|e| reject(ParseError::BadAddress(e.to_string())))?;
            let pid = PeerId::parse(&raw.to.pid).map_err(|e| reject(ParseError::BadAddress(e.to_string())))?;
            Ok(ClientMessage::Signal { to: PeerAddr { gid, pid }, data: raw.data, id: raw.id })
        }
        _ => Err(reject(ParseError::UnknownType(kind.chars().take(32).collect()))),
    }
}

/// Error codes of `{"type":"error"}` (SPEC "Signaling").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    PeerUnavailable,
    BadRequest,
    RateLimited,
    TokenInvalid,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PeerUnavailable => "peer_unavailable",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TokenInvalid => "token_invalid",
        }
    }
}

/// Server-to-client messages, rendered to JSON text.
pub mod out {
    use super::*;

    pub fn welcome(me: &PeerAddr, expires_at: i64, ice_servers: &Value, peers: &[PeerAddr]) -> String {
        let peers: Vec<Value> = peers.iter().map(PeerAddr::to_json).collect();
        serde_json::json!({"type": "welcome", "self": me.to_json(), "expires_at": expires_at, "ice_servers": ice_servers, "peers": peers})
            .to_string()
    }

    pub fn signal(from: &PeerAddr, data: &Value) -> String {
        serde_json::json!({"type": "signal", "from": from.to_json(), "data": data}).to_string()
    }

    pub fn presence(joined: bool, peer: &PeerAddr) -> String {
        serde_json::json!({"type": "presence", "event": if joined { "join" } else { "leave" }, "peer": peer.to_json()})
            .to_string()
    }

    pub fn ack(id: u64) -> String {
        serde_json::json!({"type": "ack", "id": id}).to_string()
    }

    pub fn error(id: Option<u64>, code: ErrorCode, message: &str) -> String {
        let mut v = serde_json::json!({"type": "error", "code": code.as_str(), "message": message});
        if let Some(id) = id {
            v["id"] = id.into();
        }
        v.to_string()
    }

    pub fn refreshed(expires_at: i64, ice_servers: &Value) -> String {
        serde_json::json!({"type": "refreshed", "expires_at": expires_at, "ice_servers": ice_servers}).to_string()
    }

    pub fn expiring(expires_at: i64) -> String {
        serde_json::json!({"type": "expiring", "expires_at": expires_at}).to_string()
    }

    pub fn pong(id: Option<u64>) -> String {
        match id {
            Some(id) => serde_json::json!({"type": "pong", "id": id}).to_string(),
            None => serde_json::json!({"type": "pong"}).to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
