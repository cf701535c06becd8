//! A run's whole fault plan: the common core every family shares plus the family's own part.

use super::{
    barrier::plan::BarrierPlan, checkpoint::plan::CheckpointPlan, dkg::plan::DkgPlan,
    ledger::plan::LedgerPlan,
};
use crate::plan::CorePlan;
use serde::{Deserialize, Serialize};

/// A run's fault plan (printed as one JSON object: `core` and `family`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    pub core: CorePlan,
    pub family: FamilyPlan,
}

/// What one protocol family adds to the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum FamilyPlan {
    Barrier(BarrierPlan),
    Dkg(DkgPlan),
    Ledger(LedgerPlan),
    Checkpoint(CheckpointPlan),
}

impl FaultPlan {
    /// The plan as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plan serializes")
    }

    /// Steps of the barrier walk (0 outside the barrier scenarios).
    pub fn steps(&self) -> u64 {
        match &self.family {
            FamilyPlan::Barrier(b) => b.steps,
            _ => 0,
        }
    }

    /// The core and the barrier part.
    ///
    /// # Panics
    ///
    /// If this is not a barrier plan (a catalogue entry runs only the plans it draws).
    pub fn into_barrier(self) -> (CorePlan, BarrierPlan) {
        match self.family {
            FamilyPlan::Barrier(b) => (self.core, b),
            _ => panic!("a barrier scenario runs a barrier plan"),
        }
    }

    /// The core and the DKG part (panics like [`FaultPlan::into_barrier`]).
    pub fn into_dkg(self) -> (CorePlan, DkgPlan) {
        match self.family {
            FamilyPlan::Dkg(d) => (self.core, d),
            _ => panic!("a DKG scenario runs a DKG plan"),
        }
    }

    /// The core and the ledger part (panics like [`FaultPlan::into_barrier`]).
    pub fn into_ledger(self) -> (CorePlan, LedgerPlan) {
        match self.family {
            FamilyPlan::Ledger(l) => (self.core, l),
            _ => panic!("a ledger scenario runs a ledger plan"),
        }
    }
}

impl FaultPlan {
    /// The core and the checkpoint part (panics like [`FaultPlan::into_barrier`]).
    pub fn into_checkpoint(self) -> (CorePlan, CheckpointPlan) {
        match self.family {
            FamilyPlan::Checkpoint(c) => (self.core, c),
            _ => panic!("a checkpoint scenario runs a checkpoint plan"),
        }
    }
}

impl From<(CorePlan, CheckpointPlan)> for FaultPlan {
    fn from((core, checkpoint): (CorePlan, CheckpointPlan)) -> Self {
        Self {
            core,
            family: FamilyPlan::Checkpoint(checkpoint),
        }
    }
}

impl From<(CorePlan, BarrierPlan)> for FaultPlan {
    fn from((core, barrier): (CorePlan, BarrierPlan)) -> Self {
        Self {
            core,
            family: FamilyPlan::Barrier(barrier),
        }
    }
}

impl From<(CorePlan, DkgPlan)> for FaultPlan {
    fn from((core, dkg): (CorePlan, DkgPlan)) -> Self {
        Self {
            core,
            family: FamilyPlan::Dkg(dkg),
        }
    }
}

impl From<(CorePlan, LedgerPlan)> for FaultPlan {
    fn from((core, ledger): (CorePlan, LedgerPlan)) -> Self {
        Self {
            core,
            family: FamilyPlan::Ledger(ledger),
        }
    }
}
