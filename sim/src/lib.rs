//! zkstorm simulation harness.
