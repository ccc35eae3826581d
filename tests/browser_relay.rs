//! Two headless Chromium pages with `forceRelay` (iceTransportPolicy "relay") open an
//! RTCDataChannel whose every packet goes through edgebeam's TURN relay: the browser makes the
//! allocations, permissions and channel bindings itself, with the REST credentials of the welcome.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cdp::{Browser, Page};
use common::edgebeam_ok as ok;
use common::Server;
use serde_json::{json, Value};

const MESSAGES: usize = 20;
const MESSAGE_BYTES: usize = 1024;

/// A token for (gid, pid) that expires `ttl` seconds from now, minted by PyJWT.
fn pyjwt(pem: &str, kid: &str, gid: &str, pid: &str, ttl: u64) -> String {
    let script = r#"
import sys, time, jwt
claims = {"gid": sys.argv[3], "pid": sys.argv[4], "iat": int(time.time()), "exp": int(time.time()) + int(sys.argv[5])}
print(jwt.encode(claims, open(sys.argv[1]).read(), algorithm="ES256", headers={"kid": sys.argv[2]}))
"#;
    let ttl = ttl.to_string();
    let out = Command::new("python3").args(["-c", script, pem, kid, gid, pid, &ttl]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Two pages in one call over the relay, with the data channel open and one batch of messages
/// delivered.
struct RelayedCall {
    tmp: tempfile::TempDir,
    server: Server,
    browser: Browser,
    a: Page,
    b: Page,
    project: String,
    kid: String,
}

impl RelayedCall {
    fn data_dir(&self) -> String {
        self.tmp.path().join("data").to_str().unwrap().to_owned()
    }

    /// The value of the sample `name` (with its labels, if any) on GET /metrics. A per-project
    /// series appears once the turn thread first publishes the project's usage (every 2 s), so
    /// a missing sample reads as 0.
    fn metric(&self, name: &str) -> u64 {
        let text = self.server.metrics().body;
        assert!(text.contains("\nedgebeam_turn_allocations "), "no TURN metrics on /metrics:\n{text}");
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    /// Polls /metrics until `ok(value)` holds for `name`, up to `timeout`; returns the last value.
    fn wait_metric(&self, name: &str, timeout: Duration, ok: impl Fn(u64) -> bool) -> (u64, Duration) {
        let start = Instant::now();
        loop {
            let v = self.metric(name);
            if ok(v) || start.elapsed() > timeout {
                return (v, start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Connects the page's SDK client as `window.eb`, relay only, with `get_token` (a JS expression
/// whose value is the `getToken` function); returns the welcome.
fn join(browser: &mut Browser, page: &Page, get_token: &str) -> Value {
    let js = format!(
        r#"(async () => {{
            const {{ Edgebeam }} = await import("/sdk/edgebeam.js");
            window.eb = new Edgebeam({{
                url: `wss://${{location.host}}/v1/signal`, getToken: {get_token}, forceRelay: true,
            }});
            window.closeCode = null;
            eb.addEventListener("close", (e) => {{ window.closeCode = e.code; }});
            return await eb.connect();
        }})()"#
    );
    browser.eval(page, &js)
}

/// The selected candidate pair of the page's call, from RTCPeerConnection.getStats.
fn selected_pair(browser: &mut Browser, page: &Page) -> Value {
    browser.eval(
        page,
        r#"(async () => {
            const stats = await window.call.pc.getStats();
            let pair = null;
            stats.forEach((s) => {
                if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
            });
            if (!pair) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
            if (!pair) return null;
            const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
            return {
                local: local.candidateType, relayProtocol: local.relayProtocol || null, localAddress: local.address,
                localPort: local.port,
                remote: remote.candidateType, remoteAddress: remote.address,
            };
        })()"#,
    )
}

/// Installs `window.probe(text)` in the receiving page: resolves true when a message equal to
/// `text` arrives within `ms`, false otherwise.
const PROBE: &str = r#"
    window.probe = (text, ms) => new Promise((resolve) => {
        if (window.received.includes(text)) return resolve(true);
        const t = setTimeout(() => resolve(false), ms);
        window.waiters.push((m) => { if (m === text) { clearTimeout(t); resolve(true); } });
    });
    true"#;

/// Each page gets one token of 600 s.
fn relayed_call() -> RelayedCall {
    relayed_call_with(|mint| format!("() => {:?}", mint(600)))
}

/// `get_token(mint)` is the JS `getToken` of a page, where `mint(ttl)` mints a token for that
/// page's peer expiring `ttl` seconds from now.
fn relayed_call_with(get_token: impl Fn(&dyn Fn(u64) -> String) -> String) -> RelayedCall {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let project = ok(&["project", "create", "--data-dir", d, "relay"]);
    let pem = tmp.path().join("k.pem").to_str().unwrap().to_owned();
    let kid = ok(&["key", "create", "--data-dir", d, "--project", &project, "--out", &pem]);
    // The relayed transport addresses are 127.0.0.1:PORT (the server listens on loopback), so
    // each browser's peer (the other browser's relayed candidate) is a loopback address, which
    // the relay refuses by default (SPEC "TURN": 403 for loopback peers). The operator's allow
    // list re-opens it, as a test deployment on one host would.
    let server = Server::start(&data, &["--turn-allow-peers", "127.0.0.0/8"]);
    let url = format!("https://127.0.0.1:{}/demo", server.signal.port());
    let mut browser = Browser::launch();
    let a = browser.open(&url);
    let b = browser.open(&url);

    let wb = join(&mut browser, &b, &get_token(&|ttl| pyjwt(&pem, &kid, "room", "bob", ttl)));
    let urls: Vec<&str> = wb["ice_servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["urls"].as_array().map(|u| u.iter().collect()).unwrap_or_else(|| vec![&s["urls"]]))
        .filter_map(Value::as_str)
        .collect();
    assert!(
        urls.iter().any(|u| u.starts_with("turn:127.0.0.1:")),
        "the welcome offers TURN on the host the client used: {urls:?}"
    );
    browser.eval(
        &b,
        r#"window.received = []; window.waiters = [];
           window.opened = new Promise((resolve) => eb.addEventListener("call", ({ call }) => {
               window.call = call;
               call.addEventListener("datachannel", ({ channel }) => {
                   window.ch = channel;
                   channel.onmessage = (e) => { received.push(e.data); for (const w of waiters) w(e.data); };
                   if (channel.readyState === "open") resolve(); else channel.onopen = resolve;
               });
           }));
           true"#,
    );
    browser.eval(&b, PROBE);
    let wa = join(&mut browser, &a, &get_token(&|ttl| pyjwt(&pem, &kid, "room", "alice", ttl)));
    assert_eq!(wa["peers"], json!([{"gid": "room", "pid": "bob"}]));

    let sent = browser.eval(
        &a,
        &format!(
            r#"(async () => {{
                window.call = eb.call({{ gid: "room", pid: "bob" }});
                window.ch = call.createDataChannel("relay");
                await Promise.race([
                    new Promise((r) => {{ ch.onopen = r; }}),
                    new Promise((_, j) => setTimeout(() => j(new Error(
                        "data channel did not open: ice " + call.pc.iceConnectionState + ", gathering " + call.pc.iceGatheringState)), 15000)),
                ]);
                for (let i = 0; i < {MESSAGES}; i++) ch.send(String(i).padStart(4, "0").padEnd({MESSAGE_BYTES}, "x"));
                return ch.readyState;
            }})()"#
        ),
    );
    assert_eq!(sent, json!("open"), "alice's data channel opened over the relay");
    let got = browser.eval(
        &b,
        &format!(
            r#"(async () => {{
                await window.opened;
                for (let t = 0; received.length < {MESSAGES} && t < 100; t++) await new Promise((r) => setTimeout(r, 100));
                return received.map((m) => m.length === {MESSAGE_BYTES} ? m.slice(0, 4) : "bad length " + m.length);
            }})()"#
        ),
    );
    let want: Vec<String> = (0..MESSAGES).map(|i| format!("{i:04}")).collect();
    assert_eq!(got, json!(want), "bob got every message, in order");
    RelayedCall { tmp, server, browser, a, b, project, kid }
}

