//! Any bytes as a client's signaling text: parsing never panics, a rejection echoes only an `id`
//! the message really carried, and every accepted message, written back as JSON, parses to the
//! same message (so the parser keeps nothing it did not read, and checks what it keeps).
#![no_main]

use edgebeam::proto::signal::messages::{parse_client, ClientMessage};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn to_text(m: &ClientMessage) -> String {
    match m {
        ClientMessage::Auth { token } => json!({"type": "auth", "token": token}),
        ClientMessage::Refresh { token } => json!({"type": "refresh", "token": token}),
        ClientMessage::Ping { id } => json!({"type": "ping", "id": id}),
        ClientMessage::Signal { to, data, id } => json!({"type": "signal", "to": to.to_json(), "data": data, "id": id}),
    }
    .to_string()
}

/// The message without its payload: `data` is any JSON, whose floats need not survive a text
/// round trip bit for bit, and it is passed through untouched anyway.
fn without_data(m: ClientMessage) -> ClientMessage {
    match m {
        ClientMessage::Signal { to, id, .. } => ClientMessage::Signal { to, data: Value::Null, id },
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_client(text) {
        Ok(m) => {
            let again = parse_client(&to_text(&m)).expect("a message written from a parsed one parses");
            assert_eq!(without_data(again), without_data(m));
        }
        Err(rejected) => {
            if let Some(id) = rejected.id {
                let value: Value = serde_json::from_str(text).expect("an echoed id came from valid JSON");
                assert_eq!(value.get("id").and_then(Value::as_u64), Some(id));
            }
        }
    }
});
