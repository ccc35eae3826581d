//! Standard Webhooks signing (standardwebhooks.com, "Signature scheme"): the secret is `whsec_`
//! and the base64 of its key bytes; `webhook-signature` is `v1,` and the base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}"), several of them space-separated while a rotated
//! secret's predecessor still signs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const PREFIX: &str = "whsec_";

/// An endpoint's signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// 32 random bytes.
    pub fn generate() -> Secret {
        Secret(crate::random::bytes::<32>().to_vec())
    }

    /// `whsec_` + base64: how it is shown once, and stored.
    pub fn encoded(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn parse(text: &str) -> Option<Secret> {
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (!key.is_empty()).then_some(Secret(key))
    }

    /// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &str) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    #[test]
    fn the_reference_vector_signs_as_published() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = Secret::generate();
        let text = s.encoded();
        assert!(text.starts_with("whsec_") && text.len() == 6 + 44);
        assert_eq!(Secret::parse(&text), Some(s));
        for bad in ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!"] {
            assert_eq!(Secret::parse(bad), None, "{bad}");
        }
        assert_eq!(format!("{:?}", Secret::generate()), "Secret(..)");
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures() {
        let (a, b) = (Secret::generate(), Secret::generate());
        let h = signature_header(&[a.clone(), b.clone()], "evt_1", 5, "{}");
        assert_eq!(h, format!("{} {}", a.sign("evt_1", 5, "{}"), b.sign("evt_1", 5, "{}")));
    }
}
