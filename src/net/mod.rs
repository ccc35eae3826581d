//! Socket shells. They own the IO and nothing else: accept, handshake, hand bytes to hyper,
//! and drain on shutdown.

pub mod https;
pub mod live;
pub mod signal;
pub mod slots;
pub mod tls_stream;
pub mod turn;
