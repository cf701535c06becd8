//! Cohort's production node: the protocol engine on commonware's tokio runtime, authenticated
//! p2p (lookup flavour, known peer addresses), Prometheus metrics, structured logs, and a local
//! admin API for the ledger.
//!
//! The node is thin: it loads files, builds a runtime context and p2p channels, and hands them to
//! `cohort_protocol::Engine`, exactly as the simulator does. `config` checks the files, `run`
//! checks the machine and runs the node, `http` serves its two HTTP servers (`metrics`,
//! `admin`) under the runtime, `peers` grows the p2p peer set with the committees the chain
//! admits, `testnet` writes and runs a local cluster.

pub mod admin;
pub mod checkpoints;
pub mod committee;
pub mod config;
pub mod governance;
pub mod hex;
pub mod http;
pub mod metrics;
pub mod peers;
pub mod run;
pub mod testnet;
