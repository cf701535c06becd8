//! Distributed key generation and resharing (SPEC section 2).
//!
//! - `ceremony/`: the pure state machine of one round (dealer, player, logs, persistence
//!   effects), unit-tested without a runtime;
//! - `phase.rs`: the phases of a round and the barrier steps they own;
//! - `actor.rs`: the actor (its config, state, journal and effects); `round.rs`: epochs,
//!   attempts and gates; `intake.rs`: every received frame; `metrics.rs`: its metrics;
//! - `ingress.rs`: the mailbox ([`Keys`]) where other actors find the result;
//! - `agree/`: the agreement on each round's log set (or on giving it up), a pure state
//!   machine, and its messages;
//! - `record.rs`: what a round's journal section holds; `serve.rs`: answering after the last
//!   epoch (decisions and decided logs for members still finishing);
//! - `wire.rs`: the messages and their bounded codec.
//!
//! With the `sim` feature only: [`Tamper`] (the simulator's byzantine hook) and [`check`] (the
//! threshold checks observers run over every share).

mod actor;
pub mod agree;
pub mod ceremony;
#[cfg(any(test, feature = "sim"))]
pub mod check;
mod ingress;
mod intake;
mod metrics;
mod phase;
mod record;
mod round;
mod serve;
#[cfg(feature = "sim")]
mod tamper;
pub mod wire;

pub use actor::{Actor, Config, Error, StoredRound, stored_rounds};
pub use ceremony::{Ceremony, DkgError, Effect, Outcome, Record, Rejection, RoundSpec, To};
pub use ingress::{Completed, Keys};
pub use phase::{MAX_STEP, PHASES, Phase, position, step_of};
pub use serve::Server;
#[cfg(feature = "sim")]
pub use tamper::Tamper;

#[cfg(test)]
mod tests;
