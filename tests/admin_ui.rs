//! The admin web UI end to end: headless Chromium (over the DevTools protocol) against the real
//! binary, from the setup link on stdout to kicking a peer whose token was minted by PyJWT with
//! a key the browser generated, and seeing the kick in the audit log. All along: no request
//! leaves the box's origin, no console error or CSP violation, no private key in a request
//! body, and axe-core finds no serious or critical accessibility violation on any page.
//! Screenshots of every page, at 1,280 and 375 px wide, go to `target/tmp/admin-ui-screenshots/`.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::api::{Api, OWNER, PASSWORD};
use common::cdp::{Browser, Page};
use common::ws::Ws;
use common::Server;
use serde_json::{json, Value};

const AXE: &str = include_str!("data/axe/axe.min.js");

/// Records what the checks at the end need, before the first page loads.
const WATCH_CSP: &str = r#"
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"#;

struct Ui {
    browser: Browser,
    page: Page,
    shots: PathBuf,
    /// The securitypolicyviolation events seen by pages that have since gone (a reload).
    csp: Vec<Value>,
}

impl Ui {
    /// Chromium on a blank tab that records the network, the console, the log and CSP
    /// violations from before the first page loads, at 1,280 × 800.
    fn launch() -> Ui {
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let mut browser = Browser::launch();
        let page = browser.blank();
        for domain in ["Network.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}), Some(&page.session));
        }
        browser.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": WATCH_CSP}), Some(&page.session));
        let mut ui = Ui { browser, page, shots, csp: Vec::new() };
        ui.viewport(1280);
        // A headless tab is not focused unless told: keyboard focus (and :focus-visible) needs it.
        ui.browser.call("Emulation.setFocusEmulationEnabled", json!({"enabled": true}), Some(&ui.page.session));
        ui
    }

