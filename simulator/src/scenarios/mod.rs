//! The scenario catalogue.
//!
//! A scenario is a named, seeded world: how many nodes, what the fault plan draws, which
//! invariants are checked. [`Scenario::plan`] draws the fault plan from the seed alone;
//! [`Scenario::run`] runs it on a deterministic runtime context.

mod barrier;
mod dkg;
mod ledger;
mod life;

pub(crate) use barrier::network as ledger_network;
pub(crate) use ledger::{
    preload_history as ledger_preload_history, preload_store as ledger_preload_store,
    settings as ledger_settings,
};
pub(crate) use life::spawn_all as spawn_lives;

use crate::{plan::FaultPlan, trace::Sink};
use commonware_runtime::deterministic;
use std::sync::{Arc, Mutex};

/// A violated invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// What was observed.
    pub detail: String,
}

impl Violation {
    pub fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invariant {} violated: {}", self.invariant, self.detail)
    }
}

/// Every scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    Barrier,
    BarrierCrash,
    BarrierMismatch,
    Dkg,
    DkgCrash,
    DkgAbsent,
    Reshare,
    DkgByzantine,
    Ledger,
    LedgerCrash,
    LedgerPartition,
    LateJoiner,
    LedgerByzantine,
}

/// The scenario `cohort-sim run` uses when none is named.
pub const DEFAULT_SCENARIO: Scenario = Scenario::Barrier;

impl Scenario {
    pub const ALL: [Scenario; 13] = [
        Scenario::Barrier,
        Scenario::BarrierCrash,
        Scenario::BarrierMismatch,
        Scenario::Dkg,
        Scenario::DkgCrash,
        Scenario::DkgAbsent,
        Scenario::Reshare,
        Scenario::DkgByzantine,
        Scenario::Ledger,
        Scenario::LedgerCrash,
        Scenario::LedgerPartition,
        Scenario::LateJoiner,
        Scenario::LedgerByzantine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Barrier => "barrier",
            Scenario::BarrierCrash => "barrier-crash",
            Scenario::BarrierMismatch => "barrier-mismatch",
            Scenario::Dkg => "dkg",
            Scenario::DkgCrash => "dkg-crash",
            Scenario::DkgAbsent => "dkg-absent",
            Scenario::Reshare => "reshare",
            Scenario::DkgByzantine => "dkg-byzantine",
            Scenario::Ledger => "ledger",
            Scenario::LedgerCrash => "ledger-crash",
            Scenario::LedgerPartition => "ledger-partition",
            Scenario::LateJoiner => "late-joiner",
            Scenario::LedgerByzantine => "ledger-byzantine",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scenario::Barrier => {
                "all nodes walk barrier steps 1..S under latency, jitter and loss, then shut down together"
            }
            Scenario::BarrierCrash => {
                "as barrier, while nodes crash (unsynced writes lost) and restart from their storage"
            }
            Scenario::BarrierMismatch => {
                "one node has another cluster hash or version; every honest node must report it, none may hang"
            }
            Scenario::Dkg => {
                "epoch 0 DKG of 4..16 members under latency, jitter and loss: one group key, t partials recover"
            }
            Scenario::DkgCrash => {
                "as dkg, while members crash at drawn times and crash points (e.g. between persisting a dealing and acking) and restart"
            }
            Scenario::DkgAbsent => {
                "f+1 members start late: attempts fail with a deadline error (no hang), a later attempt succeeds once they come"
            }
            Scenario::DkgByzantine => {
                "one member lies on the DKG channel (bad shares, two dealings, forged acks or garbage): the honest ones agree on one key"
            }
            Scenario::Reshare => {
                "epoch 0 DKG, then a reshare to a committee with one member replaced and one added: same group key"
            }
            Scenario::Ledger => {
                "members append signed ops under latency and loss; after a heal and quiesce every ledger is equal"
            }
            Scenario::LedgerCrash => {
                "as ledger, while members crash (unsynced ops lost) and restart: no synced op is lost"
            }
            Scenario::LedgerPartition => "two halves append independently, then heal and converge",
            Scenario::LateJoiner => {
                "a member starts after 20,000 ops exist and catches up through many backfill pages"
            }
            Scenario::LedgerByzantine => {
                "a member equivocates, forges, replays or floods backfill: flagged, rejected, duplicates, Busy; honest ones converge"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Smallest and largest node count the scenario accepts.
    pub fn node_range(self) -> std::ops::RangeInclusive<usize> {
        match self {
            Scenario::Barrier | Scenario::BarrierCrash => 1..=64,
            Scenario::BarrierMismatch => 2..=64,
            Scenario::Dkg | Scenario::DkgCrash | Scenario::DkgAbsent => 1..=64,
            // One byzantine member needs f >= 1.
            Scenario::DkgByzantine => 4..=64,
            // The epoch 0 committee is every node but the two newcomers.
            Scenario::Reshare => 4..=64,
            Scenario::Ledger | Scenario::LedgerCrash | Scenario::LateJoiner => 1..=64,
            Scenario::LedgerPartition => 2..=64,
            // A liar and at least two honest members (one fork each).
            Scenario::LedgerByzantine => 3..=64,
        }
    }

    /// Draws the fault plan of `seed` (with `nodes` members if given, else drawn).
    pub fn plan(self, seed: u64, nodes: Option<usize>) -> FaultPlan {
        match self {
            Scenario::Barrier | Scenario::BarrierCrash | Scenario::BarrierMismatch => {
                barrier::plan(self, seed, nodes)
            }
            Scenario::Dkg
            | Scenario::DkgCrash
            | Scenario::DkgAbsent
            | Scenario::Reshare
            | Scenario::DkgByzantine => dkg::plan(self, seed, nodes),
            Scenario::Ledger
            | Scenario::LedgerCrash
            | Scenario::LedgerPartition
            | Scenario::LateJoiner
            | Scenario::LedgerByzantine => ledger::plan(self, seed, nodes),
        }
    }

    /// Runs the scenario; returns the violated invariants (empty: pass).
    pub async fn run(
        self,
        context: deterministic::Context,
        seed: u64,
        plan: &FaultPlan,
        sink: Arc<Mutex<Sink>>,
    ) -> Vec<Violation> {
        match self {
            Scenario::Barrier | Scenario::BarrierCrash | Scenario::BarrierMismatch => {
                barrier::run(context, seed, plan, sink).await
            }
            Scenario::Dkg
            | Scenario::DkgCrash
            | Scenario::DkgAbsent
            | Scenario::Reshare
            | Scenario::DkgByzantine => dkg::run(self, context, seed, plan, sink).await,
            Scenario::Ledger
            | Scenario::LedgerCrash
            | Scenario::LedgerPartition
            | Scenario::LateJoiner
            | Scenario::LedgerByzantine => ledger::run(self, context, seed, plan, sink).await,
        }
    }
}
