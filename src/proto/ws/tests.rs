//! Frames built by tungstenite's own encoder (an implementation we did not write) stand in for a
//! client; the RFC 6455 §5.7 examples are data.

use super::*;
use async_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use proptest::prelude::*;

const MAX: usize = 64 * 1024;

/// A client frame as tungstenite formats it, masked with `mask`.
fn client(opcode: OpCode, payload: &[u8], fin: bool, mask: [u8; 4]) -> Vec<u8> {
    let header = FrameHeader { is_final: fin, opcode, mask: Some(mask), ..FrameHeader::default() };
    let f = Frame::from_payload(header, payload.to_vec().into());
    let mut out = Vec::new();
    f.format(&mut out).unwrap();
    out
}

fn text(payload: &str) -> Vec<u8> {
    client(OpCode::Data(Data::Text), payload.as_bytes(), true, [1, 2, 3, 4])
}

fn decode_all(bytes: &[u8]) -> Vec<Result<Message, Error>> {
    let mut d = Decoder::new(MAX);
    d.push(bytes);
    let mut out = Vec::new();
    loop {
        match d.poll_message() {
            Ok(Some(m)) => out.push(Ok(m)),
            Ok(None) => return out,
            Err(e) => {
                out.push(Err(e));
                return out;
            }
        }
    }
}

