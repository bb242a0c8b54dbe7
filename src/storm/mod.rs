//! The Storm half (issue 7): a stream topology engine whose cluster state
//! lives in the ensemble. Protocol cores are sans-IO, like `zab`.
//!
//! So far: `grouping`, which of a bolt's tasks get each tuple.

pub mod grouping;
