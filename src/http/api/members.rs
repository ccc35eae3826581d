//! Project members: an account that is a member of some project sees those projects only, with
//! its member role there (docs/api.md "Roles").

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::{ProjectId, Username};
use crate::store::{Member, Role};
use crate::unixtime::UnixTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMember {
    username: String,
    role: String,
}

fn member_json(m: &Member) -> serde_json::Value {
    json!({"username": m.username.as_str(), "role": m.role, "added_at": m.added_at.secs()})
}

pub async fn list(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let members = ctx.read(move |s| s.list_members(&project)).await?;
    reply(StatusCode::OK, &members.iter().map(member_json).collect::<Vec<_>>())
}

pub async fn set(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    let body: SetMember = ctx.json_body()?;
    let username = Username::parse(&body.username).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::Admin | Role::Viewer)) => r,
        _ => return Err(ApiError::BadRequest("a member's role is admin or viewer".into())),
    };
    let now = UnixTime::now();
    let (member, created) =
        ctx.write(move |s, actor| s.set_member(&project, username.as_str(), role, actor, now)).await?;
    reply(if created { StatusCode::CREATED } else { StatusCode::OK }, &member_json(&member))
}

pub async fn remove(ctx: &Ctx<'_>, project: ProjectId, username: Username) -> Result<Response<Body>, ApiError> {
    let now = UnixTime::now();
    let removed = ctx.write(move |s, actor| s.remove_member(&project, username.as_str(), actor, now)).await?;
    if removed {
        no_content()
    } else {
        Err(ApiError::NotFound)
    }
}
