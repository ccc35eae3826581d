//! Arbitrary requests to the admin API of the real binary: random methods, paths built from the
//! API's own words and from junk, arbitrary JSON (and non-JSON) bodies, with and without
//! credentials. Whatever comes, no answer is a 500 (or any 5xx but a 503), every answer is the
//! API's JSON error shape or a success, and the server stays healthy with its data intact.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use proptest::prelude::*;
use serde_json::Value;

struct Answer {
    status: u16,
    body: String,
}

/// One request over a fresh TLS connection; raw bytes, so nothing about it is tidied up.
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
    let mut tls = common::https::connect(addr).unwrap();
    let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    tls.write_all(&request).unwrap_or_else(|e| panic!("{method} {path}: cannot send: {e}"));
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => panic!("{method} {path}: {e}"),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, body: body.to_owned() }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("admin"),
            Just("viewer"),
            Just("owner"),
            Just("https://a.example"),
            Just("-----BEGIN PUBLIC KEY-----")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let names = prop_oneof![
            Just("name".to_owned()),
            Just("username".to_owned()),
            Just("password".to_owned()),
            Just("role".to_owned()),
            Just("token".to_owned()),
            Just("public_key".to_owned()),
            Just("allowed_origins".to_owned()),
            Just("max_token_ttl".to_owned()),
            Just("max_connections".to_owned()),
            "[a-z_]{1,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(names, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn segment(project: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("projects".to_owned()),
        Just("keys".to_owned()),
        Just("members".to_owned()),
        Just("peers".to_owned()),
        Just("usage".to_owned()),
        Just("accounts".to_owned()),
        Just("api-keys".to_owned()),
        Just("audit".to_owned()),
        Just("tokens".to_owned()),
        Just("inspect".to_owned()),
        Just(project),
        Just("kid_0123456789abcdef".to_owned()),
        Just("ak_0123456789abcdef".to_owned()),
        Just("%00".to_owned()),
        Just("..".to_owned()),
        Just(String::new()),
        "[A-Za-z0-9_.@%-]{1,70}",
    ]
}

/// The API's path patterns (SPEC "Admin API"), each `{…}` filled with a real id or with junk.
const PATTERNS: &[&str] = &[
    "setup",
    "login",
    "logout",
    "me",
    "accounts",
    "accounts/{u}",
    "api-keys",
    "api-keys/{a}",
    "projects",
    "projects/{p}",
    "projects/{p}/keys",
    "projects/{p}/keys/{k}",
    "projects/{p}/members",
    "projects/{p}/members/{u}",
    "projects/{p}/peers",
    "projects/{p}/peers/{u}/{u}",
    "projects/{p}/usage",
    "audit",
    "stats",
    "tls",
    "turn/rotate-secret",
    "tokens/inspect",
    "openapi.json",
];

fn templated(project: String) -> impl Strategy<Value = Vec<String>> {
    let fill = prop_oneof![
        3 => Just(project),
        1 => Just("kid_0123456789abcdef".to_owned()),
        1 => Just("ak_0123456789abcdef".to_owned()),
        1 => Just("alice".to_owned()),
        2 => "[A-Za-z0-9_.@%-]{0,70}",
    ];
    (prop::sample::select(PATTERNS), prop::collection::vec(fill, 3)).prop_map(|(pattern, fills)| {
        let mut i = 0;
        pattern
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    i += 1;
                    fills[i - 1].clone()
                } else {
                    seg.to_owned()
                }
            })
            .collect()
    })
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "(limit|before|actor|action|from|to|x)=[-0-9a-z%.]{0,24}".prop_map(|q| format!("?{q}")),
        "(from|to)=-?[0-9]{1,20}&(from|to)=-?[0-9]{1,20}".prop_map(|q| format!("?{q}")),
    ]
}

#[test]
fn arbitrary_requests_never_get_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    // One connection per request, from one address: past the default handshake rate.
    let server = common::Server::start(dir.path(), &["--tls-handshakes-per-source-per-sec", "100000"]);
    let owner = common::api::Api::setup(&server);
    let project = owner.post("/projects", Some(serde_json::json!({"name": "kept"}))).json();
    let project_id = project["id"].as_str().unwrap().to_owned();
    let key = owner.post("/api-keys", Some(serde_json::json!({"name": "fuzz", "role": "admin"}))).json();
    let bearer = format!("Bearer {}", key["key"].as_str().unwrap());
    let admin = server.admin;

    let strategy = (
        prop_oneof![Just("GET"), Just("POST"), Just("PATCH"), Just("DELETE"), Just("PUT"), Just("HEAD")],
        prop_oneof![
            3 => templated(project_id.clone()),
            1 => prop::collection::vec(segment(project_id.clone()), 0..6),
        ],
        query(),
        prop_oneof![
            3 => json_value().prop_map(|v| v.to_string().into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..200),
        ],
        prop_oneof![3 => Just(true), 1 => Just(false)],
    );
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let config = ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |((method, segments, q, body, authed) in strategy)| {
        let path = format!("/api/v1/{}{q}", segments.join("/"));
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if authed {
            headers.push(("Authorization".to_owned(), bearer.clone()));
        }
        let answer = send(admin, method, &path, &headers, &body);
        prop_assert!(answer.status != 0, "{method} {path}: no answer");
        *seen.lock().unwrap().entry(answer.status).or_default() += 1;
        prop_assert!(answer.status < 500 || answer.status == 503, "{method} {path} -> {}: {}", answer.status, answer.body);
        if answer.status >= 400 && method != "HEAD" {
            let v: Value = serde_json::from_str(&answer.body).map_err(|e| TestCaseError::fail(format!("{path}: {e}: {}", answer.body)))?;
            prop_assert!(v["error"].is_string() && v["message"].is_string(), "{path}: {}", answer.body);
        }
    });

    // The run reached the handlers, not only the router and the credential check.
    let seen = seen.into_inner().unwrap();
    println!("statuses seen: {seen:?}");
    for status in [200, 400, 401, 404, 405] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }
    assert_eq!(server.get("/healthz").status, 200, "the server is healthy after the run");
    // The owner's session and API key survive; the project may have been changed or deleted by
    // the run (it was a valid target), but the account data is intact.
    assert_eq!(owner.get("/me").status, 200);
    assert!(server.stderr().lines().all(|l| !l.contains("panicked")), "{}", server.stderr());
}
