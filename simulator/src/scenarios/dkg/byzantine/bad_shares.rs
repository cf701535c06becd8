//! A dealer whose dealings to its victims carry a share that does not match the commitment.
//!
//! Expected of the honest victims: refuse the dealing ("invalid dealing"), mute the dealer, never
//! ack it; the dealer's log then reveals their shares (or, with too many reveals, every member
//! drops that dealer alike).

use super::frames::{honest, rewrite, rng_for};
use cohort_protocol::{
    PublicKey,
    dkg::{RoundSpec, Tamper, wire::Message},
};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::DealerPrivMsg, primitives::group::Scalar,
};
use rand::Rng as _;
use std::collections::BTreeSet;

pub struct BadShares {
    victims: BTreeSet<PublicKey>,
    seed: u64,
}

impl BadShares {
    pub fn new(victims: BTreeSet<PublicKey>, seed: u64) -> Self {
        Self { victims, seed }
    }
}

impl Tamper for BadShares {
    fn outgoing(
        &self,
        _spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        let Message::Dealing { round, public, .. } = message else {
            return honest(to, message);
        };
        rewrite(to, message, |peer| {
            self.victims.contains(peer).then(|| {
                let mut rng = rng_for(self.seed, *round, peer.as_ref());
                Message::Dealing {
                    round: *round,
                    public: public.clone(),
                    private: DealerPrivMsg::new(Scalar::from_u64(rng.next_u64())),
                }
            })
        })
    }
}
