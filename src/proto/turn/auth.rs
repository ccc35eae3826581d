//! Long-term credentials of the REST shared-secret scheme (SPEC "TURN"), stateless nonces, the
//! failed-authentication limiter, and the usernames revoked before their expiry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::ids::{GroupId, PeerId, ProjectId};
use crate::proto::ice::turn_credential;
use crate::proto::source::SourceKey;
use crate::proto::stun::LongTermKey;
use crate::unixtime::UnixTime;

/// Who an allocation belongs to: the identity of the token the credentials were derived from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub project: ProjectId,
    pub gid: GroupId,
    pub pid: PeerId,
}

/// `PROJECT:GID:PID`: the username without its EXPIRY (no part can hold a `:`).
impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.project, self.gid, self.pid)
    }
}

/// A parsed `EXPIRY:PROJECT:GID:PID` username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUser {
    pub expiry: UnixTime,
    pub identity: Identity,
}

impl TurnUser {
    pub fn parse(username: &str) -> Option<TurnUser> {
        let mut parts = username.split(':');
        let expiry = parts.next()?.parse::<i64>().ok()?;
        let project = ProjectId::parse(parts.next()?).ok()?;
        let gid = GroupId::parse(parts.next()?).ok()?;
        let pid = PeerId::parse(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(TurnUser { expiry: UnixTime(expiry), identity: Identity { project, gid, pid } })
    }
}

/// The TURN secret and, after a rotation, the previous one with the end of its grace period.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub current: Vec<u8>,
    pub previous: Option<(Vec<u8>, UnixTime)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// Candidate long-term keys for `username`: the current secret's, then the previous one's
    /// while its grace lasts.
    pub fn keys(&self, username: &str, realm: &str, wall: UnixTime) -> Vec<LongTermKey> {
        let mut keys = vec![LongTermKey::new(username, realm, &turn_credential(&self.current, username))];
        if let Some((prev, until)) = &self.previous {
            if wall < *until {
                keys.push(LongTermKey::new(username, realm, &turn_credential(prev, username)));
            }
        }
        keys
    }
}

/// Stateless nonces: `HEX(expiry) || HEX(HMAC(key, expiry || client ip))[..16]`, so no state is
/// kept per client and a nonce is useless from another address or after its expiry.
pub struct Nonces {
    key: ring::hmac::Key,
    lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    Stale,
    Invalid,
}

impl Nonces {
    pub fn new(key_bytes: &[u8], lifetime: Duration) -> Nonces {
        Nonces { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key_bytes), lifetime }
    }

    fn tag(&self, expiry: i64, ip: IpAddr) -> String {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(&expiry.to_be_bytes());
        match ip {
            IpAddr::V4(v4) => ctx.update(&v4.octets()),
            IpAddr::V6(v6) => ctx.update(&v6.octets()),
        }
        ctx.sign().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn issue(&self, ip: IpAddr, wall: UnixTime) -> String {
        let expiry = wall.secs() + self.lifetime.as_secs() as i64;
        format!("{expiry:016x}{}", self.tag(expiry, ip))
    }

    pub fn check(&self, nonce: &str, ip: IpAddr, wall: UnixTime) -> NonceCheck {
        if nonce.len() != 32 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let Ok(expiry) = i64::from_str_radix(&nonce[..16], 16) else {
            return NonceCheck::Invalid;
        };
        if !crate::proto::stun::integrity::constant_time_eq(self.tag(expiry, ip).as_bytes(), &nonce.as_bytes()[16..]) {
            return NonceCheck::Invalid;
        }
        if wall.secs() >= expiry {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

/// Counts failed authentications per source (an IPv4 address or an IPv6 /64) over a fixed
/// window; at the limit the source is ignored until the window ends, which stops online guessing
/// cheaply.
pub struct FailureLimiter {
    per_window: u32,
    window: Duration,
    max_sources: usize,
    sources: HashMap<SourceKey, (Instant, u32)>,
}

impl FailureLimiter {
    pub fn new(per_window: u32, window: Duration) -> FailureLimiter {
        FailureLimiter { per_window, window, max_sources: 65_536, sources: HashMap::new() }
    }

    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&SourceKey::of(ip))
            .is_some_and(|(start, n)| *n >= self.per_window && now < *start + self.window)
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) {
        let source = SourceKey::of(ip);
        if self.sources.len() >= self.max_sources && !self.sources.contains_key(&source) {
            self.prune(now);
            if self.sources.len() >= self.max_sources {
                return;
            }
        }
        let entry = self.sources.entry(source).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.sources.retain(|_, (start, _)| now < *start + window);
    }
}

/// Usernames refused before their EXPIRY: those handed out for tokens of a deleted key, and
/// those of a kicked identity. Which usernames those are is the store's to know
/// (`store::turn_grants`); this is the core's copy, checked on every authenticated request.
/// No cap and no eviction: forgetting a revoked username before it expires would make it
/// usable again. Each entry is one credential signaling handed out, and goes at its EXPIRY.
#[derive(Default)]
pub struct Revoked {
    until: HashMap<String, UnixTime>,
}

impl Revoked {
    /// Revokes `username` until its EXPIRY; false if it is not an `EXPIRY:PROJECT:GID:PID`
    /// username (which no request could authenticate with anyway).
    pub fn revoke(&mut self, username: String) -> bool {
        match TurnUser::parse(&username) {
            Some(user) => {
                self.until.insert(username, user.expiry);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, username: &str) -> bool {
        self.until.contains_key(username)
    }

    pub fn prune(&mut self, wall: UnixTime) {
        self.until.retain(|_, exp| *exp > wall);
    }

    /// How many usernames are refused now (a figure for logs and tests).
    pub fn count(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_usernames_are_kept_until_their_expiry() {
        let mut r = Revoked::default();
        assert!(r.revoke("1000:prj_a:room:alice".into()));
        assert!(!r.revoke("not-a-turn-username".into()));
        r.prune(UnixTime(999));
        assert!(r.contains("1000:prj_a:room:alice"));
        r.prune(UnixTime(1000));
        assert_eq!(r.count(), 0);
    }

    #[test]
    fn failures_from_one_ipv6_slash_64_count_together() {
        let mut l = FailureLimiter::new(3, Duration::from_secs(60));
        let now = Instant::now();
        for host in 1..=3u16 {
            l.record_failure(IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, host]), now);
        }
        assert!(l.is_blocked(IpAddr::from([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9]), now));
        assert!(!l.is_blocked(IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]), now));
        assert!(!l.is_blocked(IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, 1]), now + Duration::from_secs(60)));
    }

    #[test]
    fn nonces_are_bound_to_the_address_and_expire() {
        let n = Nonces::new(b"k", Duration::from_secs(600));
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let nonce = n.issue(ip, UnixTime(100));
        assert_eq!(n.check(&nonce, ip, UnixTime(699)), NonceCheck::Valid);
        assert_eq!(n.check(&nonce, ip, UnixTime(700)), NonceCheck::Stale);
        assert_eq!(n.check(&nonce, "10.0.0.3".parse().unwrap(), UnixTime(100)), NonceCheck::Invalid);
        let mut forged = nonce.clone().into_bytes();
        forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
        assert_eq!(n.check(std::str::from_utf8(&forged).unwrap(), ip, UnixTime(100)), NonceCheck::Invalid);
        assert_eq!(n.check("short", ip, UnixTime(100)), NonceCheck::Invalid);
    }
}
