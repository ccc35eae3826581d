//! A UDP echo on 127.0.0.1 in a thread of its own, the peer TURN benchmarks relay to; counts what
//! reaches it. Stops on drop.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Echo {
    pub addr: SocketAddr,
    pub reached: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    /// With `receive_buffer`, the socket's receive buffer is asked for that many bytes (room for
    /// seconds of traffic when the bench runs under `nice` on a shared machine).
    pub fn start(receive_buffer: Option<usize>) -> Echo {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Some(bytes) = receive_buffer {
            let _ = nix::sys::socket::setsockopt(&sock.as_fd(), nix::sys::socket::sockopt::RcvBuf, &bytes);
        }
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = sock.local_addr().unwrap();
        let (reached, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (r, st) = (reached.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    r.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        });
        Echo { addr, reached, stop, thread: Some(thread) }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