    /// Presses a key (`Tab`, `Enter`, `Escape`) as a keyboard does.
    fn key(&mut self, key: &str, shift: bool) {
        let code = match key {
            "Tab" => 9,
            "Enter" => 13,
            "Escape" => 27,
            other => panic!("no key code for {other}"),
        };
        let text = if key == "Enter" { "\r" } else { "" };
        for kind in ["keyDown", "keyUp"] {
            let mut event = json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code,
                                   "modifiers": if shift { 8 } else { 0 }});
            if kind == "keyDown" && !text.is_empty() {
                event["text"] = text.into();
            }
            self.browser.call("Input.dispatchKeyEvent", event, Some(&self.page.session));
        }
    }

    /// Tabs (backwards with `back`: Shift+Tab) until the focus is on `selector`, at most 40
    /// presses; each control it stops at must show a visible focus ring.
    #[track_caller]
    fn tab_to(&mut self, selector: &str, back: bool) {
        for _ in 0..40 {
            self.key("Tab", back);
            let here = self.eval(&format!(
                "(() => {{ const el = document.activeElement; const s = getComputedStyle(el);
                   return {{ at: el.matches({selector:?}),
                            ring: el === document.body || (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2),
                            what: el.outerHTML.slice(0, 80) }}; }})()"
            ));
            assert_eq!(here["ring"], json!(true), "no visible focus on {}", here["what"]);
            if here["at"] == json!(true) {
                return;
            }
        }
        panic!("Tab never reached {selector}");
    }

    /// Types text into the focused control.
    fn type_text(&mut self, text: &str) {
        self.browser.call("Input.insertText", json!({"text": text}), Some(&self.page.session));
    }

    /// Asserts what the checks at the end of a test check: no request off `origin`, no private
    /// key sent, no console error, exception or CSP violation; `allowed(index, entry)` says
    /// which logged network errors the test caused on purpose.
    fn assert_clean(&mut self, origin: &str, allowed: impl Fn(usize, &Value) -> bool) {
        let seen = self.eval("window.__csp");
        self.csp.push(seen);
        let events = std::mem::take(&mut self.browser.events);
        let mut problems = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let p = &e["params"];
            match e["method"].as_str().unwrap_or_default() {
                "Network.requestWillBeSent" => {
                    let url = p["request"]["url"].as_str().unwrap_or_default();
                    if !(url.starts_with(&format!("{origin}/")) || url.starts_with("blob:") || url.starts_with("data:"))
                    {
                        problems.push(format!("a request left the origin: {url}"));
                    }
                    let body = p["request"]["postData"].as_str().unwrap_or_default();
                    if body.contains("PRIVATE KEY") || body.contains("\"d\":") {
                        problems.push(format!("a private key in a request body: {url}"));
                    }
                }
                "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                    problems.push(format!("console: {}", p["args"]))
                }
                "Runtime.exceptionThrown" => problems.push(format!("exception: {}", p["exceptionDetails"])),
                "Log.entryAdded" if p["entry"]["level"] == "error" && !allowed(i, &p["entry"]) => {
                    problems.push(format!("log: {}", p["entry"]))
                }
                _ => {}
            }
        }
        let csp: Vec<&Value> = self.csp.iter().flat_map(|v| v.as_array().unwrap().iter()).collect();
        assert!(csp.is_empty(), "CSP violations: {csp:?}");
        assert!(problems.is_empty(), "{problems:#?}");
        let requests = events.iter().filter(|e| e["method"] == "Network.requestWillBeSent").count();
        assert!(requests > 10, "the network was watched ({requests} requests)");
    }

    fn eval(&mut self, js: &str) -> Value {
        self.browser.eval(&self.page, js)
    }

    /// Polls `js` until it is truthy; panics after 15 s, naming `what`.
    #[track_caller]
    fn wait(&mut self, what: &str, js: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(js);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "waited 15 s for {what}; main: {}", self.main_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn main_text(&mut self) -> String {
        self.eval("document.getElementById('main').innerText").as_str().unwrap_or_default().to_owned()
    }

    /// Goes to a section the way a person does: the link in the nav landmark.
    fn section(&mut self, hash: &str, title: &str) {
        self.eval(&format!("document.querySelector('nav a[href=\"{hash}\"]').click(); true"));
        self.wait_title(title);
    }

    fn wait_title(&mut self, title: &str) {
        // The page is there once its title is and main is no longer busy loading it.
        let js = format!(
            "document.querySelector('main h1')?.textContent === {title:?} && !document.getElementById('main').hasAttribute('aria-busy')"
        );
        self.wait(&format!("the page {title:?}"), &js);
    }

    /// Types into a field (found by CSS selector) as input events would leave it.
    fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const el = document.querySelector({selector:?}); el.value = {value:?};
               el.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
        );
        assert_eq!(self.eval(&js), json!(true), "no field {selector}");
    }

    fn click(&mut self, selector: &str) {
        let js = format!("(() => {{ const el = document.querySelector({selector:?}); if (!el) return false; el.click(); return true; }})()");
        assert_eq!(self.eval(&js), json!(true), "nothing to click at {selector}: {}", self.main_text());
    }

    fn submit(&mut self, form: &str) {
        self.click(&format!("{form} button[type=submit]"));
    }

    /// Runs axe-core in the page: no serious or critical violation.
    fn axe(&mut self, name: &str) {
        if self.eval("typeof window.axe") != json!("object") {
            self.eval(&format!("{AXE};\ntrue"));
        }
        let found = self.eval(
            r#"axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations
                 .filter((v) => v.impact === "serious" || v.impact === "critical")
                 .map((v) => v.id + " (" + v.impact + "): " + v.nodes.map((n) => n.target.join(" ")).join(", ")))"#,
        );
        assert_eq!(found, json!([]), "axe on the {name} page");
    }

    /// No raw `null`/`undefined` on screen; at 360, 375 and 1,280 px wide: nothing wider than the screen, no serious or critical
    /// accessibility violation, and full-page screenshots at 375 and 1,280 px. Ends at 1,280.
    fn record(&mut self, name: &str) {
        let leaked = self
            .eval(r"document.getElementById('main').innerText.match(/\b(null|undefined|NaN)\b|\[object \w+\]/)?.[0]");
        assert_eq!(leaked, Value::Null, "the {name} page shows a raw value: {}", self.main_text());
        for width in [360, 375, 1280] {
            self.viewport(width);
            std::thread::sleep(Duration::from_millis(400));
            let wide = self.eval("document.documentElement.scrollWidth");
            if wide.as_u64().unwrap() > u64::from(width) {
                let over = self.eval(&format!(
                    "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > {width} || e.scrollWidth > e.clientWidth + 1)
                       .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + '/' + e.scrollWidth + '/' + e.clientWidth + ' ' + e.outerHTML.slice(0, 50)).slice(0, 12)"
                ));
                panic!("the {name} page is {wide} px wide at {width} px: {over}");
            }
            self.axe(&format!("{name} ({width} px)"));
            if width == 360 {
                continue;
            }
            let m = self.browser.call("Page.getLayoutMetrics", json!({}), Some(&self.page.session));
            let height = m["cssContentSize"]["height"].as_f64().unwrap().ceil().max(800.0);
            let shot = self.browser.call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
                Some(&self.page.session),
            );
            let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
            std::fs::write(self.shots.join(format!("{name}-{width}.png")), png).unwrap();
        }
    }

    fn viewport(&mut self, width: u32) {
        self.browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}),
            Some(&self.page.session),
        );
    }
}

