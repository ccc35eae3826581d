//! Any text as the file of `edgebeam serve --config FILE`, down the same path `Config::load` takes
//! (defaults, then the TOML file, then validation; no environment, no flags): it never panics,
//! every error says what is wrong (a non-empty reason, and the key when the error is about one),
//! and every accepted config keeps the cross-field rules the validator promises.
#![no_main]

use std::path::Path;

use edgebeam::config::knobs;
use edgebeam::config::{Config, ConfigError, RawConfig};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz.toml";

fn check_error(e: &ConfigError) {
    let shown = e.to_string();
    assert!(!shown.trim().is_empty(), "an error with no text: {e:?}");
    match e {
        ConfigError::Unreadable { .. } => panic!("nothing is read from disk here: {e:?}"),
        ConfigError::Syntax { path, message } => {
            assert_eq!(path, Path::new(PATH));
            assert!(!message.trim().is_empty(), "a syntax error that does not say what is wrong: {e:?}");
        }
        ConfigError::UnknownKey { key, .. } => {
            assert!(knobs::find(key).is_none(), "a known key reported as unknown: {e:?}");
            assert!(shown.contains(&format!("`{key}`")), "{shown}");
        }
        ConfigError::BadValue { key, reason, .. } => {
            assert!(knobs::find(key).is_some(), "a bad value under a key that is no knob: {e:?}");
            assert!(!reason.trim().is_empty(), "a bad value without a reason: {e:?}");
            assert!(shown.contains(key), "{shown}");
        }
        ConfigError::ListenerClash { first, second, .. } => {
            assert!(knobs::find(first).is_some() && knobs::find(second).is_some() && first != second, "{e:?}");
        }
        ConfigError::HalfTlsPair { given } => assert!(matches!(*given, "tls_cert" | "tls_key"), "{e:?}"),
    }
}

fn check_config(c: &Config) {
    assert!(c.turn.max_lifetime >= c.turn.default_lifetime, "{c:?}");
    let port = c.turn_listen.port();
    assert!(!(c.relay_ports.low..=c.relay_ports.high).contains(&port), "{c:?}");
    assert!(c.relay_ports.low >= 1024 && c.relay_ports.low <= c.relay_ports.high, "{c:?}");
    assert!(!c.turn.realm.is_empty() && c.turn.realm.len() < 128, "{c:?}");
    assert!(c.signal.idle_timeout.as_secs() >= 2, "{c:?}");
}

fuzz_target!(|data: &[u8]| {
    // `Config::load` reads the file with `read_to_string`, so it only ever sees UTF-8.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut raw = RawConfig::defaults(None);
    let result = raw.apply_toml(Path::new(PATH), text).and_then(|()| Config::from_raw(&raw));
    match result {
        Ok(c) => check_config(&c),
        Err(e) => check_error(&e),
    }
});
