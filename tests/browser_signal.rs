//! Two headless Chromium pages load the SDK from the server, authenticate with tokens minted by
//! PyJWT, and open an RTCDataChannel negotiated through the hub.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::process::Command;

use common::cdp::Browser;
use common::Server;
use serde_json::json;

use common::edgebeam_ok as ok;

fn pyjwt(pem: &str, kid: &str, gid: &str, pid: &str, ap: Option<(&str, &str)>) -> String {
    let script = r#"
import sys, time, json, jwt
claims = {"gid": sys.argv[3], "pid": sys.argv[4], "iat": int(time.time()), "exp": int(time.time()) + 600}
if sys.argv[5]:
    claims["ap"] = json.loads(sys.argv[5])
print(jwt.encode(claims, open(sys.argv[1]).read(), algorithm="ES256", headers={"kid": sys.argv[2]}))
"#;
    let ap = ap.map(|(g, p)| json!({"group_id": g, "peer_id": p}).to_string()).unwrap_or_default();
    let out = Command::new("python3").args(["-c", script, pem, kid, gid, pid, &ap]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Setup {
    _tmp: tempfile::TempDir,
    server: Server,
    pem: String,
    kid: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let project = ok(&["project", "create", "--data-dir", d, "browser"]);
    let pem = tmp.path().join("k.pem").to_str().unwrap().to_owned();
    let kid = ok(&["key", "create", "--data-dir", d, "--project", &project, "--out", &pem]);
    let server = Server::start(&data, &[]);
    Setup { _tmp: tmp, server, pem, kid }
}

/// Connects the page's SDK client as `window.eb`; returns the welcome.
fn join(browser: &mut Browser, page: &common::cdp::Page, token: &str) -> serde_json::Value {
    let js = format!(
        r#"(async () => {{
            const {{ Edgebeam }} = await import("/sdk/edgebeam.js");
            window.eb = new Edgebeam({{ url: `wss://${{location.host}}/v1/signal`, getToken: () => {token:?} }});
            window.presence = [];
            eb.addEventListener("presence", (e) => presence.push(e.event + ":" + e.peer.pid));
            return await eb.connect();
        }})()"#
    );
    browser.eval(page, &js)
}

#[test]
fn two_browsers_open_a_data_channel_through_the_hub() {
    let s = setup();
    let url = format!("https://127.0.0.1:{}/demo", s.server.signal.port());
    let mut browser = Browser::launch();
    let a = browser.open(&url);
    let b = browser.open(&url);
    let wb = join(&mut browser, &b, &pyjwt(&s.pem, &s.kid, "room", "bob", None));
    assert_eq!(wb["self"]["pid"], "bob");
    browser.eval(
        &b,
        r#"window.received = new Promise((resolve) => eb.addEventListener("call", ({ call }) =>
            call.addEventListener("datachannel", ({ channel }) => { channel.onmessage = (e) => resolve(e.data); })));
           true"#,
    );
    let wa = join(&mut browser, &a, &pyjwt(&s.pem, &s.kid, "room", "alice", None));
    assert_eq!(wa["peers"], json!([{"gid": "room", "pid": "bob"}]));
    let sent = browser.eval(
        &a,
        r#"(async () => {
            const call = eb.call({ gid: "room", pid: "bob" });
            const ch = call.createDataChannel("chat");
            await Promise.race([
                new Promise((r) => { ch.onopen = r; }),
                new Promise((_, j) => setTimeout(() => j(new Error("data channel did not open: " + call.pc.connectionState)), 15000)),
            ]);
            ch.send("hello over WebRTC");
            // The open channel is the proof; RTCPeerConnection.connectionState can lag behind it
            // in headless Chromium, so it is not asserted.
            return ch.readyState;
        })()"#,
    );
    assert_eq!(sent, json!("open"));
    let got = browser.eval(
        &b,
        r#"Promise.race([window.received, new Promise((_, j) => setTimeout(() => j(new Error("no message")), 15000))])"#,
    );
    assert_eq!(got, json!("hello over WebRTC"));
    assert_eq!(browser.eval(&b, "presence.join(',')"), json!("join:alice"));
}

#[test]
fn browsers_whose_policies_do_not_match_cannot_reach_or_see_each_other() {
    let s = setup();
    let url = format!("https://127.0.0.1:{}/demo", s.server.signal.port());
    let mut browser = Browser::launch();
    let a = browser.open(&url);
    let b = browser.open(&url);
    // Bob only allows peers named "carol"; alice allows her whole group.
    let wb = join(&mut browser, &b, &pyjwt(&s.pem, &s.kid, "room", "bob", Some(("room", "carol"))));
    assert_eq!(wb["peers"], json!([]));
    let wa = join(&mut browser, &a, &pyjwt(&s.pem, &s.kid, "room", "alice", None));
    assert_eq!(wa["peers"], json!([]), "alice does not see bob");
    let err = browser
        .eval(&a, r#"eb.send({ gid: "room", pid: "bob" }, { hello: 1 }).then(() => "delivered", (e) => e.code)"#);
    assert_eq!(err, json!("peer_unavailable"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(browser.eval(&b, "presence.length"), json!(0), "bob saw no presence of alice");
    assert_eq!(browser.eval(&b, "eb.peers.size"), json!(0));
}

#[test]
fn the_sdk_is_served_with_cors_open_and_the_demo_under_the_csp() {
    let s = setup();
    let sdk = common::https::request(s.server.signal, "GET", "/sdk/edgebeam.js").unwrap();
    assert_eq!(sdk.status, 200);
    assert_eq!(sdk.header("access-control-allow-origin"), Some("*"));
    assert!(sdk.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(sdk.body.contains("export class Edgebeam"));
    let types = common::https::request(s.server.signal, "GET", "/sdk/edgebeam.d.ts").unwrap();
    assert_eq!(types.status, 200);
    let demo = common::https::request(s.server.signal, "GET", "/demo").unwrap();
    assert_eq!(demo.status, 200);
    assert_eq!(demo.header("content-security-policy"), Some("default-src 'self'"));
    assert!(demo.body.contains("/demo/demo.js"));
}
