//! The shared resolver, driven by in-memory rustls handshakes: swaps, refusals and TLS-ALPN-01.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime as PkiTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::live::{TlsState, ACME_TLS_ALPN};
use super::{selfsigned, TlsMaterial, TlsOrigin};
use crate::unixtime::UnixTime;

#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: PkiTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

fn material(name: &str) -> TlsMaterial {
    let (cert, key) = selfsigned::generate(&[selfsigned::San::Dns(name.into())], UnixTime(1_800_000_000)).unwrap();
    TlsMaterial {
        chain: rustls_pki_types::pem::PemObject::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().unwrap(),
        key: rustls_pki_types::pem::PemObject::from_pem_slice(key.as_bytes()).unwrap(),
        origin: TlsOrigin::OperatorFiles,
    }
}

/// A full handshake in memory against `server_alpn`; the leaf the client saw, or the error.
fn handshake(state: &TlsState, server_alpn: &[&[u8]], sni: &str, client_alpn: &[&[u8]]) -> Result<Vec<u8>, String> {
    let server_config = super::server_config(state.resolver(), server_alpn).unwrap();
    let mut server = rustls::ServerConnection::new(server_config).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
    client_config.alpn_protocols = client_alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        server.process_new_packets().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets().map_err(|e| e.to_string())?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(client.peer_certificates().unwrap()[0].to_vec());
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn an_installed_certificate_is_served_by_the_next_handshake() {
    let first = material("one.example");
    let state = TlsState::new("files", &first).unwrap();
    assert_eq!(handshake(&state, &[b"http/1.1"], "one.example", &[]).unwrap(), first.chain[0].to_vec());
    let second = material("two.example");
    let info = state.install(&second).unwrap();
    assert_eq!(info.sans, ["two.example"]);
    assert!(info.self_signed);
    assert_eq!(state.info().sha256_fingerprint, second.fingerprint());
    for alpn in [&[b"http/1.1".as_slice()][..], &[]] {
        assert_eq!(handshake(&state, alpn, "one.example", &[]).unwrap(), second.chain[0].to_vec());
    }
}

#[test]
fn a_key_of_another_certificate_is_refused_and_the_old_pair_stays() {
    let first = material("one.example");
    let state = TlsState::new("files", &first).unwrap();
    let mut mixed = material("two.example");
    mixed.key = material("three.example").key;
    assert!(state.install(&mixed).is_err());
    assert_eq!(state.info().sha256_fingerprint, first.fingerprint());
    assert_eq!(handshake(&state, &[b"http/1.1"], "x", &[]).unwrap(), first.chain[0].to_vec());
}

#[test]
fn the_tls_alpn_01_certificate_goes_only_to_acme_tls_1_for_its_name() {
    let served = material("box.example");
    let state = TlsState::new("acme", &served).unwrap();
    let alpn: &[&[u8]] = &[b"http/1.1", ACME_TLS_ALPN];
    // No challenge pending: a validation attempt gets no certificate at all.
    assert!(handshake(&state, alpn, "box.example", &[ACME_TLS_ALPN]).is_err());
    let challenge = super::acme::challenge::alpn_certificate("box.example", &[7; 32]).unwrap();
    state.add_alpn_challenge("Box.Example", super::live::certified_key(&challenge).unwrap());
    assert_eq!(handshake(&state, alpn, "box.example", &[ACME_TLS_ALPN]).unwrap(), challenge.chain[0].to_vec());
    assert!(handshake(&state, alpn, "other.example", &[ACME_TLS_ALPN]).is_err(), "another name");
    // Browsers (h2, http/1.1) and clients without ALPN keep getting the served certificate.
    let browser: &[&[u8]] = &[b"h2", b"http/1.1"];
    assert_eq!(handshake(&state, alpn, "box.example", browser).unwrap(), served.chain[0].to_vec());
    assert_eq!(handshake(&state, alpn, "box.example", &[]).unwrap(), served.chain[0].to_vec());
    state.remove_alpn_challenge("box.example");
    assert!(handshake(&state, alpn, "box.example", &[ACME_TLS_ALPN]).is_err());
}

#[test]
fn the_tls_alpn_01_certificate_carries_the_critical_acme_identifier() {
    let digest = [0xAB; 32];
    let m = super::acme::challenge::alpn_certificate("box.example", &digest).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(m.chain[0].as_ref()).unwrap();
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
        .expect("the acmeIdentifier extension (RFC 8737 section 3)");
    assert!(ext.critical);
    // DER OCTET STRING of the 32-byte SHA-256.
    assert_eq!(ext.value[..2], [0x04, 32]);
    assert_eq!(ext.value[2..], digest);
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(san.value.general_names.len(), 1);
}
