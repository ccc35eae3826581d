//! Webhooks from the outside (SPEC "Webhooks"): the real binary on 127.0.0.1 posting to a
//! receiver on loopback (allowed with `--webhook-allow 127.0.0.1`). Signatures are checked with
//! the test's own HMAC (the `hmac` crate), never the server's code; where the Python
//! `standardwebhooks` library is installed it verifies a delivery too.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use common::api::Api;
use common::turn::{allocate_udp, welcome_session, Project};
use common::Server;

// ---------------------------------------------------------------------------------------------
// A receiver: HTTP/1.1 with keep-alive, answering every request with the status set now.

#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }
}

struct Receiver {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (status.clone(), got.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, g) = (s.clone(), g.clone());
                std::thread::spawn(move || serve(conn, &s, &g));
            }
        });
        Receiver { addr, status, got }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/edgebeam", self.addr)
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn all(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// The first delivery of `kind` matching `filter`, waiting up to `within`.
    fn wait_for(&self, within: Duration, kind: &str, filter: impl Fn(&Value) -> bool) -> Option<Delivery> {
        let mut found = None;
        eventually(within, || {
            found = self.all().into_iter().find(|d| d.json()["type"] == kind && filter(&d.json()));
            found.is_some()
        });
        found
    }

    fn count_of(&self, event_id: &str) -> usize {
        self.all().iter().filter(|d| d.header("webhook-id") == event_id).count()
    }
}

fn serve(conn: TcpStream, status: &AtomicU16, got: &Mutex<Vec<Delivery>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let len: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8(body).unwrap();
        got.lock().unwrap().push(Delivery { headers, body, at: Instant::now() });
        let code = status.load(Ordering::SeqCst);
        let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\n\r\nok");
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The box

struct Edge {
    server: Server,
    owner: Api,
    tmp: tempfile::TempDir,
}

fn boot(extra: &[&str]) -> Edge {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), extra);
    let owner = Api::setup(&server);
    Edge { server, owner, tmp }
}

const ALLOW_LOOPBACK: [&str; 2] = ["--webhook-allow", "127.0.0.1"];
const FAST_RETRIES: [&str; 4] = ["--webhook-allow", "127.0.0.1", "--webhook-retry-scale", "0.01"];

impl Edge {
    fn project_with_key(&self) -> Project {
        let p = self.owner.post("/projects", Some(json!({"name": "app"}))).ok_json(201);
        let id = p["id"].as_str().unwrap().to_owned();
        let k = self.owner.post(&format!("/projects/{id}/keys"), None).ok_json(201);
        Project { id, kid: k["kid"].as_str().unwrap().to_owned(), pem: k["private_key"].as_str().unwrap().to_owned() }
    }

    /// `(webhook id, secret)`.
    fn add_webhook(&self, project: &str, url: &str, events: &[&str]) -> (String, String) {
        let w = self.owner.post(&format!("/projects/{project}/webhooks"), Some(json!({"url": url, "events": events})));
        let w = w.ok_json(201);
        (w["id"].as_str().unwrap().to_owned(), w["secret"].as_str().unwrap().to_owned())
    }
}

/// Standard Webhooks verification, written here from the spec with the `hmac` crate: some
/// `v1,` signature in the header must be HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}").
fn verifies(secret: &str, d: &Delivery) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let signed = format!("{}.{}.{}", d.header("webhook-id"), d.header("webhook-timestamp"), d.body);
    d.header("webhook-signature").split(' ').any(|sig| {
        let Some(given) = sig.strip_prefix("v1,") else { return false };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        b64.decode(given).is_ok_and(|g| mac.verify_slice(&g).is_ok())
    })
}

fn unix_now() -> i64 {
    common::turn::unix_now()
}

