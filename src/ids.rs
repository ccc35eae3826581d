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
