//! A dealer that signs two different logs: its victims (a drawn half of the other members) get
//! the log of a second polynomial it dealt to nobody (so that log reveals every player's share),
//! everyone else its real log. Both are validly signed.
//!
//! Expected: every honest member finalizes over the same log set (whichever log of this dealer
//! it holds, and whether or not it saw both), and a member that saw both never votes for a set
//! that includes this dealer.

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
    Signer as _,
    bls12381::dkg::feldman_desmedt::{Dealer, SignedDealerLog},
    ed25519,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

pub struct TwoLogs {
    key: ed25519::PrivateKey,
    victims: BTreeSet<PublicKey>,
    seed: u64,
    /// The second log of each round (`None`: none could be made, e.g. a reshare round).
    second: Mutex<BTreeMap<u64, Option<SignedDealerLog<Variant, PublicKey>>>>,
}

impl TwoLogs {
    pub fn new(key: ed25519::PrivateKey, victims: BTreeSet<PublicKey>, seed: u64) -> Self {
        Self {
            key,
            victims,
            seed,
            second: Mutex::default(),
        }
    }

    fn second(&self, spec: &RoundSpec) -> Option<SignedDealerLog<Variant, PublicKey>> {
        let mut second = self.second.lock().expect("second logs");
        second
            .entry(spec.round)
            .or_insert_with(|| {
                let info = spec.info().ok()?;
                let rng = rng_for(self.seed, spec.round, b"second log");
                let (dealer, _, _) =
                    Dealer::start::<Faults>(rng, info, self.key.clone(), None).ok()?;
                Some(dealer.finalize::<Faults>())
            })
            .clone()
    }
}

/// Whether `message` is `me`'s own log (not an echo of another dealer's).
pub fn own_log(spec: &RoundSpec, me: &PublicKey, message: &Message) -> bool {
    let Message::Log { log, .. } = message else {
        return false;
    };
    let Ok(info) = spec.info() else {
        return false;
    };
    log.clone()
        .check(&info)
        .is_some_and(|(dealer, _)| dealer == *me)
}

impl Tamper for TwoLogs {
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        if !own_log(spec, &self.key.public_key(), message) {
            return honest(to, message);
        }
        let Some(second) = self.second(spec) else {
            return honest(to, message);
        };
        rewrite(to, message, |peer| {
            self.victims.contains(peer).then(|| Message::Log {
                round: spec.round,
                log: second.clone(),
            })
        })
    }
}
