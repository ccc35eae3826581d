//! Long-term credentials of the REST shared-secret scheme (SPEC "TURN"), stateless nonces, the
//! failed-authentication limiter, and the registry of usernames granted per signing key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::ids::{GroupId, Kid, PeerId, ProjectId};
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

/// Which signing key each issued username came from, so deleting a key revokes the TURN
/// credentials derived from its tokens. Entries live until the username's expiry.
#[derive(Default)]
pub struct Grants {
    by_username: HashMap<String, (Kid, UnixTime, bool)>,
}

/// Cap on remembered grants; beyond it the oldest-expiring are dropped first.
const MAX_GRANTS: usize = 200_000;
/// How many grants a full table forgets at once, so the pass that finds them is paid once per
/// this many welcomes.
const EVICT_AT_ONCE: usize = MAX_GRANTS / 10;

impl Grants {
    pub fn grant(&mut self, username: String, kid: Kid, expiry: UnixTime, wall: UnixTime) {
        if self.by_username.contains_key(&username) {
            return;
        }
        if self.by_username.len() >= MAX_GRANTS {
            self.prune(wall);
        }
        if self.by_username.len() >= MAX_GRANTS {
            self.forget_earliest(EVICT_AT_ONCE);
        }
        if self.by_username.len() >= MAX_GRANTS {
            return; // every remembered grant is revoked
        }
        self.by_username.insert(username, (kid, expiry, false));
    }

    /// Forgets the `n` grants that expire first, never a revoked one (forgetting it would make
    /// its username usable again). One pass over the table: evicting one grant per new grant
    /// would cost a pass per welcome once the table is full.
    fn forget_earliest(&mut self, n: usize) {
        let mut candidates: Vec<(UnixTime, &String)> =
            self.by_username.iter().filter(|(_, v)| !v.2).map(|(k, v)| (v.1, k)).collect();
        if candidates.is_empty() {
            return;
        }
        let n = n.clamp(1, candidates.len());
        candidates.select_nth_unstable_by_key(n - 1, |c| c.0);
        let doomed: Vec<String> = candidates[..n].iter().map(|(_, k)| (*k).clone()).collect();
        for k in doomed {
            self.by_username.remove(&k);
        }
    }

    /// Marks every username of these kids revoked and returns them.
    pub fn revoke(&mut self, kids: &[Kid]) -> Vec<String> {
        let mut out = Vec::new();
        for (user, (kid, _, revoked)) in self.by_username.iter_mut() {
            if kids.contains(kid) {
                *revoked = true;
                out.push(user.clone());
            }
        }
        out
    }

    pub fn is_revoked(&self, username: &str) -> bool {
        self.by_username.get(username).is_some_and(|(_, _, revoked)| *revoked)
    }

    pub fn prune(&mut self, wall: UnixTime) {
        self.by_username.retain(|_, (_, exp, _)| *exp > wall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(n: u8) -> Kid {
        Kid::parse(&format!("kid_00000000000000{n:02x}")).unwrap()
    }

    #[test]
    fn a_full_grant_table_never_forgets_a_revoked_username() {
        let mut g = Grants::default();
        let wall = UnixTime(1_000);
        g.grant("revoked".into(), kid(1), UnixTime(1_001), wall);
        assert_eq!(g.revoke(&[kid(1)]), vec!["revoked".to_owned()]);
        for i in 0..MAX_GRANTS {
            g.grant(format!("u{i}"), kid(2), UnixTime(5_000 + i as i64), wall);
        }
        assert!(g.is_revoked("revoked"));
        // The grant that filled the table made room by forgetting the 20,000 that expire first.
        assert_eq!(g.by_username.len(), MAX_GRANTS - EVICT_AT_ONCE + 1);
        assert!(!g.by_username.contains_key("u0") && !g.by_username.contains_key(&format!("u{}", EVICT_AT_ONCE - 1)));
        assert!(g.by_username.contains_key(&format!("u{EVICT_AT_ONCE}")));
        assert!(g.by_username.contains_key(&format!("u{}", MAX_GRANTS - 1)));
        // Past its expiry it can go: the username is refused as expired anyway.
        g.prune(UnixTime(1_001));
        assert!(!g.is_revoked("revoked"));
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
