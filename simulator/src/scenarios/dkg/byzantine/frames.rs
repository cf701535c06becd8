//! What the DKG liars share: sending a message (honestly or with per-peer replacements) and the
//! seeded RNG of each draw.

use cohort_protocol::{PublicKey, dkg::wire::Message};
use commonware_codec::Encode as _;

/// `message` to every one of `to`, untouched.
pub fn honest(to: &[PublicKey], message: &Message) -> Vec<(PublicKey, bytes::Bytes)> {
    let frame = message.encode();
    to.iter()
        .map(|peer| (peer.clone(), frame.clone()))
        .collect()
}

/// `message` to each of `to` (encoded once), except that a peer for which `replace` gives another
/// message gets that one.
pub fn rewrite(
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
pub fn rng_for(seed: u64, round: u64, salt: &[u8]) -> rand_chacha::ChaCha20Rng {
    use commonware_cryptography::{Hasher as _, Sha256};
    use rand_core::SeedableRng as _;
    let digest = Sha256::hash(&[&seed.to_be_bytes(), &round.to_be_bytes(), salt]);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    rand_chacha::ChaCha20Rng::from_seed(bytes)
}

/// `message` to those of `to` that are `victims` only (a log sent to few).
pub fn to_victims(
    to: &[PublicKey],
    victims: &std::collections::BTreeSet<PublicKey>,
    message: &Message,
) -> Vec<(PublicKey, bytes::Bytes)> {
    let to: Vec<PublicKey> = to
        .iter()
        .filter(|p| victims.contains(*p))
        .cloned()
        .collect();
    honest(&to, message)
}

/// A tamper that changes nothing (a liar whose lie is elsewhere).
pub struct Honest;

impl cohort_protocol::dkg::Tamper for Honest {
    fn outgoing(
        &self,
        _spec: &cohort_protocol::dkg::RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        honest(to, message)
    }
}