fn first_error(bytes: &[u8]) -> Error {
    match decode_all(bytes).pop() {
        Some(Err(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn rfc6455_masked_examples_decode() {
    // §5.7: a single-frame masked text message "Hello", and a masked ping with the same body.
    let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    assert_eq!(decode_all(&hello), vec![Ok(Message::Text("Hello".into()))]);
    let ping = [0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    assert_eq!(decode_all(&ping), vec![Ok(Message::Ping(b"Hello".to_vec()))]);
}

#[test]
fn rfc6455_unmasked_examples_are_refused_from_a_client() {
    // §5.7's unmasked "Hello" is what a server sends; a client must mask (§5.1).
    let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(first_error(&hello), Error::Protocol("client frame not masked"));
}

#[test]
fn a_message_in_three_fragments_with_a_ping_between() {
    let m = [9, 8, 7, 6];
    let mut bytes = client(OpCode::Data(Data::Text), "Hel".as_bytes(), false, m);
    bytes.extend(client(OpCode::Control(Control::Ping), b"p", true, m));
    bytes.extend(client(OpCode::Data(Data::Continue), "lo, wö".as_bytes(), false, m));
    bytes.extend(client(OpCode::Data(Data::Continue), "rld".as_bytes(), true, m));
    assert_eq!(decode_all(&bytes), vec![Ok(Message::Ping(b"p".to_vec())), Ok(Message::Text("Hello, wörld".into()))]);
}

#[test]
fn utf8_split_across_fragments_is_valid_and_broken_utf8_is_1007() {
    let bytes = "ö".as_bytes();
    let mut split = client(OpCode::Data(Data::Text), &bytes[..1], false, [0; 4]);
    split.extend(client(OpCode::Data(Data::Continue), &bytes[1..], true, [0; 4]));
    assert_eq!(decode_all(&split), vec![Ok(Message::Text("ö".into()))]);
    let broken = client(OpCode::Data(Data::Text), &[0xff, 0xfe], true, [5; 4]);
    assert_eq!(first_error(&broken), Error::InvalidUtf8);
}

#[test]
fn binary_messages_are_counted_not_kept() {
    let mut bytes = client(OpCode::Data(Data::Binary), &[1; 300], false, [1; 4]);
    bytes.extend(client(OpCode::Data(Data::Continue), &[2; 20], true, [1; 4]));
    assert_eq!(decode_all(&bytes), vec![Ok(Message::Binary(320))]);
}

#[test]
fn close_frames_carry_their_code() {
    let close = |payload: &[u8]| client(OpCode::Control(Control::Close), payload, true, [3; 4]);
    assert_eq!(decode_all(&close(&[])), vec![Ok(Message::Close(None))]);
    assert_eq!(decode_all(&close(&[0x03, 0xe8, b'o', b'k'])), vec![Ok(Message::Close(Some(1000)))]);
    assert_eq!(decode_all(&close(&[0x0f, 0xa0])), vec![Ok(Message::Close(Some(4000)))]);
    assert_eq!(first_error(&close(&[0x03])), Error::Protocol("one-byte close payload"));
    assert_eq!(decode_all(&close(&1012u16.to_be_bytes())), vec![Ok(Message::Close(Some(1012)))]);
    for invalid in [999u16, 1004, 1005, 1006, 1015, 2999, 5000] {
        assert_eq!(first_error(&close(&invalid.to_be_bytes())), Error::Protocol("invalid close code"), "{invalid}");
    }
    assert_eq!(first_error(&close(&[0x03, 0xe8, 0xff])), Error::InvalidUtf8);
}

#[test]
fn an_oversize_message_is_refused_at_its_header_before_its_payload() {
    let mut d = Decoder::new(1000);
    // Only the header of a 1,001-byte text frame has arrived.
    let frame = client(OpCode::Data(Data::Text), &[b'a'; 1001], true, [0; 4]);
    d.push(&frame[..8]);
    assert_eq!(d.poll_message(), Err(Error::TooBig));
    // Exactly the limit is fine.
    assert_eq!(
        decode_all(&client(OpCode::Data(Data::Binary), &[0; MAX], true, [0; 4])),
        vec![Ok(Message::Binary(MAX))]
    );
    // A fragmented message is judged on its running total.
    let mut d = Decoder::new(1000);
    d.push(&client(OpCode::Data(Data::Text), &[b'a'; 600], false, [0; 4]));
    assert_eq!(d.poll_message(), Ok(None));
    d.push(&client(OpCode::Data(Data::Continue), &[b'a'; 401], true, [0; 4])[..8]);
    assert_eq!(d.poll_message(), Err(Error::TooBig));
    // A 64-bit length too big for any buffer.
    let mut huge = vec![0x82, 0xFF];
    huge.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    huge.extend_from_slice(&[0; 4]);
    assert_eq!(first_error(&huge), Error::TooBig);
}

#[test]
fn protocol_violations_are_refused() {
    let m = [0; 4];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0xC1, 0x80, 0, 0, 0, 0], "reserved bit set"),
        (vec![0x83, 0x80, 0, 0, 0, 0], "reserved opcode"),
        (vec![0x8B, 0x80, 0, 0, 0, 0], "reserved opcode"),
        (client(OpCode::Control(Control::Ping), b"x", false, m), "fragmented control frame"),
        (client(OpCode::Control(Control::Ping), &[0; 126], true, m), "control frame longer than 125 bytes"),
        (client(OpCode::Data(Data::Continue), b"x", true, m), "continuation without a message"),
        (
            [client(OpCode::Data(Data::Text), b"a", false, m), text("b")].concat(),
            "new message before the last one ended",
        ),
        ([vec![0x82, 0xFF, 0x80], vec![0; 7], vec![0; 4]].concat(), "length with the high bit set"),
    ];
    for (bytes, why) in cases {
        assert_eq!(first_error(&bytes), Error::Protocol(why), "{why}");
    }
}

#[test]
fn a_decoder_that_has_decoded_everything_holds_no_memory() {
    let mut d = Decoder::new(MAX);
    let frame = text(&"x".repeat(5000));
    d.push(&frame[..3000]);
    assert_eq!(d.poll_message(), Ok(None));
    assert!(d.buf.capacity() >= 3000, "an incomplete frame is kept");
    d.push(&frame[3000..]);
    assert!(matches!(d.poll_message(), Ok(Some(Message::Text(t))) if t.len() == 5000));
    assert_eq!((d.buf.capacity(), d.pos), (0, 0));
    assert!(d.fragmented.is_none());
}

#[test]
fn frames_we_send_parse_with_tungstenites_header_parser() {
    for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
        let t = "a".repeat(len);
        let frame = text_frame(&t);
        let mut cursor = std::io::Cursor::new(&frame[..]);
        let (header, payload_len): (FrameHeader, u64) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        assert!(header.is_final && header.mask.is_none(), "len {len}");
        assert_eq!(header.opcode, OpCode::Data(Data::Text));
        assert_eq!(payload_len as usize, len);
        assert_eq!(&frame[cursor.position() as usize..], t.as_bytes());
    }
    let parse = |f: &[u8]| FrameHeader::parse(&mut std::io::Cursor::new(f)).unwrap().unwrap().0.opcode;
    assert_eq!(parse(&PING), OpCode::Control(Control::Ping));
    assert_eq!(parse(&pong_frame(b"abc")), OpCode::Control(Control::Pong));
    assert_eq!(parse(&close_frame(Some(1000), "")), OpCode::Control(Control::Close));
}

#[test]
fn close_frames_we_send_fit_the_control_limit_on_a_char_boundary() {
    assert_eq!(close_frame(None, "ignored"), vec![0x88, 0x00]);
    assert_eq!(close_frame(Some(4001), "auth timeout"), [&[0x88, 14, 0x0f, 0xa1][..], b"auth timeout"].concat());
    let long = "é".repeat(100); // 200 bytes
    let f = close_frame(Some(1000), &long);
    assert_eq!(f[1] as usize, f.len() - 2);
    assert!(f.len() - 2 <= 125);
    assert!(std::str::from_utf8(&f[4..]).is_ok());
}

#[derive(Debug, Clone)]
enum Sent {
    Text(String, usize),
    Binary(usize, usize),
    Ping(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        ("\\PC{0,300}", 1usize..4).prop_map(|(t, n)| Sent::Text(t, n)),
        (0usize..2000, 1usize..4).prop_map(|(l, n)| Sent::Binary(l, n)),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Sent::Ping),
    ]
}

