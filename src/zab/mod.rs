//! ZAB: Fast Leader Election, discovery, synchronization and broadcast as
//! sans-IO state machines (`Peer` and `Election`). Drivers feed them messages
//! and ticks and carry out their `Ready`.

pub mod db;
pub mod election;
pub mod msg;
pub mod peer;
pub mod ready;
pub mod txn;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transcripts;

pub use peer::{Peer, PeerConfig};
