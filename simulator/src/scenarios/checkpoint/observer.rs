//! What the checkpoint invariants need from the trace.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::{barrier::observer::BarrierObserver, ledger::LedgerObserver},
    trace::Observer,
};
use cohort_protocol::Event;
use std::collections::BTreeMap;

/// The checkpoint observations, per node.
#[derive(Debug, Default)]
pub struct CheckpointObserver {
    /// The group key each node traced on finishing its DKG (hex).
    pub group_keys: BTreeMap<u32, String>,
    /// Each node's certified checkpoints: (round, as_of_ms, approvals).
    pub certified: BTreeMap<u32, Vec<(u8, u64, usize)>>,
    /// Rounds each node proposed, and rounds that closed without a certificate.
    pub proposed: BTreeMap<u32, u64>,
    pub failed: BTreeMap<u32, u64>,
}

impl Observer for CheckpointObserver {
    fn observe(&mut self, _t_us: u64, node: u32, event: &Event) {
        match event {
            Event::DkgComplete { group_key, .. } => {
                self.group_keys.insert(node, group_key.clone());
            }
            Event::CheckpointCertified {
                round,
                as_of_ms,
                approvals,
                ..
            } => self
                .certified
                .entry(node)
                .or_default()
                .push((*round, *as_of_ms, *approvals)),
            Event::CheckpointProposed { .. } => *self.proposed.entry(node).or_default() += 1,
            Event::CheckpointRoundFailed { .. } => *self.failed.entry(node).or_default() += 1,
            _ => {}
        }
    }

    fn online(&self) -> &'static [Invariant] {
        &[]
    }

    fn violations(&self) -> &[Violation] {
        &[]
    }
}

/// The observers of the checkpoint scenarios: the barrier and the DKG run first, the ledger
/// beside them.
pub fn observers() -> Vec<Box<dyn Observer>> {
    vec![
        Box::new(BarrierObserver::default()),
        Box::new(LedgerObserver::default()),
        Box::new(CheckpointObserver::default()),
    ]
}
