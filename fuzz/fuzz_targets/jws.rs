//! Any bytes as a token: parsing and verifying must never panic, and must never accept.
#![no_main]

use std::sync::{Arc, OnceLock};

use edgebeam::ids::{Kid, ProjectId};
use edgebeam::proto::token::keyset::{generate_key_pair, KeyEntry};
use edgebeam::proto::token::{claims, jws, KeySet, Verifier};
use edgebeam::unixtime::UnixTime;
use libfuzzer_sys::fuzz_target;

fn keys() -> Arc<KeySet> {
    static KEYS: OnceLock<Arc<KeySet>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (_, public) = generate_key_pair([7; 32]).unwrap();
        Arc::new(KeySet::new([KeyEntry {
            kid: Kid::parse("kid_0011223344556677").unwrap(),
            project: ProjectId::parse("prj_fuzz").unwrap(),
            point: public.point,
            max_ttl_secs: 86_400,
        }]))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let now = UnixTime(1_800_000_000);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jws::parse(text);
        let mut verifier = Verifier::new(keys(), 30, 16);
        // Nobody holds the private key of seed 7 here, so nothing may verify.
        assert!(verifier.verify(text, now).is_err());
    }
    let rules = claims::TimeRules { leeway_secs: 30, max_ttl_secs: 86_400 };
    let _ = claims::check(data, now, rules);
});
