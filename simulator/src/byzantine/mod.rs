//! Byzantine members of `dkg-byzantine`: one file per misbehaviour, each a
//! [`Tamper`](cohort_protocol::dkg::Tamper) that rewrites what an otherwise honest node
//! sends on the DKG channel (its ceremony, journal and barrier stay honest, so the only lie is on
//! the wire).
//!
//! - [`bad_shares`]: dealings to the victims carry a share that does not match the commitment;
//! - [`two_dealings`]: the victims get a dealing of a second polynomial, the others the first;
//! - [`wrong_ack`]: acks to the victim dealers are validly signed, but for another dealing;
//! - [`garbage`]: besides its real messages, random bytes, truncated frames and oversized frames.
//!
//! Everything a tamper draws comes from a ChaCha RNG seeded from the plan, so runs replay.

mod bad_shares;
mod garbage;
mod two_dealings;
mod wrong_ack;

use cohort_protocol::{
    PublicKey,
    dkg::{Tamper, wire::Message},
};
use commonware_codec::Encode as _;
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

/// `message` to every one of `to`, untouched.
fn honest(to: &[PublicKey], message: &Message) -> Vec<(PublicKey, bytes::Bytes)> {
    let frame = message.encode();
    to.iter()
        .map(|peer| (peer.clone(), frame.clone()))
        .collect()
}

/// `message` to each of `to` (encoded once), except that a peer for which `replace` gives another
/// message gets that one.
fn rewrite(
    to: &[PublicKey],
    message: &Message,
    replace: impl Fn(&PublicKey) -> Option<Message>,
) -> Vec<(PublicKey, bytes::Bytes)> {
    let frame = message.encode();
    to.iter()
        .map(|peer| match replace(peer) {
            Some(other) => (peer.clone(), other.encode()),
            None => (peer.clone(), frame.clone()),
        })
        .collect()
}

/// A ChaCha RNG for one draw, from the plan's seed and what is being drawn.
fn rng_for(seed: u64, round: u64, salt: &[u8]) -> rand_chacha::ChaCha20Rng {
    use commonware_cryptography::{Hasher as _, Sha256};
    use rand_core::SeedableRng as _;
    let digest = Sha256::hash(&[&seed.to_be_bytes(), &round.to_be_bytes(), salt]);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    rand_chacha::ChaCha20Rng::from_seed(bytes)
}
