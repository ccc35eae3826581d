//! The own generator: lanes of allocations ChannelBound to in-process echoes, and one load run
//! over them at a rate.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::args::{Opts, Side};
use crate::common::turn::{allocate_udp_authed, rest_password, rest_username, unix_now, AllocateError};
use crate::echo::Echo;
use crate::floor;
use crate::procfs::{cpu_ticks, udp_drops};
use crate::target::Target;

/// One client thread's share: allocation sockets (connected to the server), allocation i with
/// channel 0x4000+i bound to `echo`.
pub struct Lane {
    pub socks: Vec<UdpSocket>,
    pub echo: Echo,
}

pub const CHANNEL0: u16 = 0x4000;

/// Allocates and ChannelBinds every lane's allocations; distinct PIDs in the usernames.
pub fn setup_lanes(t: &Target, o: &Opts) -> Result<Vec<Lane>, String> {
    let mut lanes = Vec::new();
    for k in 0..o.threads {
        let share = o.clients / o.threads + u32::from(k < o.clients % o.threads);
        let mut lane = Lane { socks: Vec::new(), echo: Echo::start(None) };
        if t.side == Side::Floor {
            for i in 0..share {
                lane.socks.push(floor::bind(t.listen, CHANNEL0 + i as u16, lane.echo.addr)?);
            }
            lanes.push(lane);
            continue;
        }
        for i in 0..share {
            let user = rest_username(unix_now() + 3600, &t.project, "load", &format!("own{k}x{i}"));
            let pass = rest_password(&t.secret, &user);
            let mut tries = 0;
            let mut a = loop {
                match allocate_udp_authed(t.listen, &user, &pass) {
                    Err(AllocateError::Code(437)) if tries < 5 => tries += 1,
                    Err(e) => return Err(format!("allocation {k}/{i} refused: {e:?}")),
                    Ok(a) => break a,
                }
            };
            a.channel_bind(CHANNEL0 + i as u16, lane.echo.addr)
                .map_err(|e| format!("ChannelBind {k}/{i} refused: {e:?}"))?;
            lane.socks.push(a.alloc.sock);
        }
        lanes.push(lane);
    }
    Ok(lanes)
}

/// One load run at one rate.
pub struct Load {
    pub rate: u64,
    pub secs: f64,
    pub sent: u64,
    pub send_failed: u64,
    pub reached_peer: u64,
    pub received: u64,
    /// Round trips in microseconds, sorted.
    pub rtt_us: Vec<u32>,
    pub cpu_s: f64,
    pub generator_cpu_s: f64,
    /// Kernel drops on the server's UDP sockets during the run.
    pub server_udp_drops: u64,
}

impl Load {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
    pub fn loss_pct(&self) -> f64 {
        100.0 * self.lost() as f64 / self.sent.max(1) as f64
    }
    /// Each echo received was relayed twice: client->peer and peer->client.
    pub fn relayed(&self) -> u64 {
        2 * self.received
    }
    pub fn per_cpu_s(&self) -> f64 {
        self.relayed() as f64 / self.cpu_s.max(0.01)
    }
    pub fn achieved(&self) -> f64 {
        self.sent as f64 / self.secs
    }
    pub fn rtt_ms(&self, pct: usize) -> Option<f64> {
        let n = self.rtt_us.len();
        (n > 0).then(|| self.rtt_us[(n * pct / 100).min(n - 1)] as f64 / 1000.0)
    }
}

/// Sends ChannelData round-robin over `socks` at `rate` packets/s for `secs`: (sent, failed).
pub fn send_lane(socks: &[UdpSocket], rate: f64, secs: f64, len: usize, epoch: Instant) -> (u64, u64) {
    let total = (rate * secs).round() as u64;
    let mut buf = vec![0u8; 4 + len];
    buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let (mut n, mut sent, mut failed) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while n < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while n < due {
            let i = (n % socks.len() as u64) as usize;
            buf[0..2].copy_from_slice(&(CHANNEL0 + i as u16).to_be_bytes());
            buf[4..12].copy_from_slice(&n.to_be_bytes());
            buf[12..20].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
            match socks[i].send(&buf) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => failed += 1,
                Err(_) => failed += 1,
            }
            n += 1;
        }
        let next = start + Duration::from_secs_f64(n as f64 / rate);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    (sent, failed)
}

