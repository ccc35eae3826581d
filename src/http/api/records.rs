//! Records: a project's hourly usage, and the audit log.

use std::collections::HashMap;

use hyper::{Response, StatusCode};
use serde_json::json;

use super::{reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::ProjectId;
use crate::store::usage::{hour_of, HourUsage};
use crate::store::AuditQuery;
use crate::unixtime::UnixTime;

const HOUR: i64 = 3600;
/// The longest span one usage request may ask for (a quarter and a bit: 2,232 buckets).
const MAX_USAGE_SPAN: i64 = 93 * 24 * HOUR;
pub const AUDIT_DEFAULT_LIMIT: u32 = 100;
pub const AUDIT_MAX_LIMIT: u32 = 500;

/// The query string as `name → value`, refusing names outside `known`, repeats and bad escapes.
pub fn query_params<'q>(query: &'q str, known: &[&str]) -> Result<HashMap<&'q str, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !known.contains(&name) {
            let shown: String = name.chars().take(40).collect();
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter {shown:?}; known: {}",
                known.join(", ")
            )));
        }
        let value = percent_decode(value).ok_or_else(|| ApiError::BadRequest(format!("bad escape in {name}")))?;
        if out.insert(name, value).is_some() {
            return Err(ApiError::BadRequest(format!("{name} given twice")));
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub fn integer(params: &HashMap<&str, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| v.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("{name} must be an integer"))))
        .transpose()
}

/// The hours `[from, to]` covers, each a bucket (zero when nothing happened).
pub fn usage_hours(from: i64, to: i64) -> Result<(i64, i64), ApiError> {
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    if to - from > MAX_USAGE_SPAN {
        return Err(ApiError::BadRequest(format!("at most {} days per request", MAX_USAGE_SPAN / 86_400)));
    }
    Ok((hour_of(UnixTime(from)), hour_of(UnixTime(to))))
}

pub async fn usage(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let params = query_params(ctx.query, &["from", "to"])?;
    let to = integer(&params, "to")?.unwrap_or_else(|| UnixTime::now().secs());
    let from = integer(&params, "from")?.unwrap_or(to - 86_400);
    let (first, last) = usage_hours(from, to)?;
    let rows = ctx
        .read(move |s| {
            if !s.project_exists(&project)? {
                return Err(crate::store::StoreError::NoSuchProject(project.to_string()));
            }
            s.hourly_usage(&project, first, last)
        })
        .await?;
    let stored: HashMap<i64, HourUsage> = rows.into_iter().collect();
    let buckets: Vec<_> = (0..=(last - first) / HOUR)
        .map(|i| {
            let hour = first + i * HOUR;
            let u = stored.get(&hour).copied().unwrap_or_default();
            json!({
                "hour": hour,
                "peak_connections": u.peak_connections,
                "signals": u.signals,
                "turn_bytes": u.turn_bytes,
                "turn_allocations": u.turn_allocations,
            })
        })
        .collect();
    reply(StatusCode::OK, &buckets)
}

pub async fn audit(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let params = query_params(ctx.query, &["limit", "before", "actor", "action"])?;
    let limit = match integer(&params, "limit")? {
        None => AUDIT_DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(AUDIT_MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => return Err(ApiError::BadRequest(format!("limit must be 1-{AUDIT_MAX_LIMIT}"))),
    };
    let query = AuditQuery {
        limit,
        before: integer(&params, "before")?,
        actor: params.get("actor").cloned(),
        action: params.get("action").cloned(),
    };
    let rows = ctx.read(move |s| s.audit_page(&query)).await?;
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "time": r.at.secs(),
                "actor": r.actor,
                "source": r.source,
                "action": r.action,
                "target": r.target,
                "detail": r.detail,
            })
        })
        .collect();
    reply(StatusCode::OK, &list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_strict() {
        let p = query_params("actor=a%40b.c&action=key.delete", &["actor", "action"]).unwrap();
        assert_eq!(p["actor"], "a@b.c");
        assert!(query_params("nope=1", &["actor"]).is_err());
        assert!(query_params("actor=1&actor=2", &["actor"]).is_err());
        assert!(query_params("actor=%zz", &["actor"]).is_err());
        assert!(query_params("actor=%ff", &["actor"]).is_err(), "not UTF-8");
        assert!(query_params("", &["actor"]).unwrap().is_empty());
    }

    #[test]
    fn usage_spans_whole_hours() {
        assert_eq!(usage_hours(7200 + 5, 3 * 3600 + 1).unwrap(), (7200, 10800));
        assert!(usage_hours(10, 5).is_err());
        assert!(usage_hours(0, MAX_USAGE_SPAN + 1).is_err());
    }
}
