//! Security headers on every response (SPEC "Admin API").

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", "default-src 'self'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=31536000"),
];

pub fn apply_security_headers(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_set() {
        let mut h = HeaderMap::new();
        apply_security_headers(&mut h);
        assert_eq!(h.len(), 5);
        assert_eq!(h["x-frame-options"], "DENY");
    }
}
