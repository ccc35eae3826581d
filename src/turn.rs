//! The TURN service around the core: builds it from the `Config` and the store, keeps it in step
//! with the store (rotated secrets, handed-out credentials, deleted keys, kicks) and writes its
//! usage to the store.

mod credentials;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use credentials::CredentialEvent;
use credentials::Ledger;

use crate::config::Config;
use crate::net::turn::{Control, TurnStats};
use crate::proto::addr_policy::{LocalAddress, PeerPolicy};
use crate::proto::turn::{Secrets, Server, TurnConfig};
use crate::shutdown::Signal;
use crate::store::usage::{day_of, RelayUsage};
use crate::store::worker::StoreHandle;
use crate::store::{Store, StoreError};
use crate::tokens::KeyEvent;
use crate::unixtime::UnixTime;

const USAGE_SAVE_EVERY: Duration = Duration::from_secs(60);
/// SPEC "Clients without credentials": a TURN TCP or TLS connection with no allocation 30 s
/// after it opened is closed.
const STREAM_AUTH_DEADLINE: Duration = Duration::from_secs(30);

/// The current secret and the previous one while its grace lasts, as stored.
pub fn load_secrets(store: &Store, grace: Duration) -> Result<Option<Secrets>, StoreError> {
    Ok(store.turn_secrets()?.map(|stored| Secrets {
        current: stored.current,
        previous: stored.previous.map(|(value, rotated)| (value, UnixTime(rotated.secs() + grace.as_secs() as i64))),
    }))
}

pub fn core_config(config: &Config, relay_v4: bool, relay_v6: bool) -> TurnConfig {
    let t = &config.turn;
    TurnConfig {
        realm: t.realm.clone(),
        software: format!("edgebeam/{}", crate::VERSION),
        default_lifetime: t.default_lifetime,
        max_lifetime: t.max_lifetime,
        nonce_lifetime: Duration::from_secs(600),
        max_allocations_per_peer: t.max_allocations_per_peer,
        max_allocations_per_project: t.max_allocations_per_project,
        max_permissions_per_allocation: t.max_permissions_per_allocation,
        max_channels_per_allocation: t.max_channels_per_allocation,
        bandwidth_bytes_per_sec: t.bandwidth_bytes_per_sec,
        auth_failures_per_minute: t.auth_failures_per_minute,
        stream_auth_deadline: STREAM_AUTH_DEADLINE,
        relay_v4,
        relay_v6,
    }
}

/// The peer policy: the operator's lists, this box's own addresses (and its subnets' broadcast
/// addresses) and its relay ports.
pub fn peer_policy(config: &Config) -> PeerPolicy {
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    PeerPolicy::new(
        config.turn.allow_peers.clone(),
        config.turn.deny_peers.clone(),
        own_addresses(&interfaces, config.public_ip),
        config.relay_ports.low..=config.relay_ports.high,
    )
}

/// Every interface address with its subnet, and `public_ip` (which may be a NAT's, so it has
/// no subnet of ours).
fn own_addresses(interfaces: &[if_addrs::Interface], public_ip: Option<IpAddr>) -> Vec<LocalAddress> {
    let mut own: Vec<LocalAddress> = interfaces
        .iter()
        .map(|i| match &i.addr {
            if_addrs::IfAddr::V4(v4) => LocalAddress::interface(IpAddr::V4(v4.ip), v4.prefixlen, v4.broadcast),
            if_addrs::IfAddr::V6(v6) => LocalAddress::interface(IpAddr::V6(v6.ip), v6.prefixlen, None),
        })
        .collect();
    own.extend(public_ip.map(LocalAddress::from));
    own
}

pub fn build_core(config: &Config, secrets: Secrets, relay_v4: bool, relay_v6: bool) -> Server {
    let nonce_key = crate::random::token::<32>();
    Server::new(core_config(config, relay_v4, relay_v6), peer_policy(config), secrets, nonce_key.as_bytes())
}

enum Input {
    Key(Option<KeyEvent>),
    Credential(Option<CredentialEvent>),
}

