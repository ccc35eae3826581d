//! Pure protocol cores: no sockets, files, threads, runtime or clock. Time and randomness come
//! in as arguments, so every core is tested to the second without a network.

pub mod addr_policy;
pub mod counts;
pub mod ice;
pub mod rate;
pub mod signal;
pub mod source;
pub mod stun;
pub mod token;
pub mod turn;
pub mod ws;
