//! Two headless Chromium pages with `forceRelay` (iceTransportPolicy "relay") open an
//! RTCDataChannel whose every packet goes through edgebeam's TURN relay: the browser makes the
//! allocations, permissions and channel bindings itself, with the REST credentials of the welcome.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cdp::{Browser, Page};
use common::edgebeam_ok as ok;
use common::Server;
use serde_json::{json, Value};

const MESSAGES: usize = 20;
const MESSAGE_BYTES: usize = 1024;

fn pyjwt(pem: &str, kid: &str, gid: &str, pid: &str) -> String {
    let script = r#"
import sys, time, jwt
claims = {"gid": sys.argv[3], "pid": sys.argv[4], "iat": int(time.time()), "exp": int(time.time()) + 600}
print(jwt.encode(claims, open(sys.argv[1]).read(), algorithm="ES256", headers={"kid": sys.argv[2]}))
"#;
    let out = Command::new("python3").args(["-c", script, pem, kid, gid, pid]).output().unwrap();
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
        let text = self.server.get("/metrics").body;
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

/// Connects the page's SDK client as `window.eb`, relay only; returns the welcome.
fn join(browser: &mut Browser, page: &Page, token: &str) -> Value {
    let js = format!(
        r#"(async () => {{
            const {{ Edgebeam }} = await import("/sdk/edgebeam.js");
            window.eb = new Edgebeam({{
                url: `wss://${{location.host}}/v1/signal`, getToken: () => {token:?}, forceRelay: true,
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

fn relayed_call() -> RelayedCall {
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

    let wb = join(&mut browser, &b, &pyjwt(&pem, &kid, "room", "bob"));
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
    let wa = join(&mut browser, &a, &pyjwt(&pem, &kid, "room", "alice"));
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
