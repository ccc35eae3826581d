//! Debian's `pebble` (a test ACME server) and `pebble-challtestsrv` (its DNS), started on
//! loopback for one test. Validation is real: pebble resolves the test domain through
//! challtestsrv (an A record to 127.0.0.1) and connects to the box's own listeners, whose ports
//! are given to pebble as `httpPort` and `tlsPort`. `PEBBLE_VA_NOSLEEP` only skips pebble's random
//! 0-15 s pause before each validation; `PEBBLE_WFE_NONCEREJECT=0` stops it refusing 5% of nonces.
//! Debian ships no test certificates, so pebble's HTTPS certificate (and the CA the box is told to
//! trust for it, `acme_ca_file`) is made here with openssl.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub const DOMAIN: &str = "box.edgebeam.test";

pub struct Pebble {
    children: Vec<Child>,
    pub dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA of pebble's own HTTPS certificate (for `acme_ca_file`).
    pub https_ca: PathBuf,
    /// challtestsrv's management API.
    pub challtest: SocketAddr,
    management: SocketAddr,
}

pub fn available() -> bool {
    Command::new("pebble").arg("-h").stderr(Stdio::null()).status().is_ok()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn wait_tcp(addr: SocketAddr, what: &str) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Pebble {
    /// Starts challtestsrv and pebble. pebble validates http-01 on `http_port` and tls-alpn-01
    /// on `tls_port` of 127.0.0.1; `validity_secs` shortens its certificates.
    pub fn start(http_port: u16, tls_port: u16, validity_secs: Option<u64>) -> Pebble {
        let listen = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        Pebble::start_on(listen, http_port, tls_port, validity_secs)
    }

    pub fn start_on(listen: SocketAddr, http_port: u16, tls_port: u16, validity_secs: Option<u64>) -> Pebble {
        Pebble::start_in(Pebble::prepare(), listen, http_port, tls_port, validity_secs)
    }

    /// A folder with pebble's HTTPS certificate and its CA (`ca.pem`), made before pebble starts.
    pub fn prepare() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        make_https_cert(dir.path());
        dir
    }

    pub fn start_in(
        dir: tempfile::TempDir,
        listen: SocketAddr,
        http_port: u16,
        tls_port: u16,
        validity_secs: Option<u64>,
    ) -> Pebble {
        Pebble::start_full(dir, listen, http_port, tls_port, validity_secs, None)
    }

    /// pebble requiring external account binding with (key id, base64url HMAC key).
    pub fn start_eab(http_port: u16, tls_port: u16, eab: (&str, &str)) -> Pebble {
        let listen = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        Pebble::start_full(Pebble::prepare(), listen, http_port, tls_port, None, Some(eab))
    }

    fn start_full(
        dir: tempfile::TempDir,
        listen: SocketAddr,
        http_port: u16,
        tls_port: u16,
        validity_secs: Option<u64>,
        eab: Option<(&str, &str)>,
    ) -> Pebble {
        let d = dir.path().to_owned();
        let mut children = Vec::new();
        let challtest = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        let dns = SocketAddr::from(([127, 0, 0, 1], super::free_port_tcp_udp()));
        let log = |name: &str| std::fs::File::create(d.join(name)).unwrap();
        children.push(
            Command::new("pebble-challtestsrv")
                .args(["-management", &challtest.to_string(), "-dns01", &dns.to_string()])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""])
                .stdout(log("challtestsrv.log"))
                .stderr(log("challtestsrv.err"))
                .spawn()
                .unwrap(),
        );
        wait_tcp(challtest, "pebble-challtestsrv");
        let management = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": d.join("pebble.pem"),
            "privateKey": d.join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some((kid, key)) = eab {
            config["pebble"]["externalAccountBindingRequired"] = true.into();
            config["pebble"]["externalAccountMACKeys"] = serde_json::json!({ kid: key });
        }
        if let Some(secs) = validity_secs {
            config["pebble"]["certificateValidityPeriod"] = secs.into();
        }
        std::fs::write(d.join("pebble.json"), config.to_string()).unwrap();
        let mut pebble = Pebble {
            children,
            directory: format!("https://{listen}/dir"),
            https_ca: d.join("ca.pem"),
            challtest,
            management,
            dir,
        };
        pebble.children.push(
            Command::new("pebble")
                .args(["-config", pebble.dir.path().join("pebble.json").to_str().unwrap()])
                .args(["-dnsserver", &dns.to_string()])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env_remove("PEBBLE_VA_ALWAYS_VALID")
                .stdout(log("pebble.log"))
                .stderr(log("pebble.err"))
                .spawn()
                .unwrap(),
        );
        wait_tcp(listen, "pebble");
        wait_tcp(management, "pebble's management port");
        pebble.challtest_post("add-a", &serde_json::json!({"host": DOMAIN, "addresses": ["127.0.0.1"]}));
        pebble
    }

    /// pebble's log, for failure messages.
    pub fn log(&self) -> String {
        let d = self.dir.path();
        let read = |n: &str| std::fs::read_to_string(d.join(n)).unwrap_or_default();
        format!("{}{}{}", read("pebble.log"), read("pebble.err"), read("challtestsrv.log"))
    }

    pub fn challtest_post(&self, path: &str, body: &serde_json::Value) {
        run(Command::new("curl")
            .args(["-sSf", "--max-time", "5", "-X", "POST", "-d", &body.to_string()])
            .arg(format!("http://{}/{path}", self.challtest)));
    }

    /// The root that pebble signs with (it changes with every pebble start), from its
    /// management port.
    pub fn root(&self) -> CertificateDer<'static> {
        let out = Command::new("curl")
            .args(["-sSf", "--max-time", "5", "--cacert", self.https_ca.to_str().unwrap()])
            .arg(format!("https://{}/roots/0", self.management))
            .output()
            .unwrap();
        assert!(out.status.success(), "roots/0: {}", String::from_utf8_lossy(&out.stderr));
        CertificateDer::from_pem_slice(&out.stdout).unwrap()
    }

    /// pebble's intermediate (the issuer of the leaves it signs), from its management port.
    pub fn intermediate(&self) -> CertificateDer<'static> {
        let out = Command::new("curl")
            .args(["-sSf", "--max-time", "5", "--cacert", self.https_ca.to_str().unwrap()])
            .arg(format!("https://{}/intermediates/0", self.management))
            .output()
            .unwrap();
        assert!(out.status.success(), "intermediates/0: {}", String::from_utf8_lossy(&out.stderr));
        CertificateDer::from_pem_slice(&out.stdout).unwrap()
    }

    /// A dns-01 hook: `HOOK set|clear DOMAIN VALUE` sets or clears the TXT record through
    /// challtestsrv's management API, with curl.
    pub fn dns_hook(&self) -> PathBuf {
        let hook = self.dir.path().join("dns-hook.sh");
        let script = format!(
            "#!/bin/sh\nset -e\nAPI=http://{}\ncase \"$1\" in\n  set) curl -sSf --max-time 5 -X POST -d \"{{\\\"host\\\":\\\"_acme-challenge.$2.\\\",\\\"value\\\":\\\"$3\\\"}}\" $API/set-txt ;;\n  clear) curl -sSf --max-time 5 -X POST -d \"{{\\\"host\\\":\\\"_acme-challenge.$2.\\\"}}\" $API/clear-txt ;;\n  *) exit 2 ;;\nesac\necho \"$1 $2\" >> \"$(dirname \"$0\")/hook.calls\"\n",
            self.challtest
        );
        write_executable(&hook, &script);
        hook
    }

    pub fn hook_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hook.calls")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn write_executable(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it: pebble's HTTPS identity.
fn make_https_cert(d: &Path) {
    let ossl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(d));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    ossl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pebble https test CA"],
        ]
        .concat(),
    );
    ossl(&[&["req"][..], &ec, &["-keyout", "pebble.key", "-out", "pebble.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "pebble.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "pebble.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// A TLS handshake with `addr` for `name` that trusts only `root`: Ok with the leaf's SHA-256
/// (lower-case hex) when the presented chain leads to `root`.
pub fn leaf_chaining_to(addr: SocketAddr, root: &CertificateDer<'_>, name: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone().into_owned()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from(name.to_owned()).unwrap()).unwrap();
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let leaf = conn.peer_certificates().and_then(|c| c.first()).ok_or("no certificate")?;
    Ok(sha256_hex(leaf.as_ref()))
}

/// base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's
/// `--ignore-certificate-errors-spki-list` takes it.
pub fn spki_sha256_base64(cert: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, parsed.public_key().raw);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits up to `timeout` for `addr` to present a chain to `root` for `name`.
pub fn wait_for_chain(
    addr: SocketAddr,
    root: &CertificateDer<'_>,
    name: &str,
    timeout: Duration,
) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match leaf_chaining_to(addr, root, name) {
            Ok(fp) => return Ok(fp),
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
