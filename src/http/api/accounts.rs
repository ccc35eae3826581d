//! Accounts (owners only) and API keys.

use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::routes::ApiKeyId;
use super::session::check_new_credentials;
use super::{no_content, reply, ApiError, Ctx};
use crate::http::Body;
use crate::ids::Username;
use crate::store::{Account, ApiKeyRow, Role};
use crate::unixtime::UnixTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    username: String,
    password: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {
    name: String,
    role: String,
}

fn account_json(a: &Account) -> serde_json::Value {
    json!({"username": a.username.as_str(), "role": a.role, "created_at": a.created_at.secs()})
}

fn api_key_json(k: &ApiKeyRow) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "account": k.account.as_str(),
        "created_at": k.created_at.secs(),
        "last_used_at": k.last_used_at.map(UnixTime::secs),
    })
}

/// A label a person typed: 1-100 characters, no control characters.
pub fn check_label(what: &str, text: &str) -> Result<String, ApiError> {
    let count = text.chars().count();
    if count == 0 || count > 100 || text.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!("{what} must be 1-100 characters without control characters")));
    }
    Ok(text.to_owned())
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let accounts = ctx.read(|s| s.list_accounts()).await?;
    reply(StatusCode::OK, &accounts.iter().map(account_json).collect::<Vec<_>>())
}

pub async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body: NewAccount = ctx.json_body()?;
    let username = check_new_credentials(&body.username, &body.password)?;
    let role =
        Role::parse(&body.role).ok_or_else(|| ApiError::BadRequest("role must be owner, admin or viewer".into()))?;
    let hash = ctx.hash_password(body.password).await?;
    let now = UnixTime::now();
    let account = ctx.write(move |s, actor| s.create_account(&username, &hash, role, actor, now)).await?;
    reply(StatusCode::CREATED, &account_json(&account))
}

pub async fn delete(ctx: &Ctx<'_>, username: Username) -> Result<Response<Body>, ApiError> {
    let now = UnixTime::now();
    ctx.write(move |s, actor| s.delete_account(username.as_str(), actor, now)).await?;
    no_content()
}

/// Owners see and revoke every key; others their own.
fn key_scope(ctx: &Ctx<'_>) -> Result<Option<i64>, ApiError> {
    let who = ctx.who()?;
    Ok((who.account.role != Role::Owner).then_some(who.account.id))
}

pub async fn list_api_keys(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let scope = key_scope(ctx)?;
    let keys = ctx.read(move |s| s.list_api_keys(scope)).await?;
    reply(StatusCode::OK, &keys.iter().map(api_key_json).collect::<Vec<_>>())
}

pub async fn create_api_key(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body: NewApiKey = ctx.json_body()?;
    let name = check_label("name", &body.name)?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::Admin | Role::Viewer)) => r,
        _ => return Err(ApiError::BadRequest("role must be admin or viewer".into())),
    };
    let account_id = ctx.who()?.account.id;
    let key = format!("{}{}", super::auth::API_KEY_PREFIX, crate::random::token::<32>());
    let hash = super::auth::sha256(key.as_bytes());
    let id = ApiKeyId::from_random(crate::random::bytes());
    let now = UnixTime::now();
    let row =
        ctx.write(move |s, actor| s.create_api_key(id.as_str(), account_id, &name, role, &hash, actor, now)).await?;
    let mut body = api_key_json(&row);
    body["key"] = json!(key);
    reply(StatusCode::CREATED, &body)
}

pub async fn delete_api_key(ctx: &Ctx<'_>, id: ApiKeyId) -> Result<Response<Body>, ApiError> {
    let scope = key_scope(ctx)?;
    let now = UnixTime::now();
    let deleted = ctx.write(move |s, actor| s.delete_api_key(id.as_str(), scope, actor, now)).await?;
    if deleted {
        no_content()
    } else {
        Err(ApiError::NotFound)
    }
}
