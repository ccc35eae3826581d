//! Keys and tokens from the outside: the CLI, PyJWT (a JWT library nobody here wrote), and the
//! running server's revocation.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{edgebeam, stderr, Server};

use common::edgebeam_ok as ok;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

const PYJWT_MINT: &str = r#"
import sys, time, jwt
key = open(sys.argv[1]).read()
claims = {"gid": sys.argv[3], "pid": sys.argv[4], "iat": int(time.time()), "exp": int(time.time()) + 600}
if len(sys.argv) > 5:
    g, p = sys.argv[5].split(":")
    claims["ap"] = {"group_id": g, "peer_id": p}
print(jwt.encode(claims, key, algorithm="ES256", headers={"kid": sys.argv[2]}))
"#;

const PYJWT_VERIFY: &str = r#"
import sys, json, jwt
from cryptography.hazmat.primitives import serialization
private = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
claims = jwt.decode(sys.argv[2], private.public_key(), algorithms=["ES256"])
header = jwt.get_unverified_header(sys.argv[2])
print(json.dumps({"claims": claims, "kid": header["kid"]}))
"#;

struct Project {
    _tmp: tempfile::TempDir,
    dir: String,
    id: String,
}

fn project() -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").to_str().unwrap().to_owned();
    let id = ok(&["project", "create", "--data-dir", &dir, "tokens"]);
    Project { _tmp: tmp, dir, id }
}

fn key_create(p: &Project, out: &Path) -> String {
    ok(&["key", "create", "--data-dir", &p.dir, "--project", &p.id, "--out", out.to_str().unwrap()])
}

#[test]
fn key_create_writes_a_private_pem_and_stores_only_the_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let p = project();
    let pem = p._tmp.path().join("app.pem");
    let kid = key_create(&p, &pem);
    assert!(kid.len() == 20 && kid.starts_with("kid_"), "{kid}");
    assert!(kid[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    let private = std::fs::read_to_string(&pem).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    // Nothing under the data dir holds the private scalar.
    use p256::pkcs8::DecodePrivateKey;
    let scalar = p256::SecretKey::from_pkcs8_pem(&private).unwrap().to_bytes();
    for entry in walk(Path::new(&p.dir)) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!contains(&bytes, &scalar), "{} holds the private scalar", entry.display());
        assert!(!contains(&bytes, private.as_bytes()), "{} holds the PEM", entry.display());
    }
    let list = ok(&["key", "list", "--data-dir", &p.dir, "--project", &p.id]);
    assert!(list.starts_with(&kid), "{list}");
    // --out is never overwritten.
    let again =
        edgebeam(&["key", "create", "--data-dir", &p.dir, "--project", &p.id, "--out", pem.to_str().unwrap()], "");
    assert!(!again.status.success());
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&pem).unwrap(), private);
}

