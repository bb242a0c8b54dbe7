//! zkstorm: a ZooKeeper-style ensemble (ZAB + znodes) built to run both under
//! deterministic simulation (`--cfg madsim`) and for real.

pub mod acl;
pub mod bugs;
pub mod client;
pub mod jute;
pub mod net;
pub mod proto;
pub mod recipes;
pub mod server;
pub mod store;
pub mod storm;
pub mod timer;
pub mod tree;
pub mod types;
pub mod zab;
