//! Live state: a project's peers, kicking one, and the dashboard's totals.

use hyper::{Response, StatusCode};
use serde_json::json;

use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::{GroupId, PeerId, ProjectId};
use crate::unixtime::UnixTime;

/// 404 for a project that does not exist (the caller may see it, or the route would have
/// answered 404 already).
async fn existing(ctx: &Ctx<'_>, project: &ProjectId) -> Result<(), ApiError> {
    let id = project.clone();
    match ctx.read(move |s| s.project_exists(&id)).await? {
        true => Ok(()),
        false => Err(ApiError::NotFound),
    }
}

pub async fn peers(ctx: &Ctx<'_>, project: ProjectId) -> Result<Response<Body>, ApiError> {
    existing(ctx, &project).await?;
    reply(StatusCode::OK, &ctx.state.live.peers(&project).await)
}

/// Closes the peer's session with 4003, deletes its identity's TURN allocations and refuses its
/// TURN credentials until they expire; all of it whether or not it is connected now.
pub async fn kick(ctx: &Ctx<'_>, project: ProjectId, gid: GroupId, pid: PeerId) -> Result<Response<Body>, ApiError> {
    existing(ctx, &project).await?;
    let was_live = ctx.state.live.kick(&project, &gid, &pid).await;
    let target = format!("{project}/{gid}/{pid}");
    let detail = if was_live { "session closed" } else { "not connected" };
    let now = UnixTime::now();
    ctx.write(move |s, actor| s.record(actor, "peer.kick", Some(&target), Some(detail), now)).await?;
    no_content()
}

pub async fn stats(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let live = ctx.state.live.stats().await;
    let (turn, _) = ctx.state.turn.totals();
    let (bytes, packets) =
        ctx.state.turn.per_project().iter().fold((0u64, 0u64), |(b, p), (_, u)| (b + u.bytes, p + u.packets));
    reply(
        StatusCode::OK,
        &json!({
            "time": UnixTime::now().secs(),
            "uptime_secs": ctx.state.started.elapsed().as_secs(),
            "connections": live.connections,
            "sessions": live.sessions,
            "sessions_per_project": live.sessions_per_project,
            "allocations": turn.allocations,
            "relayed_bytes": bytes,
            "relayed_packets": packets,
        }),
    )
}
