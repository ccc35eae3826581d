//! What webhooks learn from the hub about a peer's session: it joined, it left (and why), it was
//! kicked. The hub emits these as `Command::Peer`; the shell hands them on.

use super::CloseCode;

/// What happened to a peer's session, as webhooks report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    Joined,
    Left(LeaveReason),
    /// An admin kicked it (its `Left(Kicked)` follows if it had a session).
    Kicked,
}

/// Why a live session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The client closed it, or its connection failed or fell behind.
    Closed,
    /// Its token expired without a refresh.
    Expired,
    /// A newer connection of the same peer took over.
    Replaced,
    /// An admin kicked the peer.
    Kicked,
    /// Its token's key (or its project) was deleted.
    Revoked,
    /// Too many errors or rate-limited messages.
    Abuse,
    /// The server is shutting down.
    Shutdown,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Closed => "closed",
            LeaveReason::Expired => "expired",
            LeaveReason::Replaced => "replaced",
            LeaveReason::Kicked => "kicked",
            LeaveReason::Revoked => "revoked",
            LeaveReason::Abuse => "abuse",
            LeaveReason::Shutdown => "shutdown",
        }
    }

    /// The reason of a session closed by the hub with `code`.
    pub(super) fn of(code: CloseCode) -> LeaveReason {
        match code {
            CloseCode::Expired => LeaveReason::Expired,
            CloseCode::Replaced => LeaveReason::Replaced,
            CloseCode::Revoked => LeaveReason::Revoked,
            CloseCode::Abuse => LeaveReason::Abuse,
            CloseCode::ShuttingDown => LeaveReason::Shutdown,
            CloseCode::NoAuth
            | CloseCode::TokenInvalid
            | CloseCode::SlowReader
            | CloseCode::TryAgainLater
            | CloseCode::Evicted
            | CloseCode::ProtocolError
            | CloseCode::InvalidPayload
            | CloseCode::MessageTooBig => LeaveReason::Closed,
        }
    }
}
