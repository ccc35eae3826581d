//! A client of the admin REST API that runs Debian's `curl` once per request, so the HTTP client
//! shares no code with the server (STYLE 15: real clients nobody on this team wrote). Each [`Api`]
//! keeps a cookie jar file of its own, as a browser profile would, so the
//! `__Host-edgebeam_session` cookie comes and goes as the server says.
#![allow(dead_code)]

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Server;

/// The password every account made by these helpers gets (long enough for any sane policy).
pub const PASSWORD: &str = "correct horse battery staple 42";

/// The first account's name, made by [`Api::setup`].
pub const OWNER: &str = "owner";

/// One client: a base URL, a cookie jar, and the credentials it sends on its own.
pub struct Api {
    /// `https://127.0.0.1:PORT`: the admin listener.
    pub base: String,
    pub jar: PathBuf,
    /// Sent as `X-CSRF-Token` on every request but GET/HEAD when set.
    pub csrf: Option<String>,
    /// Sent as `Authorization: Bearer` when set.
    pub bearer: Option<String>,
    /// The loopback address requests leave from (curl `--interface`): per-source limits.
    pub source: Option<IpAddr>,
    dir: tempfile::TempDir,
}

/// What the server answered.
#[derive(Debug)]
pub struct Reply {
    /// `METHOD PATH`, for failure messages.
    pub request: String,
    pub status: u16,
    /// The final response's headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics (naming the request and body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: {} body is not JSON ({e}): {:?}", self.request, self.status, self.body))
    }

    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header of that name (`Set-Cookie` may come more than once).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// Asserts the status; returns the reply for more checks.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Reply {
        assert_eq!(self.status, status, "{}: expected {status}, got {}: {}", self.request, self.status, self.body);
        self
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn ok_json(&self, status: u16) -> Value {
        self.expect(status);
        self.json()
    }

    /// Asserts an API error: the status and the `error` code of `{"error", "message"}`, with a
    /// non-empty message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Reply {
        self.expect(status);
        let v = self.json();
        assert_eq!(v["error"], code, "{}: {}", self.request, self.body);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{}: no message: {}", self.request, self.body);
        self
    }
}

