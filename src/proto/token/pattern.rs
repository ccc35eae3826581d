//! Allow patterns and the reachability rule. A pattern is 1-64 id characters with at most one
//! `*`, which matches any run of id characters, the empty run included.

use crate::ids::{is_id_byte, GroupId, PeerId, ProjectId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern must be 1-64 characters")]
    BadLength,
    #[error("pattern may contain at most one '*'")]
    TwoStars,
    #[error("pattern may contain only A-Z a-z 0-9 _ . @ - and one '*'")]
    BadCharacter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    /// Byte offset of the `*`, if any.
    star: Option<usize>,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, PatternError> {
        if !(1..=64).contains(&s.len()) {
            return Err(PatternError::BadLength);
        }
        if !s.bytes().all(|b| b == b'*' || is_id_byte(b)) {
            return Err(PatternError::BadCharacter);
        }
        let mut stars = s.match_indices('*');
        let star = stars.next().map(|(i, _)| i);
        if stars.next().is_some() {
            return Err(PatternError::TwoStars);
        }
        Ok(Pattern { text: s.to_owned(), star })
    }

    /// The pattern that matches exactly `id`.
    pub fn exact(id: &str) -> Pattern {
        Pattern { text: id.to_owned(), star: None }
    }

    pub fn any() -> Pattern {
        Pattern { text: "*".into(), star: Some(0) }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, id: &str) -> bool {
        match self.star {
            None => self.text == id,
            Some(i) => {
                let (prefix, suffix) = (&self.text[..i], &self.text[i + 1..]);
                id.len() >= prefix.len() + suffix.len() && id.starts_with(prefix) && id.ends_with(suffix)
            }
        }
    }
}

/// The `ap` claim: whom a peer may reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowPolicy {
    pub group_id: Pattern,
    pub peer_id: Pattern,
}

impl AllowPolicy {
    /// The policy of a token without `ap`: its own group, any peer.
    pub fn default_for(gid: &GroupId) -> AllowPolicy {
        AllowPolicy { group_id: Pattern::exact(gid.as_str()), peer_id: Pattern::any() }
    }

    pub fn allows(&self, gid: &GroupId, pid: &PeerId) -> bool {
        self.group_id.matches(gid.as_str()) && self.peer_id.matches(pid.as_str())
    }
}

/// Who a verified token says its bearer is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub project: ProjectId,
    pub gid: GroupId,
    pub pid: PeerId,
    pub policy: AllowPolicy,
}

impl Identity {
    /// SPEC "Who may reach whom": same project, and each one's policy matches the other.
    pub fn may_reach(&self, other: &Identity) -> bool {
        self.project == other.project
            && self.policy.allows(&other.gid, &other.pid)
            && other.policy.allows(&self.gid, &self.pid)
    }
}

#[cfg(test)]
mod tests;
