//! The TURN shells. One thread ("turn") owns the core, the UDP listener, every relay socket and
//! the TCP and TLS client connections, so the data path never crosses a thread or takes a lock:
//! a record is read, judged by the core and sent on in the same wakeup. The rest of the server
//! reaches the core over a channel ([`Control`]).
//!
//! Why one thread: relaying is syscall-bound (a receive and a send per packet); the core's work
//! per packet is a couple of hash lookups. A second data-path thread would need shared state or
//! sharding by 5-tuple; `docs/turn.md` records the measurements behind this choice.
//!
//! The thread's tasks: the UDP listener's, one per relay socket and the control loop
//! (`relay.rs`, which also holds the state they share and says why it is shared as it is), and
//! one per TCP or TLS listener and connection (`stream.rs`). Queues to stream clients are
//! `outbound.rs`.

mod addrs;
pub mod batch;
mod outbound;
mod relay;
pub mod stats;
mod stream;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;

use nix::sys::socket::{setsockopt, sockopt};
use rustls::ServerConfig;
use smol::net::TcpListener;
use smol::{Async, LocalExecutor};

pub use stats::{StreamFigures, TurnStats};

use crate::config::PortRange;
use crate::ids::{GroupId, PeerId, ProjectId};
use crate::proto::turn::{Identity, Secrets, Server};

const LISTENER_SOCKET_BUFFER: usize = 4 << 20;

/// Messages for the turn thread.
pub enum Control {
    /// These usernames are refused until they expire, and their allocations removed (their
    /// key was deleted, or their identity kicked; `crate::turn` finds them in the store).
    Revoke(Vec<String>),
    /// A kicked peer (admin action) loses its allocations at once.
    Kick(Identity),
    Secrets(Secrets),
    /// The admin API asks how many allocations each peer of `project` holds
    /// ([`Server::allocations_of`]); the answer goes into `reply` (bounded, of one).
    Allocations {
        project: ProjectId,
        reply: async_channel::Sender<HashMap<(GroupId, PeerId), u32>>,
    },
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
    streams: Vec<(TcpListener, Option<Arc<ServerConfig>>)>,
    webhooks: crate::webhooks::Sink,
) -> std::io::Result<TurnHandle> {
    // Unbounded: a bounded queue allocates and touches all its slots up front (65,536 of them
    // cost 5 MiB of RSS at idle). Senders are signaling grants (one per welcome or refresh) and
    // rare store events, so the queue cannot grow faster than signaling admits sessions.
    let (control, rx) = async_channel::unbounded();
    let thread_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name("turn".into())
        .spawn(move || run(core, listener, relays, rx, thread_stats, streams, webhooks))?;
    Ok(TurnHandle { control, stats, thread })
}

/// The turn thread: starts its tasks, runs until `Control::Shutdown`, then closes every socket.
fn run(
    core: Server,
    listener: UdpSocket,
    setup: RelaySetup,
    control: async_channel::Receiver<Control>,
    stats: Arc<TurnStats>,
    streams: Vec<(TcpListener, Option<Arc<ServerConfig>>)>,
    webhooks: crate::webhooks::Sink,
) {
    let executor = Rc::new(LocalExecutor::new());
    // Every client's packets queue on this one socket: give bursts room (the kernel caps this at
    // net.core.rmem_max / wmem_max; see docs/operations.md).
    for (name, result) in [
        ("receive", setsockopt(&listener, sockopt::RcvBuf, &LISTENER_SOCKET_BUFFER)),
        ("send", setsockopt(&listener, sockopt::SndBuf, &LISTENER_SOCKET_BUFFER)),
    ] {
        if let Err(e) = result {
            log::warn!("turn: cannot size the UDP listener's {name} buffer: {e}");
        }
    }
    let listener = match Async::new(listener) {
        Ok(l) => Rc::new(l),
        Err(e) => {
            log::error!("turn: cannot register the UDP listener: {e}");
            return;
        }
    };
    let shell = relay::ShellCell::new(core, listener.clone(), setup, executor.clone(), webhooks);
    let udp = relay::UdpAlive(executor.spawn(relay::client_datagrams(shell.clone(), listener)));
    for (listener, tls) in streams {
        executor.spawn(stream::serve(shell.downgrade(), Rc::downgrade(&executor), listener, tls)).detach();
    }
    smol::block_on(executor.run(relay::control_loop(shell.clone(), control, stats, &udp)));
    drop(udp);
    shell.with(|st| st.close_all());
}

/// The addresses relay sockets bind and announce, by family, from the listener and `public_ip`.
/// With a wildcard listener and no `public_ip`, the announced address is the one of the
/// interface that holds the default route (so a docker0 or VPN address is not announced), and
/// relays bind to it, so what peers see as the source is what was announced.
pub fn relay_setup(turn_listen: SocketAddr, public_ip: Option<IpAddr>, ports: PortRange) -> RelaySetup {
    let listen_ip = turn_listen.ip();
    let interfaces: Vec<(String, IpAddr)> =
        if_addrs::get_if_addrs().map(|l| l.into_iter().map(|i| (i.name.clone(), i.ip())).collect()).unwrap_or_default();
    let (bind_v4, bind_v6) = match listen_ip {
        IpAddr::V4(_) => (Some(listen_ip), None),
        IpAddr::V6(v6) if v6.is_unspecified() => (Some(IpAddr::from([0, 0, 0, 0])), Some(listen_ip)),
        IpAddr::V6(_) => (None, Some(listen_ip)),
    };
    let side = |v4: bool, bind: Option<IpAddr>| -> (Option<IpAddr>, Option<IpAddr>) {
        let Some(bind) = bind else { return (None, None) };
        if !bind.is_unspecified() {
            let advertise = public_ip.filter(|ip| ip.is_ipv4() == v4).unwrap_or(bind);
            return (Some(bind), Some(advertise));
        }
        if let Some(ip) = public_ip.filter(|ip| ip.is_ipv4() == v4) {
            // A public address may be a NAT's, not ours: bind the wildcard unless it is local.
            let local = interfaces.iter().any(|(_, a)| *a == ip);
            return (Some(if local { ip } else { bind }), Some(ip));
        }
        let default_iface = addrs::default_route_interface(v4);
        match addrs::choose(&interfaces, default_iface.as_deref(), v4) {
            Some(ip) => (Some(ip), Some(ip)),
            // No usable IPv4 address: only this host can use the relay. No IPv6 address: no
            // IPv6 relays (Allocate asking for one gets 440).
            None if v4 => (Some(bind), Some(IpAddr::from([127, 0, 0, 1]))),
            None => (None, None),
        }
    };
    let (bind_v4, advertise_v4) = side(true, bind_v4);
    let (bind_v6, advertise_v6) = side(false, bind_v6);
    RelaySetup { ports, bind_v4, advertise_v4, bind_v6, advertise_v6 }
}
