//! Every WebSocket close code a signaling connection can get from this server, in one table:
//! SPEC "Signaling" (4001–4008), RFC 6455 §7.4.1 for the protocol's own (1001, 1002, 1007, 1009,
//! 1013), and which decoder error gets which. The codes a client sends us are judged in
//! `proto::ws`; they are the client's, not ours, and are only echoed.

use crate::proto::ws;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// No `auth` in time, or a first message that is not `auth`.
    NoAuth,
    /// The token failed verification at `auth`, or its origin is not allowed.
    TokenInvalid,
    /// The token's key was deleted, or the peer was kicked.
    Revoked,
    /// The token expired and was not refreshed.
    Expired,
    /// A newer connection of the same peer took over.
    Replaced,
    /// More than the queued-bytes limit waited for this reader.
    SlowReader,
    /// Too many errors or rate-limited messages in the abuse window.
    Abuse,
    /// The server is shutting down.
    ShuttingDown,
    /// The project is at its connection cap.
    TryAgainLater,
    /// A newer unauthenticated connection of the same source took this one's place (SPEC
    /// "Clients without credentials"); "try again later", so the SDK reconnects.
    Evicted,
    /// A frame broke RFC 6455 §5.
    ProtocolError,
    /// Text or a close reason that is not UTF-8.
    InvalidPayload,
    /// A message over the size limit.
    MessageTooBig,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::NoAuth => 4001,
            CloseCode::TokenInvalid => 4002,
            CloseCode::Revoked => 4003,
            CloseCode::Expired => 4004,
            CloseCode::Replaced => 4005,
            CloseCode::SlowReader => 4007,
            CloseCode::Abuse => 4008,
            CloseCode::ShuttingDown => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::InvalidPayload => 1007,
            CloseCode::MessageTooBig => 1009,
            CloseCode::TryAgainLater | CloseCode::Evicted => 1013,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::NoAuth => "no auth",
            CloseCode::TokenInvalid => "token invalid",
            CloseCode::Revoked => "revoked",
            CloseCode::Expired => "token expired",
            CloseCode::Replaced => "replaced by a newer connection",
            CloseCode::SlowReader => "too slow a reader",
            CloseCode::Abuse => "too many errors",
            CloseCode::ShuttingDown => "server shutting down",
            CloseCode::ProtocolError => "protocol error",
            CloseCode::InvalidPayload => "invalid UTF-8",
            CloseCode::MessageTooBig => "message too big",
            CloseCode::TryAgainLater => "project connection limit reached",
            CloseCode::Evicted => "too many unauthenticated connections from this source",
        }
    }
}

/// A frame the decoder refused closes the connection with this code.
impl From<ws::Error> for CloseCode {
    fn from(e: ws::Error) -> CloseCode {
        match e {
            ws::Error::TooBig => CloseCode::MessageTooBig,
            ws::Error::InvalidUtf8 => CloseCode::InvalidPayload,
            ws::Error::Protocol(_) => CloseCode::ProtocolError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseCode::*;

    #[test]
    fn every_close_code_has_its_number_and_a_reason() {
        let table = [
            (NoAuth, 4001),
            (TokenInvalid, 4002),
            (Revoked, 4003),
            (Expired, 4004),
            (Replaced, 4005),
            (SlowReader, 4007),
            (Abuse, 4008),
            (ShuttingDown, 1001),
            (ProtocolError, 1002),
            (InvalidPayload, 1007),
            (MessageTooBig, 1009),
            (TryAgainLater, 1013),
            (Evicted, 1013),
        ];
        for (close, code) in table {
            assert_eq!(close.code(), code, "{close:?}");
            // A close frame's payload is at most 125 bytes: 2 for the code, the rest reason.
            assert!(!close.reason().is_empty() && close.reason().len() <= 123, "{close:?}");
        }
    }

    #[test]
    fn each_decoder_error_maps_to_its_close_code() {
        assert_eq!(CloseCode::from(ws::Error::TooBig).code(), 1009);
        assert_eq!(CloseCode::from(ws::Error::InvalidUtf8).code(), 1007);
        assert_eq!(CloseCode::from(ws::Error::Protocol("x")).code(), 1002);
    }
}
