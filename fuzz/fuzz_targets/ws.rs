//! Any bytes as WebSocket frames from a client, fed in one piece and split at every position the
//! first byte picks: decoding never panics, never yields a message over the size limit, and the
//! split feed decodes exactly what the whole one does (TCP may cut the stream anywhere).
#![no_main]

use edgebeam::proto::ws::{Decoder, Message};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1024;

fn decode(chunks: &[&[u8]]) -> Vec<Result<Message, edgebeam::proto::ws::Error>> {
    let mut d = Decoder::new(MAX);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        loop {
            match d.poll_message() {
                Ok(Some(m)) => {
                    match &m {
                        Message::Text(t) => assert!(t.len() <= MAX),
                        Message::Binary(n) => assert!(*n <= MAX),
                        Message::Ping(p) => assert!(p.len() <= 125),
                        _ => {}
                    }
                    out.push(Ok(m));
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else { return };
    let whole = decode(&[data]);
    let step = usize::from(step).max(1);
    let pieces: Vec<&[u8]> = data.chunks(step).collect();
    assert_eq!(decode(&pieces), whole);
});
