//! zkstorm's simulation harness: cluster wiring, simulated disk, history,
//! checkers, workloads and the seed runner.
//!
//! Simulation only: without `--cfg madsim` this crate is empty.
#![cfg(madsim)]

pub mod bench;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod coverage;
pub mod disk;
pub mod fuzz;
pub mod generate;
pub mod history;
pub mod html;
pub mod messages;
pub mod mutants;
pub mod recorder;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod storm;
pub mod streams;
pub mod testing;
pub mod workload;
