//! JWT claims (RFC 7519 §4.1.4-4.1.6) and edgebeam's identity claims, checked against the time
//! given as an argument. `exp` is required; `nbf` and `iat` are optional; all three get the
//! leeway. The lifetime (`exp - iat`, or `exp - now` without `iat`) gets no leeway.

use serde::Deserialize;

use super::jws::starts_object;
use super::pattern::{AllowPolicy, Pattern, PatternError};
use crate::ids::{GroupId, PeerId};
use crate::unixtime::UnixTime;

pub const DEFAULT_LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("payload is not a valid claims object: {0}")]
    NotJson(String),
    #[error("claim {0} is missing")]
    Missing(&'static str),
    #[error("claim {0} is not a NumericDate")]
    BadTime(&'static str),
    #[error("token expired at {0}")]
    Expired(i64),
    #[error("token is not valid before {0}")]
    NotYetValid(i64),
    #[error("token was issued in the future ({0})")]
    IssuedInFuture(i64),
    #[error("token lifetime {lifetime} s is over the project's maximum of {max} s")]
    LifetimeTooLong { lifetime: i64, max: i64 },
    #[error("gid {0:?} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")]
    BadGroupId(String),
    #[error("pid {0:?} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")]
    BadPeerId(String),
    #[error("ap.{field} {value:?}: {reason}")]
    BadPattern { field: &'static str, value: String, reason: PatternError },
}

#[derive(Deserialize)]
struct RawClaims {
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    iat: Option<serde_json::Number>,
    gid: Option<String>,
    pid: Option<String>,
    ap: Option<RawAllowPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowPolicy {
    group_id: String,
    peer_id: String,
}

/// Claims that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub gid: GroupId,
    pub pid: PeerId,
    pub policy: AllowPolicy,
    pub exp: UnixTime,
    pub nbf: Option<UnixTime>,
    pub iat: Option<UnixTime>,
}

/// The checks' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    pub leeway_secs: i64,
    pub max_ttl_secs: i64,
}

fn numeric_date(n: &Option<serde_json::Number>, name: &'static str) -> Result<Option<i64>, ClaimsError> {
    let Some(n) = n else { return Ok(None) };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // RFC 7519 allows fractional seconds; whole seconds are enough here.
    match n.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
        _ => Err(ClaimsError::BadTime(name)),
    }
}

fn pattern(field: &'static str, value: &str) -> Result<Pattern, ClaimsError> {
    Pattern::parse(value).map_err(|reason| ClaimsError::BadPattern { field, value: value.to_owned(), reason })
}

/// Parses and checks the payload at `now`.
pub fn check(payload: &[u8], now: UnixTime, rules: TimeRules) -> Result<Claims, ClaimsError> {
    if !starts_object(payload) {
        return Err(ClaimsError::NotJson("expected a JSON object".into()));
    }
    let raw: RawClaims = serde_json::from_slice(payload).map_err(|e| ClaimsError::NotJson(e.to_string()))?;
    let exp = numeric_date(&raw.exp, "exp")?.ok_or(ClaimsError::Missing("exp"))?;
    let nbf = numeric_date(&raw.nbf, "nbf")?;
    let iat = numeric_date(&raw.iat, "iat")?;
    let gid_text = raw.gid.ok_or(ClaimsError::Missing("gid"))?;
    let pid_text = raw.pid.ok_or(ClaimsError::Missing("pid"))?;
    let gid = GroupId::parse(&gid_text).map_err(|_| ClaimsError::BadGroupId(gid_text))?;
    let pid = PeerId::parse(&pid_text).map_err(|_| ClaimsError::BadPeerId(pid_text))?;
    let policy = match raw.ap {
        Some(ap) => {
            AllowPolicy { group_id: pattern("group_id", &ap.group_id)?, peer_id: pattern("peer_id", &ap.peer_id)? }
        }
        None => AllowPolicy::default_for(&gid),
    };

    let now = now.secs();
    let leeway = rules.leeway_secs;
    if now >= exp.saturating_add(leeway) {
        return Err(ClaimsError::Expired(exp));
    }
    if let Some(nbf) = nbf {
        if now < nbf.saturating_sub(leeway) {
            return Err(ClaimsError::NotYetValid(nbf));
        }
    }
    if let Some(iat) = iat {
        if iat > now.saturating_add(leeway) {
            return Err(ClaimsError::IssuedInFuture(iat));
        }
    }
    let lifetime = exp.saturating_sub(iat.unwrap_or(now));
    if lifetime > rules.max_ttl_secs {
        return Err(ClaimsError::LifetimeTooLong { lifetime, max: rules.max_ttl_secs });
    }
    Ok(Claims { gid, pid, policy, exp: UnixTime(exp), nbf: nbf.map(UnixTime), iat: iat.map(UnixTime) })
}

#[cfg(test)]
mod tests;