fn pyjwt(pem: &str, kid: &str, gid: &str, pid: &str) -> String {
    let script = r#"
import sys, time, jwt
now = int(time.time())
print(jwt.encode({"gid": sys.argv[3], "pid": sys.argv[4], "iat": now, "exp": now + 600},
                 sys.argv[1], algorithm="ES256", headers={"kid": sys.argv[2]}))
"#;
    let out = Command::new("python3").args(["-c", script, pem, kid, gid, pid]).output().unwrap();
    assert!(out.status.success(), "pyjwt: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The public half, as a JWK, of a P-256 key made by Python's `cryptography`.
fn python_public_jwk() -> String {
    let script = r#"
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
print(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
"#;
    let out = Command::new("python3").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn from_the_setup_link_to_kicking_a_peer_whose_key_the_browser_made() {
    let tmp = tempfile::tempdir().unwrap();
    // A webhook endpoint on loopback (nothing listens there: its deliveries fail, and are listed).
    let server = Server::start(&tmp.path().join("data"), &["--webhook-allow", "127.0.0.1"]);
    let token = Api::setup_token(&server);
    let origin = format!("https://127.0.0.1:{}", server.admin.port());
    let mut ui = Ui::launch();

    // 1. The setup link makes the owner (and signs it in).
    ui.browser.navigate(&ui.page, &format!("{origin}/setup#{token}"));
    ui.wait_title("Set up edgebeam");
    assert_eq!(ui.eval("location.href"), json!(format!("{origin}/setup")), "the token leaves the address bar");
    ui.fill("input[name=username]", OWNER);
    ui.fill("input[name=password]", PASSWORD);
    ui.fill("input[name=password2]", PASSWORD);
    assert_eq!(ui.eval("document.querySelector('meter').value"), json!(3), "a strong password is called strong");
    // What the first load moved over the wire (the files are served uncompressed: as they are).
    let transfer: f64 = ui
        .browser
        .events
        .iter()
        .filter(|e| e["method"] == "Network.loadingFinished")
        .filter_map(|e| e["params"]["encodedDataLength"].as_f64())
        .sum();
    eprintln!("first load of the UI: {transfer} bytes transferred");
    ui.record("setup");
    ui.submit("form");
    ui.wait_title("Dashboard");

    // 2. Sign out, and in again.
    ui.click("#signout");
    ui.wait_title("Sign in");
    ui.record("signin");
    ui.fill("input[name=username]", OWNER);
    ui.fill("input[name=password]", "not the password");
    ui.submit("form");
    ui.wait("the sign-in error", "[...document.querySelectorAll('main .error')].map((e) => e.textContent).join('')");
    ui.fill("input[name=password]", PASSWORD);
    ui.submit("form");
    ui.wait_title("Dashboard");

    // 3. A project.
    ui.section("#/projects", "Projects");
    ui.fill("form input[name=name]", "Shop");
    ui.fill("form textarea[name=allowed_origins]", "https://shop.example.org");
    ui.submit("form");
    ui.wait_title("Keys");
    let project = ui.wait("the project in the hash", "new URLSearchParams(location.hash.split('?')[1]).get('project')");
    let project = project.as_str().unwrap().to_owned();

    // 4. A key made in the browser; its private half read off the page, as a person copies it.
    ui.click("#generate-key");
    let pem = ui.wait("the private key", "document.getElementById('private-key')?.value").as_str().unwrap().to_owned();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let title = ui.eval("document.getElementById('pk-title').textContent");
    let kid = title.as_str().unwrap().rsplit(' ').next().unwrap().to_owned();
    assert!(kid.starts_with("kid_"), "{title}");
    let href = ui.eval("document.querySelector('a[download]').href");
    assert!(href.as_str().unwrap().starts_with("blob:"), "the download is made in the page: {href}");
    // The Python example open, as a reader of the docs would want it.
    ui.eval("document.querySelectorAll('main .secret details')[1].open = true");
    ui.record("keys");

    // Registering: a private key pasted by mistake is refused in the page, before any request;
    // a public JWK made by Python's `cryptography` is registered.
    ui.fill("textarea[name=public_key]", &pem);
    ui.submit("main form");
    ui.wait("the refusal", "document.getElementById(document.querySelector('textarea[name=public_key]').id + '-err').textContent.includes('private key')");
    ui.fill("textarea[name=public_key]", &python_public_jwk());
    ui.submit("main form");
    ui.wait("two keys", "document.querySelectorAll('main table tbody tr').length === 2");

    // 5-6. PyJWT mints a token with it; a peer connects over WSS.
    let jwt = pyjwt(&pem, &kid, "room-1", "alice");
    let mut peer = Ws::connect(server.signal, None);
    let welcome = peer.auth(&jwt);
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // 7. The peer is on the live peers page.
    ui.section("#/peers", "Live peers");
    ui.wait("alice on the peers page", "document.querySelector('button[data-peer=\"room-1/alice\"]')");
    ui.record("peers");

    // 8. Kicked from the UI: its WebSocket closes 4003.
    ui.click("button[data-peer=\"room-1/alice\"]");
    ui.wait("the confirmation", "document.getElementById('confirm').open");
    ui.click("#confirm-ok");
    assert_eq!(peer.close_code(Duration::from_secs(5)), 4003);
    ui.wait(
        "the kick's confirmation",
        "document.querySelector('main [role=status]')?.textContent.startsWith('Kicked alice')",
    );

    // 9. The kick is in the audit log, and the action filter keeps only kicks.
    ui.section("#/audit", "Audit log");
    ui.wait("peer.kick in the audit log", "document.getElementById('audit-rows').innerText.includes('peer.kick')");
    ui.eval("document.querySelector('select[name=action]').value = 'peer.kick'; true");
    ui.submit("main form");
    let target = format!("{project}/room-1/alice");
    ui.wait(
        "only kicks",
        &format!(
            "(() => {{ const rows = [...document.querySelectorAll('#audit-rows tbody tr')];
               return rows.length === 1 && rows[0].innerText.includes({target:?}); }})()"
        ),
    );
    ui.record("audit");

    // Every other page, with something on it.
    ui.section("#/tokens", "Token tester");
    ui.fill("textarea[name=token]", &jwt);
    ui.submit("main form");
    ui.wait("the token's verdict", "document.querySelector('main [role=status]')?.textContent.startsWith('Valid')");
    ui.record("tokens");
    ui.section("#/api-keys", "API keys");
    ui.fill("input[name=name]", "prometheus");
    ui.submit("main form");
    ui.wait("the new key", "document.querySelector('main input[readonly]')?.value.startsWith('ebk_')");
    ui.record("api-keys");
    ui.click("main table button.danger");
    ui.click("#confirm-ok");
    ui.wait("the key revoked", "!document.querySelector('main table')");
    ui.section("#/accounts", "Accounts");
    ui.fill("input[name=username]", "viewer1");
    ui.fill("input[name=password]", PASSWORD);
    ui.submit("main form");
    ui.wait("the new account", "document.querySelector('main table')?.innerText.includes('viewer1')");
    ui.record("accounts");
    ui.section("#/members", "Members");
    ui.fill("input[name=username]", "viewer1");
    ui.submit("main form");
    ui.wait("the new member", "document.querySelector('main table')?.innerText.includes('viewer1')");
    ui.record("members");
    // A webhook endpoint: its secret shown once, listed, a test event sent, its deliveries shown.
    ui.section("#/webhooks", "Webhooks");
    ui.fill("input[name=url]", "http://127.0.0.1:9/hooks/edgebeam");
    ui.submit("main form");
    ui.wait("the missing events refused", "document.getElementById('events-err').textContent.includes('at least one')");
    ui.click("#event-peer-joined");
    ui.click("#event-key-created");
    ui.submit("main form");
    ui.wait("the secret", "document.getElementById('webhook-secret')?.value.startsWith('whsec_')");
    ui.wait(
        "the endpoint listed",
        "document.querySelector('#webhook-list table')?.innerText.includes('http://127.0.0.1:9/hooks/edgebeam')",
    );
    ui.click("main button[data-test]");
    ui.wait("the test queued", "document.getElementById('webhook-said').textContent.startsWith('Test event evt_')");
    ui.click("main button[data-deliveries]");
    ui.wait(
        "a failed attempt",
        "(() => { const n = document.querySelectorAll('#deliveries tbody tr').length;
            if (!n) document.querySelector('#deliveries button')?.click(); return n; })()",
    );
    ui.record("webhooks");
    ui.click("main button[data-rotate]");
    ui.wait("the confirmation", "document.getElementById('confirm').open");
    ui.click("#confirm-ok");
    ui.wait("the new secret", "document.getElementById('secret-title')?.textContent.startsWith('New secret of')");
    ui.wait(
        "the previous secret's grace",
        "document.querySelector('#webhook-list table')?.innerText.includes('previous secret')",
    );
    ui.click("main button[data-delete]");
    ui.wait("the confirmation", "document.getElementById('confirm').open");
    ui.click("#confirm-ok");
    ui.wait(
        "the endpoint deleted",
        "document.getElementById('webhook-list').innerText.includes('No webhook endpoint yet')",
    );
    assert_eq!(ui.eval("document.getElementById('deliveries').children.length"), json!(0), "its deliveries go with it");
    ui.section("#/projects", "Projects");
    ui.wait("the project list", "document.querySelector('main table')?.innerText.includes('Shop')");
    ui.record("projects");
    // Edit (a bad origin is an API error shown by its field, then a good change is saved), delete.
    ui.fill("form input[name=name]", "Temp");
    ui.submit("main form");
    ui.wait_title("Keys");
    ui.section("#/projects", "Projects");
    ui.click("main table tbody tr:last-child a");
    ui.wait("the edit form", "document.querySelector('main h2')?.textContent === 'Edit Temp'");
    ui.fill("textarea[name=allowed_origins]", "https://app.example.org/path");
    ui.submit("main form");
    ui.wait(
        "the origin's error",
        "document.getElementById(document.querySelector('textarea[name=allowed_origins]').id + '-err').textContent",
    );
    ui.fill("textarea[name=allowed_origins]", "https://app.example.org");
    ui.fill("input[name=max_token_ttl]", "3600");
    ui.fill("input[name=max_connections]", "50");
    ui.submit("main form");
    ui.wait("saved", "document.querySelector('main [role=status]')?.textContent === 'Saved.'");
    ui.record("project-edit");
    ui.click("main button.danger");
    ui.wait("the confirmation", "document.getElementById('confirm').open");
    ui.click("#confirm-ok");
    ui.wait_title("Projects");
    ui.wait(
        "Temp gone",
        "document.querySelector('main table') && !document.querySelector('main table').innerText.includes('Temp')",
    );
    ui.section("#/usage", "Usage");
    ui.wait("the usage charts", "document.querySelectorAll('main .uplot').length === 4");
    ui.record("usage");
    ui.section("#/tls", "TLS");
    ui.wait("the certificate", "document.querySelector('main dl')?.innerText.includes('self-signed')");
    ui.record("tls");
    ui.section("#/turn", "TURN");
    ui.click("main button");
    ui.click("#confirm-ok");
    ui.wait("the rotation", "document.querySelector('main [role=status]')?.textContent.startsWith('Rotated')");
    ui.record("turn");
    ui.section("#/dashboard", "Dashboard");
    ui.wait("five charts with a few seconds of data", "document.querySelectorAll('main .uplot').length === 5");
    // Peers come while the dashboard watches: its per-project chart counts them.
    let mut room = Vec::new();
    for pid in ["bob", "carol", "dave"] {
        std::thread::sleep(Duration::from_millis(1500));
        let mut ws = Ws::connect(server.signal, None);
        assert_eq!(ws.auth(&pyjwt(&pem, &kid, "room-1", pid))["type"], "welcome");
        room.push(ws);
    }
    ui.wait("three sessions of Shop", "document.querySelector('main .charts').innerText.includes('Shop 3')");
    std::thread::sleep(Duration::from_secs(2));
    ui.wait("the version", "document.querySelector('main dl')?.innerText.includes('0.')");
    ui.record("dashboard");
    ui.browser.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
        Some(&ui.page.session),
    );
    ui.section("#/peers", "Live peers");
    ui.section("#/dashboard", "Dashboard");
    std::thread::sleep(Duration::from_secs(3));
    ui.record("dashboard-dark");

    // An expired session: the server forgets it (sign-out elsewhere), the next poll goes back to sign-in.
    let expiry_from = ui.browser.events.len();
    let me = ui.eval("fetch('/api/v1/me').then((r) => r.json()).then((v) => v.csrf_token)");
    ui.eval(&format!(
        "fetch('/api/v1/logout', {{method: 'POST', headers: {{'X-CSRF-Token': {me}}}}}).then((r) => r.status)"
    ));
    ui.wait_title("Sign in");
    let notice = ui.eval("document.querySelector('main .notice').textContent");
    assert!(notice.as_str().unwrap().contains("expired"), "{notice}");
    // The browser logs every 4xx answer. Three are the test's doing: the wrong password, the bad
    // origin, and the poll after the session was ended behind the page's back.
    ui.assert_clean(&origin, |i, entry| {
        let url = entry["url"].as_str().unwrap_or_default();
        let text = entry["text"].as_str().unwrap_or_default();
        entry["source"] == "network"
            && ((text.contains("401") && (url.ends_with("/api/v1/login") || i >= expiry_from))
                || (text.contains("400") && url.contains("/api/v1/projects/")))
    });
    eprintln!("screenshots: {}", ui.shots.display());
}

