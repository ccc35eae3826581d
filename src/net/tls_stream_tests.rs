//! The stream against rustls's own buffered client (futures-rustls) over loopback sockets.

use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use smol::net::{TcpListener, TcpStream};

use super::*;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration with a fresh certificate for "localhost", and a client trusting it.
fn configs(versions: &[&'static rustls::SupportedProtocolVersion]) -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

async fn pair(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (TlsStream, futures_rustls::client::TlsStream<TcpStream>) {
    let (server_config, client_config) = configs(versions);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = smol::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        futures_rustls::TlsConnector::from(client_config).connect(name, tcp).await.unwrap()
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let server = accept(tcp, server_config).await.unwrap();
    (server, client.await)
}

#[test]
fn echoes_small_and_large_writes_and_frees_every_buffer_when_idle() {
    for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
        smol::block_on(async {
            let (mut server, mut client) = pair(versions).await;
            let echo = smol::spawn(async move {
                let mut buf = vec![0u8; 300_000];
                let mut total = 0;
                while total < 1 + 1000 + 200_000 {
                    let n = server.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    server.write_all(&buf[..n]).await.unwrap();
                    server.flush().await.unwrap();
                    total += n;
                }
                server
            });
            let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let mut sent = Vec::new();
            for chunk in [&[7u8][..], &[9u8; 1000][..], &big[..]] {
                client.write_all(chunk).await.unwrap();
                client.flush().await.unwrap();
                sent.extend_from_slice(chunk);
            }
            let mut back = vec![0u8; sent.len()];
            client.read_exact(&mut back).await.unwrap();
            assert!(back == sent, "echo differs");
            let server = echo.await;
            assert_eq!(server.buffered_capacity(), 0, "an idle connection holds no buffers");
        });
    }
}

#[test]
fn close_notify_ends_the_read_side_and_the_server_closes_cleanly() {
    smol::block_on(async {
        let (mut server, mut client) = pair(&[&rustls::version::TLS13]).await;
        client.write_all(b"bye").await.unwrap();
        client.close().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        server.close().await.unwrap();
        // The client sees our close_notify: a clean end of stream, not an error.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

/// A raw client sends `bytes` and hangs up its write side; the handshake's error, and every
/// byte the server sent back.
async fn handshake_with_raw_client(bytes: &'static [u8]) -> (io::Error, Vec<u8>) {
    let (server_config, _) = configs(&[&rustls::version::TLS13]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = smol::spawn(async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        // The server may refuse and hang up before it has everything (the byte cap does): then
        // the rest of the write, or the shutdown, meets a closed connection.
        let _ = tcp.write_all(bytes).await;
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        answer
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let err = accept(tcp, server_config).await.err().expect("no handshake can succeed");
    (err, client.await)
}

#[test]
fn garbage_instead_of_a_client_hello_fails_the_handshake_with_an_alert() {
    let (err, answer) = smol::block_on(handshake_with_raw_client(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(answer.first(), Some(&0x15), "a TLS alert record: {answer:?}");
}

#[test]
fn a_client_that_hangs_up_mid_handshake_is_an_error_not_a_hang() {
    // The first bytes of a handshake record, then nothing.
    let (err, _) = smol::block_on(handshake_with_raw_client(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn a_handshake_over_the_byte_cap_is_refused_before_it_is_all_buffered() {
    // Three full records carrying one 48 KiB ClientHello: rustls would keep joining them.
    let hello_len: usize = 3 * 16384 - 4;
    let mut bytes = Vec::new();
    for i in 0..3 {
        bytes.extend_from_slice(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        let mut payload = vec![0u8; 16384];
        if i == 0 {
            payload[0] = 0x01;
            payload[1..4].copy_from_slice(&(hello_len as u32).to_be_bytes()[1..]);
        }
        bytes.extend_from_slice(&payload);
    }
    let (err, _) = smol::block_on(handshake_with_raw_client(Box::leak(bytes.into_boxed_slice())));
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("16 KiB"), "{err}");
}
