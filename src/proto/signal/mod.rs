//! The signaling hub (SPEC "Signaling"), a pure state machine: connections come and go, text
//! arrives, time passes; what to send and whom to close comes out as [`hub::Command`]s. No
//! sockets, no clock: the shell passes `now` (monotonic and wall time) into every call.
//!
//! Left to the shell on purpose: WebSocket framing and the 64 KiB message limit (close 1009),
//! WebSocket ping/pong liveness, the outbound queue cap (close 4007), and per-IP limits on
//! unauthenticated connections. Token checks, each project's policy (origin list, session cap)
//! and ICE server lists come through the [`hub::Directory`] trait; a store lookup for a kid made
//! a moment ago goes out as [`hub::Command::LookupKid`] and its answer comes back in through
//! `handle_kid_resolved`. The admin API's reads (peers, counts, usage) are queries on the hub.

pub mod close;
mod deadlines;
pub mod hub;
mod index;
pub mod limits;
pub mod messages;
pub mod policy;

pub use hub::{
    CloseCode, Command, ConnId, ConnInfo, Directory, Hub, HubConfig, HubStats, LeaveReason, Now, PeerEvent, PeerView,
};
pub use messages::PeerAddr;
pub use policy::ProjectPolicy;