#[test]
fn a_viewer_signs_in_with_the_keyboard_and_gets_no_controls_that_change_things() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let owner = Api::setup(&server);
    owner.post("/accounts", Some(json!({"username": "ed", "password": PASSWORD, "role": "viewer"}))).expect(201);
    let project = owner.post("/projects", Some(json!({"name": "Lab"}))).ok_json(201)["id"].as_str().unwrap().to_owned();
    owner.post(&format!("/projects/{project}/keys"), None).expect(201);
    let hook = json!({"url": "https://hooks.example.com/x", "events": ["peer.joined"]});
    owner.post(&format!("/projects/{project}/webhooks"), Some(hook)).expect(201);
    let origin = format!("https://127.0.0.1:{}", server.admin.port());

    let mut ui = Ui::launch();
    ui.browser.navigate(&ui.page, &format!("{origin}/"));
    ui.wait_title("Sign in");
    // The skip link comes first; then the form, by Tab and typing, sent with Enter.
    ui.tab_to("a.skip", false);
    ui.tab_to("input[name=username]", false);
    ui.type_text("ed");
    ui.tab_to("input[name=password]", false);
    ui.type_text(PASSWORD);
    let signed_in = ui.browser.events.len();
    ui.key("Enter", false);
    ui.wait_title("Dashboard");
    assert_eq!(ui.eval("document.getElementById('who-name').textContent"), json!("ed (viewer)"));
    assert_eq!(
        ui.eval("document.querySelector('nav a[href=\"#/accounts\"]').offsetParent === null"),
        json!(true),
        "no Accounts for a viewer"
    );

    // Sections by keyboard from the nav landmark (before main: back from the page's heading,
    // where focus is after a section loads).
    ui.tab_to("nav a[href=\"#/keys\"]", true);
    ui.key("Enter", false);
    ui.wait_title("Keys");
    assert_eq!(ui.eval("document.activeElement.tagName"), json!("H1"));
    assert_eq!(ui.eval("document.querySelectorAll('main button').length"), json!(0), "{}", ui.main_text());
    ui.section("#/projects", "Projects");
    assert_eq!(ui.eval("document.querySelector('main form')"), Value::Null, "no New project form");
    ui.section("#/turn", "TURN");
    assert_eq!(ui.eval("document.querySelectorAll('main button').length"), json!(0));
    ui.section("#/webhooks", "Webhooks");
    ui.wait("the endpoint", "document.querySelector('main table')?.innerText.includes('hooks.example.com')");
    assert_eq!(ui.eval("document.querySelector('main form')"), Value::Null, "no New endpoint form");
    assert_eq!(
        ui.eval("[...document.querySelectorAll('main button')].every((b) => b.hasAttribute('data-deliveries'))"),
        json!(true),
        "only the deliveries button: {}",
        ui.main_text()
    );
    ui.record("viewer-webhooks");
    ui.section("#/api-keys", "API keys");
    assert_eq!(ui.eval("document.querySelector('main form')"), Value::Null);
    ui.record("viewer-keys");
    // The skip link moves the focus to the content and leaves the section where it is.
    ui.tab_to("a.skip", true);
    ui.key("Enter", false);
    assert_eq!(ui.eval("[document.activeElement.id, location.hash]"), json!(["main", "#/api-keys"]));

    // A setup link used once accounts exist: the refusal says to sign in instead.
    ui.browser.navigate(&ui.page, &format!("{origin}/setup#spent"));
    ui.wait_title("Set up edgebeam");
    ui.fill("input[name=username]", "late");
    ui.fill("input[name=password]", PASSWORD);
    ui.fill("input[name=password2]", PASSWORD);
    let refused = ui.browser.events.len();
    ui.submit("form");
    ui.wait("the way to sign in", "document.querySelector('main form .error a[href=\"/\"]')");

    // Only the first look, GET /me before signing in, is a 401 (the session cookie is HttpOnly:
    // asking is the page's only way to know), and the refused setup a 409.
    ui.assert_clean(&origin, |i, entry| {
        let url = entry["url"].as_str().unwrap_or_default();
        (i < signed_in && url.ends_with("/api/v1/me")) || (i >= refused && url.ends_with("/api/v1/setup"))
    });
}