#[test]
fn pyjwt_tokens_verify_and_cli_tokens_verify_in_pyjwt() {
    let p = project();
    let pem = p._tmp.path().join("app.pem");
    let kid = key_create(&p, &pem);
    let pem_s = pem.to_str().unwrap();

    let token = python(PYJWT_MINT, &[pem_s, &kid, "room-1", "alice", "room-*:*"]);
    let claims: serde_json::Value =
        serde_json::from_str(&ok(&["token", "verify", "--data-dir", &p.dir, &token])).unwrap();
    assert_eq!(claims["gid"], "room-1");
    assert_eq!(claims["pid"], "alice");
    assert_eq!(claims["ap"]["group_id"], "room-*");

    let minted =
        ok(&["token", "mint", "--key", pem_s, "--kid", &kid, "--group", "g1", "--peer", "bob", "--ttl", "120"]);
    let decoded: serde_json::Value = serde_json::from_str(&python(PYJWT_VERIFY, &[pem_s, &minted])).unwrap();
    assert_eq!(decoded["kid"], kid.as_str());
    assert_eq!(decoded["claims"]["pid"], "bob");
    let exp = decoded["claims"]["exp"].as_i64().unwrap();
    let iat = decoded["claims"]["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 120);
}

#[test]
fn key_add_takes_spki_pem_and_jwk_made_by_other_tools() {
    let p = project();
    let dir = p._tmp.path();
    python(
        r#"
import sys, json
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm
d = sys.argv[1]
for name in ["a", "b"]:
    k = ec.generate_private_key(ec.SECP256R1())
    open(f"{d}/{name}.key", "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    open(f"{d}/{name}.pub.pem", "wb").write(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    open(f"{d}/{name}.jwk", "w").write(ECAlgorithm.to_jwk(k.public_key()))
"#,
        &[dir.to_str().unwrap()],
    );
    let path = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let kid_a = ok(&["key", "add", "--data-dir", &p.dir, "--project", &p.id, "--public-key", &path("a.pub.pem")]);
    let kid_b = ok(&["key", "add", "--data-dir", &p.dir, "--project", &p.id, "--public-key", &path("b.jwk")]);
    for (kid, key) in [(&kid_a, "a.key"), (&kid_b, "b.key")] {
        let token = python(PYJWT_MINT, &[&path(key), kid, "g", "p"]);
        ok(&["token", "verify", "--data-dir", &p.dir, &token]);
    }
    // A token signed by key a but naming key b's kid fails.
    let crossed = python(PYJWT_MINT, &[&path("a.key"), &kid_b, "g", "p"]);
    let out = edgebeam(&["token", "verify", "--data-dir", &p.dir, &crossed], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
}

#[test]
fn key_add_refuses_keys_that_are_not_p256_public_keys() {
    let p = project();
    let dir = p._tmp.path();
    python(
        r#"
import sys
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives import serialization
d = sys.argv[1]
pub = serialization.PublicFormat.SubjectPublicKeyInfo
pem = serialization.Encoding.PEM
open(f"{d}/rsa.pem", "wb").write(rsa.generate_private_key(65537, 2048).public_key().public_bytes(pem, pub))
open(f"{d}/p384.pem", "wb").write(ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(pem, pub))
k = ec.generate_private_key(ec.SECP256R1())
open(f"{d}/private.pem", "wb").write(k.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#,
        &[dir.to_str().unwrap()],
    );
    std::fs::write(dir.join("junk.txt"), "hello").unwrap();
    std::fs::write(
        dir.join("offcurve.jwk"),
        r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1"}"#,
    )
    .unwrap();
    for (file, want) in [
        ("rsa.pem", "P-256"),
        ("p384.pem", "P-256"),
        ("private.pem", "private key"),
        ("junk.txt", "not a P-256 public key"),
        ("offcurve.jwk", "point on P-256"),
        ("missing.pem", "cannot read"),
    ] {
        let f = dir.join(file);
        let out = edgebeam(
            &["key", "add", "--data-dir", &p.dir, "--project", &p.id, "--public-key", f.to_str().unwrap()],
            "",
        );
        assert!(!out.status.success(), "{file} was accepted");
        let err = stderr(&out);
        assert!(err.contains(want) && err.lines().count() == 1, "{file}: {err}");
    }
    assert_eq!(ok(&["key", "list", "--data-dir", &p.dir, "--project", &p.id]), "");
}

#[test]
fn token_verify_explains_rejections_in_one_line() {
    let p = project();
    let pem = p._tmp.path().join("app.pem");
    let kid = key_create(&p, &pem);
    let token = ok(&["token", "mint", "--key", pem.to_str().unwrap(), "--kid", &kid, "--group", "g", "--peer", "p"]);
    let mut tampered = token.clone();
    tampered.insert_str(tampered.find('.').unwrap() + 1, "eyJ");
    let cases = [
        ("nonsense".to_owned(), "segments"),
        (tampered, "token invalid"),
        (format!("{token}x"), "token invalid"),
        ("a".repeat(5000), "limit"),
    ];
    for (t, want) in cases {
        let out = edgebeam(&["token", "verify", "--data-dir", &p.dir, &t], "");
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
    }
    let bad_mint = [
        vec!["--group", "has space", "--peer", "p"],
        vec!["--group", "g", "--peer", "p", "--allow", "**:*"],
        vec!["--group", "g", "--peer", "p", "--allow", "nocolon"],
        vec!["--group", "g", "--peer", "p", "--ttl", "0"],
    ];
    for extra in bad_mint {
        let mut args = vec!["token", "mint", "--key", pem.to_str().unwrap(), "--kid", &kid];
        args.extend(extra.iter().copied());
        let out = edgebeam(&args, "");
        assert!(!out.status.success(), "{extra:?}");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

fn whoami(server: &Server, token: &str) -> common::https::HttpResponse {
    common::https::request_with(server.signal, "GET", "/v1/whoami", &[("Authorization", &format!("Bearer {token}"))])
        .unwrap()
}

#[test]
fn deleting_a_key_revokes_its_tokens_in_the_running_server_within_2_seconds() {
    let p = project();
    let server = Server::start(Path::new(&p.dir), &[]);
    let pem = p._tmp.path().join("a.pem");
    let other_pem = p._tmp.path().join("b.pem");
    let kid = key_create(&p, &pem);
    let other = key_create(&p, &other_pem);
    let token = python(PYJWT_MINT, &[pem.to_str().unwrap(), &kid, "room", "alice"]);
    let other_token = python(PYJWT_MINT, &[other_pem.to_str().unwrap(), &other, "room", "bob"]);

    // The server picks up keys made by the CLI while it runs.
    let start = Instant::now();
    let mut r = whoami(&server, &token);
    while r.status != 200 && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        r = whoami(&server, &token);
    }
    assert_eq!(r.status, 200, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["project"], p.id.as_str());
    assert_eq!(body["pid"], "alice");
    assert_eq!(body["ap"]["peer_id"], "*");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(whoami(&server, &other_token).status, 200);

    ok(&["key", "delete", "--data-dir", &p.dir, &kid]);
    let deleted_at = Instant::now();
    loop {
        let r = whoami(&server, &token);
        if r.status == 401 {
            assert!(r.body.contains("token_invalid"), "{}", r.body);
            break;
        }
        assert!(deleted_at.elapsed() < Duration::from_secs(2), "token still accepted 2 s after key delete");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(whoami(&server, &other_token).status, 200, "other keys are untouched");
    assert!(server.stderr().contains(&format!("keys deleted: {kid}")));
    let no_header = common::https::request(server.signal, "GET", "/v1/whoami").unwrap();
    assert_eq!(no_header.status, 401);
}

/// A token of `kid`, minted in-process so nothing but the test's own code runs between the key's
/// creation and its first use.
fn mint_now(pem: &Path, kid: &str, pid: &str) -> String {
    use edgebeam::ids::{GroupId, Kid, PeerId};
    use edgebeam::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
    let key = signing_key_from_pem(&std::fs::read_to_string(pem).unwrap()).unwrap();
    let request = MintRequest {
        kid: &Kid::parse(kid).unwrap(),
        gid: &GroupId::parse("room").unwrap(),
        pid: &PeerId::parse(pid).unwrap(),
        policy: None,
        iat: edgebeam::unixtime::UnixTime::now(),
        ttl_secs: 600,
    };
    mint(&key, &request).unwrap()
}

#[test]
fn a_key_created_by_the_cli_while_serve_runs_verifies_at_once() {
    let p = project();
    let server = Server::start(Path::new(&p.dir), &[]);
    // Every attempt uses a key the server has never seen, with no sleep: the watcher's
    // half-second poll would let a lucky one through now and then, never ten in a row.
    for i in 0..10 {
        let pem = p._tmp.path().join(format!("new{i}.pem"));
        let kid = key_create(&p, &pem);
        let mut ws = common::ws::Ws::connect(server.signal, None);
        let welcome = ws.auth(&mint_now(&pem, &kid, &format!("alice{i}")));
        assert_eq!(welcome["type"], "welcome", "attempt {i}: {welcome}");

        let pem = p._tmp.path().join(format!("other{i}.pem"));
        let kid = key_create(&p, &pem);
        let r = whoami(&server, &mint_now(&pem, &kid, "bob"));
        assert_eq!(r.status, 200, "attempt {i}: {}", r.body);
    }
}

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
        #[test]
        fn cli_minted_tokens_round_trip_through_cli_verify(
            gid in "[A-Za-z0-9_.@-]{1,64}",
            pid in "[A-Za-z0-9_.@-]{1,64}",
            gpat in "[a-z0-9]{0,5}\\*?[a-z0-9]{0,5}",
            ppat in "\\*|[a-z]{1,8}",
            ttl in 1i64..86_400,
        ) {
            prop_assume!(!gpat.is_empty());
            let p = project();
            let pem = p._tmp.path().join("k.pem");
            let kid = key_create(&p, &pem);
            let allow = format!("{gpat}:{ppat}");
            let token = ok(&["token", "mint", "--key", pem.to_str().unwrap(), "--kid", &kid, "--group", &gid, "--peer", &pid, "--allow", &allow, "--ttl", &ttl.to_string()]);
            let claims: serde_json::Value = serde_json::from_str(&ok(&["token", "verify", "--data-dir", &p.dir, &token])).unwrap();
            prop_assert_eq!(claims["gid"].as_str(), Some(gid.as_str()));
            prop_assert_eq!(claims["pid"].as_str(), Some(pid.as_str()));
            prop_assert_eq!(claims["ap"]["group_id"].as_str(), Some(gpat.as_str()));
            prop_assert_eq!(claims["ap"]["peer_id"].as_str(), Some(ppat.as_str()));
            prop_assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), ttl);
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
