//! Identifier newtypes: constructing one proves the value is well formed.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("project id {0:?} must be 1-32 characters of A-Z a-z 0-9 _ -")]
    BadProjectId(String),
    #[error("project name must be 1-100 characters without control characters")]
    BadProjectName,
    #[error("username {0:?} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")]
    BadUsername(String),
    #[error("group id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")]
    BadGroupId(String),
    #[error("peer id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ . @ -")]
    BadPeerId(String),
    #[error("key id {0:?} must be kid_ followed by 16 lowercase hex digits")]
    BadKid(String),
    #[error("webhook id {0:?} must be wh_ followed by 16 lowercase hex digits")]
    BadWebhookId(String),
}

/// The characters of group ids, peer ids and user names: `A-Z a-z 0-9 _ . @ -`.
pub fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-')
}

/// 1-64 id characters.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(is_id_byte)
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $err:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_id(s) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(IdError::$err(s.to_owned()))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Hash, Eq and Ord of the newtype are those of its string, so maps can be searched by &str.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// A group id (`gid`): 1-64 characters of `A-Z a-z 0-9 _ . @ -`.
    GroupId,
    BadGroupId
);
id_newtype!(
    /// A peer id (`pid`): 1-64 characters of `A-Z a-z 0-9 _ . @ -`.
    PeerId,
    BadPeerId
);

/// A key id: `kid_` and 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(String);

impl Kid {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = s.len() == 20
            && s.starts_with("kid_")
            && s.bytes().skip(4).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Kid(s.to_owned()))
        } else {
            Err(IdError::BadKid(s.to_owned()))
        }
    }

    /// A fresh kid from 8 injected random bytes.
    pub fn from_random(bytes: [u8; 8]) -> Self {
        let mut s = String::from("kid_");
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Kid(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A webhook endpoint's id: `wh_` and 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(String);

impl WebhookId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let hex = s.strip_prefix("wh_").unwrap_or_default();
        if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(WebhookId(s.to_owned()))
        } else {
            Err(IdError::BadWebhookId(s.to_owned()))
        }
    }

    /// A fresh id from 8 injected random bytes.
    pub fn from_random(bytes: [u8; 8]) -> Self {
        WebhookId(format!("wh_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project id: `[A-Za-z0-9_-]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

impl ProjectId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(ProjectId(s.to_owned()))
        } else {
            Err(IdError::BadProjectId(s.to_owned()))
        }
    }

    /// A fresh id, `prj_` and 16 random characters of `[a-z0-9]`, from injected random bytes.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::from("prj_");
        for b in bytes {
            s.push(ALPHABET[(b as usize) % ALPHABET.len()] as char);
        }
        ProjectId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-readable project name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let n = s.chars().count();
        if (1..=100).contains(&n) && !s.chars().any(char::is_control) && !s.trim().is_empty() {
            Ok(ProjectName(s.to_owned()))
        } else {
            Err(IdError::BadProjectName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An admin account's user name: 1-64 characters of `A-Z a-z 0-9 _ . @ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
        if ok {
            Ok(Username(s.to_owned()))
        } else {
            Err(IdError::BadUsername(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_peer_ids_follow_the_token_rules() {
        for ok in ["a", "room-1", "alice@example.org", "A.b_c-d", &"x".repeat(64)] {
            assert!(GroupId::parse(ok).is_ok(), "{ok}");
            assert!(PeerId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "a b", "a*", "a:b", "a/b", "é", "a\n", &"x".repeat(65)] {
            assert!(GroupId::parse(bad).is_err(), "{bad:?}");
            assert!(PeerId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kids_are_kid_and_16_lowercase_hex() {
        assert!(Kid::parse("kid_0123456789abcdef").is_ok());
        assert!(Kid::parse("kid_0123456789ABCDEF").is_err());
        assert!(Kid::parse("kid_0123456789abcde").is_err());
        assert!(Kid::parse("kid_0123456789abcdef0").is_err());
        assert!(Kid::parse("key_0123456789abcdef").is_err());
        assert!(Kid::parse("kid_0123456789abcdeg").is_err());
        let k = Kid::from_random([0xab, 0, 1, 2, 3, 4, 5, 0xff]);
        assert_eq!(k.as_str(), "kid_ab000102030405ff");
        assert!(Kid::parse(k.as_str()).is_ok());
        let w = WebhookId::from_random([0xab, 0, 1, 2, 3, 4, 5, 0xff]);
        assert_eq!(w.as_str(), "wh_ab000102030405ff");
        assert_eq!(WebhookId::parse(w.as_str()), Ok(w));
        for bad in ["wh_ab000102030405f", "wh_AB000102030405ff", "kid_ab000102030405ff", ""] {
            assert!(WebhookId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_ids_follow_the_contract_pattern() {
        assert!(ProjectId::parse("a").is_ok());
        assert!(ProjectId::parse("A-z_09").is_ok());
        assert!(ProjectId::parse(&"x".repeat(32)).is_ok());
        assert!(ProjectId::parse(&"x".repeat(33)).is_err());
        assert!(ProjectId::parse("").is_err());
        assert!(ProjectId::parse("a b").is_err());
        assert!(ProjectId::parse("a.b").is_err());
        assert!(ProjectId::parse("é").is_err());
        for seed in 0..=255u8 {
            let id = ProjectId::from_random([seed; 16]);
            assert!(ProjectId::parse(id.as_str()).is_ok(), "{id}");
        }
    }

    #[test]
    fn names_and_usernames_reject_bad_input() {
        assert!(ProjectName::parse("My app").is_ok());
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse("   ").is_err());
        assert!(ProjectName::parse("a\nb").is_err());
        assert!(ProjectName::parse(&"é".repeat(100)).is_ok());
        assert!(ProjectName::parse(&"é".repeat(101)).is_err());
        assert!(Username::parse("ops@example.org").is_ok());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("").is_err());
    }
}
