//! Distributed key generation and resharing (SPEC section 2).

pub mod ceremony;
pub mod wire;

pub use ceremony::{Ceremony, DkgError, Effect, Outcome, Record, Rejection, RoundSpec, To};

/// The round number of attempt `attempt` of epoch `epoch`: unique across epochs and attempts, so
/// no two attempts ever share a transcript.
pub fn round_of(epoch: u32, attempt: u32) -> u64 {
    ((epoch as u64) << 32) | attempt as u64
}

#[cfg(test)]
mod tests;
