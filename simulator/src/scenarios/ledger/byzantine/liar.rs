//! What a ledger liar works with (the member's key and channels) and what it reports.

use cohort_protocol::{PublicKey, ledger::OpId};
use commonware_cryptography::ed25519;
use rand_chacha::ChaCha8Rng;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// What a liar did, for the invariants.
#[derive(Clone, Debug, Default)]
pub struct LiarReport {
    /// Ids of the forged ops it sent.
    pub forged: BTreeSet<OpId>,
    /// Forks it sent (pairs of ops with one seq).
    pub forks: u64,
    /// Old ops it sent again.
    pub replayed: u64,
    /// Backfill requests it sent.
    pub requests: u64,
    /// Members that answered it `Busy`.
    pub busy_from: BTreeSet<PublicKey>,
}

type Channel = crate::world::SimDuplex;

/// Everything a liar works with.
pub struct Liar {
    pub key: ed25519::PrivateKey,
    /// Every member, in cluster order (the liar included).
    pub members: Vec<PublicKey>,
    /// The liar's index.
    pub me: usize,
    pub rng: ChaCha8Rng,
    pub gossip: Channel,
    pub backfill: Channel,
    pub report: Arc<Mutex<LiarReport>>,
    /// It stops lying then (the workload's end).
    pub until: SystemTime,
}

impl Liar {
    /// Every member but the liar.
    pub fn others(&self) -> Vec<PublicKey> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.me)
            .map(|(_, k)| k.clone())
            .collect()
    }
}