/// Polls `check` every 100 ms until it holds, for at most `within`; whether it came to hold.
/// (Not faster: each API call is a fresh TLS connection, and the admin listener allows a source
/// 20 handshakes a second. Arrival times are the receiver's own, so polling adds nothing to them.)
fn eventually(within: Duration, check: impl FnMut() -> bool) -> bool {
    common::eventually(within, Duration::from_millis(100), check)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn a_join_and_a_leave_arrive_signed_within_2_s() {
    let receiver = Receiver::start(200);
    let edge = boot(&ALLOW_LOOPBACK);
    let project = edge.project_with_key();
    let (wid, secret) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined", "peer.left"]);
    assert!(secret.starts_with("whsec_") && secret.len() == 50, "{secret}");

    let joined_at = Instant::now();
    let (ws, _, _) = welcome_session(&edge.server, &project, "room", "alice", 600);
    let joined = receiver.wait_for(Duration::from_secs(2), "peer.joined", |_| true).expect("peer.joined within 2 s");
    assert!(joined.at - joined_at < Duration::from_secs(2));
    let body = joined.json();
    assert_eq!(body["project"], project.id.as_str());
    assert_eq!(body["data"], json!({"gid": "room", "pid": "alice"}));
    assert_eq!(body["id"], joined.header("webhook-id"));
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert!((body["timestamp"].as_i64().unwrap() - unix_now()).abs() <= 5);
    let ts: i64 = joined.header("webhook-timestamp").parse().unwrap();
    assert!((ts - unix_now()).abs() <= 5);
    assert_eq!(joined.header("content-type"), "application/json");
    assert!(verifies(&secret, &joined), "signature of {joined:?}");

    let left_at = Instant::now();
    drop(ws);
    let left = receiver.wait_for(Duration::from_secs(2), "peer.left", |_| true).expect("peer.left within 2 s");
    assert!(left.at - left_at < Duration::from_secs(2));
    assert_eq!(left.json()["data"], json!({"gid": "room", "pid": "alice", "reason": "closed"}));
    assert!(verifies(&secret, &left));
    assert_ne!(left.header("webhook-id"), joined.header("webhook-id"));
    // A signature under another secret does not verify: the check above means something.
    assert!(!verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &left));

    // The API lists the attempts, and the endpoint's status.
    // (An attempt is written with the next batch, a few milliseconds after its answer.)
    let path = format!("/projects/{}/webhooks/{wid}/deliveries", project.id);
    let mut attempts = Vec::new();
    eventually(Duration::from_secs(2), || {
        attempts = edge.owner.get(&path).ok_json(200).as_array().unwrap().clone();
        attempts.len() == 2
    });
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["event_type"], "peer.left");
    assert_eq!(attempts[0]["status"], 200);
    assert_eq!(attempts[0]["error"], Value::Null);
    let listed = edge.owner.get(&format!("/projects/{}/webhooks", project.id)).ok_json(200);
    assert_eq!(listed[0]["id"], wid.as_str());
    assert_eq!(listed[0]["enabled"], true);
    assert!(listed[0].get("secret").is_none(), "the secret is shown once");
    let audit = edge.owner.get("/audit?action=webhook.create").ok_json(200);
    assert_eq!(audit[0]["target"], wid.as_str());

    standard_webhooks_python_verifies(&secret, &left);
    standard_webhooks_node_verifies(&secret, &joined);
}

/// The reference Node library (npm `standardwebhooks`, installed into target/ on first use, as
/// benches/signal_load does with PeerJS) verifies a real delivery; skipped, saying so, where
/// npm cannot install it.
fn standard_webhooks_node_verifies(secret: &str, d: &Delivery) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/standardwebhooks-node");
    let module = dir.join("node_modules/standardwebhooks");
    if !module.exists() {
        let _ = std::fs::create_dir_all(&dir);
        let installed = std::process::Command::new("npm")
            .args(["install", "--silent", "--prefix"])
            .arg(&dir)
            .arg("standardwebhooks@1")
            .status();
        if !matches!(installed, Ok(s) if s.success()) || !module.exists() {
            eprintln!("npm could not install standardwebhooks: the Node library check was skipped");
            return;
        }
    }
    let script = r#"
const { Webhook } = require(process.argv[1]);
const [secret, body, headers] = process.argv.slice(2);
new Webhook(secret).verify(body, JSON.parse(headers));
console.log("verified");
"#;
    let headers = json!({
        "webhook-id": d.header("webhook-id"),
        "webhook-timestamp": d.header("webhook-timestamp"),
        "webhook-signature": d.header("webhook-signature"),
    });
    let out = std::process::Command::new("node")
        .args(["-e", script])
        .arg(&module)
        .args([secret, &d.body, &headers.to_string()])
        .output();
    let Ok(out) = out else {
        eprintln!("node is not installed: the Node library check was skipped");
        return;
    };
    assert!(out.status.success(), "standardwebhooks (Node) refused: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
}