/// Keeps the turn thread in step with the store: records the credentials signaling hands out,
/// revokes those of deleted keys and kicked identities, and reloads the secrets when the store
/// changes. Ends once signaling has stopped (its queue is closed) and everything it handed out
/// is recorded.
pub async fn follow_store(
    events: async_channel::Receiver<KeyEvent>,
    credentials: async_channel::Receiver<CredentialEvent>,
    store: StoreHandle,
    control: async_channel::Sender<Control>,
    grace: Duration,
) {
    let mut last: Option<Secrets> = None;
    let mut ledger = Ledger::new(store.clone(), control.clone());
    let mut keys_open = true;
    loop {
        // Key events first: they are rare, and a steady stream of grants must not delay them.
        let input = futures_lite::future::or(
            async {
                if !keys_open {
                    std::future::pending::<()>().await;
                }
                Input::Key(events.recv().await.ok())
            },
            async { Input::Credential(credentials.recv().await.ok()) },
        )
        .await;
        match input {
            Input::Key(None) => keys_open = false,
            Input::Key(Some(KeyEvent::KeysDeleted(kids))) => ledger.keys_deleted(kids).await,
            Input::Key(Some(KeyEvent::StoreChanged)) => match store.call(move |s| load_secrets(s, grace)).await {
                Ok(Ok(Some(secrets))) if last.as_ref() != Some(&secrets) => {
                    if last.is_some() {
                        log::info!("turn: the TURN secret changed; the previous one stays valid for {grace:?}");
                    }
                    last = Some(secrets.clone());
                    let _ = control.send(Control::Secrets(secrets)).await;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::warn!("turn: cannot reload the TURN secret: {e}"),
                Err(_) => return,
            },
            Input::Credential(None) => return,
            Input::Credential(Some(first)) => {
                let mut batch = vec![first];
                while batch.len() < credentials::MAX_BATCH {
                    match credentials.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                ledger.record(batch).await;
            }
        }
    }
}

/// The usernames the TURN core starts refusing (kicked, or of keys deleted, also while the
/// server was down), after forgetting expired grants.
pub fn revoked_at_start(store: &mut Store, now: UnixTime) -> Result<Vec<String>, StoreError> {
    store.prune_turn_grants(now)?;
    store.revoked_turn_usernames(now)
}

/// Writes relay usage to the store every minute until `stop`; the last figures are written by
/// [`flush_usage`] once the turn thread has stopped and published them.
pub async fn save_usage(stats: Arc<TurnStats>, store: StoreHandle, stop: Signal) {
    let mut ticks = crate::shutdown::every(USAGE_SAVE_EVERY, stop);
    while ticks.tick().await {
        flush_usage(&stats, &store).await;
    }
}

pub async fn flush_usage(stats: &TurnStats, store: &StoreHandle) {
    let unsaved = stats.take_unsaved();
    if unsaved.is_empty() {
        return;
    }
    let rows: Vec<_> = unsaved
        .iter()
        .map(|(p, u)| (p.clone(), RelayUsage { bytes: u.bytes, packets: u.packets, allocations: u.allocations }))
        .collect();
    let day = day_of(UnixTime::now());
    match store.call(move |s| s.add_relay_usage(day, &rows)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            log::warn!("turn: cannot save usage: {e}");
            stats.restore_unsaved(unsaved);
        }
        Err(_) => stats.restore_unsaved(unsaved),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;
    use crate::proto::addr_policy::PeerDenied;

    fn v4(name: &str, ip: [u8; 4], prefixlen: u8, broadcast: Option<[u8; 4]>) -> if_addrs::Interface {
        let ip = Ipv4Addr::from(ip);
        if_addrs::Interface {
            name: name.into(),
            addr: if_addrs::IfAddr::V4(if_addrs::Ifv4Addr {
                ip,
                netmask: Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefixlen)).unwrap_or(0)),
                prefixlen,
                broadcast: broadcast.map(Ipv4Addr::from),
            }),
            index: None,
            oper_status: if_addrs::IfOperStatus::Up,
            is_p2p: false,
        }
    }

    #[test]
    fn a_secret_rotated_through_serves_own_connection_reaches_the_core_at_the_store_change() {
        use crate::store::{secrets, Actor, OpenMode};
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path(), OpenMode::CreateIfMissing).unwrap();
        store.secret_or_insert(secrets::TURN_SECRET, b"first", UnixTime(1)).unwrap();
        let (store, _thread) = StoreHandle::spawn(store);
        let (keys_tx, keys) = async_channel::unbounded();
        let (credentials_tx, credentials) = async_channel::unbounded();
        let (control, turn) = async_channel::unbounded();
        let grace = Duration::from_secs(60);
        let follower = smol::spawn(follow_store(keys, credentials, store.clone(), control, grace));
        smol::block_on(async {
            let rotated = UnixTime::now();
            store.call(move |s| s.rotate_turn_secret(b"second", rotated, Actor::CLI)).await.unwrap().unwrap();
            // What `Live::store_changed` has the token service publish after an admin API write.
            keys_tx.send(KeyEvent::StoreChanged).await.unwrap();
            match turn.recv().await.unwrap() {
                Control::Secrets(s) => {
                    assert_eq!(s.current, b"second");
                    let until = UnixTime(rotated.secs() + 60);
                    assert_eq!(s.previous, Some((b"first".to_vec(), until)), "the old one lasts its grace");
                }
                _ => panic!("expected Control::Secrets"),
            }
            drop(credentials_tx);
            follower.await;
        });
    }

    #[test]
    fn the_broadcast_addresses_of_the_boxs_own_subnets_are_denied_peers() {
        let interfaces = [
            v4("enp3s0", [192, 168, 1, 20], 24, Some([192, 168, 1, 255])),
            // A broadcast address set by hand (`ip addr add ... brd`), not the all-ones host.
            v4("eth1", [10, 20, 0, 5], 16, Some([10, 20, 0, 255])),
            v4("wg0", [10, 99, 0, 1], 32, None),
        ];
        let policy = PeerPolicy::new(vec![], vec![], own_addresses(&interfaces, None), 49152..=65535);
        let peer = |s: &str| s.parse::<SocketAddr>().unwrap();
        for denied in ["192.168.1.255", "192.168.1.0", "10.20.255.255", "10.20.0.0", "10.20.0.255"] {
            for port in [5000, 50000] {
                let p = SocketAddr::new(denied.parse().unwrap(), port);
                assert_eq!(policy.check(p), Err(PeerDenied::Broadcast), "{p}");
            }
            assert_eq!(policy.check_ip(denied.parse().unwrap()), Err(PeerDenied::Broadcast), "{denied}");
            let mapped = format!("[::ffff:{denied}]:5000");
            assert_eq!(policy.check(peer(&mapped)), Err(PeerDenied::Broadcast), "{mapped}");
        }
        // The hosts of those subnets stay reachable, and a /32 has no broadcast address.
        for allowed in ["192.168.1.21:5000", "192.168.1.254:5000", "10.20.1.255:5000", "10.99.0.255:5000"] {
            assert_eq!(policy.check(peer(allowed)), Ok(()), "{allowed}");
        }
        assert_eq!(policy.check(peer("192.168.1.20:5000")), Err(PeerDenied::OwnAddress));
    }
}
