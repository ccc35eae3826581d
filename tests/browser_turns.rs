//! Chromium over TURN over TLS: the box gets its certificate from pebble (tls-alpn-01), and two
//! headless pages, trusting pebble's CA only through `--ignore-certificate-errors-spki-list`,
//! load the demo from the signal listener by name and complete a relay-only call whose only ICE
//! server is the `turns:` URL of the welcome.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::cdp::{Browser, Page};
use common::edgebeam_ok as ok;
use common::pebble::{spki_sha256_base64, wait_for_chain, Pebble, DOMAIN};
use common::{free_port, Server};
use serde_json::{json, Value};

/// A token for (gid, pid) of 600 s, minted by PyJWT.
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

/// Joins with the SDK, relay only, then keeps only the welcome's `turns:` URLs as ICE servers.
fn join_turns_only(browser: &mut Browser, page: &Page, token: &str) -> Value {
    let js = format!(
        r#"(async () => {{
            const {{ Edgebeam }} = await import("/sdk/edgebeam.js");
            window.eb = new Edgebeam({{ url: `wss://${{location.host}}/v1/signal`, getToken: () => {token:?}, forceRelay: true }});
            const welcome = await eb.connect();
            eb.iceServers = welcome.ice_servers
                .map((s) => ({{ ...s, urls: [].concat(s.urls).filter((u) => u.startsWith("turns:")) }}))
                .filter((s) => s.urls.length > 0);
            return {{ welcome, kept: eb.iceServers }};
        }})()"#
    );
    browser.eval(page, &js)
}

#[test]
fn chromium_completes_a_relay_only_call_over_turns_with_a_pebble_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let project = ok(&["project", "create", "--data-dir", d, "turns"]);
    let pem = tmp.path().join("k.pem").to_str().unwrap().to_owned();
    let kid = ok(&["key", "create", "--data-dir", d, "--project", &project, "--out", &pem]);

    let signal = free_port();
    let pebble = Pebble::start(free_port(), signal, None);
    let root = pebble.root();
    let signal_listen = format!("127.0.0.1:{signal}");
    let ca = pebble.https_ca.to_str().unwrap().to_owned();
    let server = Server::start(
        &data,
        &[
            "--signal-listen",
            &signal_listen,
            "--tls-mode",
            "acme",
            "--acme-domains",
            DOMAIN,
            "--acme-directory",
            &pebble.directory,
            "--acme-ca-file",
            &ca,
            // ICE URLs name the box as its certificate does.
            "--public-names",
            DOMAIN,
            "--turn-allow-peers",
            "127.0.0.0/8",
        ],
    );
    wait_for_chain(server.signal, &root, DOMAIN, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("no ACME certificate: {e}\n{}\n{}", server.stderr(), pebble.log()));

    // Chromium ignores certificate errors only for a chain that holds one of these keys. The
    // served chain is leaf + intermediate, without pebble's root, and Chromium matches the list
    // against the chain it was given: with the root's key alone the page does not load (tried),
    // so the list names pebble's intermediate too (fetched, like the root, from pebble's
    // management port).
    let spki = format!("{},{}", spki_sha256_base64(&root), spki_sha256_base64(&pebble.intermediate()));
    let mut browser = Browser::launch_with(&[
        &format!("--ignore-certificate-errors-spki-list={spki}"),
        &format!("--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"),
    ]);
    let url = format!("https://{DOMAIN}:{signal}/demo");
    let a = browser.open(&url);
    let b = browser.open(&url);
    let loaded = browser.eval(&a, "location.protocol + '//' + location.host");
    assert_eq!(loaded, json!(format!("https://{DOMAIN}:{signal}")), "the demo loaded over the pebble certificate");

    let jb = join_turns_only(&mut browser, &b, &pyjwt(&pem, &kid, "room", "bob"));
    let kept = jb["kept"].to_string();
    assert!(kept.contains(&format!("turns:{DOMAIN}:{}", server.turns.port())), "a turns: URL in the welcome: {jb}");
    assert!(!kept.contains("turn:") && !kept.contains("stun:"), "only turns: is used: {kept}");
    browser.eval(
        &b,
        r#"window.opened = new Promise((resolve) => eb.addEventListener("call", ({ call }) => {
               window.call = call;
               call.addEventListener("datachannel", ({ channel }) => {
                   window.ch = channel;
                   window.got = new Promise((r) => { channel.onmessage = (e) => r(e.data); });
                   if (channel.readyState === "open") resolve(); else channel.onopen = resolve;
               });
           }));
           true"#,
    );
    join_turns_only(&mut browser, &a, &pyjwt(&pem, &kid, "room", "alice"));
    let sent = browser.eval(
        &a,
        r#"(async () => {
            window.call = eb.call({ gid: "room", pid: "bob" });
            window.ch = call.createDataChannel("turns");
            await Promise.race([
                new Promise((r) => { ch.onopen = r; }),
                new Promise((_, j) => setTimeout(() => j(new Error(
                    "data channel did not open: ice " + call.pc.iceConnectionState)), 20000)),
            ]);
            ch.send("over turns");
            return ch.readyState;
        })()"#,
    );
    assert_eq!(sent, json!("open"), "the call connected over TURN over TLS; server log:\n{}", server.stderr());
    let got = browser.eval(
        &b,
        r#"(async () => { await window.opened; return await Promise.race([window.got,
            new Promise((r) => setTimeout(() => r("nothing"), 10000))]); })()"#,
    );
    assert_eq!(got, json!("over turns"));
    let pair = browser.eval(
        &a,
        r#"(async () => {
            const stats = await call.pc.getStats();
            let pair = null;
            stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
            const local = pair && stats.get(pair.localCandidateId);
            return local ? { type: local.candidateType, relayProtocol: local.relayProtocol, url: local.url || null } : null;
        })()"#,
    );
    assert_eq!(pair["type"], "relay", "{pair}");
    assert_eq!(pair["relayProtocol"], "tls", "the relayed candidate was allocated over TLS: {pair}");
    let metrics = server.metrics().body;
    assert!(metrics.contains("edgebeam_turn_allocations"), "{metrics}");
}