/// The reference Python library (`pip install standardwebhooks`) verifies a real delivery. It
/// is skipped, saying so, where the library is not installed.
fn standard_webhooks_python_verifies(secret: &str, d: &Delivery) {
    let script = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("missing"); sys.exit(0)
secret, body, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
Webhook(secret).verify(body, headers)
print("verified")
"#;
    let headers = json!({
        "webhook-id": d.header("webhook-id"),
        "webhook-timestamp": d.header("webhook-timestamp"),
        "webhook-signature": d.header("webhook-signature"),
    });
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret, &d.body, &headers.to_string()])
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success(), "standardwebhooks refused: {}", String::from_utf8_lossy(&out.stderr));
    if said == "missing" {
        eprintln!("python standardwebhooks is not installed: the library check was skipped");
    } else {
        assert_eq!(said, "verified");
    }
}

#[test]
fn keys_kicks_and_turn_allocations_are_reported() {
    let receiver = Receiver::start(200);
    let edge = boot(&ALLOW_LOOPBACK);
    let project = edge.project_with_key();
    let all = [
        "peer.joined",
        "peer.left",
        "peer.kicked",
        "key.created",
        "key.deleted",
        "turn.allocation.created",
        "turn.allocation.deleted",
    ];
    let (_, secret) = edge.add_webhook(&project.id, &receiver.url(), &all);
    let k = edge.owner.post(&format!("/projects/{}/keys", project.id), None).ok_json(201);
    let kid = k["kid"].as_str().unwrap();
    let created = receiver.wait_for(Duration::from_secs(2), "key.created", |_| true).expect("key.created");
    assert_eq!(created.json()["data"], json!({"kid": kid}));
    edge.owner.delete(&format!("/projects/{}/keys/{kid}", project.id), None).expect(204);
    receiver.wait_for(Duration::from_secs(2), "key.deleted", |b| b["data"]["kid"] == kid).expect("key.deleted");

    let (_ws, user, credential) = welcome_session(&edge.server, &project, "room", "bob", 600);
    allocate_udp(edge.server.turn, &user, &credential).unwrap();
    let alloc = receiver.wait_for(Duration::from_secs(2), "turn.allocation.created", |_| true).expect("created");
    assert_eq!(alloc.json()["data"]["pid"], "bob");
    assert_eq!(alloc.json()["data"]["transport"], "udp");
    edge.owner.delete(&format!("/projects/{}/peers/room/bob", project.id), None).expect(204);
    receiver.wait_for(Duration::from_secs(2), "peer.kicked", |b| b["data"]["pid"] == "bob").expect("peer.kicked");
    let left = receiver.wait_for(Duration::from_secs(2), "peer.left", |_| true).expect("peer.left");
    assert_eq!(left.json()["data"]["reason"], "kicked");
    let gone = receiver.wait_for(Duration::from_secs(2), "turn.allocation.deleted", |_| true).expect("deleted");
    assert_eq!(gone.json()["data"]["reason"], "kicked");
    assert!(gone.json()["data"]["bytes_relayed"].is_u64());
    for d in receiver.all() {
        assert!(verifies(&secret, &d));
    }
    // In order: each event's webhook-id once, and the kick before its leave.
    let types: Vec<String> = receiver.all().iter().map(|d| d.json()["type"].as_str().unwrap().to_owned()).collect();
    let kicked = types.iter().position(|t| t == "peer.kicked").unwrap();
    let left = types.iter().position(|t| t == "peer.left").unwrap();
    assert!(kicked < left, "{types:?}");
}

#[test]
fn a_receiver_answering_503_gets_retries_until_it_answers_200() {
    let receiver = Receiver::start(503);
    let edge = boot(&FAST_RETRIES);
    let project = edge.project_with_key();
    let (wid, _) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined"]);
    let test = format!("/projects/{}/webhooks/{wid}/test", project.id);
    let event = edge.owner.post(&test, None).ok_json(202)["event_id"].as_str().unwrap().to_owned();
    // Scaled by 0.01: retries after 50 ms, 300 ms, 1.2 s.
    let retried = eventually(Duration::from_secs(5), || receiver.count_of(&event) >= 4);
    assert!(retried, "attempts: {}", receiver.count_of(&event));
    let times: Vec<Instant> = receiver.all().iter().map(|d| d.at).collect();
    assert!(times[2] - times[1] > times[1] - times[0], "the delays grow: {times:?}");
    receiver.answer(200);
    let deliveries = format!("/projects/{}/webhooks/{wid}/deliveries", project.id);
    let ok = eventually(Duration::from_secs(10), || edge.owner.get(&deliveries).ok_json(200)[0]["status"] == 200);
    assert!(ok, "delivered once the receiver answers 200");
    let attempts = edge.owner.get(&deliveries).ok_json(200);
    let attempts = attempts.as_array().unwrap();
    assert!(attempts.iter().skip(1).all(|a| a["status"] == 503 && a["event_id"] == event.as_str()));
    assert_eq!(attempts.last().unwrap()["attempt"], 1);
    let metrics = edge.server.metrics().body;
    assert!(metrics.contains("\nedgebeam_webhook_delivered_total 1\n"), "{metrics}");
    assert!(!metrics.contains("\nedgebeam_webhook_failed_total 0\n"), "{metrics}");
}

