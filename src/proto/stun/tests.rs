//! RFC 5769 vectors, codec round trips.
