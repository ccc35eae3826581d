//! The admin API's routes (SPEC "Admin API"). Pure: a method and a path (after `/api/v1`) in, an
//! [`ApiRoute`] with its path ids already validated out, or the [`ApiError`] for an unknown path
//! (404), a method the path lacks (405 with `Allow`) or a malformed id (400). [`PATHS`] is the
//! table: each path pattern with its methods; the OpenAPI document is tested against it.

use hyper::Method;

use super::ApiError;
use crate::ids::{GroupId, Kid, PeerId, ProjectId, Username, WebhookId};

/// A path pattern (`{name}` is one segment) and the methods it answers; HEAD goes with GET.
pub struct PathSpec {
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    pub allow: &'static str,
}

macro_rules! paths {
    ($($pattern:literal => [$($m:tt),+]),+ $(,)?) => {
        pub const PATHS: &[PathSpec] = &[$(PathSpec {
            pattern: $pattern,
            methods: &[$($m),+],
            allow: allow_header!($($m),+),
        }),+];
    };
}

/// `"GET", "POST"` → `"GET, HEAD, POST"`: the `Allow` header of a 405.
macro_rules! allow_header {
    ("GET") => { "GET, HEAD" };
    ("GET", $($rest:literal),+) => { concat!("GET, HEAD", $(", ", $rest),+) };
    ($first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

paths! {
    "/setup" => ["POST"],
    "/login" => ["POST"],
    "/logout" => ["POST"],
    "/me" => ["GET"],
    "/accounts" => ["GET", "POST"],
    "/accounts/{username}" => ["DELETE"],
    "/api-keys" => ["GET", "POST"],
    "/api-keys/{id}" => ["DELETE"],
    "/projects" => ["GET", "POST"],
    "/projects/{id}" => ["GET", "PATCH", "DELETE"],
    "/projects/{id}/keys" => ["GET", "POST"],
    "/projects/{id}/keys/{kid}" => ["DELETE"],
    "/projects/{id}/members" => ["GET", "POST"],
    "/projects/{id}/members/{username}" => ["DELETE"],
    "/projects/{id}/peers" => ["GET"],
    "/projects/{id}/peers/{gid}/{pid}" => ["DELETE"],
    "/projects/{id}/usage" => ["GET"],
    "/projects/{id}/webhooks" => ["GET", "POST"],
    "/projects/{id}/webhooks/{wid}" => ["GET", "DELETE"],
    "/projects/{id}/webhooks/{wid}/deliveries" => ["GET"],
    "/projects/{id}/webhooks/{wid}/test" => ["POST"],
    "/projects/{id}/webhooks/{wid}/rotate-secret" => ["POST"],
    "/audit" => ["GET"],
    "/stats" => ["GET"],
    "/tls" => ["GET"],
    "/turn/rotate-secret" => ["POST"],
    "/tokens/inspect" => ["POST"],
    "/openapi.json" => ["GET"],
}

/// An API key's id: `ak_` and 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    pub fn parse(s: &str) -> Option<ApiKeyId> {
        let hex = s.strip_prefix("ak_")?;
        (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| ApiKeyId(s.to_owned()))
    }

    pub fn from_random(bytes: [u8; 8]) -> ApiKeyId {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        ApiKeyId(format!("ak_{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute {
    Setup,
    Login,
    Logout,
    Me,
    ListAccounts,
    CreateAccount,
    DeleteAccount(Username),
    ListApiKeys,
    CreateApiKey,
    DeleteApiKey(ApiKeyId),
    ListProjects,
    CreateProject,
    GetProject(ProjectId),
    UpdateProject(ProjectId),
    DeleteProject(ProjectId),
    ListKeys(ProjectId),
    CreateKey(ProjectId),
    DeleteKey(ProjectId, Kid),
    ListMembers(ProjectId),
    SetMember(ProjectId),
    RemoveMember(ProjectId, Username),
    ListPeers(ProjectId),
    Kick(ProjectId, GroupId, PeerId),
    Usage(ProjectId),
    ListWebhooks(ProjectId),
    CreateWebhook(ProjectId),
    GetWebhook(ProjectId, WebhookId),
    DeleteWebhook(ProjectId, WebhookId),
    WebhookDeliveries(ProjectId, WebhookId),
    TestWebhook(ProjectId, WebhookId),
    RotateWebhookSecret(ProjectId, WebhookId),
    Audit,
    Stats,
    Tls,
    RotateTurnSecret,
    InspectToken,
    OpenApi,
}

/// What a route asks of its caller (checked by `super::auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// No credentials (setup, login, the OpenAPI document).
    Nobody,
    /// Any signed-in caller, any role (reads, logout).
    Anyone,
    /// A change outside any project: admin or owner.
    Admin,
    /// Accounts: owners only.
    Owner,
    /// Reading one project: any role that sees it.
    ProjectRead(&'a ProjectId),
    /// Changing one project: admin on it.
    ProjectWrite(&'a ProjectId),
}

impl ApiRoute {
    pub fn need(&self) -> Need<'_> {
        use ApiRoute::*;
        match self {
            Setup | Login | OpenApi => Need::Nobody,
            // Logout is a POST every role may send: a viewer must be able to sign out.
            Logout | Me | ListApiKeys | ListProjects | Audit | Stats | Tls => Need::Anyone,
            ListAccounts | CreateAccount | DeleteAccount(_) => Need::Owner,
            CreateApiKey | DeleteApiKey(_) | CreateProject | RotateTurnSecret | InspectToken => Need::Admin,
            GetProject(p)
            | ListKeys(p)
            | ListMembers(p)
            | ListPeers(p)
            | Usage(p)
            | ListWebhooks(p)
            | GetWebhook(p, _)
            | WebhookDeliveries(p, _) => Need::ProjectRead(p),
            UpdateProject(p)
            | DeleteProject(p)
            | CreateKey(p)
            | DeleteKey(p, _)
            | SetMember(p)
            | RemoveMember(p, _)
            | Kick(p, _, _)
            | CreateWebhook(p)
            | DeleteWebhook(p, _)
            | TestWebhook(p, _)
            | RotateWebhookSecret(p, _) => Need::ProjectWrite(p),
        }
    }
}

/// Routes `method` on `path` (the part after `/api/v1`).
pub fn route(method: &Method, path: &str) -> Result<ApiRoute, ApiError> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (spec, params) =
        PATHS.iter().find_map(|spec| matches(spec.pattern, &segments).map(|p| (spec, p))).ok_or(ApiError::NotFound)?;
    let method_name = if method == Method::HEAD { "GET" } else { method.as_str() };
    if !spec.methods.contains(&method_name) {
        return Err(ApiError::MethodNotAllowed { allow: spec.allow });
    }
    build(spec.pattern, method_name, &params)
}

/// The `{…}` segments of `pattern` if `segments` match it.
fn matches<'a>(pattern: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            params.push(*segment);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

fn bad(what: &str, value: &str) -> ApiError {
    let shown: String = value.chars().take(80).collect();
    ApiError::BadRequest(format!("malformed {what} {shown:?} in the path"))
}

fn project(s: &str) -> Result<ProjectId, ApiError> {
    ProjectId::parse(s).map_err(|_| bad("project id", s))
}

fn username(s: &str) -> Result<Username, ApiError> {
    Username::parse(s).map_err(|_| bad("username", s))
}

fn webhook(s: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(s).map_err(|_| bad("webhook id", s))
}

fn build(pattern: &str, method: &str, p: &[&str]) -> Result<ApiRoute, ApiError> {
    use ApiRoute::*;
    let at = |i: usize| p.get(i).copied().unwrap_or_default();
    let hook = || -> Result<(ProjectId, WebhookId), ApiError> { Ok((project(at(0))?, webhook(at(1))?)) };
    Ok(match (pattern, method) {
        ("/setup", _) => Setup,
        ("/login", _) => Login,
        ("/logout", _) => Logout,
        ("/me", _) => Me,
        ("/accounts", "GET") => ListAccounts,
        ("/accounts", _) => CreateAccount,
        ("/accounts/{username}", _) => DeleteAccount(username(at(0))?),
        ("/api-keys", "GET") => ListApiKeys,
        ("/api-keys", _) => CreateApiKey,
        ("/api-keys/{id}", _) => DeleteApiKey(ApiKeyId::parse(at(0)).ok_or_else(|| bad("API key id", at(0)))?),
        ("/projects", "GET") => ListProjects,
        ("/projects", _) => CreateProject,
        ("/projects/{id}", "GET") => GetProject(project(at(0))?),
        ("/projects/{id}", "PATCH") => UpdateProject(project(at(0))?),
        ("/projects/{id}", _) => DeleteProject(project(at(0))?),
        ("/projects/{id}/keys", "GET") => ListKeys(project(at(0))?),
        ("/projects/{id}/keys", _) => CreateKey(project(at(0))?),
        ("/projects/{id}/keys/{kid}", _) => {
            DeleteKey(project(at(0))?, Kid::parse(at(1)).map_err(|_| bad("kid", at(1)))?)
        }
        ("/projects/{id}/members", "GET") => ListMembers(project(at(0))?),
        ("/projects/{id}/members", _) => SetMember(project(at(0))?),
        ("/projects/{id}/members/{username}", _) => RemoveMember(project(at(0))?, username(at(1))?),
        ("/projects/{id}/peers", _) => ListPeers(project(at(0))?),
        ("/projects/{id}/peers/{gid}/{pid}", _) => Kick(
            project(at(0))?,
            GroupId::parse(at(1)).map_err(|_| bad("group id", at(1)))?,
            PeerId::parse(at(2)).map_err(|_| bad("peer id", at(2)))?,
        ),
        ("/projects/{id}/usage", _) => Usage(project(at(0))?),
        ("/projects/{id}/webhooks", "GET") => ListWebhooks(project(at(0))?),
        ("/projects/{id}/webhooks", _) => CreateWebhook(project(at(0))?),
        ("/projects/{id}/webhooks/{wid}", "GET") => hook().map(|(p, w)| GetWebhook(p, w))?,
        ("/projects/{id}/webhooks/{wid}", _) => hook().map(|(p, w)| DeleteWebhook(p, w))?,
        ("/projects/{id}/webhooks/{wid}/deliveries", _) => hook().map(|(p, w)| WebhookDeliveries(p, w))?,
        ("/projects/{id}/webhooks/{wid}/test", _) => hook().map(|(p, w)| TestWebhook(p, w))?,
        ("/projects/{id}/webhooks/{wid}/rotate-secret", _) => hook().map(|(p, w)| RotateWebhookSecret(p, w))?,
        ("/audit", _) => Audit,
        ("/stats", _) => Stats,
        ("/tls", _) => Tls,
        ("/turn/rotate-secret", _) => RotateTurnSecret,
        ("/tokens/inspect", _) => InspectToken,
        ("/openapi.json", _) => OpenApi,
        // Every (pattern, method) of PATHS has an arm above (tested).
        _ => return Err(ApiError::NotFound),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pattern: &str) -> String {
        pattern
            .replace("{username}", "alice")
            .replace("{id}", if pattern.starts_with("/api-keys") { "ak_0123456789abcdef" } else { "prj" })
            .replace("{kid}", "kid_0123456789abcdef")
            .replace("{gid}", "room")
            .replace("{pid}", "bob")
            .replace("{wid}", "wh_0123456789abcdef")
    }

    #[test]
    fn every_path_and_method_of_the_table_routes_and_others_are_405() {
        for spec in PATHS {
            let path = sample(spec.pattern);
            for m in ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"] {
                let method = Method::from_bytes(m.as_bytes()).unwrap();
                let listed = spec.methods.contains(&if m == "HEAD" { "GET" } else { m });
                match route(&method, &path) {
                    Ok(_) => assert!(listed, "{m} {path} routed but not listed"),
                    Err(ApiError::MethodNotAllowed { allow }) => {
                        assert!(!listed, "{m} {path} listed but 405");
                        assert_eq!(allow, spec.allow);
                    }
                    Err(e) => panic!("{m} {path}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn allow_headers_list_head_with_get() {
        let allow = |p: &str| PATHS.iter().find(|s| s.pattern == p).unwrap().allow;
        assert_eq!(allow("/projects/{id}"), "GET, HEAD, PATCH, DELETE");
        assert_eq!(allow("/me"), "GET, HEAD");
        assert_eq!(allow("/login"), "POST");
    }

    #[test]
    fn ids_are_checked_before_anything_else() {
        assert_eq!(route(&Method::GET, "/projects/prj"), Ok(ApiRoute::GetProject(ProjectId::parse("prj").unwrap())));
        for bad_path in [
            "/projects/a%20b",
            "/projects/prj/keys/kid_XYZ",
            "/projects/",
            "/accounts/bad%2fname",
            "/api-keys/ak_nothex",
            "/projects/prj/peers/room/b%00b",
        ] {
            let m = if bad_path.contains("keys/")
                || bad_path.contains("accounts")
                || bad_path.contains("api-keys")
                || bad_path.contains("peers/")
            {
                Method::DELETE
            } else {
                Method::GET
            };
            assert!(matches!(route(&m, bad_path), Err(ApiError::BadRequest(_))), "{bad_path}");
        }
        assert_eq!(route(&Method::GET, "/nope"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/projects/prj/extra/x"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, ""), Err(ApiError::NotFound));
    }

    #[test]
    fn viewers_get_and_logout_only() {
        use Need::*;
        let p = ProjectId::parse("prj").unwrap();
        assert_eq!(ApiRoute::Logout.need(), Anyone);
        assert_eq!(ApiRoute::ListPeers(p.clone()).need(), ProjectRead(&p));
        assert_eq!(ApiRoute::DeleteAccount(Username::parse("a").unwrap()).need(), Owner);
        assert_eq!(ApiRoute::InspectToken.need(), Admin);
    }
}