#[test]
fn an_event_queued_at_sigkill_is_delivered_after_restart_with_the_same_id() {
    let receiver = Receiver::start(503);
    let edge = boot(&FAST_RETRIES);
    let project = edge.project_with_key();
    let (wid, secret) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined"]);
    let test = format!("/projects/{}/webhooks/{wid}/test", project.id);
    let event = edge.owner.post(&test, None).ok_json(202)["event_id"].as_str().unwrap().to_owned();
    assert!(eventually(Duration::from_secs(3), || receiver.count_of(&event) > 0), "a first attempt");
    let Edge { server, owner: _, tmp } = edge;
    server.kill9();
    receiver.answer(200);
    let before = receiver.all().len();
    let data = tmp.path().join("data");
    let _server = Server::start(&data, &FAST_RETRIES);
    let mut delivered = None;
    eventually(Duration::from_secs(10), || {
        delivered = receiver.all().into_iter().skip(before).find(|d| d.header("webhook-id") == event);
        delivered.is_some()
    });
    let d = delivered.expect("the queued event is delivered after the restart");
    assert_eq!(d.json()["id"], event.as_str());
    assert_eq!(d.json()["type"], "webhook.test");
    assert!(verifies(&secret, &d));
}

#[test]
fn a_410_disables_the_endpoint() {
    let receiver = Receiver::start(410);
    let edge = boot(&FAST_RETRIES);
    let project = edge.project_with_key();
    let (wid, _) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined", "peer.left"]);
    let test = format!("/projects/{}/webhooks/{wid}/test", project.id);
    edge.owner.post(&test, None).expect(202);
    let one = format!("/projects/{}/webhooks/{wid}", project.id);
    let disabled = eventually(Duration::from_secs(3), || edge.owner.get(&one).ok_json(200)["enabled"] == false);
    assert!(disabled, "disabled after a 410");
    let status = edge.owner.get(&one).ok_json(200);
    assert!(status["disabled_reason"].as_str().unwrap().contains("410"), "{status}");
    edge.owner.post(&test, None).expect_error(409, "conflict");
    let _ws = welcome_session(&edge.server, &project, "room", "carol", 600);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.all().len(), 1, "nothing goes to a disabled endpoint");
}

