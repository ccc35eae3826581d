//! The admin REST API from the outside (SPEC "Admin API", /work/api-contract.md): the real binary
//! on 127.0.0.1, driven by curl (tests/common/api.rs), with WSS peers, a raw TURN client and
//! PyJWT where the API's effects reach signaling and the relay.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use common::api::{Api, Reply, OWNER, PASSWORD};
use common::turn::{allocate_udp, allocate_udp_authed, welcome_session, AllocateError, Project};
use common::ws::Ws;
use common::Server;

// ---------------------------------------------------------------------------------------------
// The box and its helpers

/// A fresh server with its first account made through the setup link.
struct Edge {
    server: Server,
    owner: Api,
    _tmp: tempfile::TempDir,
}

fn boot() -> Edge {
    let (tmp, server) = fresh_server();
    let owner = Api::setup(&server);
    Edge { server, owner, _tmp: tmp }
}

fn fresh_server() -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    (tmp, server)
}

impl Edge {
    fn anonymous(&self) -> Api {
        Api::new(&self.server)
    }

    fn create_project(&self, name: &str) -> String {
        let p = self.owner.post("/projects", Some(json!({"name": name}))).ok_json(201);
        p["id"].as_str().unwrap().to_owned()
    }

    /// A server-generated key of `project`: the project as the TURN helpers know it (id, kid and
    /// the private PEM the API returned once).
    fn generate_key(&self, project: &str) -> Project {
        let k = self.owner.post(&format!("/projects/{project}/keys"), None).ok_json(201);
        Project {
            id: project.to_owned(),
            kid: k["kid"].as_str().unwrap().to_owned(),
            pem: k["private_key"].as_str().unwrap().to_owned(),
        }
    }

    /// A project with one server-generated key.
    fn project_with_key(&self, name: &str) -> Project {
        let id = self.create_project(name);
        self.generate_key(&id)
    }

    fn create_account(&self, username: &str, role: &str) {
        self.owner
            .post("/accounts", Some(json!({"username": username, "password": PASSWORD, "role": role})))
            .expect(201);
    }

    /// `(id, key)` of a new API key of `api`'s account.
    fn create_api_key(api: &Api, name: &str, role: &str) -> (String, String) {
        let v = api.post("/api-keys", Some(json!({"name": name, "role": role}))).ok_json(201);
        (v["id"].as_str().unwrap().to_owned(), v["key"].as_str().unwrap().to_owned())
    }

    fn peers(&self, project: &str) -> Vec<Value> {
        array(&self.owner.get(&format!("/projects/{project}/peers")).ok_json(200))
    }

    fn audit(&self, query: &str) -> Vec<Value> {
        array(&self.owner.get(&format!("/audit{query}")).ok_json(200))
    }
}

#[track_caller]
fn array(v: &Value) -> Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected a JSON array, got {v}")).clone()
}

/// Polls `check` every 50 ms until it holds, for at most `within`.
fn eventually(within: Duration, check: impl FnMut() -> bool) -> bool {
    common::eventually(within, Duration::from_millis(50), check)
}

/// Allocate with these credentials until it gets 401, for at most 2.5 s (SPEC: within 2 s).
fn turn_refuses_within_2_s(server: &Server, user: &str, credential: &str) -> bool {
    eventually(Duration::from_millis(2500), || {
        allocate_udp(server.turn, user, credential).err() == Some(AllocateError::Code(401))
    })
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A token minted by PyJWT (a JWT library nobody here wrote) with a PKCS#8 PEM private key.
fn pyjwt_token(pem: &str, kid: &str, gid: &str, pid: &str) -> String {
    python(
        r#"
import sys, time, jwt
now = int(time.time())
claims = {"gid": sys.argv[3], "pid": sys.argv[4], "iat": now, "exp": now + 600}
print(jwt.encode(claims, sys.argv[1], algorithm="ES256", headers={"kid": sys.argv[2]}))
"#,
        &[pem, kid, gid, pid],
    )
}

/// A P-256 pair made by Python `cryptography`: `{"private": PKCS#8 PEM, "spki": PEM, "jwk": {...}}`.
fn python_key_pair() -> Value {
    serde_json::from_str(&python(
        r#"
import json
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm
k = ec.generate_private_key(ec.SECP256R1())
print(json.dumps({
    "private": k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    "spki": k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    "jwk": json.loads(ECAlgorithm.to_jwk(k.public_key())),
}))
"#,
        &[],
    ))
    .unwrap()
}

/// A WSS peer that authenticated with `token` and got its `welcome`.
#[track_caller]
fn welcomed(server: &Server, token: &str) -> (Ws, Value) {
    let mut ws = Ws::connect(server.signal, None);
    let welcome = ws.auth(token);
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

fn src(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// The session cookie of a Set-Cookie header: its value and its lowercased attributes.
fn set_cookie_of(r: &Reply) -> (String, BTreeSet<String>) {
    let set = r
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-edgebeam_session="))
        .unwrap_or_else(|| panic!("{}: no __Host-edgebeam_session cookie in {:?}", r.request, r.headers));
    let mut parts = set.split(';').map(str::trim);
    let value = parts.next().unwrap().split_once('=').unwrap().1.to_owned();
    (value, parts.map(str::to_ascii_lowercase).collect())
}

#[track_caller]
fn assert_session_cookie(r: &Reply) {
    let (value, attrs) = set_cookie_of(r);
    assert!(
        value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "session id is not 43 base64url chars: {value:?}"
    );
    for a in ["secure", "httponly", "samesite=strict", "path=/"] {
        assert!(attrs.contains(a), "{}: cookie lacks {a}: {attrs:?}", r.request);
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain") || a.starts_with("max-age")), "{attrs:?}");
}

fn allow_set(r: &Reply) -> BTreeSet<String> {
    let allow = r.header("allow").unwrap_or_else(|| panic!("{}: 405 without Allow", r.request));
    allow.split(',').map(|m| m.trim().to_ascii_uppercase()).collect()
}

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", "default-src 'self'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

#[track_caller]
fn assert_security_headers(r: &Reply) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(r.header(name), Some(*value), "{} ({}): {name}", r.request, r.status);
    }
    let hsts = r.header("strict-transport-security").unwrap_or_else(|| panic!("{}: no HSTS", r.request));
    assert!(hsts.starts_with("max-age="), "{}: HSTS {hsts:?}", r.request);
}

// ---------------------------------------------------------------------------------------------
// Who is asking

#[test]
fn setup_link_makes_the_owner_once_and_signs_them_in() {
    let (_tmp, server) = fresh_server();
    let token = Api::setup_token(&server);
    let mut api = Api::new(&server);
    let setup = |api: &Api, token: &str, username: &str| {
        api.post("/setup", Some(json!({"token": token, "username": username, "password": PASSWORD})))
    };

    setup(&api, "not-the-token", OWNER).expect_error(403, "forbidden");
    // A bad username is refused without spending the token.
    setup(&api, &token, "").expect_error(400, "bad_request");
    api.get("/me").expect_error(401, "unauthenticated");

    let r = setup(&api, &token, OWNER);
    let v = r.ok_json(201);
    assert_eq!((v["username"].as_str(), v["role"].as_str()), (Some(OWNER), Some("owner")), "{v}");
    assert_session_cookie(&r);
    api.csrf = v["csrf_token"].as_str().map(str::to_owned);
    assert!(api.csrf.as_ref().is_some_and(|c| !c.is_empty()), "{v}");

    // The operator is signed in by setup.
    let me = api.get("/me").ok_json(200);
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str(), me["auth"].as_str()),
        (Some(OWNER), Some("owner"), Some("session"))
    );
    assert_eq!(me["csrf_token"].as_str(), api.csrf.as_deref());

    // The token worked once: with an account in place, setup is over.
    setup(&Api::new(&server), &token, "second").expect_error(409, "conflict");
    Api::new(&server).login("second", PASSWORD).expect_error(401, "invalid_credentials");
}

