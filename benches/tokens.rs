//! Token verification speed, one thread (so "per core").
//!
//!     cargo bench --bench tokens
//!
//! Prints uncached verifications per second (the whole check: JWS parsing, ring ES256, claims),
//! the signature check alone with ring and, for reference, with the pure-Rust p256 crate, and
//! cached verifications per second (one token, and a pool of 10,000 distinct tokens). Targets
//! (issue 3): at least 10,000/s uncached per core and 1,000,000/s cached.

#![allow(clippy::unwrap_used, reason = "a benchmark stops at the first surprise")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgebeam::ids::{GroupId, Kid, PeerId, ProjectId};
use edgebeam::proto::token::keyset::{generate_key_pair, KeyEntry};
use edgebeam::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
use edgebeam::proto::token::verify::verify_token;
use edgebeam::proto::token::{es256, jws, KeySet, Verifier};
use edgebeam::unixtime::UnixTime;
use p256::ecdsa::signature::Verifier as _;

fn rate(label: &str, budget: Duration, mut op: impl FnMut(u64)) -> f64 {
    // Warm up, then run batches until the budget is spent.
    for i in 0..100 {
        op(i);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            op(n);
            n += 1;
        }
    }
    let per_sec = n as f64 / start.elapsed().as_secs_f64();
    println!("{label:<58} {per_sec:>12.0} /s   ({:.2} µs each)", 1e6 / per_sec);
    per_sec
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let budget = if bench { Duration::from_secs(2) } else { Duration::from_millis(20) };
    let now = UnixTime::now();
    let (pem, public) = generate_key_pair([42; 32]).unwrap();
    let key = signing_key_from_pem(&pem).unwrap();
    let kid = Kid::from_random([1; 8]);
    let project = ProjectId::parse("prj_bench").unwrap();
    let keys = Arc::new(KeySet::new([KeyEntry {
        kid: kid.clone(),
        project,
        point: public.point.clone(),
        max_ttl_secs: 86_400,
    }]));
    let gid = GroupId::parse("room-1").unwrap();
    let token_for = |i: usize| {
        let pid = PeerId::parse(&format!("peer-{i}")).unwrap();
        mint(&key, &MintRequest { kid: &kid, gid: &gid, pid: &pid, policy: None, iat: now, ttl_secs: 3600 }).unwrap()
    };
    let token = token_for(0);
    println!("token: {} bytes", token.len());

    let raw = rate("uncached verify (parse + ring ES256 + claims)", budget, |_| {
        verify_token(&token, &keys, now, 30).unwrap();
    });
    let parsed = jws::parse(&token).unwrap();
    rate("signature only, ring", budget, |_| {
        es256::verify(&public.point, parsed.signing_input.as_bytes(), &parsed.signature).unwrap();
    });
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public.point).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&parsed.signature).unwrap();
    let p256_rate = rate("signature only, p256 crate (reference)", budget / 2, |_| {
        vk.verify(parsed.signing_input.as_bytes(), &sig).unwrap();
    });

    let mut verifier = Verifier::new(keys.clone(), 30, 20_000);
    let cached_one = rate("cached verify, one token", budget, |_| {
        verifier.verify(&token, now).unwrap();
    });
    let pool: Vec<String> = (0..if bench { 10_000 } else { 200 }).map(token_for).collect();
    for t in &pool {
        verifier.verify(t, now).unwrap();
    }
    let cached_pool = rate(&format!("cached verify, pool of {} tokens", pool.len()), budget, |i| {
        verifier.verify(&pool[i as usize % pool.len()], now).unwrap();
    });

    println!();
    println!("ring vs p256 signature check: {:.1}x", raw / p256_rate);
    println!(
        "targets: uncached >= 10,000/s: {}; cached >= 1,000,000/s: {} (one token) / {} (pool)",
        verdict(raw >= 10_000.0),
        verdict(cached_one >= 1_000_000.0),
        verdict(cached_pool >= 1_000_000.0)
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}
