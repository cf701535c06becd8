//! What the DKG's invariants need from the trace; `one-polynomial-per-dealer` and
//! `one-ack-per-dealer` are judged online, across restarts.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::barrier::observer::BarrierObserver,
    trace::{Observer, Refusals, keep_refusal},
};
use cohort_protocol::{Event, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// The DKG's observations, per node.
#[derive(Debug, Default)]
pub struct DkgObserver {
    /// Commitment of each dealing, by (dealer node, round).
    pub dealt: BTreeMap<(u32, u64), String>,
    /// Digest of each ack sent, by (player node, round, dealer).
    pub acked: BTreeMap<(u32, u64, PublicKey), String>,
    /// Group key each node reported on finishing, by node (the last report).
    pub group_keys: BTreeMap<u32, String>,
    /// Group key each node reported for each epoch it finished, by (node, epoch).
    pub epoch_keys: BTreeMap<(u32, u64), String>,
    /// Failed DKG attempts of each node: (time, round, error).
    pub attempt_failures: BTreeMap<u32, Vec<(u64, u64, String)>>,
    /// Dealers each node proved to have signed two logs, by (node, round).
    pub equivocations: BTreeMap<(u32, u64), BTreeSet<PublicKey>>,
    /// Reasons of the inputs each node refused from each peer, on any channel.
    pub refused: Refusals,
    /// Online violations.
    pub violations: Vec<Violation>,
}

impl Observer for DkgObserver {
    fn observe(&mut self, t_us: u64, node: u32, event: &Event) {
        match event {
            Event::InputRejected { .. } => keep_refusal(&mut self.refused, node, event),
            Event::Dealt { round, commitment } => {
                if let Some(previous) = self.dealt.insert((node, *round), commitment.clone())
                    && previous != *commitment
                {
                    self.violations.push(Violation::new(
                        Invariant::OnePolynomialPerDealer,
                        format!(
                            "node {node} dealt {previous} and then {commitment} in round {round}"
                        ),
                    ));
                }
            }
            Event::Acked {
                round,
                dealer,
                digest,
            } => {
                if let Some(previous) = self
                    .acked
                    .insert((node, *round, dealer.clone()), digest.clone())
                    && previous != *digest
                {
                    self.violations.push(Violation::new(
                        Invariant::OneAckPerDealer,
                        format!(
                            "node {node} sent ack {previous} and then {digest} to dealer {dealer} in round {round}"
                        ),
                    ));
                }
            }
            Event::DkgComplete {
                epoch, group_key, ..
            } => {
                self.group_keys.insert(node, group_key.clone());
                self.epoch_keys.insert((node, *epoch), group_key.clone());
            }
            Event::DkgEquivocation { round, dealer } => {
                self.equivocations
                    .entry((node, *round))
                    .or_default()
                    .insert(dealer.clone());
            }
            Event::DkgAttemptFailed { round, error, .. } => {
                self.attempt_failures
                    .entry(node)
                    .or_default()
                    .push((t_us, *round, error.clone()));
            }
            _ => {}
        }
    }

    fn online(&self) -> &'static [Invariant] {
        &[
            Invariant::OnePolynomialPerDealer,
            Invariant::OneAckPerDealer,
        ]
    }

    fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

/// The observers of the DKG scenarios: the ceremony runs on the barrier.
pub fn observers() -> Vec<Box<dyn Observer>> {
    vec![
        Box::new(BarrierObserver::default()),
        Box::new(DkgObserver::default()),
    ]
}
