//! The vocabulary of checkpoint votes (`../shared/SPEC.md` section 5), below both the ledger
//! (which stores and verifies certified checkpoints) and the checkpoint actor (which proposes,
//! votes and counts): pure parts, each unit-tested on its own.
//!
//! - [`observation`]: what a checkpoint says about its subject (restarts, total uptime, first
//!   seen), the tolerance a voter judges a proposal by, and the trimmed mean round 2 proposes;
//! - [`tally`]: the count of one proposal's votes: one vote per voter whatever a hostile voter
//!   sends, every approving partial signature checked on arrival, and the certificate (one
//!   96-byte threshold signature) recovered the moment `t` approvals are in;
//! - [`wire`]: the subject's signed proposal (whose digest the partials sign) and a member's
//!   signed vote, with bounded codecs;
//! - [`settings`]: the protocol's settings and their validation.
//!
//! A subject's view (what a voter compares a proposal with) is derived from the ledger, in
//! [`crate::ledger::view`].

pub mod observation;
pub mod settings;
pub mod tally;
pub mod wire;

pub use observation::{Observation, Tolerance, trimmed_mean};
pub use settings::{Settings, SettingsError};
pub use tally::{Counted, Refusal, Tally, Vote};