/// Reads echoed ChannelData on `socks` (non-blocking, epoll through smol) until `stop`:
/// (received, round trips in microseconds).
pub fn receive_lane(socks: &[UdpSocket], stop: &AtomicBool, epoch: Instant) -> (u64, Vec<u32>) {
    let socks: Vec<smol::Async<UdpSocket>> =
        socks.iter().map(|s| smol::Async::new(s.try_clone().unwrap()).unwrap()).collect();
    let stats = RefCell::new((0u64, Vec::<u32>::new()));
    let ex = smol::LocalExecutor::new();
    let tasks: Vec<_> = socks
        .iter()
        .map(|sock| {
            let stats = &stats;
            ex.spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(n) = sock.recv(&mut buf).await {
                    if n >= 20 && buf[0] & 0xc0 == 0x40 {
                        let sent_ns = u64::from_be_bytes(buf[12..20].try_into().unwrap());
                        let rtt = (epoch.elapsed().as_nanos() as u64).saturating_sub(sent_ns) / 1000;
                        let mut s = stats.borrow_mut();
                        s.0 += 1;
                        s.1.push(rtt.min(u32::MAX as u64) as u32);
                    }
                }
            })
        })
        .collect();
    smol::block_on(ex.run(async {
        while !stop.load(Ordering::Relaxed) {
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }));
    drop(tasks);
    stats.take()
}

/// One load run over set-up lanes: senders and receivers per lane, then 500 ms for the last
/// echoes; the server's CPU is counted from the first send to the end of that wait.
pub fn run_load(t: &Target, lanes: &[Lane], rate: u64, o: &Opts, ticks: f64) -> Load {
    let lane_rate = rate as f64 / lanes.len() as f64;
    let epoch = Instant::now();
    let stop = AtomicBool::new(false);
    for lane in lanes {
        lane.echo.reached.store(0, Ordering::Relaxed);
    }
    let (cpu_before, own_before) = (cpu_ticks(t.pid), cpu_ticks(std::process::id()));
    let drops_before = udp_drops(t.pid);
    let (sent, failed, received, mut rtt_us) = std::thread::scope(|s| {
        let receivers: Vec<_> = lanes.iter().map(|l| s.spawn(|| receive_lane(&l.socks, &stop, epoch))).collect();
        let senders: Vec<_> =
            lanes.iter().map(|l| s.spawn(|| send_lane(&l.socks, lane_rate, o.secs, o.len as usize, epoch))).collect();
        let (mut sent, mut failed) = (0, 0);
        for h in senders {
            let (a, b) = h.join().unwrap();
            sent += a;
            failed += b;
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let (mut received, mut rtts) = (0, Vec::new());
        for h in receivers {
            let (n, r) = h.join().unwrap();
            received += n;
            rtts.extend(r);
        }
        (sent, failed, received, rtts)
    });
    let cpu_s = (cpu_ticks(t.pid) - cpu_before) as f64 / ticks;
    let generator_cpu_s = (cpu_ticks(std::process::id()) - own_before) as f64 / ticks;
    rtt_us.sort_unstable();
    Load {
        rate,
        secs: o.secs,
        sent,
        send_failed: failed,
        reached_peer: lanes.iter().map(|l| l.echo.reached.load(Ordering::Relaxed)).sum(),
        received,
        rtt_us,
        cpu_s,
        generator_cpu_s,
        server_udp_drops: udp_drops(t.pid).saturating_sub(drops_before),
    }
}
