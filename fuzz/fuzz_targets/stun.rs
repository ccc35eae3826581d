//! Any bytes as a STUN message, a stream record or a ChannelData message: decoding and every
//! accessor must never panic, a decoded message must frame as exactly itself, and nothing may
//! verify with a key the input cannot know (no seed in the corpus is signed with it).
#![no_main]

use edgebeam::proto::stun::attr::{self, AttrType};
use edgebeam::proto::stun::frame::{self, ChannelData, Record};
use edgebeam::proto::stun::{LongTermKey, Message, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

const XOR_ADDRESSES: [AttrType; 3] =
    [AttrType::XOR_MAPPED_ADDRESS, AttrType::XOR_PEER_ADDRESS, AttrType::XOR_RELAYED_ADDRESS];
const U32S: [AttrType; 4] =
    [AttrType::LIFETIME, AttrType::PRIORITY, AttrType::REQUESTED_TRANSPORT, AttrType::FINGERPRINT];
const TEXTS: [AttrType; 4] = [AttrType::USERNAME, AttrType::REALM, AttrType::NONCE, AttrType::SOFTWARE];

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let _ = m.unknown_required();
        for a in m.attributes() {
            assert!(a.offset >= HEADER_LEN && a.offset + 4 + a.value.len() <= data.len());
            let _ = attr::decode_address(a.value, Some(&m.tid));
            let _ = attr::decode_address(a.value, None);
            let _ = attr::decode_error_code(a.value);
            let _ = attr::decode_channel_number(a.value);
            let _ = attr::decode_requested_transport(a.value);
            let _ = attr::decode_family_attr(a.value);
        }
        for t in XOR_ADDRESSES {
            let _ = m.xor_address(t);
            let _ = m.xor_addresses(t).count();
        }
        for t in U32S {
            let _ = m.u32(t);
        }
        for t in TEXTS {
            let _ = m.text(t);
        }
        let _ = m.integrity_alg();
        let key = LongTermKey::new("fuzz", "edgebeam.invalid", "not a password anyone uses");
        assert!(m.verify_integrity(&key).is_err());
        assert_eq!(frame::next_record(data, 65_535 + HEADER_LEN), Record::Complete(data.len()));
    }
    if let Record::Complete(n) = frame::next_record(data, 65_535 + HEADER_LEN) {
        assert!((4..=data.len()).contains(&n));
    }
    if let Some(cd) = ChannelData::decode(data) {
        assert!(data.len() - 4 - cd.payload.len() <= 3);
    }
});
