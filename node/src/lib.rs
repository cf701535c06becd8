//! Cohort's production node: the protocol engine on commonware's tokio runtime, authenticated
//! p2p (lookup flavour, known peer addresses), Prometheus metrics and structured logs.
//!
//! The node is thin: it loads files, builds a runtime context and p2p channels, and hands them to
//! `cohort_protocol::Engine`, exactly as the simulator does.

pub mod config;
pub mod hex;
pub mod run;
pub mod testnet;
