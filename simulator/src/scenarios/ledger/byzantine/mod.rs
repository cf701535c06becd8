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
//! Each works with a [`Liar`] (its key, channels and deadline) and reports what it did
//! ([`LiarReport`]) for the scenario's invariants. Everything it draws
//! comes from a ChaCha RNG seeded from the plan, so runs replay.

pub mod equivocator;
pub mod flooder;
pub mod forger;
pub mod liar;
pub mod replayer;

pub use liar::{Liar, LiarReport};

use commonware_runtime::deterministic;
use serde::{Deserialize, Serialize};

/// What the ledger liar does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct LedgerLiar {
    pub node: usize,
    pub misbehaviour: LedgerMisbehaviour,
    /// Seed of everything it draws.
    pub seed: u64,
}

impl LedgerMisbehaviour {
    /// Runs the misbehaviour as `liar`.
    pub async fn run(self, context: deterministic::Context, liar: Liar) {
        match self {
            LedgerMisbehaviour::Equivocate => equivocator::run(context, liar).await,
            LedgerMisbehaviour::Forge => forger::run(context, liar).await,
            LedgerMisbehaviour::Replay => replayer::run(context, liar).await,
            LedgerMisbehaviour::Flood => flooder::run(context, liar).await,
        }
    }
}
