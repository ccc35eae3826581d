//! Who is asking, and may they: the session cookie or the API key of a request, its CSRF header,
//! and the role check of [`Need`]. The credentials themselves live in the store (only their
//! SHA-256); this module keeps no state.
//!
//! Roles: an account is `owner`, `admin` or `viewer`. An API key carries `admin` or `viewer` and
//! acts as its account with the lower of the two roles. An account that is not an owner and is a
//! member of some project sees those projects only, each with its member role (capped by an API
//! key's role the same way); one with no membership has its account role on every project.

use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, COOKIE};
use hyper::Method;

use super::routes::Need;
use super::ApiError;
use crate::ids::ProjectId;
use crate::store::{Account, Role};

pub const SESSION_COOKIE: &str = "__Host-edgebeam_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long without a request (SPEC: 12 h idle) ...
pub const SESSION_IDLE_SECS: i64 = 12 * 3600;
/// ... or this long after sign-in, whatever its use (SPEC: 7 days).
pub const SESSION_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// API keys are `ebk_` and 43 base64url characters (32 random bytes).
pub const API_KEY_PREFIX: &str = "ebk_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session { id_hash: [u8; 32], csrf_token: String },
    ApiKey { id: String },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub account: Account,
    /// The account's role, lowered to an API key's.
    pub role: Role,
    /// An API key's role, which caps member roles too; `None` for a session.
    pub key_role: Option<Role>,
    pub memberships: Vec<(ProjectId, Role)>,
    pub via: Via,
}

/// The credential a request presents, before the store is asked about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    ApiKey([u8; 32]),
    Session([u8; 32]),
    /// A bearer that cannot be an API key of this server: refused without a store trip.
    Malformed,
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The bearer API key if there is one, else the session cookie; `None` for neither. A bearer
/// wins over a cookie: scripts that send both mean the key.
pub fn presented(headers: &HeaderMap) -> Option<Presented> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        let key = match text.split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
            _ => return Some(Presented::Malformed),
        };
        return Some(match key.strip_prefix(API_KEY_PREFIX) {
            Some(rest) if rest.len() == 43 => Presented::ApiKey(sha256(key.as_bytes())),
            _ => Presented::Malformed,
        });
    }
    session_cookie(headers).map(|id| Presented::Session(sha256(id.as_bytes())))
}

/// The value of the session cookie among every `Cookie` header.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// `Set-Cookie` for a new session: a browser-session cookie, the server keeps the expiry.
pub fn session_set_cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .expect("a base64url session id is a valid header value")
}

pub fn session_clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-edgebeam_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

impl Principal {
    pub fn name(&self) -> &str {
        self.account.username.as_str()
    }

    /// The caller's role on `project`, `None` if it may not see it.
    pub fn project_role(&self, project: &ProjectId) -> Option<Role> {
        if self.account.role == Role::Owner || self.memberships.is_empty() {
            return Some(self.role);
        }
        // The member role, not the account's: a viewer account may be an admin of one project.
        let cap = self.key_role.unwrap_or(Role::Owner);
        self.memberships.iter().find(|(p, _)| p == project).map(|(_, r)| (*r).min(cap))
    }

    /// Whether the route's need is met: 403 for a role that falls short, 404 for a project the
    /// caller may not see (its existence is not the caller's to learn).
    pub fn authorize(&self, need: Need<'_>) -> Result<(), ApiError> {
        let at_least = |have: Role, want: Role| if have >= want { Ok(()) } else { Err(ApiError::Forbidden) };
        match need {
            Need::Nobody | Need::Anyone => Ok(()),
            Need::Admin => at_least(self.role, Role::Admin),
            Need::Owner => at_least(self.role, Role::Owner),
            Need::ProjectRead(p) => self.project_role(p).map(|_| ()).ok_or(ApiError::NotFound),
            Need::ProjectWrite(p) => at_least(self.project_role(p).ok_or(ApiError::NotFound)?, Role::Admin),
        }
    }

