//! A blocking HTTPS/1.1 client for timing the admin API: the TCP and TLS handshakes are done
//! (and timed) apart from the requests, one connection carries any number of requests
//! (keep-alive), and bodies are JSON. A failed request says what it was, the status and the body.
//! The including crate names tests/common/https.rs `https` and benches/common/source.rs `source`.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::{https, source};

/// The admin session cookie's name (api-contract.md, "Authentication").
pub const SESSION_COOKIE: &str = "__Host-edgebeam_session";

pub struct Client {
    stream: BufReader<https::TlsStream>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `name=value` of the session cookie this response sets, ready for a `Cookie` header.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .find(|pair| pair.trim().starts_with(&format!("{SESSION_COOKIE}=")))
            .map(|pair| pair.trim().to_owned())
    }

    /// The JSON body if the status is `want`; else what was asked, the status and the body.
    pub fn expect(&self, want: u16, what: &str) -> Result<Value, String> {
        if self.status != want {
            return Err(format!("{what}: expected {want}, got {}: {}", self.status, self.body.trim()));
        }
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body)
            .map_err(|e| format!("{what}: status {want} but the body is not JSON ({e}): {}", self.body.trim()))
    }
}

impl Client {
    /// A TLS connection to `dst` from loopback address `src`, handshake done.
    pub fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> io::Result<Client> {
        let sock = source::connect_from_blocking(src, dst, Duration::from_secs(5))?;
        sock.set_nodelay(true)?;
        let mut tls = https::tls_over(sock)?;
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Client { stream: BufReader::new(tls) })
    }

    /// One request on this connection; `body` goes as JSON.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req += &format!("{n}: {v}\r\n");
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        if !body.is_empty() {
            req += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
        }
        req += "\r\n";
        req += &body;
        let tls = self.stream.get_mut();
        tls.write_all(req.as_bytes())?;
        tls.flush()?;
        self.read_response()
    }

    /// [`Client::request`], failing with what was asked, the status and the body unless the
    /// status is `want`; returns the response and its JSON body.
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
        want: u16,
    ) -> Result<(Response, Value), String> {
        let what = format!("{method} {path}");
        let r = self.request(method, path, headers, body).map_err(|e| format!("{what}: {e}"))?;
        let v = r.expect(want, &what)?;
        Ok((r, v))
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let status_line = self.line()?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line: {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let mut r = Response { status, headers, body: String::new() };
        let mut raw = Vec::new();
        if r.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let size_line = self.line()?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::other(format!("bad chunk size: {size_line:?}")))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                let start = raw.len();
                raw.resize(start + size, 0);
                self.stream.read_exact(&mut raw[start..])?;
                self.line()?;
            }
        } else if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().map_err(|_| io::Error::other(format!("bad Content-Length: {len:?}")))?;
            raw.resize(len, 0);
            self.stream.read_exact(&mut raw)?;
        } else if !matches!(status, 204 | 304) && !(100..200).contains(&status) {
            // Neither length nor chunks: the body ends with the connection.
            match self.stream.read_to_end(&mut raw) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(e),
            }
        }
        r.body = String::from_utf8_lossy(&raw).into_owned();
        Ok(r)
    }
}
