//! A dealer that holds its log back until the very end of the log phase (nine tenths of a phase
//! timeout after it first tried to send it), then sends it to its victims (a drawn subset) only.
//!
//! Expected: every honest member finalizes over the same log set, whether the late log reached
//! it, reached some, or none, and the liar cannot make the round fail for everybody, round after
//! round.

use super::{
    frames::{honest, to_victims},
    two_logs::own_log,
};
use cohort_protocol::{
    PublicKey,
    dkg::{RoundSpec, Tamper, wire::Message},
};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_runtime::{Clock as _, deterministic};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
    time::{Duration, SystemTime},
};

pub struct LateLog {
    me: PublicKey,
    victims: BTreeSet<PublicKey>,
    clock: deterministic::Context,
    hold: Duration,
    /// When the log of each round was first meant to leave.
    first: Mutex<BTreeMap<u64, SystemTime>>,
}

impl LateLog {
    pub fn new(
        key: &ed25519::PrivateKey,
        victims: BTreeSet<PublicKey>,
        clock: deterministic::Context,
        phase_timeout: Duration,
    ) -> Self {
        Self {
            me: key.public_key(),
            victims,
            clock,
            hold: phase_timeout.mul_f64(0.9),
            first: Mutex::default(),
        }
    }
}

impl Tamper for LateLog {
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        if !own_log(spec, &self.me, message) {
            return honest(to, message);
        }
        let now = self.clock.current();
        let first = *self
            .first
            .lock()
            .expect("first sends")
            .entry(spec.round)
            .or_insert(now);
        if now.duration_since(first).unwrap_or_default() < self.hold {
            return Vec::new();
        }
        to_victims(to, &self.victims, message)
    }
}
