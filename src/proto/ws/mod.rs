//! WebSocket frames on the server side of a connection (RFC 6455 §5), without IO: received bytes
//! go in with [`Decoder::push`], whole messages come out of [`Decoder::poll_message`]; frames we
//! send are built by [`text_frame`], [`PING`] and [`close_frame`].
//!
//! What it enforces, with the close code each violation gets (the table is
//! `proto::signal::CloseCode`, with the rest of the codes this server sends): client
//! frames are masked, no reserved bit is set (no extension is ever negotiated, so no
//! permessage-deflate), opcodes are the six of §5.2, control frames are final and at most 125
//! bytes, continuations follow an unfinished message and nothing else interleaves, a close
//! payload is a valid code and a UTF-8 reason (1002); text is UTF-8 (1007); a message over the
//! size limit is refused when its frame header arrives, so it is never buffered whole (1009).
//!
//! Memory is the point of this module: a signaling box holds tens of thousands of idle
//! connections. The decoder keeps received bytes only while a frame is incomplete and frees them
//! when everything received has been decoded; an idle connection's decoder owns no heap memory.
//! Left out on purpose: extensions, and binary payloads (signaling only counts binary messages as
//! bad requests, so their bytes are skipped, not kept).

pub mod handshake;

const MAX_CONTROL_PAYLOAD: usize = 125;

