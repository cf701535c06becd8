//! Byzantine members of `ledger-byzantine`: one file per misbehaviour. Unlike the DKG liars
//! (which tamper with an otherwise honest node), a ledger liar runs no honest engine at all: it
//! holds the member's key and its gossip and backfill channels, and does only its misbehaviour.
//!
//! - [`equivocator`]: appends its own chain and, every third op, signs two different ops with one
//!   seq and sends one fork to half of the members, the other to the rest;
//! - [`forger`]: sends ops that claim another member as their author (signed with its own key)
//!   and ops of a non-member, validly signed by it;
//! - [`replayer`]: keeps the honest ops it receives and sends old ones again, to anyone;
//! - [`flooder`]: sends valid backfill requests to every member as fast as its link allows.
//!
//! Each reports what it did ([`LiarReport`]) for the scenario's invariants. Everything it draws
//! comes from a ChaCha RNG seeded from the plan, so runs replay.

pub mod equivocator;
pub mod flooder;
pub mod forger;
pub mod replayer;

use cohort_protocol::{Duplex, PublicKey, ledger::OpId};
use commonware_cryptography::ed25519;
use commonware_p2p::simulated;
use commonware_runtime::deterministic;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// What the ledger liar does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerMisbehaviour {
    Equivocate,
    Forge,
    Replay,
    Flood,
}

impl LedgerMisbehaviour {
    pub const ALL: [LedgerMisbehaviour; 4] = [
        LedgerMisbehaviour::Equivocate,
        LedgerMisbehaviour::Forge,
        LedgerMisbehaviour::Replay,
        LedgerMisbehaviour::Flood,
    ];
}

/// The ledger liar of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLiar {
    pub node: usize,
    pub misbehaviour: LedgerMisbehaviour,
    /// Seed of everything it draws.
    pub seed: u64,
}

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

type Channel =
    Duplex<simulated::Sender<PublicKey, deterministic::Context>, simulated::Receiver<PublicKey>>;

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

    /// Runs the misbehaviour.
    pub async fn run(self, context: deterministic::Context, misbehaviour: LedgerMisbehaviour) {
        match misbehaviour {
            LedgerMisbehaviour::Equivocate => equivocator::run(context, self).await,
            LedgerMisbehaviour::Forge => forger::run(context, self).await,
            LedgerMisbehaviour::Replay => replayer::run(context, self).await,
            LedgerMisbehaviour::Flood => flooder::run(context, self).await,
        }
    }
}