    /// A session's state-changing request must carry its CSRF token (an API key needs none:
    /// a browser never sends one by itself).
    pub fn check_csrf(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        let Via::Session { csrf_token, .. } = &self.via else { return Ok(()) };
        if method == Method::GET || method == Method::HEAD {
            return Ok(());
        }
        let sent = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if crate::proto::stun::integrity::constant_time_eq(sent, csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Csrf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Username;
    use crate::unixtime::UnixTime;

    fn principal(role: Role, key_role: Option<Role>, memberships: &[(&str, Role)]) -> Principal {
        let account = Account { id: 1, username: Username::parse("amy").unwrap(), role, created_at: UnixTime(0) };
        Principal {
            role: key_role.map_or(role, |k| k.min(role)),
            key_role,
            account,
            memberships: memberships.iter().map(|(p, r)| (ProjectId::parse(p).unwrap(), *r)).collect(),
            via: match key_role {
                Some(_) => Via::ApiKey { id: "ak_0000000000000000".into() },
                None => Via::Session { id_hash: [0; 32], csrf_token: "t0ken".into() },
            },
        }
    }

    #[test]
    fn roles_and_memberships() {
        let (a, b) = (ProjectId::parse("a").unwrap(), ProjectId::parse("b").unwrap());
        let viewer = principal(Role::Viewer, None, &[]);
        assert_eq!(viewer.authorize(Need::ProjectRead(&a)), Ok(()));
        assert_eq!(viewer.authorize(Need::ProjectWrite(&a)), Err(ApiError::Forbidden));
        assert_eq!(viewer.authorize(Need::Admin), Err(ApiError::Forbidden));
        let member = principal(Role::Admin, None, &[("a", Role::Viewer)]);
        assert_eq!(member.authorize(Need::ProjectRead(&a)), Ok(()));
        assert_eq!(member.authorize(Need::ProjectWrite(&a)), Err(ApiError::Forbidden));
        assert_eq!(member.authorize(Need::ProjectRead(&b)), Err(ApiError::NotFound));
        assert_eq!(member.authorize(Need::Owner), Err(ApiError::Forbidden));
        let owner_viewer_key = principal(Role::Owner, Some(Role::Viewer), &[]);
        assert_eq!(owner_viewer_key.authorize(Need::ProjectWrite(&b)), Err(ApiError::Forbidden));
        assert_eq!(owner_viewer_key.authorize(Need::Owner), Err(ApiError::Forbidden));
        let member_admin_key = principal(Role::Admin, Some(Role::Viewer), &[("a", Role::Admin)]);
        assert_eq!(member_admin_key.project_role(&a), Some(Role::Viewer));
        let viewer_admin_member = principal(Role::Viewer, None, &[("a", Role::Admin)]);
        assert_eq!(viewer_admin_member.authorize(Need::ProjectWrite(&a)), Ok(()));
        assert_eq!(viewer_admin_member.authorize(Need::Admin), Err(ApiError::Forbidden));
    }

    #[test]
    fn csrf_is_required_of_sessions_on_changes_only() {
        let s = principal(Role::Admin, None, &[]);
        let mut h = HeaderMap::new();
        assert_eq!(s.check_csrf(&Method::GET, &h), Ok(()));
        assert_eq!(s.check_csrf(&Method::POST, &h), Err(ApiError::Csrf));
        h.insert(CSRF_HEADER, HeaderValue::from_static("wrong"));
        assert_eq!(s.check_csrf(&Method::DELETE, &h), Err(ApiError::Csrf));
        h.insert(CSRF_HEADER, HeaderValue::from_static("t0ken"));
        assert_eq!(s.check_csrf(&Method::PATCH, &h), Ok(()));
        let key = principal(Role::Admin, Some(Role::Admin), &[]);
        assert_eq!(key.check_csrf(&Method::POST, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn credentials_are_read_from_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h), None);
        let id = "A".repeat(43);
        h.insert(COOKIE, HeaderValue::from_str(&format!("theme=dark; {SESSION_COOKIE}={id}")).unwrap());
        assert_eq!(presented(&h), Some(Presented::Session(sha256(id.as_bytes()))));
        let key = format!("{API_KEY_PREFIX}{}", "b".repeat(43));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {key}")).unwrap());
        assert_eq!(presented(&h), Some(Presented::ApiKey(sha256(key.as_bytes()))));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic Zm9vOmJhcg=="));
        assert_eq!(presented(&h), Some(Presented::Malformed));
        h.remove(AUTHORIZATION);
        h.insert(COOKIE, HeaderValue::from_static("__Host-edgebeam_session=short"));
        assert_eq!(presented(&h), None);
    }
}
