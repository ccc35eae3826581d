//! Server-side TLS over a TCP stream with rustls's unbuffered API, as `AsyncRead + AsyncWrite`
//! for hyper and the WebSocket layer.
//!
//! Why not futures-rustls: its `ServerConnection` keeps a 4 KiB record buffer for the life of
//! the connection, and the signal listener exists to hold tens of thousands of idle WebSockets.
//! Here every buffer (received ciphertext, decrypted bytes not yet read, records not yet sent)
//! is allocated only while it holds something and freed as soon as it is empty, so an idle
//! connection costs rustls's own state and nothing else. Records are handled by rustls; this
//! file only moves bytes between the socket, rustls and the reader.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::ServerConfig;
use smol::net::TcpStream;
use smol::Async;

/// Bytes asked of the socket per read: one full TLS record with its header and overhead.
const READ_CHUNK: usize = 16 * 1024 + 5 + 256;
thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

/// Plaintext encrypted per `poll_write` call, so queued ciphertext stays bounded.
const MAX_WRITE: usize = 64 * 1024;

/// The most a client may send before its handshake completes. A browser's ClientHello, post-
/// quantum key share included, is about 2 KiB, and its second flight a few hundred bytes; a
/// review's clients sent 48 KiB ClientHellos to make the server hold 58 MB for 1,000 of them.
pub const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;

pub struct TlsStream {
    /// The socket itself, not async-net's wrapper: that one keeps a readiness future per
    /// direction and, after every read that found data, makes two more reads that find nothing
    /// before it waits (see `poll_receive`).
    io: Arc<Async<std::net::TcpStream>>,
    /// The last read took less than it asked for or found nothing: the socket is most likely
    /// drained, so the next read waits for readiness first.
    drained: bool,
    conn: UnbufferedServerConnection,
    /// Received ciphertext not yet processed (a partial record, or nothing).
    incoming: Vec<u8>,
    /// Ciphertext ready to send, of which `sent` bytes are on the wire.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes, of which `taken` have been read.
    plaintext: Vec<u8>,
    taken: usize,
    /// The peer sent close_notify, or the TCP stream ended.
    read_closed: bool,
    close_queued: bool,
}

/// Runs the TLS handshake on `io`.
pub async fn accept(io: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
    let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
    let mut s = TlsStream {
        io: io.into(),
        drained: false,
        conn,
        incoming: Vec::new(),
        outgoing: Vec::new(),
        sent: 0,
        plaintext: Vec::new(),
        taken: 0,
        read_closed: false,
        close_queued: false,
    };
    let mut received = 0;
    loop {
        let driven = s.drive(None);
        // Send what rustls produced (including the alert of a failed handshake) before acting.
        poll_fn(|cx| s.poll_send(cx)).await?;
        driven?;
        if !s.conn.is_handshaking() {
            return Ok(s);
        }
        if received > MAX_HANDSHAKE_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS handshake over 16 KiB"));
        }
        let n = if s.read_closed { 0 } else { poll_fn(|cx| s.poll_receive(cx)).await? };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received += n;
    }
}