/// The pages' pure helpers, run where they run: in the browser, as the modules the box serves.
#[test]
fn password_strength_usage_days_and_pasted_keys_are_judged_in_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let origin = format!("https://127.0.0.1:{}", server.admin.port());
    let mut ui = Ui::launch();
    ui.browser.navigate(&ui.page, &format!("{origin}/setup"));
    ui.wait_title("Set up edgebeam");
    let strength = ui.eval(
        r#"import("/ui/js/setup.js").then((m) => ["short", "abcdefghij", "abcdefghijkl", "correct horse battery staple 42"]
             .map((p) => m.strength(p)[0]))"#,
    );
    assert_eq!(strength, json!([0, 1, 2, 3]));
    // Hourly buckets summed into days; the day's peak is its highest hour.
    let days = ui.eval(
        r#"import("/ui/js/usage.js").then((m) => m.rebucket([
             {hour: 86400, peak_connections: 3, signals: 10, turn_bytes: 100, turn_allocations: 1},
             {hour: 90000, peak_connections: 5, signals: 1, turn_bytes: 1, turn_allocations: 0},
             {hour: 172800, peak_connections: 1, signals: 2, turn_bytes: 0, turn_allocations: 2}], 86400))"#,
    );
    assert_eq!(
        days,
        json!([{"hour": 86400, "peak_connections": 5, "signals": 11, "turn_bytes": 101, "turn_allocations": 1},
               {"hour": 172800, "peak_connections": 1, "signals": 2, "turn_bytes": 0, "turn_allocations": 2}])
    );
    // What "Register" would send: a PEM as it is, a JWK as an object; private keys never.
    let judged = ui.eval(
        r#"import("/ui/js/keys.js").then(async (m) => {
             const pair = await m.generatePair();
             const tryIt = (t) => { try { return m.publicKeyBody(t); } catch (e) { return "refused: " + e.message; } };
             return [tryIt(pair.publicPem).startsWith("-----BEGIN PUBLIC KEY-----"),
                     tryIt(pair.privatePem).startsWith("refused"),
                     tryIt('{"kty":"EC","crv":"P-256","x":"a","y":"b"}'),
                     tryIt('{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}').startsWith("refused"),
                     tryIt('{"kty": nope').startsWith("refused")];
           })"#,
    );
    assert_eq!(judged, json!([true, true, {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}, true, true]));
    ui.assert_clean(&origin, |_, _| false);
}

