//! ChannelData messages (RFC 8656 §12.4) and record framing on stream transports (§12.5).
//!
//! On TCP and TLS, STUN messages and ChannelData messages follow each other with no other
//! framing: the two leading bits tell them apart, a STUN length counts the attributes after the
//! 20-byte header, and a ChannelData length excludes the padding to a multiple of 4 that the
//! sender must add on streams.

use super::HEADER_LEN;

/// A channel number. RFC 8656 §12 allows 0x4000–0x4FFF and reserves 0x5000–0x7FFF, but RFC
/// 5766 allowed 0x4000–0x7FFF and its clients (coturn's among them) still pick numbers there,
/// so this server accepts the RFC 5766 range, as coturn does; the two-bit ChannelData prefix is
/// the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelNumber(u16);

impl ChannelNumber {
    pub const MIN: u16 = 0x4000;
    pub const MAX: u16 = 0x7FFF;

    pub fn new(n: u16) -> Option<ChannelNumber> {
        (Self::MIN..=Self::MAX).contains(&n).then_some(ChannelNumber(n))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// A parsed ChannelData message borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    pub channel: u16,
    pub payload: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parses a ChannelData record; trailing padding (up to 3 bytes) is allowed, as on streams.
    pub fn decode(bytes: &'a [u8]) -> Option<ChannelData<'a>> {
        if bytes.len() < 4 || bytes[0] & 0xC0 != 0x40 {
            return None;
        }
        let channel = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let rest = bytes.len() - 4;
        if rest < len || rest - len > 3 {
            return None;
        }
        Some(ChannelData { channel, payload: &bytes[4..4 + len] })
    }
}

/// Writes the 4-byte ChannelData header for `len` payload bytes.
pub fn channel_header(channel: ChannelNumber, len: usize) -> [u8; 4] {
    let c = channel.0.to_be_bytes();
    let l = (len as u16).to_be_bytes();
    [c[0], c[1], l[0], l[1]]
}

/// Padding needed after a ChannelData payload on a stream.
pub fn stream_padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Not enough bytes yet to know the record's length.
    NeedMore,
    /// A record of this many bytes (padding included) has begun, and is not all there yet: a
    /// reader can set aside exactly that much for it.
    Partial(usize),
    /// A whole record of this many bytes (padding included) can be taken from the front.
    Complete(usize),
    /// The bytes are neither STUN nor ChannelData: the stream is unusable.
    Invalid,
}

/// Finds the length of the next record on a stream; `max` bounds a record's size.
pub fn next_record(buf: &[u8], max: usize) -> Record {
    if buf.len() < 4 {
        return Record::NeedMore;
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let total = match buf[0] & 0xC0 {
        0x00 if len % 4 == 0 => HEADER_LEN + len,
        0x40 => 4 + len + stream_padding(len),
        _ => return Record::Invalid,
    };
    if total > max {
        Record::Invalid
    } else if buf.len() < total {
        Record::Partial(total)
    } else {
        Record::Complete(total)
    }
}
