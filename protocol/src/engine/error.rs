//! Why a node's run failed.

use crate::{barrier::BarrierError, cluster::PublicKey, dkg, ledger};
use thiserror::Error;

/// Why a node's run failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The barrier failed (a peer refused, broke the rules, or did not arrive in time).
    #[error("barrier: {0}")]
    Barrier(#[from] BarrierError),
    /// The DKG failed.
    #[error("dkg: {0}")]
    Dkg(#[from] dkg::Error),
    /// Storage failed: fatal for the node, which recovers on restart.
    #[error("storage: {0}")]
    Storage(#[from] cohort_storage::Error),
    /// The ledger stopped (a storage error, or its channels closed).
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::Error),
    /// The config asks for a ledger but no ledger channels were given.
    #[error("a ledger was configured without its channels")]
    MissingLedgerChannels,
    /// The identity key is not a member of the cluster (and governance, which could admit
    /// it, is off).
    #[error("identity {0} is not a member of the cluster")]
    NotMember(PublicKey),
    /// A joiner's chain lists it, but its last epoch is the genesis definition's: there is no
    /// certified proposal naming the output to start from.
    #[error("the chain lists this node without a certified committee")]
    NoJoinStart,
}

impl EngineError {
    /// Whether the node's storage failed (fatal: the node stops at once and recovers from its
    /// storage on restart; nothing of what it holds in memory may be served any longer).
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            EngineError::Storage(_)
                | EngineError::Ledger(ledger::Error::Storage(_))
                | EngineError::Dkg(dkg::Error::Storage(_))
        )
    }

    /// The peer the failure names, if any.
    pub fn peer(&self) -> Option<&PublicKey> {
        match self {
            EngineError::Barrier(error) => error.peer(),
            EngineError::Dkg(error) => error.peer(),
            _ => None,
        }
    }
}
