//! The signaling wire format (SPEC "Signaling"): JSON text frames. Parsing is strict about
//! types and lenient about extra fields; every failure is a [`ParseError`] that the hub answers
//! with `bad_request`, echoing the message's `id` when it had a readable one.

use serde::Deserialize;
use serde_json::value::RawValue;
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

/// A signal's `data`: the client's JSON text, checked to be JSON and relayed as it is.
#[derive(Debug, Clone)]
pub struct SignalData(Box<RawValue>);

impl SignalData {
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for SignalData {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Auth { token: String },
    Signal { to: PeerAddr, data: SignalData, id: Option<u64> },
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

/// Every field a client message may carry, each kept as the raw JSON text it was sent as: one
/// pass over the text checks that it is JSON and finds them, and nothing else is built. A
/// signal's `data` is relayed as that text, never parsed into a tree and written out again.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    token: Option<&'a RawValue>,
}

/// `field` of a `kind` message read as `T`; absent (or `null`) is an error.
fn field<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>, kind: &'static str, name: &str) -> Result<T, ParseError> {
    let raw = raw.ok_or_else(|| ParseError::Malformed { kind, detail: format!("missing field `{name}`") })?;
    serde_json::from_str(raw.get()).map_err(|e| ParseError::Malformed { kind, detail: format!("`{name}`: {e}") })
}

pub fn parse_client(text: &str) -> Result<ClientMessage, Rejected> {
    if !text.trim_start().starts_with('{') {
        return Err(Rejected { id: None, error: ParseError::NotJson });
    }
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|_| Rejected { id: None, error: ParseError::NotJson })?;
    // The id to echo, if it is one; an id of another type is an error of the message kinds
    // that have one (ping, signal).
    let id_raw = env.id.map(|raw| serde_json::from_str::<u64>(raw.get()));
    let id = id_raw.as_ref().and_then(|r| r.as_ref().ok().copied());
    let reject = |error| Rejected { id, error };
    let kind: String = env
        .kind
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .ok_or_else(|| reject(ParseError::MissingType))?;
    let checked_id = |kind: &'static str| match &id_raw {
        Some(Err(e)) => Err(reject(ParseError::Malformed { kind, detail: format!("`id`: {e}") })),
        _ => Ok(id),
    };
    match kind.as_str() {
        "auth" => field(env.token, "auth", "token").map(|token| ClientMessage::Auth { token }).map_err(reject),
        "refresh" => field(env.token, "refresh", "token").map(|token| ClientMessage::Refresh { token }).map_err(reject),
        "ping" => Ok(ClientMessage::Ping { id: checked_id("ping")? }),
        "signal" => {
            let id = checked_id("signal")?;
            let to: RawAddr = field(env.to, "signal", "to").map_err(reject)?;
            let gid = GroupId::parse(&to.gid).map_err(|e| reject(ParseError::BadAddress(e.to_string())))?;
            let pid = PeerId::parse(&to.pid).map_err(|e| reject(ParseError::BadAddress(e.to_string())))?;
            let data = SignalData(match env.data {
                Some(raw) => raw.to_owned(),
                None => RawValue::from_string("null".to_owned()).expect("null is JSON"),
            });
            Ok(ClientMessage::Signal { to: PeerAddr { gid, pid }, data, id })
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

    /// Written by hand around the sender's raw `data`: ids are of `A-Z a-z 0-9 _ . @ -` only,
    /// so they need no escaping.
    pub fn signal(from: &PeerAddr, data: &SignalData) -> String {
        let data = data.get();
        let mut out = String::with_capacity(48 + from.gid.as_str().len() + from.pid.as_str().len() + data.len());
        out.push_str(r#"{"type":"signal","from":{"gid":""#);
        out.push_str(from.gid.as_str());
        out.push_str(r#"","pid":""#);
        out.push_str(from.pid.as_str());
        out.push_str(r#""},"data":"#);
        out.push_str(data);
        out.push('}');
        out
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
