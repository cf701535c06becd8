//! Distributed key generation and resharing (SPEC section 2).

pub mod actor;
pub mod ceremony;
pub mod check;
pub mod wire;

pub use actor::{Actor, Completed, Keys, Phase};
pub use ceremony::{Ceremony, DkgError, Effect, Outcome, Record, Rejection, RoundSpec, To};

#[cfg(test)]
mod tests;