#[test]
fn loopback_and_metadata_targets_are_refused_without_webhook_allow() {
    let receiver = Receiver::start(200);
    let edge = boot(&[]);
    let project = edge.project_with_key();
    let path = format!("/projects/{}/webhooks", project.id);
    for url in [
        receiver.url(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://localhost:9/".to_owned(),
        "http://[::1]:9/".to_owned(),
        "http://0.0.0.0:9/".to_owned(),
        "https://[fe80::1]/".to_owned(),
    ] {
        let r = edge.owner.post(&path, Some(json!({"url": url, "events": ["peer.joined"]})));
        r.expect_error(400, "bad_request");
        assert!(r.json()["message"].as_str().unwrap().contains("webhook_allow"), "{url}: {:?}", r.json());
    }
    // A bad scheme, no events, an unknown event, an unknown field.
    for body in [
        json!({"url": "ftp://example.com/", "events": ["peer.joined"]}),
        json!({"url": "https://example.com/", "events": []}),
        json!({"url": "https://example.com/", "events": ["peer.teleported"]}),
        json!({"url": "https://example.com/", "events": ["peer.joined"], "x": 1}),
    ] {
        edge.owner.post(&path, Some(body)).expect_error(400, "bad_request");
    }
    assert!(edge.owner.get(&path).ok_json(200).as_array().unwrap().is_empty());
    // Any other address is fine (a documentation address here: nothing is sent to it).
    edge.owner.post(&path, Some(json!({"url": "https://192.0.2.10/", "events": ["key.created"]}))).expect(201);
}

#[test]
fn a_rotated_secret_signs_beside_the_previous_one() {
    let receiver = Receiver::start(200);
    let edge = boot(&ALLOW_LOOPBACK);
    let project = edge.project_with_key();
    let (wid, old) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined"]);
    let rotate = format!("/projects/{}/webhooks/{wid}/rotate-secret", project.id);
    let rotated = edge.owner.post(&rotate, None).ok_json(200);
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_until"].as_i64().unwrap() > unix_now() + 86_000);
    assert_ne!(new, old);
    let test = format!("/projects/{}/webhooks/{wid}/test", project.id);
    edge.owner.post(&test, None).expect(202);
    let d = receiver.wait_for(Duration::from_secs(2), "webhook.test", |_| true).expect("the test event");
    assert_eq!(d.header("webhook-signature").split(' ').count(), 2, "{d:?}");
    assert!(verifies(&old, &d) && verifies(&new, &d));
    let audit = edge.owner.get("/audit?action=webhook.rotate_secret").ok_json(200);
    assert_eq!(audit[0]["target"], wid.as_str());
    edge.owner.delete(&format!("/projects/{}/webhooks/{wid}", project.id), None).expect(204);
    edge.owner.post(&test, None).expect_error(404, "not_found");
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let receiver = Receiver::start(503);
    let edge = boot(&["--webhook-allow", "127.0.0.1", "--webhook-queue-max", "3"]);
    let project = edge.project_with_key();
    let (wid, _) = edge.add_webhook(&project.id, &receiver.url(), &["peer.joined"]);
    let test = format!("/projects/{}/webhooks/{wid}/test", project.id);
    // The first is attempted (503: retried in 5 s) while the five behind it queue up.
    let send = || edge.owner.post(&test, None).ok_json(202)["event_id"].as_str().unwrap().to_owned();
    let first = send();
    assert!(eventually(Duration::from_secs(3), || receiver.count_of(&first) > 0));
    let events: Vec<String> = std::iter::once(first).chain((0..5).map(|_| send())).collect();
    let status = edge.owner.get(&format!("/projects/{}/webhooks/{wid}", project.id)).ok_json(200);
    assert_eq!((status["queued"].as_i64(), status["dropped"].as_i64()), (Some(3), Some(3)), "{status}");
    let metrics = edge.server.metrics().body;
    assert!(metrics.contains("\nedgebeam_webhook_dropped_total 3\n"), "{metrics}");
    // What is left is the newest three, delivered in order once the receiver answers.
    receiver.answer(200);
    eventually(Duration::from_secs(10), || events[3..].iter().all(|e| receiver.count_of(e) > 0));
    let ids: Vec<String> = receiver.all().iter().map(|d| d.header("webhook-id").to_owned()).collect();
    let delivered: Vec<&String> = ids.iter().filter(|id| events[1..].contains(id)).collect();
    assert_eq!(delivered, events[3..].iter().collect::<Vec<_>>(), "only the newest three, in order");
}

#[test]
fn leaves_at_a_graceful_shutdown_are_kept_and_delivered_after_the_restart() {
    let receiver = Receiver::start(200);
    let edge = boot(&ALLOW_LOOPBACK);
    let project = edge.project_with_key();
    edge.add_webhook(&project.id, &receiver.url(), &["peer.joined", "peer.left"]);
    let (_ws, _, _) = welcome_session(&edge.server, &project, "room", "dave", 600);
    receiver.wait_for(Duration::from_secs(2), "peer.joined", |_| true).expect("peer.joined");
    // The receiver stops answering, so the leave can only reach it from the store.
    receiver.answer(503);
    let Edge { server, owner: _, tmp } = edge;
    let (status, _) = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    receiver.answer(200);
    let _server = Server::start(&tmp.path().join("data"), &FAST_RETRIES);
    let left = receiver
        .wait_for(Duration::from_secs(10), "peer.left", |b| b["data"]["reason"] == "shutdown")
        .expect("the leave written at shutdown is delivered after the restart");
    assert_eq!(left.json()["data"]["pid"], "dave");
}
