//! The turn thread: a local executor with one task for the UDP listener, one per relay socket
//! and one for control messages and timers. They share the core through a `RefCell` on this one
//! thread; no task holds the borrow across an await.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};
use rustls::ServerConfig;
use smol::net::TcpListener;
use smol::{Async, LocalExecutor, Task, Timer};

use super::batch::{RecvBatch, BATCH};
use super::stream::{StreamOut, MAX_QUEUED_BYTES};
use super::{Control, RelaySetup, TurnStats};
use crate::proto::stun::Family;
use crate::proto::turn::{AllocId, Client, Command, Server, Transport};
use crate::unixtime::{Now, UnixTime};

/// Datagrams handled per wakeup before a task yields to the others.
const BUDGET: usize = 64;
/// The longest a timer sleeps, so stats and expiries are looked at at least this often.
const TICK: Duration = Duration::from_secs(1);
const USAGE_EVERY: Duration = Duration::from_secs(2);
const BIND_ATTEMPTS: usize = 64;
const LISTENER_SOCKET_BUFFER: usize = 4 << 20;

struct Relay {
    socket: Rc<Async<UdpSocket>>,
    port: u16,
    _task: Task<()>,
}

pub(super) struct Shell {
    core: Server,
    listener: Rc<Async<UdpSocket>>,
    setup: RelaySetup,
    relays: HashMap<AllocId, Relay>,
    ports_in_use: HashSet<u16>,
    streams: HashMap<u64, StreamOut>,
    out: Vec<u8>,
    /// Taken while a socket is drained (the handlers need `&mut Shell`), then put back.
    batch: Option<Box<RecvBatch>>,
    rng_state: u64,
    pub(super) executor: Rc<LocalExecutor<'static>>,
    next_conn: u64,
    me: Weak<RefCell<Shell>>,
}

pub(super) fn run(
    core: Server,
    listener: UdpSocket,
    setup: RelaySetup,
    control: async_channel::Receiver<Control>,
    stats: Arc<TurnStats>,
    streams: Vec<(TcpListener, Option<Arc<ServerConfig>>)>,
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
    let seed = crate::random::token::<8>().bytes().fold(0u64, |a, b| a.rotate_left(8) ^ u64::from(b)) | 1;
    let shell = Rc::new_cyclic(|me| {
        RefCell::new(Shell {
            core,
            listener: listener.clone(),
            setup,
            relays: HashMap::new(),
            ports_in_use: HashSet::new(),
            streams: HashMap::new(),
            out: Vec::with_capacity(2048),
            batch: Some(Box::new(RecvBatch::new())),
            rng_state: seed,
            executor: executor.clone(),
            next_conn: 1,
            me: me.clone(),
        })
    });
    let udp = executor.spawn(client_datagrams(shell.clone(), listener));
    let udp_alive = UdpAlive(udp);
    for (listener, tls) in streams {
        executor.spawn(super::stream::serve(Rc::downgrade(&shell), listener, tls)).detach();
    }
    smol::block_on(executor.run(control_loop(shell.clone(), control, stats, &udp_alive)));
    drop(udp_alive);
    let mut st = shell.borrow_mut();
    st.relays.clear();
    st.streams.clear();
}

async fn client_datagrams(shell: Rc<RefCell<Shell>>, listener: Rc<Async<UdpSocket>>) {
    loop {
        if let Err(e) = listener.readable().await {
            log::error!("turn: UDP listener failed: {e}");
            return;
        }
        if drain_socket(&shell, &listener, None) {
            smol::future::yield_now().await;
        }
    }
}

async fn peer_datagrams(shell: Weak<RefCell<Shell>>, alloc: AllocId, socket: Rc<Async<UdpSocket>>) {
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let Some(shell) = shell.upgrade() else { return };
        let busy = drain_socket(&shell, &socket, Some(alloc));
        drop(shell);
        if busy {
            smol::future::yield_now().await;
        }
    }
}

/// Reads and handles what `socket` has queued, in batches, until a short batch shows it drained
/// (a later datagram re-arms the readiness wait) or the budget is spent (returns true: yield).
/// `alloc` is `None` for the client listener, else the allocation whose relay socket this is.
fn drain_socket(shell: &Rc<RefCell<Shell>>, socket: &Async<UdpSocket>, alloc: Option<AllocId>) -> bool {
    let mut st = shell.borrow_mut();
    // One set of receive buffers for every socket keeps an allocation's footprint small.
    let Some(mut batch) = st.batch.take() else { return false };
    let mut handled = 0;
    let busy = loop {
        let n = match batch.recv(socket.get_ref()) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            // ICMP errors from earlier sends surface here; they are not fatal.
            Err(e) => {
                log::trace!("turn: UDP receive: {e}");
                break false;
            }
        };
        // One clock reading per batch: the datagrams arrived together.
        let now = Now::read();
        for i in 0..n {
            let (meta, bytes) = batch.get(i);
            let Some(from) = meta.from.filter(|_| !meta.truncated) else { continue };
            match alloc {
                None => st.client_record(Client { transport: Transport::Udp, conn: 0, addr: from }, bytes, now),
                Some(alloc) => st.peer_datagram(alloc, from, bytes, now),
            }
        }
        handled += n;
        if n < BATCH {
            break false;
        }
        if handled >= BUDGET {
            break true;
        }
    };
    st.batch = Some(batch);
    busy
}

/// The UDP listener's task; it only ends when the socket fails.
struct UdpAlive(Task<()>);

