//! Cohort's protocol logic.
//!
//! Everything here is runtime-agnostic: time, randomness, storage, tasks and the network come only
//! from the runtime context and p2p handles passed in, so the same code runs in the deterministic
//! simulator and in the production node. [`engine::Engine`] is the one entry point both use.
//!
//! Features: `sim` adds the simulator's hooks (the DKG's byzantine [`dkg::Tamper`] hook and the
//! threshold checks of `dkg::check`); `fuzz` adds the fuzz bodies (`fuzz`). A build without
//! features (the node's) carries neither.

pub mod backoff;
pub mod barrier;
pub mod buggify;
pub mod canary;
pub mod channels;
pub mod checkpoint;
pub mod cluster;
pub mod committee;
pub mod dkg;
pub mod engine;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
pub mod governance;
pub mod ledger;
mod refusal;
pub mod sync;
pub mod trace;
pub mod verify;
pub mod vote;

pub use channels::{Channel, Channels, Duplex, LedgerChannels, MAX_FRAME_BYTES, Registrar};
pub use cluster::{Cluster, PROTOCOL_VERSION, ProtocolVersion, PublicKey, Timing};
pub use engine::{Config, Engine, EngineError, Outcome};
pub use trace::{Event, LogTracer, Tracer};
pub use verify::Verifier;
