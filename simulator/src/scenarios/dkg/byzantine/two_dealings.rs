//! A dealer that deals two different polynomials: its victims get a dealing of a second one (a
//! valid dealing on its own), everyone else the one its log commits to.
//!
//! Expected: the victims ack the second dealing; those acks do not verify against the dealer's
//! real dealing, so its (single, signed) log reveals the victims' shares. Every honest member
//! finalizes over that same log, so they all still agree on the output.

use super::frames::{honest, rewrite, rng_for};
use cohort_protocol::{
    PublicKey,
    dkg::{
        RoundSpec, Tamper,
        ceremony::Faults,
        wire::{Message, Variant},
    },
};
use commonware_cryptography::{
    bls12381::dkg::feldman_desmedt::{Dealer, DealerPrivMsg, DealerPubMsg},
    ed25519,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

type Dealing = (DealerPubMsg<Variant>, BTreeMap<PublicKey, DealerPrivMsg>);

pub struct TwoDealings {
    key: ed25519::PrivateKey,
    victims: BTreeSet<PublicKey>,
    seed: u64,
    /// The second dealing of each round.
    second: Mutex<BTreeMap<u64, Option<Dealing>>>,
}

impl TwoDealings {
    pub fn new(key: ed25519::PrivateKey, victims: BTreeSet<PublicKey>, seed: u64) -> Self {
        Self {
            key,
            victims,
            seed,
            second: Mutex::default(),
        }
    }

    fn second(&self, spec: &RoundSpec) -> Option<Dealing> {
        let mut second = self.second.lock().expect("second dealings");
        second
            .entry(spec.round)
            .or_insert_with(|| {
                let info = spec.info().ok()?;
                let rng = rng_for(self.seed, spec.round, b"second polynomial");
                let (_, public, private) =
                    Dealer::start::<Faults>(rng, info, self.key.clone(), None).ok()?;
                Some((public, private.into_iter().collect()))
            })
            .clone()
    }
}

impl Tamper for TwoDealings {
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        let Message::Dealing { round, .. } = message else {
            return honest(to, message);
        };
        let second = self.second(spec);
        rewrite(to, message, |peer| {
            let (public, private) = second.as_ref().filter(|_| self.victims.contains(peer))?;
            Some(Message::Dealing {
                round: *round,
                public: public.clone(),
                private: private.get(peer)?.clone(),
            })
        })
    }
}
