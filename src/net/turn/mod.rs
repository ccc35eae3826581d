//! The TURN shells. One thread ("turn") owns the core, the UDP listener, every relay socket and
//! the TCP and TLS client connections, so the data path never crosses a thread or takes a lock:
//! a record is read, judged by the core and sent on in the same wakeup. The rest of the server
//! reaches the core over a channel ([`Control`]).
//!
//! Why one thread: relaying is syscall-bound (a receive and a send per packet); the core's work
//! per packet is a couple of hash lookups. A second data-path thread would need shared state or
//! sharding by 5-tuple; `docs/turn.md` records the measurements behind this choice.

mod batch;
mod relay;
pub mod stats;
pub mod stream;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

pub use stats::TurnStats;

use crate::config::PortRange;
use crate::ids::Kid;
use crate::proto::turn::{Identity, Secrets, Server};
use crate::unixtime::UnixTime;

/// Messages for the turn thread.
pub enum Control {
    /// Signaling issued `username` for a token signed by `kid`.
    Grant {
        username: String,
        kid: Kid,
        expiry: UnixTime,
    },
    KeysDeleted(Vec<Kid>),
    RevokeIdentity(Identity),
    Secrets(Secrets),
    Shutdown,
}

/// Where relay sockets are bound and what address they are announced as.
#[derive(Debug, Clone)]
pub struct RelaySetup {
    pub ports: PortRange,
    pub bind_v4: Option<IpAddr>,
    pub advertise_v4: Option<IpAddr>,
    pub bind_v6: Option<IpAddr>,
    pub advertise_v6: Option<IpAddr>,
}

pub struct TurnHandle {
    pub control: async_channel::Sender<Control>,
    pub stats: Arc<TurnStats>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Starts the turn thread on an already bound UDP listener.
pub fn spawn(
    core: Server,
    listener: UdpSocket,
    relays: RelaySetup,
    stats: Arc<TurnStats>,
    streams: Vec<(smol::net::TcpListener, Option<futures_rustls::TlsAcceptor>)>,
) -> std::io::Result<TurnHandle> {
    let (control, rx) = async_channel::bounded(65_536);
    let thread_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name("turn".into())
        .spawn(move || relay::run(core, listener, relays, rx, thread_stats, streams))?;
    Ok(TurnHandle { control, stats, thread })
}

/// The addresses relay sockets announce, by family, derived from the listener and `public_ip`.
pub fn relay_setup(turn_listen: SocketAddr, public_ip: Option<IpAddr>, ports: PortRange) -> RelaySetup {
    let listen_ip = turn_listen.ip();
    let first_interface = |v4: bool| {
        if_addrs::get_if_addrs()
            .ok()?
            .into_iter()
            .map(|i| i.ip())
            .find(|ip| ip.is_ipv4() == v4 && !ip.is_loopback() && !is_link_local(ip))
    };
    let pick = |v4: bool, bind: IpAddr| -> IpAddr {
        match public_ip {
            Some(ip) if ip.is_ipv4() == v4 => ip,
            _ if !bind.is_unspecified() => bind,
            _ => first_interface(v4).unwrap_or(if v4 {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            }),
        }
    };
    let (bind_v4, bind_v6) = match listen_ip {
        IpAddr::V4(_) => (Some(listen_ip), None),
        IpAddr::V6(v6) if v6.is_unspecified() => (Some(IpAddr::from([0, 0, 0, 0])), Some(listen_ip)),
        IpAddr::V6(_) => (None, Some(listen_ip)),
    };
    RelaySetup {
        ports,
        advertise_v4: bind_v4.map(|b| pick(true, b)),
        bind_v4,
        advertise_v6: bind_v6.map(|b| pick(false, b)),
        bind_v6,
    }
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}