#[test]
fn the_ui_is_on_the_admin_listener_gzipped_with_etags_and_304s() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/ui/js/app.js"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(page.header("content-security-policy"), Some("default-src 'self'"));
    let etag = page.header("etag").unwrap().to_owned();
    assert_eq!(server.get("/setup").header("etag"), Some(etag.as_str()), "one page for every client route");
    let again = common::https::request_with(server.admin, "GET", "/", &[("If-None-Match", etag.as_str())]).unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let js = server.get("/ui/js/api.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().starts_with("text/javascript"));
    assert_ne!(js.header("etag"), Some(etag.as_str()));
    // Gzipped for a client that takes it: another representation, so another ETag.
    let gz =
        common::https::request_with(server.admin, "GET", "/ui/js/api.js", &[("Accept-Encoding", "gzip, br")]).unwrap();
    assert_eq!((gz.status, gz.header("content-encoding")), (200, Some("gzip")));
    assert_eq!(gz.header("vary"), Some("accept-encoding"));
    let gz_etag = gz.header("etag").unwrap().to_owned();
    assert_ne!(Some(gz_etag.as_str()), js.header("etag"));
    let headers = [("Accept-Encoding", "gzip"), ("If-None-Match", gz_etag.as_str())];
    assert_eq!(common::https::request_with(server.admin, "GET", "/ui/js/api.js", &headers).unwrap().status, 304);
    assert_eq!(common::https::request(server.signal, "GET", "/").unwrap().status, 404, "not on the signal listener");
}