/// `payload` in `n` frames (the first with `opcode`, then continuations).
fn fragments(opcode: OpCode, payload: &[u8], n: usize, mask: [u8; 4]) -> Vec<u8> {
    let step = payload.len().div_ceil(n).max(1);
    let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
    let last = chunks.len() - 1;
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let op = if i == 0 { opcode } else { OpCode::Data(Data::Continue) };
        out.extend(client(op, c, i == last, mask));
    }
    out
}

proptest! {
    /// Whatever the messages, their fragmentation and how TCP splits the bytes, the decoder
    /// returns the messages sent, and ends holding no memory.
    #[test]
    fn messages_survive_any_fragmentation_and_any_split(
        msgs in proptest::collection::vec(sent(), 1..8),
        cuts in proptest::collection::vec(1usize..700, 1..20),
        mask in any::<[u8; 4]>(),
    ) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for m in &msgs {
            match m {
                Sent::Text(t, n) => {
                    bytes.extend(fragments(OpCode::Data(Data::Text), t.as_bytes(), *n, mask));
                    expected.push(Message::Text(t.clone()));
                }
                Sent::Binary(l, n) => {
                    bytes.extend(fragments(OpCode::Data(Data::Binary), &vec![7u8; *l], *n, mask));
                    expected.push(Message::Binary(*l));
                }
                Sent::Ping(p) => {
                    bytes.extend(client(OpCode::Control(Control::Ping), p, true, mask));
                    expected.push(Message::Ping(p.clone()));
                }
            }
        }
        let mut d = Decoder::new(MAX);
        let mut got = Vec::new();
        let mut rest = &bytes[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(m) = d.poll_message().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(d.buf.capacity(), 0);
    }

    /// Arbitrary bytes give messages or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut d = Decoder::new(200);
        d.push(&bytes);
        while let Ok(Some(_)) = d.poll_message() {}
    }
}
