//! Randomness for shells. Cores take random values as arguments; this is where they come from.

use ring::rand::{SecureRandom, SystemRandom};

/// `N` bytes from the operating system's CSPRNG.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("the OS random source is available on every supported platform");
    out
}

/// A URL-safe random token of `N` bytes of entropy.
pub fn token<const N: usize>() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<N>())
}
