//! Receiving up to [`BATCH`] datagrams in one `recvmmsg(2)` call. Besides fewer system calls
//! under load, a short batch tells that the socket is drained, which saves the extra receive
//! that would only return EAGAIN (measured in docs/benchmarks.md). nix wraps the call safely.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

pub const BATCH: usize = 16;
/// Room per datagram: above a WebRTC packet plus TURN framing; longer ones are dropped.
pub const SLOT: usize = 8192;

#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    pub len: usize,
    pub from: Option<SocketAddr>,
    pub truncated: bool,
}

pub struct RecvBatch {
    bufs: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    meta: [Received; BATCH],
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![0u8; BATCH * SLOT],
            headers: MultiHeaders::preallocate(BATCH, None),
            meta: [Received::default(); BATCH],
        }
    }

    /// Receives what is queued, up to [`BATCH`] datagrams, without blocking; returns how many.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let mut slots = self.bufs.chunks_mut(SLOT);
        let mut iovs: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(slots.next().expect("BATCH slots of SLOT bytes"))]);
        let results = recvmmsg(socket.as_raw_fd(), &mut self.headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            .map_err(io::Error::from)?;
        let mut n = 0;
        for r in results {
            self.meta[n] = Received {
                len: r.bytes.min(SLOT),
                from: r.address.and_then(|a| to_std(&a)),
                truncated: r.flags.contains(MsgFlags::MSG_TRUNC),
            };
            n += 1;
        }
        Ok(n)
    }

    /// The `i`th datagram of the last [`RecvBatch::recv`].
    pub fn get(&self, i: usize) -> (Received, &[u8]) {
        let m = self.meta[i];
        (m, &self.bufs[i * SLOT..i * SLOT + m.len])
    }
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        Some(SocketAddr::from(*v4))
    } else {
        a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_every_queued_datagram_with_its_sender() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..20u8 {
            tx.send_to(&[i; 10], rx.local_addr().unwrap()).unwrap();
        }
        let mut b = RecvBatch::new();
        assert_eq!(b.recv(&rx).unwrap(), BATCH);
        let (m, bytes) = b.get(3);
        assert_eq!((m.from, bytes, m.truncated), (Some(tx.local_addr().unwrap()), &[3u8; 10][..], false));
        assert_eq!(b.recv(&rx).unwrap(), 4);
        assert_eq!(b.get(3).1, &[19u8; 10]);
        assert_eq!(b.recv(&rx).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        tx.send_to(&vec![7u8; SLOT + 100], rx.local_addr().unwrap()).unwrap();
        assert_eq!(b.recv(&rx).unwrap(), 1);
        assert!(b.get(0).0.truncated);
    }
}
