//! A dealer that sends its log to its victims only (at most `f` drawn members), never to the
//! others.
//!
//! Expected: the log reaches the others through echoes or not at all, and either way every
//! honest member finalizes over the same log set; the round is not lost for it.

use super::{
    frames::{honest, to_victims},
    two_logs::own_log,
};
use cohort_protocol::{
    PublicKey,
    dkg::{RoundSpec, Tamper, wire::Message},
};
use commonware_cryptography::{Signer as _, ed25519};
use std::collections::BTreeSet;

pub struct PartialLog {
    me: PublicKey,
    victims: BTreeSet<PublicKey>,
}

impl PartialLog {
    pub fn new(key: &ed25519::PrivateKey, victims: BTreeSet<PublicKey>) -> Self {
        Self {
            me: key.public_key(),
            victims,
        }
    }
}

impl Tamper for PartialLog {
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        if !own_log(spec, &self.me, message) {
            return honest(to, message);
        }
        to_victims(to, &self.victims, message)
    }
}