#[test]
fn login_me_and_logout_with_a_session_cookie() {
    let edge = boot();
    edge.create_account("ada", "admin");

    let mut ada = Api::new(&edge.server);
    let r = ada.login("ada", PASSWORD);
    let v = r.ok_json(200);
    assert_eq!((v["username"].as_str(), v["role"].as_str()), (Some("ada"), Some("admin")), "{v}");
    assert!(v["csrf_token"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert_session_cookie(&r);
    assert!(ada.session_cookie().is_some(), "curl's jar keeps the cookie");

    let me = ada.get("/me").ok_json(200);
    assert_eq!(me["username"], "ada");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["auth"], "session");
    assert_eq!(me["csrf_token"].as_str(), ada.csrf.as_deref());
    assert_eq!(me["projects"], json!([]), "no memberships");

    // A wrong password and an unknown user get the very same answer.
    let wrong = Api::new(&edge.server).login("ada", "not the password at all");
    let unknown = Api::new(&edge.server).login("nobody", PASSWORD);
    wrong.expect_error(401, "invalid_credentials");
    unknown.expect_error(401, "invalid_credentials");
    assert_eq!(wrong.json(), unknown.json());
    assert!(wrong.header_all("set-cookie").is_empty(), "no session for a failure");

    // Logout: 204, the cookie cleared, and the old session is gone.
    let cookie_before = ada.session_cookie().unwrap();
    let out = ada.post("/logout", None);
    out.expect(204);
    let (_, attrs) = set_cookie_of(&out);
    assert!(attrs.contains("max-age=0"), "logout clears the cookie: {attrs:?}");
    ada.get("/me").expect_error(401, "unauthenticated");
    // Even the old cookie, sent by hand, is dead.
    Api::new(&edge.server)
        .call("GET", "/me")
        .header("Cookie", &format!("__Host-edgebeam_session={cookie_before}"))
        .send()
        .expect_error(401, "unauthenticated");
    let anon = edge.anonymous().get("/me");
    anon.expect_error(401, "unauthenticated");
    assert!(anon.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", anon.headers);
}

#[test]
fn a_session_needs_the_csrf_header_for_changes_and_an_api_key_does_not() {
    let edge = boot();
    let owner = &edge.owner;
    owner.call("POST", "/projects").json(&json!({"name": "x"})).without_csrf().send().expect_error(403, "csrf");
    owner
        .call("POST", "/projects")
        .json(&json!({"name": "x"}))
        .without_csrf()
        .header("X-CSRF-Token", "not-the-token")
        .send()
        .expect_error(403, "csrf");
    let id = edge.create_project("with-header");
    owner.get(&format!("/projects/{id}")).expect(200);
    let path = format!("/projects/{id}");
    owner.call("PATCH", &path).json(&json!({"name": "y"})).without_csrf().send().expect_error(403, "csrf");
    owner.call("DELETE", &path).without_csrf().send().expect_error(403, "csrf");
    owner.call("POST", "/logout").without_csrf().send().expect_error(403, "csrf");
    owner.get("/me").expect(200);

    // An API key needs no CSRF header, and a bearer wins over a cookie that comes with it.
    let (_, key) = Edge::create_api_key(owner, "ci", "admin");
    let keyed = Api::with_bearer(&edge.server, &key);
    keyed.post("/projects", Some(json!({"name": "by-key"}))).expect(201);
    let both = Api::with_bearer(&edge.server, &key);
    std::fs::copy(&owner.jar, &both.jar).unwrap();
    both.post("/projects", Some(json!({"name": "bearer-and-cookie"}))).expect(201);
    assert_eq!(both.get("/me").ok_json(200)["auth"], "api_key");
}

#[test]
fn failed_logins_throttle_the_account_and_the_source_even_with_the_right_password() {
    let edge = boot();
    edge.create_account("bob", "admin");

    // Five failures for bob (from 127.0.0.2): the sixth try gets 429, right password or not.
    let mut from2 = Api::from_source(&edge.server, src(2));
    for _ in 0..5 {
        from2.login("bob", "wrong password, sorry").expect_error(401, "invalid_credentials");
    }
    let throttled = from2.login("bob", "wrong password, sorry");
    throttled.expect_error(429, "rate_limited");
    let retry: u64 = throttled.header("retry-after").expect("Retry-After").parse().expect("Retry-After in seconds");
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    from2.login("bob", PASSWORD).expect_error(429, "rate_limited");
    // The account is throttled, wherever the request comes from...
    Api::from_source(&edge.server, src(5)).login("bob", PASSWORD).expect_error(429, "rate_limited");
    // ...and another account still signs in from that source (6 failures is under the source's 20).
    Api::from_source(&edge.server, src(2)).login(OWNER, PASSWORD).expect(200);

    // Twenty failures from 127.0.0.3, over twenty names: that source is throttled, for any account.
    let mut from3 = Api::from_source(&edge.server, src(3));
    for i in 0..20 {
        from3.login(&format!("nobody{i}"), "wrong password, sorry").expect_error(401, "invalid_credentials");
    }
    let r = from3.login(OWNER, PASSWORD);
    r.expect_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    // Another source is not held back by it.
    Api::from_source(&edge.server, src(4)).login(OWNER, PASSWORD).expect(200);
}

#[test]
fn viewers_read_but_change_nothing_whether_account_or_api_key() {
    let edge = boot();
    let id = edge.create_project("watched");
    edge.create_account("vic", "viewer");
    let vic = Api::signed_in(&edge.server, "vic");
    vic.get("/projects").expect(200);
    vic.get(&format!("/projects/{id}")).expect(200);
    vic.get(&format!("/projects/{id}/keys")).expect(200);
    vic.get("/stats").expect(200);
    // With the CSRF header, so the refusal is the role's.
    vic.post("/projects", Some(json!({"name": "nope"}))).expect_error(403, "forbidden");
    vic.patch(&format!("/projects/{id}"), Some(json!({"name": "nope"}))).expect_error(403, "forbidden");
    vic.delete(&format!("/projects/{id}"), None).expect_error(403, "forbidden");
    vic.post(&format!("/projects/{id}/keys"), None).expect_error(403, "forbidden");
    vic.post("/api-keys", Some(json!({"name": "k", "role": "viewer"}))).expect_error(403, "forbidden");
    vic.post("/turn/rotate-secret", None).expect_error(403, "forbidden");

    let (_, key) = Edge::create_api_key(&edge.owner, "dashboard", "viewer");
    let viewer_key = Api::with_bearer(&edge.server, &key);
    assert_eq!(viewer_key.get("/projects").ok_json(200).as_array().map(Vec::len), Some(1));
    viewer_key.post("/projects", Some(json!({"name": "nope"}))).expect_error(403, "forbidden");
    viewer_key.delete(&format!("/projects/{id}"), None).expect_error(403, "forbidden");
    edge.owner.get(&format!("/projects/{id}")).expect(200);
}

#[test]
fn api_keys_are_shown_once_work_as_bearer_and_stop_at_once_when_revoked() {
    let edge = boot();
    let created = edge.owner.post("/api-keys", Some(json!({"name": "ci", "role": "admin"}))).ok_json(201);
    let (id, key) = (created["id"].as_str().unwrap(), created["key"].as_str().unwrap());
    assert!(
        id.len() == 19 && id.starts_with("ak_") && id[3..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{id}"
    );
    assert!(
        key.len() == 47
            && key.starts_with("ebk_")
            && key[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{key}"
    );
    assert_eq!((created["name"].as_str(), created["role"].as_str()), (Some("ci"), Some("admin")));
    assert!(created["created_at"].is_i64(), "{created}");

    let listed = edge.owner.get("/api-keys");
    assert!(!listed.body.contains(&key[4..]), "the list shows the secret: {}", listed.body);
    let entry = array(&listed.ok_json(200)).into_iter().find(|k| k["id"] == id).expect("the key is listed");
    assert!(entry.get("key").is_none(), "{entry}");
    assert_eq!(
        (entry["name"].as_str(), entry["role"].as_str(), entry["account"].as_str()),
        (Some("ci"), Some("admin"), Some(OWNER))
    );
    assert!(entry["last_used_at"].is_null(), "never used yet: {entry}");

    let keyed = Api::with_bearer(&edge.server, key);
    let me = keyed.get("/me").ok_json(200);
    assert_eq!((me["auth"].as_str(), me["username"].as_str()), (Some("api_key"), Some(OWNER)), "{me}");
    assert!(me["csrf_token"].is_null(), "{me}");
    keyed.post("/projects", Some(json!({"name": "by-key"}))).expect(201);
    let used = eventually(Duration::from_secs(2), || {
        let keys = array(&edge.owner.get("/api-keys").ok_json(200));
        keys.iter().any(|k| k["id"] == id && k["last_used_at"].is_i64())
    });
    assert!(used, "last_used_at stays null after use");

    edge.owner.delete(&format!("/api-keys/{id}"), None).expect(204);
    let after = keyed.get("/me");
    after.expect_error(401, "unauthenticated");
    assert!(after.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", after.headers);
    keyed.post("/projects", Some(json!({"name": "revoked"}))).expect_error(401, "unauthenticated");
    edge.owner.delete(&format!("/api-keys/{id}"), None).expect_error(404, "not_found");
    // A made-up key of the right shape is no key.
    Api::with_bearer(&edge.server, &format!("ebk_{}", "A".repeat(43))).get("/me").expect_error(401, "unauthenticated");

    // Bad input to key creation.
    edge.owner.post("/api-keys", Some(json!({"name": "", "role": "admin"}))).expect_error(400, "bad_request");
    edge.owner.post("/api-keys", Some(json!({"name": "k", "role": "owner"}))).expect_error(400, "bad_request");
}

#[test]
fn metrics_need_a_session_or_an_api_key_of_any_role() {
    let edge = boot();
    edge.anonymous().call_root("GET", "/metrics").send().expect(401);
    Api::with_bearer(&edge.server, &format!("ebk_{}", "B".repeat(43))).call_root("GET", "/metrics").send().expect(401);
    let (_, key) = Edge::create_api_key(&edge.owner, "prometheus", "viewer");
    let r = Api::with_bearer(&edge.server, &key).call_root("GET", "/metrics").send();
    r.expect(200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", r.headers);
    assert!(r.body.lines().any(|l| l.starts_with("# TYPE ")), "not Prometheus text: {}", r.body);
    edge.owner.call_root("GET", "/metrics").send().expect(200);
    edge.anonymous().call_root("GET", "/healthz").send().expect(200);
}

#[test]
fn accounts_are_for_owners_and_the_last_owner_stays() {
    let edge = boot();
    let owner = &edge.owner;
    let made =
        owner.post("/accounts", Some(json!({"username": "ada", "password": PASSWORD, "role": "admin"}))).ok_json(201);
    assert_eq!((made["username"].as_str(), made["role"].as_str()), (Some("ada"), Some("admin")));
    assert!(made["created_at"].is_i64(), "{made}");
    assert!(!made.to_string().contains(PASSWORD), "{made}");
    owner
        .post("/accounts", Some(json!({"username": "ada", "password": PASSWORD, "role": "viewer"})))
        .expect_error(409, "conflict");
    owner
        .post("/accounts", Some(json!({"username": "x", "password": PASSWORD, "role": "king"})))
        .expect_error(400, "bad_request");
    let listed = owner.get("/accounts");
    assert!(!listed.body.contains("argon2"), "hashes are not for listing: {}", listed.body);
    let names: BTreeSet<String> =
        array(&listed.ok_json(200)).iter().map(|a| a["username"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, BTreeSet::from([OWNER.to_owned(), "ada".to_owned()]));

    // An admin does everything but accounts; so does an owner's admin API key.
    let ada = Api::signed_in(&edge.server, "ada");
    ada.get("/accounts").expect_error(403, "forbidden");
    ada.post("/accounts", Some(json!({"username": "eve", "password": PASSWORD, "role": "owner"})))
        .expect_error(403, "forbidden");
    ada.delete(&format!("/accounts/{OWNER}"), None).expect_error(403, "forbidden");
    ada.post("/projects", Some(json!({"name": "ada's"}))).expect(201);
    let (_, ada_key) = Edge::create_api_key(&ada, "ada-ci", "admin");
    let (_, owner_key) = Edge::create_api_key(owner, "owner-ci", "admin");
    Api::with_bearer(&edge.server, &owner_key).get("/accounts").expect_error(403, "forbidden");

    // The last owner cannot go; with a second owner, either can.
    owner.delete(&format!("/accounts/{OWNER}"), None).expect_error(409, "conflict");
    owner.delete("/accounts/nobody", None).expect_error(404, "not_found");
    owner.post("/accounts", Some(json!({"username": "olga", "password": PASSWORD, "role": "owner"}))).expect(201);
    owner.delete("/accounts/olga", None).expect(204);

    // Deleting an account ends its sessions and its API keys.
    owner.delete("/accounts/ada", None).expect(204);
    ada.get("/me").expect_error(401, "unauthenticated");
    Api::with_bearer(&edge.server, &ada_key).get("/me").expect_error(401, "unauthenticated");
    Api::new(&edge.server).login("ada", PASSWORD).expect_error(401, "invalid_credentials");
}

// ---------------------------------------------------------------------------------------------
// Projects and keys

#[test]
fn projects_are_created_read_patched_and_deleted_with_their_fields_validated() {
    let edge = boot();
    let owner = &edge.owner;
    let p = owner
        .post(
            "/projects",
            Some(json!({"name": "chat", "allowed_origins": ["https://app.example", "http://localhost:3000"], "max_token_ttl": 3600, "max_connections": 50})),
        )
        .ok_json(201);
    let id = p["id"].as_str().unwrap().to_owned();
    // SPEC "Command line": ids match `[A-Za-z0-9_-]{1,32}` (the CLI's are `prj_` and 16 more).
    assert!(
        (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "project id {id:?}"
    );
    assert_eq!(p["name"], "chat");
    assert_eq!(p["allowed_origins"], json!(["https://app.example", "http://localhost:3000"]));
    assert_eq!((p["max_token_ttl"].as_i64(), p["max_connections"].as_i64()), (Some(3600), Some(50)));
    assert!(p["created_at"].is_i64(), "{p}");
    let path = format!("/projects/{id}");
    assert_eq!(owner.get(&path).ok_json(200), p);

    // Defaults.
    let d = owner.post("/projects", Some(json!({"name": "plain"}))).ok_json(201);
    assert_eq!((d["allowed_origins"].clone(), d["max_token_ttl"].as_i64()), (json!([]), Some(86400)), "{d}");
    assert!(d["max_connections"].is_null(), "{d}");
    let ids: Vec<Value> = array(&owner.get("/projects").ok_json(200)).iter().map(|p| p["id"].clone()).collect();
    assert!(ids.contains(&json!(id)) && ids.contains(&d["id"]) && ids.len() == 2, "{ids:?}");

    // PATCH any subset; null max_connections resets it.
    let q = owner.patch(&path, Some(json!({"name": "chat-2", "max_connections": null}))).ok_json(200);
    assert_eq!((q["name"].as_str(), q["max_token_ttl"].as_i64()), (Some("chat-2"), Some(3600)), "{q}");
    assert!(q["max_connections"].is_null(), "{q}");
    let q = owner.patch(&path, Some(json!({"allowed_origins": [], "max_token_ttl": 60}))).ok_json(200);
    assert_eq!(
        (q["allowed_origins"].clone(), q["max_token_ttl"].as_i64(), q["name"].as_str()),
        (json!([]), Some(60), Some("chat-2"))
    );
    assert_eq!(owner.get(&path).ok_json(200), q, "PATCH is stored");

    // Validation: every bad body is a 400 and changes nothing.
    for bad in [
        json!({"name": "x", "colour": "red"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": 7}),
        json!({"name": "x", "allowed_origins": ["ftp://app.example"]}),
        json!({"name": "x", "allowed_origins": ["https://app.example/path"]}),
        json!({"name": "x", "allowed_origins": ["app.example"]}),
        json!({"name": "x", "max_token_ttl": 59}),
        json!({"name": "x", "max_token_ttl": 2_592_001}),
        json!({"name": "x", "max_connections": 0}),
        json!({}),
    ] {
        owner.post("/projects", Some(bad.clone())).expect_error(400, "bad_request");
    }
    owner.patch(&path, Some(json!({"colour": "red"}))).expect_error(400, "bad_request");
    owner.patch(&path, Some(json!({"allowed_origins": ["https://a.example/x"]}))).expect_error(400, "bad_request");
    let malformed = owner
        .call("POST", "/projects")
        .header("Content-Type", "application/json")
        .bytes(b"{\"name\": ".to_vec())
        .send();
    malformed.expect_error(400, "bad_request");
    owner
        .call("PATCH", &path)
        .header("Content-Type", "application/json")
        .bytes(b"[1,".to_vec())
        .send()
        .expect_error(400, "bad_request");
    assert_eq!(owner.get(&path).ok_json(200), q, "bad PATCHes change nothing");
    assert_eq!(array(&owner.get("/projects").ok_json(200)).len(), 2, "bad POSTs make nothing");

    // Bodies: 65,536 bytes are read (and judged: the name is too long); one more is a 413.
    let sized = |n: usize| {
        let frame = "{\"name\":\"\"}".len();
        format!("{{\"name\":\"{}\"}}", "n".repeat(n - frame)).into_bytes()
    };
    let at_limit =
        owner.call("POST", "/projects").header("Content-Type", "application/json").bytes(sized(65_536)).send();
    at_limit.expect_error(400, "bad_request");
    let over = owner.call("POST", "/projects").header("Content-Type", "application/json").bytes(sized(65_537)).send();
    over.expect_error(413, "payload_too_large");
    owner
        .call("POST", "/projects")
        .header("Content-Type", "application/json")
        .bytes(vec![b' '; 1 << 20])
        .send()
        .expect_error(413, "payload_too_large");

    // Ids in the path: malformed is 400, well-formed but unknown is 404.
    for bad in ["bad.id", &"a".repeat(33), "bad!id"] {
        owner.get(&format!("/projects/{bad}")).expect_error(400, "bad_request");
    }
    owner.get("/projects/doesNotExist").expect_error(404, "not_found");
    owner.patch("/projects/doesNotExist", Some(json!({"name": "x"}))).expect_error(404, "not_found");
    owner.delete("/projects/doesNotExist", None).expect_error(404, "not_found");

    owner.delete(&path, None).expect(204);
    owner.get(&path).expect_error(404, "not_found");
    owner.delete(&path, None).expect_error(404, "not_found");
    assert_eq!(array(&owner.get("/projects").ok_json(200)).len(), 1);
}

#[test]
fn keys_are_generated_once_or_registered_from_pem_and_jwk_and_deleted() {
    use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let edge = boot();
    let owner = &edge.owner;
    let id = edge.create_project("keys");
    let keys = format!("/projects/{id}/keys");

    // Server-generated: the private key comes back this once, as PKCS#8 PEM of the public key's pair.
    let made = owner.post(&keys, None).ok_json(201);
    let kid = made["kid"].as_str().unwrap();
    assert!(
        kid.len() == 20 && kid.starts_with("kid_") && kid[4..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{kid}"
    );
    let private = made["private_key"].as_str().unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "{private}");
    let secret = p256::SecretKey::from_pkcs8_pem(private).expect("PKCS#8 P-256");
    let public = p256::PublicKey::from_public_key_pem(made["public_key"].as_str().unwrap()).expect("SPKI P-256");
    assert_eq!(secret.public_key(), public, "the pair matches");
    // `{}` is the same request as no body.
    let made_too = owner.post(&keys, Some(json!({}))).ok_json(201);
    assert!(made_too["private_key"].is_string(), "{made_too}");

    // Registered: PEM and JWK made by Python `cryptography`; no private key in the answer.
    let pem_pair = python_key_pair();
    let by_pem = owner.post(&keys, Some(json!({"public_key": pem_pair["spki"]}))).ok_json(201);
    assert!(by_pem.get("private_key").is_none(), "{by_pem}");
    let jwk_pair = python_key_pair();
    let by_jwk = owner.post(&keys, Some(json!({"public_key": jwk_pair["jwk"]}))).ok_json(201);
    assert!(by_jwk.get("private_key").is_none(), "{by_jwk}");
    // Each verifies tokens its private half signs.
    for (pair, added) in [(&pem_pair, &by_pem), (&jwk_pair, &by_jwk)] {
        let token = pyjwt_token(pair["private"].as_str().unwrap(), added["kid"].as_str().unwrap(), "room", "alice");
        welcomed(&edge.server, &token);
    }
    // Bad keys.
    for bad in [
        json!({"public_key": "not a key"}),
        json!({"public_key": {"kty": "EC", "crv": "P-384"}}),
        json!({"private_key": private}),
    ] {
        owner.post(&keys, Some(bad)).expect_error(400, "bad_request");
    }

    // The list: kid, created_at, public key; never a private key.
    let listed = owner.get(&keys);
    assert!(!listed.body.contains("PRIVATE"), "{}", listed.body);
    let list = array(&listed.ok_json(200));
    assert_eq!(list.len(), 4, "{list:?}");
    for k in &list {
        assert!(k["kid"].is_string() && k["created_at"].is_i64() && k["public_key"].is_string(), "{k}");
        assert!(k.get("private_key").is_none(), "{k}");
    }

    owner.delete(&format!("{keys}/{kid}"), None).expect(204);
    owner.delete(&format!("{keys}/{kid}"), None).expect_error(404, "not_found");
    owner.delete(&format!("{keys}/kid_0000000000000000"), None).expect_error(404, "not_found");
    // Another project's kid is not this project's.
    let other = edge.create_project("other");
    let by_pem_kid = by_pem["kid"].as_str().unwrap();
    owner.delete(&format!("/projects/{other}/keys/{by_pem_kid}"), None).expect_error(404, "not_found");
    assert_eq!(array(&owner.get(&keys).ok_json(200)).len(), 3);
    owner.post("/projects/doesNotExist/keys", None).expect_error(404, "not_found");
}

#[test]
fn a_key_made_through_the_api_verifies_a_pyjwt_token_at_once() {
    let edge = boot();
    let id = edge.create_project("instant");
    let made = edge.owner.post(&format!("/projects/{id}/keys"), None).ok_json(201);
    let token = pyjwt_token(made["private_key"].as_str().unwrap(), made["kid"].as_str().unwrap(), "room", "alice");
    // No sleep: SPEC "A key made or added by any path verifies tokens at once".
    let (_ws, welcome) = welcomed(&edge.server, &token);
    assert_eq!(welcome["self"], json!({"gid": "room", "pid": "alice"}));
    assert!(welcome["ice_servers"].as_array().is_some_and(|s| !s.is_empty()), "{welcome}");
}

// ---------------------------------------------------------------------------------------------
// Live state: peers, kicks, revocation

#[test]
fn kick_closes_the_session_with_4003_and_takes_its_turn_allocation_and_credentials() {
    let edge = boot();
    let project = edge.project_with_key("kick");
    let (mut ws, user, credential) = welcome_session(&edge.server, &project, "room", "alice", 600);
    let mut held =
        allocate_udp_authed(edge.server.turn, &user, &credential).expect("the welcome's credentials allocate");

    let listed = eventually(Duration::from_secs(2), || {
        let peers = edge.peers(&project.id);
        peers.len() == 1 && peers[0]["allocations"] == 1
    });
    let peers = edge.peers(&project.id);
    assert!(listed, "peers list never showed alice with one allocation: {peers:?}");
    let alice = &peers[0];
    assert_eq!((alice["gid"].as_str(), alice["pid"].as_str()), (Some("room"), Some("alice")));
    assert!(alice["connected_at"].is_i64() && alice["expires_at"].is_i64(), "{alice}");

    edge.owner.delete(&format!("/projects/{}/peers/room/alice", project.id), None).expect(204);
    assert_eq!(ws.close_code(Duration::from_secs(2)), 4003);
    assert!(turn_refuses_within_2_s(&edge.server, &user, &credential), "kicked credentials still allocate");
    // The allocation it held is gone: its own requests are refused.
    let peer = std::net::SocketAddr::from(([10, 1, 2, 3], 5000));
    assert!(
        eventually(Duration::from_secs(2), || held.channel_bind(0x4000, peer) == Err(AllocateError::Code(401))),
        "the kicked peer's allocation still answers"
    );
    assert!(eventually(Duration::from_secs(2), || edge.peers(&project.id).is_empty()), "{:?}", edge.peers(&project.id));

    // Kicking a peer that is not there is still 204; malformed ids are 400.
    edge.owner.delete(&format!("/projects/{}/peers/room/nobody", project.id), None).expect(204);
    edge.owner.delete(&format!("/projects/{}/peers/room/bad!pid", project.id), None).expect_error(400, "bad_request");
    edge.owner.delete("/projects/doesNotExist/peers/room/alice", None).expect_error(404, "not_found");
}

#[test]
fn deleting_a_key_closes_its_sessions_with_4003_and_deletes_their_allocations() {
    let edge = boot();
    let project = edge.project_with_key("revoke");
    let kept = edge.generate_key(&project.id);
    let (mut ws, user, credential) = welcome_session(&edge.server, &project, "room", "alice", 600);
    let (mut other_ws, other_user, other_credential) = welcome_session(&edge.server, &kept, "room", "bob", 600);
    let mut held = allocate_udp_authed(edge.server.turn, &user, &credential).expect("allocates");
    assert!(
        eventually(Duration::from_secs(2), || edge
            .peers(&project.id)
            .iter()
            .any(|p| p["pid"] == "alice" && p["allocations"] == 1)),
        "{:?}",
        edge.peers(&project.id)
    );

    edge.owner.delete(&format!("/projects/{}/keys/{}", project.id, project.kid), None).expect(204);
    assert_eq!(ws.close_code(Duration::from_secs(2)), 4003);
    // The allocation is gone: its own requests are refused, and the list no longer shows it.
    let peer = std::net::SocketAddr::from(([10, 1, 2, 3], 5000));
    assert!(
        eventually(Duration::from_millis(2500), || held.channel_bind(0x4000, peer) == Err(AllocateError::Code(401))),
        "the deleted key's allocation still answers"
    );
    assert!(turn_refuses_within_2_s(&edge.server, &user, &credential));
    let peers = edge.peers(&project.id);
    assert!(!peers.iter().any(|p| p["pid"] == "alice"), "{peers:?}");

    // The other key's peer is untouched.
    assert!(matches!(
        other_ws.recv_within(Duration::from_millis(300)),
        common::ws::Got::Timeout | common::ws::Got::Json(_)
    ));
    assert!(allocate_udp(edge.server.turn, &other_user, &other_credential).is_ok());
    // And the deleted kid's tokens are refused at auth.
    let mut late = Ws::connect(edge.server.signal, None);
    late.send(json!({"type": "auth", "token": project.token("room", "carol", 600)}));
    assert_eq!(late.close_code(Duration::from_secs(2)), 4002);
}

#[test]
fn deleting_a_project_closes_its_sessions_with_4003() {
    let edge = boot();
    let doomed = edge.project_with_key("doomed");
    let kept = edge.project_with_key("kept");
    let (mut ws, _, _) = welcome_session(&edge.server, &doomed, "room", "alice", 600);
    let (mut other, _, _) = welcome_session(&edge.server, &kept, "room", "bob", 600);
    edge.owner.delete(&format!("/projects/{}", doomed.id), None).expect(204);
    assert_eq!(ws.close_code(Duration::from_secs(2)), 4003);
    other.send(json!({"type": "ping", "id": 1}));
    assert_eq!(other.json()["type"], "pong", "another project's session lives on");
}

#[test]
fn members_see_and_act_on_their_projects_only() {
    let edge = boot();
    let owner = &edge.owner;
    let (p1, p2) = (edge.create_project("one"), edge.create_project("two"));
    edge.create_account("mia", "admin");
    let members = format!("/projects/{p1}/members");

    let m = owner.post(&members, Some(json!({"username": "mia", "role": "viewer"}))).ok_json(201);
    assert_eq!((m["username"].as_str(), m["role"].as_str()), (Some("mia"), Some("viewer")));
    assert!(m["added_at"].is_i64(), "{m}");
    let mia = Api::signed_in(&edge.server, "mia");
    let seen: Vec<Value> = array(&mia.get("/projects").ok_json(200)).iter().map(|p| p["id"].clone()).collect();
    assert_eq!(seen, vec![json!(p1)]);
    mia.get(&format!("/projects/{p1}")).expect(200);
    mia.get(&format!("/projects/{p2}")).expect_error(404, "not_found");
    mia.get(&format!("/projects/{p2}/keys")).expect_error(404, "not_found");
    mia.post(&format!("/projects/{p1}/keys"), None).expect_error(403, "forbidden");
    assert_eq!(mia.get("/me").ok_json(200)["projects"], json!([{"id": p1, "role": "viewer"}]));

    // An existing member gets the new role (200).
    owner.post(&members, Some(json!({"username": "mia", "role": "admin"}))).expect(200);
    mia.post(&format!("/projects/{p1}/keys"), None).expect(201);
    mia.post(&format!("/projects/{p2}/keys"), None).expect_error(404, "not_found");
    let listed = array(&owner.get(&members).ok_json(200));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["username"].as_str(), listed[0]["role"].as_str()), (Some("mia"), Some("admin")));

    owner.post(&members, Some(json!({"username": OWNER, "role": "admin"}))).expect_error(400, "bad_request");
    owner.post(&members, Some(json!({"username": "ghost", "role": "admin"}))).expect_error(404, "not_found");
    owner.post(&members, Some(json!({"username": "mia", "role": "owner"}))).expect_error(400, "bad_request");

    owner.delete(&format!("{members}/mia"), None).expect(204);
    owner.delete(&format!("{members}/mia"), None).expect_error(404, "not_found");
    assert_eq!(array(&owner.get(&members).ok_json(200)), Vec::<Value>::new());
    // With no membership left, mia's account role (admin) applies to every project.
    assert_eq!(array(&mia.get("/projects").ok_json(200)).len(), 2);
    mia.get(&format!("/projects/{p2}")).expect(200);
}

#[test]
fn usage_is_zero_filled_hourly_buckets_over_the_asked_span() {
    let edge = boot();
    let id = edge.create_project("usage");
    let usage = format!("/projects/{id}/usage");
    // A past span, hour-aligned: each bucket is the hour [h, h+3600); those that overlap
    // [from, to] come back.
    let t0 = 1_700_000_000 / 3600 * 3600;
    let buckets = array(&edge.owner.get(&format!("{usage}?from={t0}&to={}", t0 + 7200)).ok_json(200));
    let hours: Vec<i64> = buckets.iter().map(|b| b["hour"].as_i64().unwrap()).collect();
    assert_eq!(hours, vec![t0, t0 + 3600, t0 + 7200]);
    for b in &buckets {
        for f in ["peak_connections", "signals", "turn_bytes", "turn_allocations"] {
            assert_eq!(b[f].as_i64(), Some(0), "{f} in {b}");
        }
    }
    // Defaults: the last 24 hours.
    let recent = array(&edge.owner.get(&usage).ok_json(200));
    assert!((24..=26).contains(&recent.len()), "{} buckets", recent.len());
    for b in &recent {
        for f in ["hour", "peak_connections", "signals", "turn_bytes", "turn_allocations"] {
            assert!(b[f].as_i64().is_some_and(|v| v >= 0), "{f} in {b}");
        }
    }
    edge.owner.get(&format!("{usage}?from={}&to={t0}", t0 + 1)).expect_error(400, "bad_request");
    edge.owner.get(&format!("{usage}?from={}&to={t0}", t0 - 94 * 86400)).expect_error(400, "bad_request");
    edge.owner.get(&format!("{usage}?from=yesterday")).expect_error(400, "bad_request");
    edge.owner.get("/projects/doesNotExist/usage").expect_error(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Records and the box

#[test]
fn the_audit_log_records_each_change_with_actor_and_source_newest_first() {
    let edge = boot();
    let owner = &edge.owner;
    Api::signed_in(&edge.server, OWNER);
    Api::new(&edge.server).login("mallory", "guess").expect(401);
    let (key_id, _) = Edge::create_api_key(owner, "ci", "admin");
    owner.delete(&format!("/api-keys/{key_id}"), None).expect(204);
    let project = edge.project_with_key("audited");
    let (_ws, _, _) = welcome_session(&edge.server, &project, "room", "alice", 600);
    owner.delete(&format!("/projects/{}/peers/room/alice", project.id), None).expect(204);
    owner.delete(&format!("/projects/{}/keys/{}", project.id, project.kid), None).expect(204);

    let rows = edge.audit("");
    let find = |action: &str| -> Value {
        rows.iter().find(|r| r["action"] == action).unwrap_or_else(|| panic!("no {action} row in {rows:#?}")).clone()
    };
    let created = find("account.create");
    assert!(created["actor"] == "setup" || created["actor"] == OWNER, "{created}");
    assert!(created["target"].as_str().is_some_and(|t| t.contains(OWNER)), "{created}");
    let failed = find("session.login_failed");
    assert_eq!((failed["actor"].as_str(), failed["target"].is_null()), (Some("mallory"), true), "{failed}");
    for (action, target) in [
        ("session.login", None),
        ("api_key.create", Some(key_id.as_str())),
        ("api_key.delete", Some(key_id.as_str())),
        ("project.create", Some(project.id.as_str())),
        ("key.create", Some(project.kid.as_str())),
        ("key.delete", Some(project.kid.as_str())),
    ] {
        let row = find(action);
        assert_eq!((row["actor"].as_str(), row["source"].as_str()), (Some(OWNER), Some("127.0.0.1")), "{row}");
        if let Some(t) = target {
            assert!(row["target"].as_str().is_some_and(|r| r.contains(t)), "{action} target: {row}");
        }
    }
    let kick = find("peer.kick");
    assert_eq!(kick["target"], format!("{}/room/alice", project.id));
    assert_eq!(kick["source"], "127.0.0.1");
    for r in &rows {
        assert!(r["id"].is_i64() && r["time"].is_i64() && r.get("detail").is_some(), "{r}");
    }
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "not newest first: {ids:?}");

    // Filters and paging.
    let by_owner = edge.audit(&format!("?actor={OWNER}"));
    assert!(!by_owner.is_empty() && by_owner.iter().all(|r| r["actor"] == OWNER), "{by_owner:?}");
    let kicks = edge.audit("?action=peer.kick");
    assert_eq!(kicks.len(), 1, "{kicks:?}");
    let mut paged = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let q = match before {
            Some(b) => format!("?limit=2&before={b}"),
            None => "?limit=2".to_owned(),
        };
        let page = edge.audit(&q);
        assert!(page.len() <= 2, "{page:?}");
        assert!(
            page.iter().all(|r| before.is_none_or(|b| r["id"].as_i64().unwrap() < b)),
            "before={before:?}: {page:?}"
        );
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap()["id"].as_i64();
        paged.extend(page.iter().map(|r| r["id"].as_i64().unwrap()));
        assert!(paged.len() <= ids.len() + 10, "paging does not end: {paged:?}");
    }
    // Paging sees what the full list saw (and perhaps newer rows: listing is not audited, but be fair).
    assert!(ids.iter().all(|id| paged.contains(id)), "{ids:?} vs {paged:?}");
    owner.get("/audit?limit=0").expect_error(400, "bad_request");
    owner.get("/audit?limit=501").expect_error(400, "bad_request");
    owner.get("/audit?before=abc").expect_error(400, "bad_request");
}

#[test]
fn stats_count_a_live_session() {
    let edge = boot();
    let project = edge.project_with_key("stats");
    let stats = edge.owner.get("/stats").ok_json(200);
    for f in ["time", "uptime_secs", "connections", "sessions", "allocations", "relayed_bytes", "relayed_packets"] {
        assert!(stats[f].as_i64().is_some_and(|v| v >= 0), "{f} in {stats}");
    }
    assert!(stats["sessions_per_project"].is_object(), "{stats}");
    let (_ws, user, credential) = welcome_session(&edge.server, &project, "room", "alice", 600);
    let _alloc = allocate_udp(edge.server.turn, &user, &credential).unwrap();
    let counted = eventually(Duration::from_secs(2), || {
        let s = edge.owner.get("/stats").ok_json(200);
        s["connections"].as_i64() >= Some(1)
            && s["sessions"].as_i64() == Some(1)
            && s["sessions_per_project"][&project.id] == 1
            && s["allocations"].as_i64() == Some(1)
    });
    assert!(counted, "{}", edge.owner.get("/stats").body);
}

#[test]
fn tls_describes_the_certificate_the_box_serves() {
    let edge = boot();
    let tls = edge.owner.get("/tls").ok_json(200);
    assert_eq!(tls["mode"], "self_signed");
    let served = common::https::request(edge.server.admin, "GET", "/healthz").unwrap().cert_fingerprint;
    let fp = tls["sha256_fingerprint"].as_str().unwrap();
    let hex: String = fp.chars().filter(|c| *c != ':').collect();
    assert!(hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{fp}");
    assert_eq!(hex.to_ascii_uppercase(), served.replace(':', ""), "the API names another certificate");
    assert!(tls["sans"].as_array().is_some_and(|s| s.iter().any(|n| n == "localhost")), "{tls}");
    assert!(tls["not_after"].is_i64() && tls["subject"].is_string() && tls["issuer"].is_string(), "{tls}");
    assert_eq!(tls["self_signed"], true, "{tls}");
    assert_eq!(tls["acme"], json!({"status": "off", "last_error": null, "next_renewal": null}));
}

#[test]
fn rotating_the_turn_secret_keeps_old_and_new_credentials_working() {
    let edge = boot();
    let project = edge.project_with_key("rotate");
    let (_ws, old_user, old_credential) = welcome_session(&edge.server, &project, "room", "alice", 600);
    edge.owner.post("/turn/rotate-secret", None).expect(204);
    let (_ws2, new_user, new_credential) = welcome_session(&edge.server, &project, "room", "bob", 600);
    assert!(allocate_udp(edge.server.turn, &new_user, &new_credential).is_ok(), "new secret");
    assert!(allocate_udp(edge.server.turn, &old_user, &old_credential).is_ok(), "the previous secret's grace period");
    assert_eq!(edge.audit("?action=turn.rotate_secret").len(), 1);
}

#[test]
fn token_inspection_decodes_claims_but_never_echoes_the_signature() {
    let edge = boot();
    let id = edge.create_project("inspect");
    let made = edge.owner.post(&format!("/projects/{id}/keys"), None).ok_json(201);
    let kid = made["kid"].as_str().unwrap();
    let token = pyjwt_token(made["private_key"].as_str().unwrap(), kid, "room", "alice");
    let signature = token.rsplit('.').next().unwrap();

    let r = edge.owner.post("/tokens/inspect", Some(json!({"token": token})));
    assert!(!r.body.contains(signature), "the signature is echoed: {}", r.body);
    let v = r.ok_json(200);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!((v["header"]["alg"].as_str(), v["header"]["kid"].as_str()), (Some("ES256"), Some(kid)), "{v}");
    assert_eq!((v["claims"]["gid"].as_str(), v["claims"]["pid"].as_str()), (Some("room"), Some("alice")), "{v}");
    assert!(v["error"].is_null(), "{v}");

    // A broken signature: decoded, invalid, and still not echoed.
    // One character early in the signature (the last one may carry only padding bits).
    let at = token.rfind('.').unwrap() + 1;
    let swapped = if token.as_bytes()[at] == b'A' { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    let r = edge.owner.post("/tokens/inspect", Some(json!({"token": forged})));
    assert!(!r.body.contains(&forged[forged.rfind('.').unwrap() + 1..]), "{}", r.body);
    let v = r.ok_json(200);
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["claims"]["pid"], "alice", "claims are decoded even when invalid: {v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");

    let v = edge.owner.post("/tokens/inspect", Some(json!({"token": "garbage"}))).ok_json(200);
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    edge.owner.post("/tokens/inspect", Some(json!({"tok": "x"}))).expect_error(400, "bad_request");
}

#[test]
fn openapi_json_is_public_openapi_3_1() {
    let (_tmp, server) = fresh_server();
    let doc = Api::new(&server).get("/openapi.json").ok_json(200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let paths: Vec<String> =
        doc["paths"].as_object().expect("paths").keys().map(|p| p.trim_start_matches("/api/v1").to_owned()).collect();
    for p in [
        "/setup",
        "/login",
        "/logout",
        "/me",
        "/accounts",
        "/api-keys",
        "/projects",
        "/audit",
        "/stats",
        "/tls",
        "/turn/rotate-secret",
        "/tokens/inspect",
    ] {
        assert!(paths.iter().any(|q| q == p), "{p} missing from {paths:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP hygiene

#[test]
fn every_response_carries_the_security_headers() {
    let edge = boot();
    let owner = &edge.owner;
    let id = edge.create_project("headers");
    let anon = edge.anonymous();
    let replies = [
        owner.get("/me"),
        owner.post("/projects", Some(json!({"name": "h"}))),
        owner.delete(&format!("/projects/{id}"), None),
        owner.post("/projects", Some(json!({"nope": 1}))),
        owner.call("POST", "/projects").without_csrf().json(&json!({"name": "h"})).send(),
        owner.get("/projects/doesNotExist"),
        owner.call("PUT", "/projects").json(&json!({})).send(),
        owner.call("POST", "/projects").header("Content-Type", "application/json").bytes(vec![b' '; 70_000]).send(),
        anon.get("/me"),
        anon.get("/openapi.json"),
        anon.post("/setup", Some(json!({"token": "x", "username": "y", "password": PASSWORD}))),
        anon.call_root("GET", "/metrics").send(),
        anon.call_root("GET", "/healthz").send(),
        anon.get("/no/such/route"),
    ];
    let statuses: BTreeSet<u16> = replies.iter().map(|r| r.status).collect();
    for r in &replies {
        assert_security_headers(r);
    }
    assert_eq!(statuses, BTreeSet::from([200, 201, 204, 400, 401, 403, 404, 405, 409, 413]), "{replies:#?}");
}

#[test]
fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let edge = boot();
    let id = edge.create_project("methods");
    for (method, path, must_allow) in [
        ("PUT", "/projects".to_owned(), &["GET", "POST"][..]),
        ("DELETE", "/me".to_owned(), &["GET"][..]),
        ("GET", "/login".to_owned(), &["POST"][..]),
        ("PUT", format!("/projects/{id}"), &["GET", "PATCH", "DELETE"][..]),
        ("PATCH", format!("/projects/{id}/keys"), &["GET", "POST"][..]),
        ("POST", "/stats".to_owned(), &["GET"][..]),
    ] {
        let r = edge.owner.call(method, &path).send();
        r.expect_error(405, "method_not_allowed");
        let allow = allow_set(&r);
        for m in must_allow {
            assert!(allow.contains(*m), "{method} {path}: Allow {allow:?} lacks {m}");
        }
        assert!(!allow.contains(method), "{method} {path}: Allow {allow:?}");
    }
}
