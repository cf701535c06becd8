//! Byzantine members of `dkg-byzantine`: one file per misbehaviour, each a
//! [`Tamper`] that rewrites what an otherwise honest node
//! sends on the DKG channel (its ceremony, journal and barrier stay honest, so the only lie is on
//! the wire).
//!
//! - [`bad_shares`]: dealings to the victims carry a share that does not match the commitment;
//! - [`two_dealings`]: the victims get a dealing of a second polynomial, the others the first;
//! - [`wrong_ack`]: acks to the victim dealers are validly signed, but for another dealing;
//! - [`garbage`]: besides its real messages, random bytes, truncated frames and oversized frames.
//!
//! Everything a tamper draws comes from a ChaCha RNG seeded from the plan, so runs replay
//! ([`frames`] holds that RNG and the frame rewriting they share).

pub mod bad_shares;
pub mod frames;
pub mod garbage;
pub mod two_dealings;
pub mod wrong_ack;

use cohort_protocol::{PublicKey, dkg::Tamper};
use commonware_cryptography::ed25519;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the byzantine member does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Misbehaviour {
    BadShares,
    TwoDealings,
    WrongAck,
    Garbage,
}

impl Misbehaviour {
    pub const ALL: [Misbehaviour; 4] = [
        Misbehaviour::BadShares,
        Misbehaviour::TwoDealings,
        Misbehaviour::WrongAck,
        Misbehaviour::Garbage,
    ];
}

/// The byzantine member of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Byzantine {
    pub node: usize,
    pub misbehaviour: Misbehaviour,
    /// The members it targets (node indices; all for [`Misbehaviour::Garbage`]).
    pub victims: Vec<usize>,
    /// Seed of everything it draws.
    pub seed: u64,
}

impl Byzantine {
    /// The tamper of node `key` (the byzantine member) in a cluster of `members` (by index).
    pub fn tamper(&self, key: &ed25519::PrivateKey, members: &[PublicKey]) -> Arc<dyn Tamper> {
        let victims = self.victims.iter().map(|i| members[*i].clone()).collect();
        match self.misbehaviour {
            Misbehaviour::BadShares => Arc::new(bad_shares::BadShares::new(victims, self.seed)),
            Misbehaviour::TwoDealings => Arc::new(two_dealings::TwoDealings::new(
                key.clone(),
                victims,
                self.seed,
            )),
            Misbehaviour::WrongAck => {
                Arc::new(wrong_ack::WrongAck::new(key.clone(), victims, self.seed))
            }
            Misbehaviour::Garbage => Arc::new(garbage::Garbage::new(self.seed)),
        }
    }
}
