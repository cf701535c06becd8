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
    /// Each node's view of each peer's step: the step, the observer's life then, and when.
    pub peer_step: BTreeMap<(u32, PublicKey), (u64, u32, u64)>,
    /// Each node's restarts so far.
    pub lives: BTreeMap<u32, u32>,
    /// When a node last lost its metadata (alone or with its disk).
    pub last_meta_loss_us: Option<u64>,
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
                let life = self.lives.get(&node).copied().unwrap_or(0);
                let previous = self
                    .peer_step
                    .insert((node, peer.clone()), (*step, life, t_us))
                    .filter(|(_, seen_in, seen_at)| {
                        // A new life of the observer has no memory of a peer that lost its
                        // metadata since (the peers that saw its old steps answer `Behind`), so
                        // its first sight of it may be lower. One life never sees a step go
                        // back, nor does a new one when nobody's metadata was lost since.
                        *seen_in == life
                            || self.last_meta_loss_us.is_none_or(|lost| lost < *seen_at)
                    })
                    .map(|(step, ..)| step);
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

    fn harness(&mut self, t_us: u64, node: u32, name: &str, detail: &str) {
        // A node whose metadata is gone (alone or with the whole disk) no longer knows its
        // step: its next life is judged from its own first step on. Its peers still judge it
        // against what they saw (they never take a lower step of it: they answer `Behind`).
        if name == "storage_lost" && (detail.starts_with("meta") || detail.starts_with("disk")) {
            self.own_step.remove(&node);
            self.last_meta_loss_us = Some(t_us);
        }
        if name == "restarted" {
            *self.lives.entry(node).or_default() += 1;
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