impl TlsStream {
    /// The protocol agreed by ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Feeds the received ciphertext to rustls until it needs more: decrypted data is appended
    /// to `plaintext`, records to send to `outgoing`. With `write`, once the connection can carry
    /// application data, encrypts it (or, with `Some(&[])` and `close_queued` unset, a
    /// close_notify).
    fn drive(&mut self, mut write: Option<Write<'_>>) -> io::Result<()> {
        loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(&mut self.incoming);
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    self.incoming.drain(..discard);
                    self.salvage_alert();
                    return Err(tls_error(e));
                }
            };
            let mut finished = false;
            match state {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                }
                ConnectionState::EncodeTlsData(encode) => encode_into(&mut self.outgoing, encode)?,
                // Our `outgoing` is sent in order before anything later, so it counts as sent.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::BlockedHandshake => finished = true,
                ConnectionState::WriteTraffic(mut traffic) => {
                    match write.take() {
                        Some(Write::Data(data)) => {
                            append(&mut self.outgoing, |buf| match traffic.encrypt(data, buf) {
                                Ok(n) => Ok(n),
                                Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
                                Err(_) => Err(None),
                            })?
                        }
                        Some(Write::CloseNotify) => {
                            append(&mut self.outgoing, |buf| match traffic.queue_close_notify(buf) {
                                Ok(n) => Ok(n),
                                Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
                                Err(_) => Err(None),
                            })?
                        }
                        None => {}
                    }
                    finished = true;
                }
                ConnectionState::PeerClosed => self.read_closed = true,
                ConnectionState::Closed => {
                    self.read_closed = true;
                    finished = true;
                }
                // Early data is never enabled in the server configuration.
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected TLS state")),
            }
            self.incoming.drain(..discard);
            if finished {
                return match write {
                    Some(_) => Err(io::Error::new(io::ErrorKind::NotConnected, "TLS connection cannot send")),
                    None => Ok(()),
                };
            }
        }
    }

    /// After a protocol error rustls has queued a fatal alert: encode it so it can be sent.
    fn salvage_alert(&mut self) {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        if let Ok(ConnectionState::EncodeTlsData(encode)) = state {
            let _ = encode_into(&mut self.outgoing, encode);
        }
    }

    /// Reads ciphertext from the socket into `incoming`; `Ok(0)` at the end of the stream.
    ///
    /// One read per readiness event. A read that finds data ends the wait it woke from, so
    /// waiting first after a short read costs no system call but the epoll re-arm every wait
    /// needs, where reading first (async-net's way) costs a read that finds nothing, then a
    /// stale readiness event, then a second such read. A re-armed epoll interest reports data
    /// that came in between, so nothing is missed.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        use std::io::Read;
        // Read into the thread's scratch buffer and keep only the bytes that came: a fresh
        // buffer per read would be allocated and zeroed even when the read finds nothing.
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            loop {
                if self.drained {
                    ready!(self.io.poll_readable(cx))?;
                    self.drained = false;
                }
                match (&mut self.io.get_ref()).read(&mut scratch[..]) {
                    Ok(0) => {
                        self.read_closed = true;
                        return Poll::Ready(Ok(0));
                    }
                    Ok(n) => {
                        self.incoming.extend_from_slice(&scratch[..n]);
                        self.drained = n < scratch.len();
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        })
    }

    /// Writes `outgoing` to the socket; ready once all of it is sent, and the buffer freed.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        use std::io::Write;
        while self.sent < self.outgoing.len() {
            match (&mut self.io.get_ref()).write(&self.outgoing[self.sent..]) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.io.poll_writable(cx))?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Bytes this connection holds in buffers (for tests: zero when idle).
    pub fn buffered_capacity(&self) -> usize {
        self.incoming.capacity() + self.outgoing.capacity() + self.plaintext.capacity()
    }
}

enum Write<'a> {
    Data(&'a [u8]),
    CloseNotify,
}

/// Appends a handshake record (or alert) rustls has ready to `out`.
fn encode_into(
    out: &mut Vec<u8>,
    mut encode: rustls::unbuffered::EncodeTlsData<'_, rustls::server::ServerConnectionData>,
) -> io::Result<()> {
    append(out, |buf| match encode.encode(buf) {
        Ok(n) => Ok(n),
        Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
        Err(EncodeError::AlreadyEncoded) => Err(None),
    })
}

/// Lets `f` write at the end of `out`, growing it to the size `f` asks for (`Err(Some(n))`).
fn append(out: &mut Vec<u8>, mut f: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>) -> io::Result<()> {
    let start = out.len();
    let mut room = 512;
    loop {
        out.resize(start + room, 0);
        match f(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(required)) if required > room => room = required,
            Err(_) => {
                out.truncate(start);
                return Err(io::Error::other("TLS record encoding failed"));
            }
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.taken < this.plaintext.len() {
                let n = buf.len().min(this.plaintext.len() - this.taken);
                buf[..n].copy_from_slice(&this.plaintext[this.taken..this.taken + n]);
                this.taken += n;
                if this.taken == this.plaintext.len() {
                    this.plaintext = Vec::new();
                    this.taken = 0;
                }
                return Poll::Ready(Ok(n));
            }
            if this.read_closed {
                return Poll::Ready(Ok(0));
            }
            // Post-handshake records rustls answers (a KeyUpdate) go out as soon as they can.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            if ready!(this.poll_receive(cx))? > 0 {
                this.drive(None)?;
                if this.incoming.is_empty() {
                    this.incoming = Vec::new();
                }
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // At most one call's worth of ciphertext waits in memory.
        if this.outgoing.len() - this.sent >= MAX_WRITE {
            ready!(this.poll_send(cx))?;
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = &data[..data.len().min(MAX_WRITE)];
        // This cannot decrypt anything a reader would wait for: bytes enter `incoming` only in
        // `poll_receive`, and every complete record there is processed before it returns.
        this.drive(Some(Write::Data(data)))?;
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP holds nothing back (no Nagle: the listeners set TCP_NODELAY).
        self.get_mut().poll_send(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_queued {
            this.close_queued = true;
            // A connection rustls already considers closed has nothing left to say.
            let _ = this.drive(Some(Write::CloseNotify));
        }
        ready!(this.poll_send(cx))?;
        match this.io.get_ref().shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
#[path = "tls_stream_tests.rs"]
mod tests;
