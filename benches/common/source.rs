//! TCP client sockets from a chosen loopback source address. `std::net::TcpStream` cannot bind
//! before it connects, so these make, bind and connect the socket with nix.
#![allow(dead_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{bind, connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};

fn bound_socket(src: Ipv4Addr, flags: SockFlag) -> io::Result<OwnedFd> {
    let fd = socket(AddressFamily::Inet, SockType::Stream, flags | SockFlag::SOCK_CLOEXEC, None)?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))?;
    Ok(fd)
}

fn v4(dst: SocketAddr) -> io::Result<SocketAddrV4> {
    match dst {
        SocketAddr::V4(dst) => Ok(dst),
        SocketAddr::V6(_) => Err(io::Error::other("IPv4 only")),
    }
}

/// An async connection from `src` (port chosen by the kernel) to `dst`.
pub async fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> io::Result<smol::net::TcpStream> {
    let fd = bound_socket(src, SockFlag::SOCK_NONBLOCK)?;
    let dst = v4(dst)?;
    match connect(fd.as_raw_fd(), &SockaddrIn::from(dst)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let stream = smol::Async::new(std::net::TcpStream::from(fd))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    Ok(smol::net::TcpStream::from(stream))
}

/// A blocking connection from `src` to `dst` that gives up after `timeout` (a full accept queue
/// makes the kernel drop SYNs, and connect would otherwise retry them for minutes).
pub fn connect_from_blocking(src: Ipv4Addr, dst: SocketAddr, timeout: Duration) -> io::Result<std::net::TcpStream> {
    let fd = bound_socket(src, SockFlag::empty())?;
    // On Linux SO_SNDTIMEO also bounds connect(), which then fails with EINPROGRESS.
    let tv = nix::sys::time::TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
    setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    match connect(fd.as_raw_fd(), &SockaddrIn::from(v4(dst)?)) {
        Ok(()) => Ok(std::net::TcpStream::from(fd)),
        Err(nix::errno::Errno::EINPROGRESS) => Err(io::ErrorKind::TimedOut.into()),
        Err(e) => Err(e.into()),
    }
}
