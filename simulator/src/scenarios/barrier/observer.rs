//! What the barrier's invariants need from the trace; `step-never-regresses` is judged online.
//!
//! The barrier runs under every task (walk, DKG, serve), so every scenario installs this
//! observer.

use crate::{
    invariant::{Invariant, Violation},
    trace::Observer,
};
use cohort_protocol::{Event, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// The barrier's observations, per node.
#[derive(Debug, Default)]
pub struct BarrierObserver {
    /// Each node's own step.
    pub own_step: BTreeMap<u32, u64>,
    /// Each node's view of each peer's step.
    pub peer_step: BTreeMap<(u32, PublicKey), u64>,
    /// Steps each node set.
    pub steps_set: BTreeMap<u32, BTreeSet<u64>>,
    /// Highest `AllAtStep` each node reported.
    pub all_at: BTreeMap<u32, u64>,
    /// Nodes that finished their walk.
    pub walk_complete: BTreeSet<u32>,
    /// Nodes whose shutdown handshake could not finish after their walk completed.
    pub shutdown_incomplete: BTreeSet<u32>,
    /// First barrier failure of each node: time and error text.
    pub failures: BTreeMap<u32, (u64, String)>,
    /// Online violations.
    pub violations: Vec<Violation>,
}

impl Observer for BarrierObserver {
    fn observe(&mut self, t_us: u64, node: u32, event: &Event) {
        match event {
            Event::StepSet { step } => {
                let previous = self.own_step.insert(node, *step);
                if previous.is_some_and(|p| p > *step) {
                    self.violations.push(Violation::new(
                        Invariant::StepNeverRegresses,
                        format!("node {node} set step {step} after {previous:?}"),
                    ));
                }
                self.steps_set.entry(node).or_default().insert(*step);
            }
            Event::PeerStep { peer, step } => {
                let previous = self.peer_step.insert((node, peer.clone()), *step);
                if previous.is_some_and(|p| p > *step) {
                    self.violations.push(Violation::new(
                        Invariant::StepNeverRegresses,
                        format!("node {node} saw peer {peer} go from {previous:?} to {step}"),
                    ));
                }
            }
            Event::AllAtStep { step } => {
                self.all_at.insert(node, *step);
            }
            Event::WalkComplete { .. } => {
                self.walk_complete.insert(node);
            }
            Event::ShutdownIncomplete { .. } => {
                self.shutdown_incomplete.insert(node);
            }
            Event::BarrierFailed { error } => {
                self.failures.entry(node).or_insert((t_us, error.clone()));
            }
            _ => {}
        }
    }

    fn online(&self) -> &'static [Invariant] {
        &[Invariant::StepNeverRegresses]
    }

    fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

/// The observers of the barrier scenarios.
pub fn observers() -> Vec<Box<dyn Observer>> {
    vec![Box::new(BarrierObserver::default())]
}
