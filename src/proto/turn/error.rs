//! Every reason this server refuses a STUN/TURN request, named for its condition, and the one
//! table from each to its wire reaction: the STUN error code (RFC 8489 §14.8, RFC 8656 §18,
//! RFC 6156 §10), whether the answer carries a fresh REALM and NONCE (a challenge, §9.2.4), and
//! whether it counts as a failed authentication against the source. Handlers return a
//! [`TurnError`]; `Server::reject` (requests.rs) is the single path that answers it.

use crate::proto::stun::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    // The request itself.
    #[error("comprehension-required attributes this server does not know: {0:04x?}")]
    UnknownAttributes(Vec<u16>),
    #[error("a request method this server does not serve")]
    UnknownMethod,

    // Authentication (RFC 8489 §9.2.4).
    #[error("no MESSAGE-INTEGRITY: the first request of a client, answered with a challenge")]
    MissingIntegrity,
    #[error("USERNAME, REALM or NONCE is missing or not UTF-8")]
    MissingAuthAttributes,
    #[error("the NONCE is expired, forged or from another address")]
    StaleNonce,
    #[error("the credentials have expired or their key was deleted or their peer kicked")]
    CredentialsExpired,
    #[error("the USERNAME is not EXPIRY:PROJECT:GID:PID or the REALM is another")]
    BadUsername,
    #[error("MESSAGE-INTEGRITY does not match any current secret")]
    BadIntegrity,
    #[error("the USERNAME is not the one of this 5-tuple's allocation")]
    WrongCredentials,
    #[error("the source has failed authentication too often this minute")]
    SourceBlocked,

    // Allocate and Refresh (RFC 8656 §7, §8; RFC 6156 §4).
    #[error("this 5-tuple has no allocation")]
    NoAllocation,
    #[error("this 5-tuple already has an allocation")]
    AllocationExists,
    #[error("REQUESTED-TRANSPORT is missing or malformed")]
    MissingTransport,
    #[error("REQUESTED-TRANSPORT is not UDP")]
    UnsupportedTransport,
    #[error("the address family attributes are malformed or contradict each other")]
    BadAddressFamily,
    #[error("this box has no relay address of the requested family")]
    FamilyNotSupported,
    #[error("RESERVATION-TOKEN and the R bit of EVEN-PORT are not supported")]
    ReservationUnsupported,
    #[error("the identity or its project holds its quota of allocations")]
    AllocationQuota,
    #[error("LIFETIME is malformed")]
    BadLifetime,
    #[error("no relay port could be bound")]
    RelayUnavailable,
    #[error("REQUESTED-ADDRESS-FAMILY differs from the allocation's relay")]
    RefreshFamilyMismatch,

    // CreatePermission and ChannelBind (RFC 8656 §9, §11).
    #[error("XOR-PEER-ADDRESS is missing or malformed")]
    MissingPeerAddress,
    #[error("the peer's address family differs from the relay's")]
    PeerFamilyMismatch,
    #[error("the peer address is denied by the peer policy")]
    ForbiddenPeer,
    #[error("the allocation holds its quota of permissions")]
    PermissionQuota,
    #[error("CHANNEL-NUMBER is missing or outside 0x4000-0x7FFF")]
    BadChannelNumber,
    #[error("the channel or the peer is already bound otherwise")]
    ChannelConflict,
    #[error("the allocation holds its quota of channels")]
    ChannelQuota,
}

/// How an error is answered, beyond its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An error response, with integrity when the request was authenticated.
    Error,
    /// An unauthenticated error with REALM and a fresh NONCE (RFC 8489 §9.2.4).
    Challenge,
    /// A challenge that also counts against the source's failed-authentication limit.
    FailedChallenge,
}

