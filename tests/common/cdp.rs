//! Headless Chromium driven over the DevTools protocol (one WebSocket, flattened sessions).
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocket;
use async_tungstenite::tungstenite::{client::client, Message};
use serde_json::{json, Value};

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Every event (a message without an id) read so far, oldest first.
    pub events: Vec<Value>,
}

pub struct Page {
    pub session: String,
}

impl Browser {
    pub fn launch() -> Browser {
        Browser::launch_with(&["--ignore-certificate-errors"])
    }

    /// Chromium with `trust` flags instead of `--ignore-certificate-errors` (an SPKI list and
    /// host resolver rules, say).
    pub fn launch_with(trust: &[&str]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new("chromium")
            .args(trust)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                // Let WebRTC use loopback and real host addresses instead of mDNS names.
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                "--use-fake-ui-for-media-stream",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium is installed (.ci/setup installs it)");
        let port_file: PathBuf = profile.path().join("DevToolsActivePort");
        let start = Instant::now();
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&port_file) {
                if t.lines().count() >= 2 {
                    break t;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(20), "chromium did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = text.lines();
        let port: u16 = lines.next().unwrap().trim().parse().unwrap();
        let path = lines.next().unwrap().trim().to_owned();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (ws, _) = client(format!("ws://127.0.0.1:{port}{path}"), stream).unwrap();
        Browser { child, _profile: profile, ws, next_id: 1, events: Vec::new() }
    }

    pub fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let m = self.ws.read().expect("devtools connection");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            if v.get("id").is_none() {
                self.events.push(v);
            }
        }
    }

    pub fn open(&mut self, url: &str) -> Page {
        let page = self.blank();
        self.navigate(&page, url);
        page
    }

    /// A new tab on about:blank, attached, with the Page domain on: for setting up what to
    /// record (Network.enable, …) before [`Browser::navigate`].
    pub fn blank(&mut self) -> Page {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}), None);
        let attached =
            self.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}), None);
        let page = Page { session: attached["sessionId"].as_str().unwrap().to_owned() };
        self.call("Page.enable", json!({}), Some(&page.session));
        page
    }

    /// Loads `url` in `page` and waits until the document is complete.
    pub fn navigate(&mut self, page: &Page, url: &str) {
        self.call("Page.navigate", json!({"url": url}), Some(&page.session));
        // Wait for the document to be there.
        let start = Instant::now();
        while self.eval(page, "document.readyState") != json!("complete") {
            assert!(start.elapsed() < Duration::from_secs(20), "page did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates `expression` (awaiting a promise) and returns its value; a thrown error panics.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            Some(&page.session),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("page threw: {}", ex["exception"]["description"].as_str().unwrap_or(&ex.to_string()));
        }
        r["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
