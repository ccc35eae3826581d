//! Projects: create, read, change, delete. A change reaches the running hub before the answer
//! goes out (allowed origins, the connection cap; the token TTL cap with the key set); deleting a
//! project deletes its keys, which closes its sessions with 4003.

use hyper::{Response, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::accounts::check_label;
use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::{ProjectId, ProjectName};
use crate::store::{NewProject, Project, ProjectPatch, Role};
use crate::unixtime::UnixTime;

pub const DEFAULT_MAX_TOKEN_TTL: i64 = 86_400;
const TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=2_592_000;
const CONNECTIONS_RANGE: std::ops::RangeInclusive<i64> = 1..=10_000_000;
const MAX_ORIGINS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectInput {
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
    max_token_ttl: Option<i64>,
    max_connections: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchInput {
    name: Option<String>,
    allowed_origins: Option<Vec<String>>,
    max_token_ttl: Option<i64>,
    /// Absent: unchanged; `null`: back to the server's default.
    #[serde(default, deserialize_with = "present")]
    max_connections: Option<Option<i64>>,
}

/// A field that is present (`null` included) is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

pub fn project_json(p: &Project) -> serde_json::Value {
    json!({
        "id": p.id.as_str(),
        "name": p.name,
        "created_at": p.created_at.secs(),
        "allowed_origins": p.allowed_origins,
        "max_token_ttl": p.max_token_ttl_secs,
        "max_connections": p.max_connections,
    })
}

fn name(text: &str) -> Result<ProjectName, ApiError> {
    check_label("name", text)?;
    ProjectName::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn ttl(secs: i64) -> Result<i64, ApiError> {
    if TTL_RANGE.contains(&secs) {
        Ok(secs)
    } else {
        Err(ApiError::BadRequest(format!("max_token_ttl must be {}-{} seconds", TTL_RANGE.start(), TTL_RANGE.end())))
    }
}

fn connections(n: Option<i64>) -> Result<Option<i64>, ApiError> {
    match n {
        Some(n) if !CONNECTIONS_RANGE.contains(&n) => Err(ApiError::BadRequest(format!(
            "max_connections must be {}-{} or null",
            CONNECTIONS_RANGE.start(),
            CONNECTIONS_RANGE.end()
        ))),
        n => Ok(n),
    }
}

/// Each entry must be a web origin as browsers send it: `http(s)://host[:port]`, no path.
/// Stored lowercased (origins compare case-insensitively).
pub fn origins(list: Vec<String>) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_ORIGINS {
        return Err(ApiError::BadRequest(format!("at most {MAX_ORIGINS} allowed_origins")));
    }
    list.into_iter().map(|o| origin(&o).map(|()| o.to_ascii_lowercase())).collect()
}

fn origin(o: &str) -> Result<(), ApiError> {
    let bad = || {
        let shown: String = o.chars().take(80).collect();
        ApiError::BadRequest(format!("{shown:?} is not an origin like https://app.example.com or http://10.0.0.5:8080"))
    };
    let lower = o.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")).ok_or_else(bad)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest, None), // bare IPv6 without brackets
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && (host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || (host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let who = ctx.who()?.clone();
    let projects = ctx.read(|s| s.list_projects()).await?;
    let visible: Vec<_> = projects.iter().filter(|p| who.project_role(&p.id).is_some()).map(project_json).collect();
    reply(StatusCode::OK, &visible)
}

pub async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let input: ProjectInput = ctx.json_body()?;
    let project = NewProject {
        name: name(&input.name)?,
        allowed_origins: origins(input.allowed_origins)?,
        max_token_ttl_secs: ttl(input.max_token_ttl.unwrap_or(DEFAULT_MAX_TOKEN_TTL))?,
        max_connections: connections(input.max_connections)?,
    };
    let who = ctx.who()?;
    // An admin who sees only its member projects becomes an admin member of the new one.
    let member = (!who.memberships.is_empty() && who.account.role != Role::Owner).then(|| who.name().to_owned());
    let id = ProjectId::from_random(crate::random::bytes());
    let now = UnixTime::now();
    let created = ctx
        .write(move |s, actor| {
            let p = s.create_project_with(&id, &project, actor, now)?;
            if let Some(username) = member {
                s.set_member(&p.id, &username, Role::Admin, actor, now)?;
            }
            Ok(p)
        })
        .await?;
    ctx.engine_changed().await;
    reply(StatusCode::CREATED, &project_json(&created))
}

pub async fn get(ctx: &Ctx<'_>, id: ProjectId) -> Result<Response<Body>, ApiError> {
    let found = ctx.read(move |s| s.project(&id)).await?;
    reply(StatusCode::OK, &project_json(&found.ok_or(ApiError::NotFound)?))
}

pub async fn update(ctx: &Ctx<'_>, id: ProjectId) -> Result<Response<Body>, ApiError> {
    let input: PatchInput = ctx.json_body()?;
    let patch = ProjectPatch {
        name: input.name.as_deref().map(name).transpose()?,
        allowed_origins: input.allowed_origins.map(origins).transpose()?,
        max_token_ttl_secs: input.max_token_ttl.map(ttl).transpose()?,
        max_connections: input.max_connections.map(connections).transpose()?,
    };
    let now = UnixTime::now();
    let updated = ctx.write(move |s, actor| s.update_project(&id, &patch, actor, now)).await?;
    ctx.engine_changed().await;
    reply(StatusCode::OK, &project_json(&updated))
}

pub async fn delete(ctx: &Ctx<'_>, id: ProjectId) -> Result<Response<Body>, ApiError> {
    let now = UnixTime::now();
    ctx.write(move |s, actor| s.delete_project(&id, actor, now)).await?;
    ctx.engine_changed().await;
    // Its webhooks went with it: their workers stop.
    ctx.state.webhooks.changed().await;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in
            ["https://app.example.com", "http://10.0.0.5:8080", "https://[fd00::1]:8443", "HTTPS://App.Example.COM"]
        {
            assert!(origin(good).is_ok(), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://",
            "https://a.example/path",
            "ftp://x",
            "https://a:0",
            "https://a:99999",
            "https://a b",
            "https://u@a",
            "https://a:",
            "*",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
        assert_eq!(origins(vec!["https://A.example".into()]).unwrap(), vec!["https://a.example".to_owned()]);
        assert!(origins(vec!["https://a.example".into(); 101]).is_err());
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let p: PatchInput = serde_json::from_str(r#"{"max_connections": null}"#).unwrap();
        assert_eq!(p.max_connections, Some(None));
        let p: PatchInput = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(p.max_connections, None);
        assert!(serde_json::from_str::<PatchInput>(r#"{"nope": 1}"#).is_err());
    }
}