impl From<&TurnError> for ErrorCode {
    fn from(e: &TurnError) -> ErrorCode {
        use TurnError::*;
        match e {
            UnknownMethod
            | MissingAuthAttributes
            | MissingTransport
            | BadAddressFamily
            | BadLifetime
            | MissingPeerAddress
            | BadChannelNumber
            | ChannelConflict => ErrorCode::BadRequest,
            MissingIntegrity | CredentialsExpired | BadUsername | BadIntegrity | SourceBlocked => {
                ErrorCode::Unauthenticated
            }
            ForbiddenPeer => ErrorCode::Forbidden,
            UnknownAttributes(_) => ErrorCode::UnknownAttribute,
            NoAllocation | AllocationExists => ErrorCode::AllocationMismatch,
            StaleNonce => ErrorCode::StaleNonce,
            FamilyNotSupported => ErrorCode::AddressFamilyNotSupported,
            WrongCredentials => ErrorCode::WrongCredentials,
            UnsupportedTransport => ErrorCode::UnsupportedTransport,
            RefreshFamilyMismatch | PeerFamilyMismatch => ErrorCode::PeerAddressFamilyMismatch,
            AllocationQuota => ErrorCode::AllocationQuotaReached,
            ReservationUnsupported | RelayUnavailable | PermissionQuota | ChannelQuota => {
                ErrorCode::InsufficientCapacity
            }
        }
    }
}

impl TurnError {
    pub fn answer(&self) -> Answer {
        use TurnError::*;
        match self {
            // A blocked source still gets its 401, so a client with a wrong password gives up
            // (coturn's uclient waits forever for an answer that never comes); its integrity was
            // not checked and the failure is not counted again, so the answer costs one nonce.
            SourceBlocked => Answer::Challenge,
            // Expired or revoked credentials are refused but not held against the source: a
            // client still refreshing after its token's expiry must not lose its new ones.
            MissingIntegrity | StaleNonce | CredentialsExpired => Answer::Challenge,
            BadUsername | BadIntegrity => Answer::FailedChallenge,
            _ => Answer::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TurnError::*;

    /// One row per variant: the code on the wire and how it is answered.
    #[test]
    fn every_error_has_its_code_and_answer() {
        let table: &[(TurnError, u16, Answer)] = &[
            (UnknownAttributes(vec![0x0031]), 420, Answer::Error),
            (UnknownMethod, 400, Answer::Error),
            (MissingIntegrity, 401, Answer::Challenge),
            (MissingAuthAttributes, 400, Answer::Error),
            (StaleNonce, 438, Answer::Challenge),
            (CredentialsExpired, 401, Answer::Challenge),
            (BadUsername, 401, Answer::FailedChallenge),
            (BadIntegrity, 401, Answer::FailedChallenge),
            (WrongCredentials, 441, Answer::Error),
            (SourceBlocked, 401, Answer::Challenge),
            (NoAllocation, 437, Answer::Error),
            (AllocationExists, 437, Answer::Error),
            (MissingTransport, 400, Answer::Error),
            (UnsupportedTransport, 442, Answer::Error),
            (BadAddressFamily, 400, Answer::Error),
            (FamilyNotSupported, 440, Answer::Error),
            (ReservationUnsupported, 508, Answer::Error),
            (AllocationQuota, 486, Answer::Error),
            (BadLifetime, 400, Answer::Error),
            (RelayUnavailable, 508, Answer::Error),
            (RefreshFamilyMismatch, 443, Answer::Error),
            (MissingPeerAddress, 400, Answer::Error),
            (PeerFamilyMismatch, 443, Answer::Error),
            (ForbiddenPeer, 403, Answer::Error),
            (PermissionQuota, 508, Answer::Error),
            (BadChannelNumber, 400, Answer::Error),
            (ChannelConflict, 400, Answer::Error),
            (ChannelQuota, 508, Answer::Error),
        ];
        for (error, code, answer) in table {
            assert_eq!(ErrorCode::from(error).code(), *code, "{error:?}");
            assert_eq!(error.answer(), *answer, "{error:?}");
            assert!(!error.to_string().is_empty());
        }
        // `From<&TurnError> for ErrorCode` has no wildcard arm, so a new variant cannot compile
        // without a code; this table is where its row goes.
    }
}
