//! A player whose acks to its victim dealers are validly signed, but for another dealing (one it
//! made up in the victim's name).
//!
//! Expected of the honest victims: refuse the ack ("invalid ack"), mute the player, and reveal
//! its share in their logs.

use super::frames::{honest, rewrite, rng_for};
use cohort_protocol::{
    PublicKey,
    dkg::{RoundSpec, Tamper, ceremony::Faults, wire::Message},
};
use commonware_cryptography::{
    Signer as _,
    bls12381::dkg::feldman_desmedt::{Dealer, Player, PlayerAck},
    ed25519,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

/// The forged ack of each (round, dealer) (`None`: could not forge one).
type Forged = BTreeMap<(u64, PublicKey), Option<PlayerAck<PublicKey>>>;

pub struct WrongAck {
    key: ed25519::PrivateKey,
    victims: BTreeSet<PublicKey>,
    seed: u64,
    forged: Mutex<Forged>,
}

impl WrongAck {
    pub fn new(key: ed25519::PrivateKey, victims: BTreeSet<PublicKey>, seed: u64) -> Self {
        Self {
            key,
            victims,
            seed,
            forged: Mutex::default(),
        }
    }

    /// An ack signed by us over a dealing `dealer` never made.
    fn forge(&self, spec: &RoundSpec, dealer: &PublicKey) -> Option<PlayerAck<PublicKey>> {
        let mut forged = self.forged.lock().expect("forged acks");
        forged
            .entry((spec.round, dealer.clone()))
            .or_insert_with(|| {
                let info = spec.info().ok()?;
                let rng = rng_for(self.seed, spec.round, dealer.as_ref());
                let (_, public, private) =
                    Dealer::start::<Faults>(rng, info.clone(), self.key.clone(), None).ok()?;
                let me = self.key.public_key();
                let share = private.into_iter().find(|(p, _)| *p == me)?.1;
                let mut player = Player::new(info, self.key.clone()).ok()?;
                player
                    .dealer_message::<Faults>(dealer.clone(), public, share)
                    .ok()
                    .flatten()
            })
            .clone()
    }
}

impl Tamper for WrongAck {
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        let Message::Ack { round, .. } = message else {
            return honest(to, message);
        };
        rewrite(to, message, |dealer| {
            let ack = self
                .victims
                .contains(dealer)
                .then(|| self.forge(spec, dealer))??;
            Some(Message::Ack { round: *round, ack })
        })
    }
}