#[test]
fn relay_only_data_channel_flows_through_the_relay_and_is_counted() {
    let mut c = relayed_call();
    for (who, page) in [("alice", &c.a), ("bob", &c.b)] {
        let pair = selected_pair(&mut c.browser, page);
        assert_eq!(pair["local"], "relay", "{who}'s selected pair starts at a relayed candidate: {pair}");
        assert_eq!(pair["remote"], "relay", "{who}'s selected pair ends at a relayed candidate: {pair}");
        assert_eq!(pair["localAddress"], "127.0.0.1", "{who}'s relayed candidate is this server's: {pair}");
    }
    let sent = (MESSAGES * MESSAGE_BYTES) as u64;
    let name = format!("edgebeam_turn_relayed_bytes_total{{project=\"{}\"}}", c.project);
    let (bytes, _) = c.wait_metric(&name, Duration::from_secs(10), |v| v > sent);
    assert!(bytes > sent, "relayed bytes of the project ({bytes}) exceed the {sent} bytes sent");
    let (allocations, _) = c.wait_metric("edgebeam_turn_allocations", Duration::from_secs(10), |v| v >= 2);
    assert!(allocations >= 2, "each browser holds an allocation; /metrics says {allocations}");
}

#[test]
fn deleting_the_key_tears_down_relay_allocations_mid_call() {
    let mut c = relayed_call();
    let (allocations, _) = c.wait_metric("edgebeam_turn_allocations", Duration::from_secs(10), |v| v >= 2);
    assert!(allocations >= 2, "each browser holds an allocation; /metrics says {allocations}");
    // Deleting the key also ends both signaling sessions, and the SDK closes a call when its
    // peer leaves. Keep the peer connections open regardless, so that what stops the data
    // channel below can only be the relay.
    for page in [&c.a, &c.b] {
        c.browser.eval(page, "window.call.close = () => {}; true");
    }
    let before = c.browser.eval(&c.a, r#"ch.send("before deletion"); true"#);
    assert_eq!(before, json!(true));
    assert_eq!(c.browser.eval(&c.b, r#"probe("before deletion", 5000)"#), json!(true), "the relay carries data");

    let start = Instant::now();
    ok(&["key", "delete", "--data-dir", &c.data_dir(), &c.kid]);
    let (left, _) = c.wait_metric("edgebeam_turn_allocations", Duration::from_secs(5), |v| v == 0);
    let took = start.elapsed();
    assert_eq!(left, 0, "the allocations of the deleted key are removed (waited {took:?})");
    assert!(took < Duration::from_secs(2), "SPEC: removed within 2 seconds; took {took:?}");

    // A message sent now has no relay to cross. SCTP retransmits it for as long as the channel
    // lives, so a relay that still forwarded anything would deliver it.
    let state = c.browser.eval(&c.a, r#"if (ch.readyState === "open") ch.send("after deletion"); ch.readyState"#);
    let arrived = c.browser.eval(&c.b, r#"probe("after deletion", 3000)"#);
    assert_eq!(arrived, json!(false), "nothing crosses the relay once the key is deleted (channel was {state})");
    // ICE consent checks go unanswered too, so both connections leave "connected" (Chromium
    // notices within about 5 s; allow 15).
    for (who, page) in [("alice", &c.a), ("bob", &c.b)] {
        let ice = c.browser.eval(
            page,
            r#"(async () => {
                for (let t = 0; ["connected", "completed"].includes(call.pc.iceConnectionState) && t < 150; t++)
                    await new Promise((r) => setTimeout(r, 100));
                return call.pc.iceConnectionState;
            })()"#,
        );
        assert!(matches!(ice.as_str(), Some("disconnected" | "failed")), "{who}'s ICE is {ice}");
    }
    // The browsers cannot allocate again with the revoked credentials (the SDK's ICE restart
    // on "failed" tries, with the ice_servers of the deleted key's token).
    assert_eq!(c.metric("edgebeam_turn_allocations"), 0, "no allocation came back");
    for page in [&c.a, &c.b] {
        assert_eq!(c.browser.eval(page, "closeCode"), json!(4003), "signaling was closed as revoked");
    }
}

#[test]
fn a_relayed_call_outlives_its_first_token_through_refresh() {
    // The first token of each page lives 25 s, so the server sends `expiring` at once and the
    // SDK asks `getToken` again; that second answer (a 600 s token) is held back until the test
    // allows it, so the call is set up on allocations made with the short-lived credentials.
    let mut c = relayed_call_with(|mint| {
        format!(
            r#"(() => {{
                let n = 0, allow;
                const allowed = new Promise((r) => {{ allow = r; }});
                window.allowRefresh = () => {{ allow(); return true; }};
                return async () => (n++ === 0 ? {:?} : (await allowed, {:?}));
            }})()"#,
            mint(25),
            mint(600)
        )
    });
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut first_exp = 0;
    for (who, page) in [("alice", &c.a), ("bob", &c.b)] {
        let exp = c.browser.eval(page, "eb.expiresAt").as_i64().unwrap();
        assert!((15..=25).contains(&(exp - now())), "{who}'s first token has about 25 s left, not refreshed: {exp}");
        first_exp = first_exp.max(exp);
    }
    c.browser.eval(&c.a, r#"ch.send("early"); true"#);
    assert_eq!(c.browser.eval(&c.b, r#"probe("early", 5000)"#), json!(true), "the relay carries data");
    let mut early = Vec::new();
    for (who, page) in [("alice", &c.a), ("bob", &c.b)] {
        let pair = selected_pair(&mut c.browser, page);
        assert_eq!((&pair["local"], &pair["remote"]), (&json!("relay"), &json!("relay")), "{who}: {pair}");
        early.push(pair);
    }

    // The refresh lands about 8 s after the welcome, well before the first tokens expire.
    std::thread::sleep(Duration::from_secs((first_exp - 17 - now()).max(0) as u64));
    for page in [&c.a, &c.b] {
        c.browser.eval(page, "allowRefresh()");
    }
    for (who, page) in [("alice", &c.a), ("bob", &c.b)] {
        let exp = c.browser.eval(
            page,
            &format!(
                r#"(async () => {{
                    for (let t = 0; eb.expiresAt <= {first_exp} && t < 50; t++) await new Promise((r) => setTimeout(r, 100));
                    return eb.expiresAt;
                }})()"#
            ),
        );
        let exp = exp.as_i64().unwrap();
        assert!(exp > first_exp + 500, "{who}'s refresh was accepted: expires_at {exp}, first {first_exp}");
    }

    // Past the first tokens' expiry, the server has removed every allocation made with their
    // credentials (docs/turn.md); only allocations made after the refresh can be left.
    let wait = Duration::from_secs((first_exp + 10 - now()).max(0) as u64);
    std::thread::sleep(wait);
    assert!(now() > first_exp + 8, "well past the first tokens' expiry");
    let allocations = c.metric("edgebeam_turn_allocations");
    assert!(allocations >= 2, "each browser holds an allocation made after the refresh; /metrics says {allocations}");

    for i in 0..5 {
        c.browser.eval(&c.a, &format!(r#"ch.send("late {i}"); true"#));
    }
    let arrived = c.browser.eval(&c.b, r#"(async () => { for (let i = 0; i < 5; i++) if (!await probe("late " + i, 5000)) return i; return true; })()"#);
    let states: Vec<Value> =
        [&c.a, &c.b].iter().map(|p| c.browser.eval(p, "[call.pc.iceConnectionState, ch.readyState]")).collect();
    assert_eq!(arrived, json!(true), "messages sent after the first tokens expired arrive (ice, channel: {states:?})");
    c.browser.eval(
        &c.a,
        r#"window.replied = new Promise((resolve) => {
            const t = setTimeout(() => resolve(false), 5000);
            ch.onmessage = (e) => { if (e.data === "late reply") { clearTimeout(t); resolve(true); } };
        });
        true"#,
    );
    c.browser.eval(&c.b, r#"ch.send("late reply"); true"#);
    let replied = c.browser.eval(&c.a, "replied");
    assert_eq!(replied, json!(true), "and the other way too");
    for ((who, page), before) in [("alice", &c.a), ("bob", &c.b)].into_iter().zip(&early) {
        let pair = selected_pair(&mut c.browser, page);
        assert_eq!((&pair["local"], &pair["remote"]), (&json!("relay"), &json!("relay")), "{who}: {pair}");
        assert_ne!(pair["localPort"], before["localPort"], "{who} moved onto a new allocation: {before} -> {pair}");
    }
}
