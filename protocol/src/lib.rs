//! Cohort's protocol logic.
//!
//! Everything here is runtime-agnostic: time, randomness, storage, tasks and the network come only
//! from the runtime context and p2p handles passed in, so the same code runs in the deterministic
//! simulator and in the production node. [`engine::Engine`] is the one entry point both use.

pub mod backfill;
pub mod barrier;
pub mod cluster;
pub mod dkg;
pub mod engine;
pub mod fuzz;
pub mod ledger;
pub mod sync;
pub mod trace;

pub use cluster::{Cluster, PROTOCOL_VERSION, ProtocolVersion, PublicKey, Timing};
pub use engine::{Channels, Config, Engine, EngineError, Outcome};
pub use trace::{Event, LogTracer, Tracer};