/// A whole message (or control frame) from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    /// A binary message of this many bytes; its payload is not kept.
    Binary(usize),
    /// Answer with a pong carrying the same bytes (§5.5.2).
    Ping(Vec<u8>),
    Pong,
    /// The client's close frame, with its status code if it sent one.
    Close(Option<u16>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A message longer than the limit.
    TooBig,
    /// Text or a close reason that is not UTF-8.
    InvalidUtf8,
    /// Any other violation of RFC 6455 §5; the text says which, for debug logs.
    Protocol(&'static str),
}

/// A message that arrived in several frames, until its final frame.
struct Fragmented {
    text: bool,
    len: usize,
    /// Text payloads only; a binary message is counted, not kept.
    bytes: Vec<u8>,
}

pub struct Decoder {
    max_message: usize,
    /// Received bytes from `pos` on are not decoded yet.
    buf: Vec<u8>,
    pos: usize,
    fragmented: Option<Box<Fragmented>>,
}

struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

impl Decoder {
    /// A decoder refusing messages longer than `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder { max_message, buf: Vec::new(), pos: 0, fragmented: None }
    }

    /// Bytes received from the client, in order.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` until more bytes arrive. After an error the connection
    /// must be closed with the error's close code; the decoder is not usable any more.
    pub fn poll_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let Some(header) = parse_header(&self.buf[self.pos..])? else {
                self.release();
                return Ok(None);
            };
            self.check(&header)?;
            let end = self.pos + header.header_len + header.payload_len;
            if self.buf.len() < end {
                let frame_len = end - self.pos;
                self.release();
                // Room for exactly this frame, not the doubling a growing Vec would do.
                self.buf.reserve_exact(frame_len - self.buf.len());
                return Ok(None);
            }
            let start = self.pos + header.header_len;
            self.pos = end;
            if let Some(message) = self.frame(&header, start, end)? {
                // Moving what is left after every message would cost the square of the
                // frames per read; it is freed here when all is decoded, else compacted once
                // the next call finds no whole frame.
                if self.pos == self.buf.len() {
                    self.release();
                }
                return Ok(Some(message));
            }
        }
    }

    /// Rules that can be judged from the header alone, before any payload is waited for.
    fn check(&self, h: &Header) -> Result<(), Error> {
        match h.opcode {
            0x8..=0xA => {
                if !h.fin {
                    return Err(Error::Protocol("fragmented control frame"));
                }
                if h.payload_len > MAX_CONTROL_PAYLOAD {
                    return Err(Error::Protocol("control frame longer than 125 bytes"));
                }
            }
            0x0 => match &self.fragmented {
                None => return Err(Error::Protocol("continuation without a message")),
                Some(f) if f.len.saturating_add(h.payload_len) > self.max_message => return Err(Error::TooBig),
                Some(_) => {}
            },
            0x1 | 0x2 => {
                if self.fragmented.is_some() {
                    return Err(Error::Protocol("new message before the last one ended"));
                }
                if h.payload_len > self.max_message {
                    return Err(Error::TooBig);
                }
            }
            _ => return Err(Error::Protocol("reserved opcode")),
        }
        Ok(())
    }

    /// Acts on a whole frame whose payload is `buf[start..end]`; a message if one is complete.
    fn frame(&mut self, h: &Header, start: usize, end: usize) -> Result<Option<Message>, Error> {
        let payload = &mut self.buf[start..end];
        unmask(payload, h.mask);
        let payload = &self.buf[start..end];
        match h.opcode {
            0x9 => Ok(Some(Message::Ping(payload.to_vec()))),
            0xA => Ok(Some(Message::Pong)),
            0x8 => close_payload(payload).map(|code| Some(Message::Close(code))),
            0x1 | 0x2 => {
                let text = h.opcode == 0x1;
                if h.fin {
                    return whole(text, payload.len(), payload.to_vec()).map(Some);
                }
                let bytes = if text { payload.to_vec() } else { Vec::new() };
                self.fragmented = Some(Box::new(Fragmented { text, len: payload.len(), bytes }));
                Ok(None)
            }
            _ => {
                let f = self.fragmented.as_mut().expect("check() refused a continuation without a message");
                f.len += payload.len();
                if f.text {
                    f.bytes.extend_from_slice(payload);
                }
                if !h.fin {
                    return Ok(None);
                }
                let f = self.fragmented.take().expect("present: just extended");
                whole(f.text, f.len, f.bytes).map(Some)
            }
        }
    }

    /// Lets go of decoded bytes; of the whole buffer once everything received is decoded.
    fn release(&mut self) {
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

fn whole(text: bool, len: usize, bytes: Vec<u8>) -> Result<Message, Error> {
    if !text {
        return Ok(Message::Binary(len));
    }
    String::from_utf8(bytes).map(Message::Text).map_err(|_| Error::InvalidUtf8)
}

/// A frame header (§5.2), `None` while incomplete.
fn parse_header(b: &[u8]) -> Result<Option<Header>, Error> {
    let [b0, b1, ..] = *b else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(Error::Protocol("reserved bit set"));
    }
    if b1 & 0x80 == 0 {
        return Err(Error::Protocol("client frame not masked"));
    }
    let (len, at) = match b1 & 0x7F {
        126 => match b.get(2..4) {
            Some(l) => (u64::from(u16::from_be_bytes([l[0], l[1]])), 4),
            None => return Ok(None),
        },
        127 => match b.get(2..10) {
            Some(l) => (u64::from_be_bytes(l.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len >> 63 != 0 {
        return Err(Error::Protocol("length with the high bit set"));
    }
    let Some(mask) = b.get(at..at + 4) else { return Ok(None) };
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        mask: mask.try_into().expect("4 bytes"),
        header_len: at + 4,
        // Beyond usize (32-bit targets): over any limit anyway.
        payload_len: usize::try_from(len).unwrap_or(usize::MAX),
    }))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A close frame's status code (§5.5.1, §7.4): none, or a valid code and a UTF-8 reason.
fn close_payload(p: &[u8]) -> Result<Option<u16>, Error> {
    match p {
        [] => Ok(None),
        [_] => Err(Error::Protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(Error::Protocol("invalid close code"));
            }
            std::str::from_utf8(reason).map_err(|_| Error::InvalidUtf8)?;
            Ok(Some(code))
        }
    }
}

/// A ping with no payload, as the server sends it (unmasked).
pub const PING: [u8; 2] = [0x89, 0x00];

/// A final, unmasked frame of `opcode`: the header with the shortest length encoding, then the
/// payload.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x80 | opcode);
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

pub fn text_frame(text: &str) -> Vec<u8> {
    frame(0x1, text.as_bytes())
}

pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    frame(0xA, payload)
}

/// A close frame with `code` and `reason` (cut to fit the 125-byte control payload), or an empty
/// one when `code` is `None`.
pub fn close_frame(code: Option<u16>, reason: &str) -> Vec<u8> {
    let Some(code) = code else { return frame(0x8, &[]) };
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    frame(0x8, &payload)
}

#[cfg(test)]
mod tests;
