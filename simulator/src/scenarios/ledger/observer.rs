//! What the ledger's invariants need from the trace; `honest-never-equivocates` and
//! `no-synced-op-lost` are judged online, across restarts.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::barrier::observer::BarrierObserver,
    trace::{Observer, Refusals, keep_refusal},
};
use cohort_protocol::{Event, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// The ledger's observations, per node.
#[derive(Debug, Default)]
pub struct LedgerObserver {
    /// Reasons of the inputs each node refused from each peer, on any channel.
    pub refused: Refusals,
    /// Authors some node caught equivocating.
    pub equivocators: BTreeSet<PublicKey>,
    /// Id (short hex) of each op each node appended, by (node, seq).
    pub appended: BTreeMap<(u32, u64), String>,
    /// Ops each node's op store held synced, as last reported.
    pub ops_synced: BTreeMap<u32, u64>,
    /// Each node's backfill runs, completed or failed: (pages, new ops).
    pub backfill_runs: BTreeMap<u32, Vec<(u64, u64)>>,
    /// Each node's catch-up: the new ops its backfill runs brought until its first round that
    /// ended caught up with a peer, and whether that round ended.
    pub catch_up: BTreeMap<u32, (u64, bool)>,
    /// Online violations.
    pub violations: Vec<Violation>,
    /// Each node whose storage the harness damaged: the loss (as the harness described it),
    /// whether the node reopened its ledger since, and whether it appended an op since.
    pub damaged: BTreeMap<u32, Damage>,
    /// Seqs a node whose storage was damaged appended twice: (node, seq, first id, second id).
    pub reused: Vec<(u32, u64, String, String)>,
    /// Ledger opens that did not report the damage the harness did (`recovered-node-rejoins`).
    pub damage_unnoticed: Vec<String>,
    /// Short ids of the ops nodes appended before the harness destroyed their storage.
    pub appended_before_loss: BTreeSet<String>,
}

/// What the harness did to one node's storage, and what the node did since.
#[derive(Debug, Default)]
pub struct Damage {
    pub loss: String,
    pub reopened: bool,
    pub authored: bool,
}

impl Observer for LedgerObserver {
    fn observe(&mut self, _t_us: u64, node: u32, event: &Event) {
        match event {
            Event::InputRejected { .. } => keep_refusal(&mut self.refused, node, event),
            Event::OpAppended { seq, id, .. } => {
                if let Some(damage) = self.damaged.get_mut(&node) {
                    damage.authored = true;
                }
                if let Some(previous) = self.appended.insert((node, *seq), id.clone())
                    && previous != *id
                {
                    if self.damaged.contains_key(&node) {
                        // A seq reused after the harness destroyed the only copies of the
                        // first op is no equivocation anyone can see: judged at the end,
                        // against what every ledger holds (`reused`).
                        self.reused.push((node, *seq, previous, id.clone()));
                    } else {
                        self.violations.push(Violation::new(
                            Invariant::HonestNeverEquivocates,
                            format!("node {node} appended ops {previous} and {id} with seq {seq}"),
                        ));
                    }
                }
            }
            Event::Equivocation { author } => {
                self.equivocators.insert(author.clone());
            }
            Event::BackfillRunDone { pages, ops, .. }
            | Event::BackfillRunFailed { pages, ops, .. } => {
                self.backfill_runs
                    .entry(node)
                    .or_default()
                    .push((*pages, *ops));
                let catch_up = self.catch_up.entry(node).or_default();
                if !catch_up.1 {
                    catch_up.0 += ops;
                }
            }
            Event::BackfillRoundEnded {
                caught_up: true, ..
            } => {
                self.catch_up.entry(node).or_default().1 = true;
            }
            Event::OpsSynced { total } => {
                self.ops_synced.insert(node, *total);
            }
            Event::OpsRewriting { kept } => {
                // A crash before the rewrite commits leaves the old store, after it the new
                // one: either must hold at least the kept ops (`OpsSynced` follows the commit).
                let synced = self.ops_synced.entry(node).or_default();
                *synced = (*synced).min(*kept);
            }
            Event::LedgerOpened { ops, state } => {
                if let Some(damage) = self.damaged.get_mut(&node)
                    && !std::mem::replace(&mut damage.reopened, true)
                {
                    let loss = &damage.loss;
                    // A deleted op store must be told from a first start; a replaced disk
                    // cannot be (the boot counter went with it).
                    let expected = match loss.split(' ').next() {
                        Some("op_store") => Some("lost"),
                        Some("disk") => Some("fresh"),
                        _ => None,
                    };
                    if expected.is_some_and(|e| e != *state) {
                        self.damage_unnoticed.push(format!(
                            "node {node} opened its ledger as {state} after losing its {loss}"
                        ));
                    }
                }
                let synced = self.ops_synced.get(&node).copied().unwrap_or(0);
                if *ops < synced {
                    self.violations.push(Violation::new(
                        Invariant::NoSyncedOpLost,
                        format!(
                            "node {node} reopened its ledger with {ops} ops after syncing {synced}"
                        ),
                    ));
                }
                self.ops_synced.insert(node, *ops);
            }
            _ => {}
        }
    }

    fn harness(&mut self, _t_us: u64, node: u32, name: &str, detail: &str) {
        if name == "storage_lost" {
            // Synced records are gone on purpose: what it reopens with is judged by the
            // recovery invariants instead.
            self.ops_synced.insert(node, 0);
            let before = self
                .appended
                .iter()
                .filter(|((n, _), _)| *n == node)
                .map(|(_, id)| id.clone());
            self.appended_before_loss.extend(before);
            self.damaged.insert(
                node,
                Damage {
                    loss: detail.to_string(),
                    reopened: false,
                    authored: false,
                },
            );
        }
    }

    fn online(&self) -> &'static [Invariant] {
        &[Invariant::HonestNeverEquivocates, Invariant::NoSyncedOpLost]
    }

    fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

/// The observers of the ledger scenarios: the barrier runs beside the ledger (idle, at step 0).
pub fn observers() -> Vec<Box<dyn Observer>> {
    vec![
        Box::new(BarrierObserver::default()),
        Box::new(LedgerObserver::default()),
    ]
}