/// One request being built: see [`Api::call`].
pub struct Call<'a> {
    api: &'a Api,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    csrf: bool,
    bearer: bool,
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, v: &Value) -> Self {
        self.header("Content-Type", "application/json").bytes(v.to_string().into_bytes())
    }

    /// Body bytes as they are (malformed JSON, oversized bodies). Without a Content-Type header
    /// of the caller's, curl sends its default for `--data-binary`
    /// (`application/x-www-form-urlencoded`).
    pub fn bytes(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Leaves out the `X-CSRF-Token` header the client would send.
    pub fn without_csrf(mut self) -> Self {
        self.csrf = false;
        self
    }

    /// Leaves out the `Authorization: Bearer` header the client would send.
    pub fn without_bearer(mut self) -> Self {
        self.bearer = false;
        self
    }

    pub fn send(self) -> Reply {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let api = self.api;
        let body_file = api.dir.path().join(format!("body-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
        let jar = api.jar.to_str().unwrap();
        let mut cmd = Command::new("curl");
        cmd.args(["-k", "-sS", "--max-time", "10", "-X", &self.method])
            .args(["-b", jar, "-c", jar, "-D", "-", "-o", body_file.to_str().unwrap()])
            // No `Expect: 100-continue` dance for large bodies: one request, one answer.
            .args(["-H", "Expect:"]);
        if let Some(ip) = api.source {
            cmd.args(["--interface", &ip.to_string()]);
        }
        let read_only = self.method == "GET" || self.method == "HEAD";
        if let (true, false, Some(t)) = (self.csrf, read_only, &api.csrf) {
            cmd.args(["-H", &format!("X-CSRF-Token: {t}")]);
        }
        if let (true, Some(k)) = (self.bearer, &api.bearer) {
            cmd.args(["-H", &format!("Authorization: Bearer {k}")]);
        }
        for (n, v) in &self.headers {
            cmd.args(["-H", &format!("{n}: {v}")]);
        }
        if self.body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(format!("{}{}", api.base, self.path));
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("curl runs");
        {
            let mut stdin = child.stdin.take().unwrap();
            if let Some(b) = &self.body {
                // A server may answer (413) before reading it all: a broken pipe is its right.
                let _ = stdin.write_all(b);
            }
        }
        let out = child.wait_with_output().unwrap();
        let request = format!("{} {}", self.method, self.path);
        // curl exits 55/56 when the server resets the connection: for a 413, a server that
        // answered without reading the body and closed with it unread (no lingering close).
        assert!(
            out.status.success(),
            "{request}: curl failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let head = String::from_utf8_lossy(&out.stdout).into_owned();
        let body = std::fs::read(&body_file).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let _ = std::fs::remove_file(&body_file);
        // `-D -` writes every response head (a 1xx one first, if any): the last one is the answer.
        let last = head.trim_end().rsplit("\r\n\r\n").next().unwrap_or("");
        let mut lines = last.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{request}: no status line in {head:?}"));
        let headers =
            lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
        Reply { request, status, headers, body }
    }
}

impl Api {
    /// A client with an empty cookie jar and no credentials.
    pub fn new(server: &Server) -> Api {
        Api::at(&format!("https://127.0.0.1:{}", server.admin.port()))
    }

    /// A client of the server at `base` (`https://127.0.0.1:PORT`).
    pub fn at(base: &str) -> Api {
        let dir = tempfile::tempdir().unwrap();
        Api { base: base.to_owned(), jar: dir.path().join("cookies"), csrf: None, bearer: None, source: None, dir }
    }

    /// A client that sends only `Authorization: Bearer KEY`.
    pub fn with_bearer(server: &Server, key: &str) -> Api {
        Api { bearer: Some(key.to_owned()), ..Api::new(server) }
    }

    /// A fresh client whose requests leave from `ip` (a loopback address such as 127.0.0.2).
    pub fn from_source(server: &Server, ip: IpAddr) -> Api {
        Api { source: Some(ip), ..Api::new(server) }
    }

    /// `METHOD /api/v1PATH`, to be finished with [`Call::send`].
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        self.call_root(method, &format!("/api/v1{path}"))
    }

    /// `METHOD PATH` outside the API (`/metrics`, `/healthz`).
    pub fn call_root(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            api: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            csrf: true,
            bearer: true,
        }
    }

    fn with_body(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let call = self.call(method, path);
        match body {
            Some(v) => call.json(&v).send(),
            None => call.send(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path).send()
    }

    pub fn post(&self, path: &str, body: Option<Value>) -> Reply {
        self.with_body("POST", path, body)
    }

    pub fn patch(&self, path: &str, body: Option<Value>) -> Reply {
        self.with_body("PATCH", path, body)
    }

    pub fn delete(&self, path: &str, body: Option<Value>) -> Reply {
        self.with_body("DELETE", path, body)
    }

    /// `POST /login`; on 200 keeps the `csrf_token` for the requests that follow.
    pub fn login(&mut self, username: &str, password: &str) -> Reply {
        let r = self.post("/login", Some(json!({"username": username, "password": password})));
        if r.status == 200 {
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }

    /// A fresh client signed in as `username` (with [`PASSWORD`]), which must succeed.
    #[track_caller]
    pub fn signed_in(server: &Server, username: &str) -> Api {
        let mut api = Api::new(server);
        api.login(username, PASSWORD).expect(200);
        api
    }

    /// The cookie jar's `__Host-edgebeam_session` value, if the client holds one.
    pub fn session_cookie(&self) -> Option<String> {
        let jar = std::fs::read_to_string(&self.jar).unwrap_or_default();
        // Netscape format: domain, flag, path, secure, expiry, name, value (tab separated); curl
        // marks HttpOnly cookies with a `#HttpOnly_` prefix on the domain.
        jar.lines()
            .filter(|l| !l.trim().is_empty() && (!l.starts_with('#') || l.starts_with("#HttpOnly_")))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f.len() == 7 && f[5] == "__Host-edgebeam_session")
            .map(|f| f[6].to_owned())
    }

    /// The one-time token of the setup link the server printed on stdout (SPEC "First run"),
    /// waiting up to 5 s for the line.
    pub fn setup_token(server: &Server) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = server.stdout();
            if let Some(line) = out.lines().find(|l| l.contains("/setup#")) {
                let token = line.split("/setup#").nth(1).unwrap().split_whitespace().next().unwrap_or("");
                assert!(!token.is_empty(), "an empty setup token in {line:?}");
                return token.to_owned();
            }
            assert!(Instant::now() < deadline, "no setup link on stdout: {out:?}\nstderr: {}", server.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes the first account ([`OWNER`], [`PASSWORD`]) with the printed setup token: a client
    /// signed in as that owner (setup signs the operator in).
    #[track_caller]
    pub fn setup(server: &Server) -> Api {
        let token = Api::setup_token(server);
        let mut api = Api::new(server);
        let r = api.post("/setup", Some(json!({"token": token, "username": OWNER, "password": PASSWORD})));
        let v = r.ok_json(201);
        api.csrf = Some(v["csrf_token"].as_str().expect("setup answers a csrf_token").to_owned());
        api
    }
}