async fn control_loop(
    shell: Rc<RefCell<Shell>>,
    control: async_channel::Receiver<Control>,
    stats: Arc<TurnStats>,
    udp: &UdpAlive,
) {
    let mut next_usage = Instant::now() + USAGE_EVERY;
    loop {
        let deadline = {
            let st = shell.borrow();
            let tick = Instant::now() + TICK;
            st.core.poll_timeout().map_or(tick, |t| t.min(tick))
        };
        let msg = futures_lite::future::or(async { Some(control.recv().await) }, async {
            Timer::at(deadline).await;
            None
        })
        .await;
        let mut st = shell.borrow_mut();
        match msg {
            Some(Ok(Control::Shutdown)) | Some(Err(_)) => break,
            Some(Ok(msg)) => st.control(msg),
            None => {}
        }
        let now = Now::read();
        st.core.handle_timeout(now);
        st.drain(now);
        stats.set_totals(st.core.totals(), st.streams.len());
        if udp.0.is_finished() {
            stats.mark_udp_failed();
        }
        if now.mono >= next_usage {
            stats.add_usage(st.core.take_usage());
            next_usage = now.mono + USAGE_EVERY;
        }
    }
    stats.add_usage(shell.borrow_mut().core.take_usage());
}

impl Shell {
    pub(super) fn next_conn(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    pub(super) fn stream_opened(&mut self, client: Client, out: StreamOut) {
        self.streams.insert(client.conn, out);
    }

    /// A stream client went away: its allocation goes with it (RFC 8656 §3.1).
    pub(super) fn stream_closed(&mut self, client: Client) {
        self.streams.remove(&client.conn);
        self.core.handle_client_closed(client);
        self.drain(Now::read());
    }

    pub(super) fn client_record(&mut self, client: Client, bytes: &[u8], now: Now) {
        if let Some(fwd) = self.core.handle_client(client, bytes, now) {
            if let Some(relay) = self.relays.get(&fwd.alloc) {
                if let Err(e) = relay.socket.get_ref().send_to(fwd.payload, fwd.peer) {
                    log::trace!("turn: relay send: {e}");
                }
            }
        }
        self.drain(now);
    }

    fn peer_datagram(&mut self, alloc: AllocId, from: SocketAddr, payload: &[u8], now: Now) {
        let mut out = std::mem::take(&mut self.out);
        if let Some(client) = self.core.handle_peer(alloc, from, payload, now, &mut out) {
            self.deliver(client, &out);
        }
        self.out = out;
        self.drain(now);
    }

    fn deliver(&mut self, to: Client, bytes: &[u8]) {
        match to.transport {
            Transport::Udp => {
                if let Err(e) = self.listener.get_ref().send_to(bytes, to.addr) {
                    log::trace!("turn: UDP send: {e}");
                }
            }
            Transport::Tcp | Transport::Tls => {
                // A full queue means a slow reader; dropping is what UDP would do.
                if let Some(out) = self.streams.get(&to.conn) {
                    let queued = out.queued.get();
                    if queued + bytes.len() <= MAX_QUEUED_BYTES && out.tx.try_send(bytes.to_vec()).is_ok() {
                        out.queued.set(queued + bytes.len());
                    }
                }
            }
        }
    }

    fn control(&mut self, msg: Control) {
        match msg {
            Control::Grant { username, kid, expiry } => self.core.handle_grant(username, kid, expiry, UnixTime::now()),
            Control::KeysDeleted(kids) => {
                let n = self.core.handle_keys_deleted(&kids);
                if n > 0 {
                    log::info!("turn: removed {n} allocations of deleted keys");
                }
            }
            Control::Kick(identity) => {
                self.core.handle_kick(&identity);
            }
            Control::Secrets(secrets) => self.core.handle_secrets(secrets),
            Control::Shutdown => {}
        }
    }

    /// Sends queued responses and carries out relay commands until the core has nothing left.
    fn drain(&mut self, now: Now) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                self.deliver(t.to, &t.bytes);
                progressed = true;
            }
            while let Some(cmd) = self.core.poll_command() {
                progressed = true;
                match cmd {
                    Command::BindRelay { alloc, family, even_port } => {
                        let bound = self.bind_relay(alloc, family, even_port);
                        self.core.handle_relay_bound(alloc, bound, now);
                    }
                    Command::CloseRelay { alloc } => {
                        if let Some(relay) = self.relays.remove(&alloc) {
                            self.ports_in_use.remove(&relay.port);
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: only spreads relay ports, so predictability costs nothing.
        let mut x = self.rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng_state = x;
        x
    }

    /// Binds a relay socket on a random free port of the range; `None` when none could be had.
    fn bind_relay(&mut self, alloc: AllocId, family: Family, even_port: bool) -> Option<SocketAddr> {
        let (bind, advertise) = match family {
            Family::V4 => (self.setup.bind_v4?, self.setup.advertise_v4?),
            Family::V6 => (self.setup.bind_v6?, self.setup.advertise_v6?),
        };
        let range = self.setup.ports;
        for _ in 0..BIND_ATTEMPTS {
            let mut port = range.low + (self.next_random() % u64::from(range.len())) as u16;
            if even_port && port % 2 == 1 {
                port = if port > range.low { port - 1 } else { port + 1 };
            }
            if self.ports_in_use.contains(&port) {
                continue;
            }
            let socket = match UdpSocket::bind(SocketAddr::new(bind, port)).and_then(Async::new) {
                Ok(s) => Rc::new(s),
                Err(_) => continue,
            };
            let task = self.executor.spawn(peer_datagrams(self.me.clone(), alloc, socket.clone()));
            self.ports_in_use.insert(port);
            self.relays.insert(alloc, Relay { socket, port, _task: task });
            return Some(SocketAddr::new(advertise, port));
        }
        log::warn!("turn: no free relay port in {range} after {BIND_ATTEMPTS} attempts");
        None
    }
}
