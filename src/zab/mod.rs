//! zab
