//! The floor: the least work a relay on the socket API can do for the own generator's load, to
//! know how far any TURN server could get. It is a relay with everything but the relaying taken
//! out: no STUN, no authentication, no permissions, no timers, no quotas. One thread, one epoll
//! instance (level-triggered, so nothing is re-armed), `recvmmsg` in batches of 16 that stop at a
//! short batch (as edgebeam does), a relay socket per "allocation". Sends are gathered over one
//! epoll wakeup and leave in one `sendmmsg` per socket (`FLOOR_SENDMMSG=0`: one `sendto` each).
//!
//! Wire: a client sends `BIND` + channel (u16) + echo port (u16) once and gets `OK`; afterwards
//! its ChannelData (channel, length, payload) goes out of that channel's relay socket to the
//! echo, and what the echo sends back returns to the client as ChannelData, exactly the packets
//! a TURN server exchanges for the same load. It runs as a child process
//! (`turn_load --floor-relay`) so its CPU is counted like a server's.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use edgebeam::net::turn::batch::{RecvBatch, BATCH, SLOT};
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
use polling::{Event, Events, PollMode, Poller};

pub const ARG: &str = "--floor-relay";

struct Relay {
    sock: UdpSocket,
    client: SocketAddr,
    channel: u16,
    peer: SocketAddr,
}

/// Datagrams to send at the end of a wakeup: (socket key, start, len, destination), bytes in
/// `bytes`.
#[derive(Default)]
struct Outgoing {
    bytes: Vec<u8>,
    items: Vec<(usize, usize, usize, SocketAddr)>,
}

impl Outgoing {
    fn push(&mut self, key: usize, parts: &[&[u8]], to: SocketAddr) {
        let start = self.bytes.len();
        for p in parts {
            self.bytes.extend_from_slice(p);
        }
        self.items.push((key, start, self.bytes.len() - start, to));
    }

    /// One `sendmmsg` per socket (up to 64 datagrams each), in the order queued.
    fn flush(&mut self, socket: impl Fn(usize) -> i32, headers: &mut MultiHeaders<SockaddrIn>) {
        self.items.sort_by_key(|i| i.0);
        for group in self.items.chunk_by(|a, b| a.0 == b.0) {
            for chunk in group.chunks(64) {
                let slices: Vec<[std::io::IoSlice<'_>; 1]> =
                    chunk.iter().map(|&(_, s, l, _)| [std::io::IoSlice::new(&self.bytes[s..s + l])]).collect();
                let addrs: Vec<Option<SockaddrIn>> = chunk
                    .iter()
                    .map(|&(_, _, _, to)| match to {
                        SocketAddr::V4(v4) => Some(SockaddrIn::from(v4)),
                        SocketAddr::V6(_) => None,
                    })
                    .collect();
                let _ = sendmmsg(socket(chunk[0].0), headers, slices.iter(), &addrs, [], MsgFlags::empty());
            }
        }
        self.items.clear();
        self.bytes.clear();
    }
}

/// The forwarder's main loop: prints its port on stdout, then relays until killed.
pub fn serve() -> ! {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let poller = Poller::new().unwrap();
    // SAFETY (polling's contract): every registered socket outlives its registration; relay
    // sockets are never closed and the process ends by being killed.
    unsafe { poller.add_with_mode(&listener, Event::readable(0), PollMode::Level).unwrap() };
    let mut relays: Vec<Relay> = Vec::new();
    let mut by_client: HashMap<(SocketAddr, u16), usize> = HashMap::new();
    // edgebeam's own receive batch: the floor receives exactly as the server does.
    let mut batch = RecvBatch::new();
    let batched = std::env::var("FLOOR_SENDMMSG").map_or(true, |v| v != "0");
    let mut outgoing = Outgoing::default();
    let mut send_headers = MultiHeaders::<SockaddrIn>::preallocate(64, None);
    let mut out = vec![0u8; SLOT + 4];
    let mut events = Events::new();
    loop {
        if batched {
            let fds: Vec<i32> =
                std::iter::once(listener.as_raw_fd()).chain(relays.iter().map(|r| r.sock.as_raw_fd())).collect();
            outgoing.flush(|key| fds[key], &mut send_headers);
        }
        events.clear();
        poller.wait(&mut events, None).unwrap();
        for ev in events.iter() {
            loop {
                if ev.key == 0 {
                    let n = batch.recv(&listener).unwrap_or(0);
                    for i in 0..n {
                        let (meta, bytes) = batch.get(i);
                        let Some(from) = meta.from else { continue };
                        if let Some(b) = bytes.strip_prefix(b"BIND").filter(|b| b.len() >= 4) {
                            let channel = u16::from_be_bytes([b[0], b[1]]);
                            if by_client.contains_key(&(from, channel)) {
                                let _ = listener.send_to(b"OK", from); // a retry: our OK was lost
                                continue;
                            }
                            let peer = SocketAddr::from(([127, 0, 0, 1], u16::from_be_bytes([b[2], b[3]])));
                            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                            sock.set_nonblocking(true).unwrap();
                            // SAFETY: as above.
                            unsafe {
                                poller.add_with_mode(&sock, Event::readable(relays.len() + 1), PollMode::Level).unwrap()
                            };
                            by_client.insert((from, channel), relays.len());
                            relays.push(Relay { sock, client: from, channel, peer });
                            let _ = listener.send_to(b"OK", from);
                        } else if bytes.len() >= 4 {
                            let channel = u16::from_be_bytes([bytes[0], bytes[1]]);
                            let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]])).min(bytes.len() - 4);
                            if let Some(&r) = by_client.get(&(from, channel)) {
                                if batched {
                                    outgoing.push(r + 1, &[&bytes[4..4 + len]], relays[r].peer);
                                } else {
                                    let _ = relays[r].sock.send_to(&bytes[4..4 + len], relays[r].peer);
                                }
                            }
                        }
                    }
                    if n < BATCH {
                        break;
                    }
                } else {
                    let relay = &relays[ev.key - 1];
                    let n = batch.recv(&relay.sock).unwrap_or(0);
                    for i in 0..n {
                        let (meta, bytes) = batch.get(i);
                        let Some(from) = meta.from else { continue };
                        if from != relay.peer {
                            continue;
                        }
                        let mut header = [0u8; 4];
                        header[..2].copy_from_slice(&relay.channel.to_be_bytes());
                        header[2..].copy_from_slice(&(bytes.len() as u16).to_be_bytes());
                        if batched {
                            outgoing.push(0, &[&header, bytes], relay.client);
                        } else {
                            out[..4].copy_from_slice(&header);
                            out[4..4 + bytes.len()].copy_from_slice(bytes);
                            let _ = listener.send_to(&out[..4 + bytes.len()], relay.client);
                        }
                    }
                    if n < BATCH {
                        break;
                    }
                }
            }
        }
    }
}

/// A client socket of the floor, connected to it, with `channel` bound to the echo at `echo`.
pub fn bind(floor: SocketAddr, channel: u16, echo: SocketAddr) -> Result<UdpSocket, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.connect(floor).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    let mut msg = b"BIND".to_vec();
    msg.extend_from_slice(&channel.to_be_bytes());
    msg.extend_from_slice(&echo.port().to_be_bytes());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 16];
    while Instant::now() < deadline {
        sock.send(&msg).map_err(|e| e.to_string())?;
        match sock.recv(&mut buf) {
            Ok(2) if &buf[..2] == b"OK" => {
                sock.set_read_timeout(None).map_err(|e| e.to_string())?;
                return Ok(sock);
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("the floor relay did not answer BIND".into())
}
