//! What the DKG's invariants need from the trace; `one-polynomial-per-dealer` and
//! `one-ack-per-dealer` are judged online, across restarts.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::barrier::observer::BarrierObserver,
    trace::{Observer, Refusals, keep_refusal},
};
use cohort_protocol::{Event, PublicKey};
use std::collections::BTreeMap;

/// One vote a node cast in a round's agreement.
#[derive(Clone, Debug)]
pub struct Voted {
    pub t_us: u64,
    pub node: u32,
    pub round: u64,
    /// `abandon`, or `logs` and the dealers' indices.
    pub choice: String,
    /// Behind a certificate (a locked value re-proposed).
    pub justified: bool,
}

/// One fault a barrier recorded of a peer: when, and when it expired (`None`: it still holds).
pub type FaultSpan = (u64, Option<u64>);

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
    /// Peers each node's barrier recorded as faulty.
    pub faulty: BTreeMap<u32, Vec<PublicKey>>,
    /// Each fault a node's barrier recorded of a peer, by (node, peer): when, and when it
    /// expired (`None`: it still holds).
    pub fault_spans: BTreeMap<(u32, PublicKey), Vec<FaultSpan>>,
    /// When each node saw each peer's step, by (node, peer).
    pub sightings: BTreeMap<(u32, PublicKey), Vec<u64>>,
    /// When each misconfigured node was repaired (its operator restarted it, fixed).
    pub repaired_us: BTreeMap<u32, u64>,
    /// When each node's engine last ended.
    pub ended_us: BTreeMap<u32, u64>,
    /// When each node finished which round.
    pub completions: BTreeMap<u32, Vec<(u64, u64)>>,
    /// What each node's agreement decided, by (node, round).
    pub decided: BTreeMap<(u32, u64), String>,
    /// Every vote of every node, in trace order.
    pub votes: Vec<Voted>,
    /// Members each node reported missing: (time, members).
    pub waiting: BTreeMap<u32, Vec<(u64, Vec<PublicKey>)>>,
    /// Failed DKG attempts of each node: (time, round, error).
    pub attempt_failures: BTreeMap<u32, Vec<(u64, u64, String)>>,
    /// Dealers each node proved to have signed two logs: (node, time, round, dealer).
    pub equivocation_times: Vec<(u32, u64, u64, PublicKey)>,
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
                epoch,
                round,
                group_key,
                ..
            } => {
                self.completions
                    .entry(node)
                    .or_default()
                    .push((t_us, *round));
                self.group_keys.insert(node, group_key.clone());
                self.epoch_keys.insert((node, *epoch), group_key.clone());
            }
            Event::PeerFaulty { peer, .. } => {
                self.faulty.entry(node).or_default().push(peer.clone());
                self.fault_spans
                    .entry((node, peer.clone()))
                    .or_default()
                    .push((t_us, None));
            }
            Event::PeerFaultExpired { peer } => {
                if let Some((_, expired)) = self
                    .fault_spans
                    .get_mut(&(node, peer.clone()))
                    .and_then(|spans| spans.last_mut())
                {
                    expired.get_or_insert(t_us);
                }
            }
            Event::PeerStep { peer, .. } => {
                self.sightings
                    .entry((node, peer.clone()))
                    .or_default()
                    .push(t_us);
            }
            Event::DkgDecided { round, choice, .. } => {
                self.decided.insert((node, *round), choice.clone());
            }
            Event::DkgVoted {
                round,
                choice,
                justified,
                ..
            } => self.votes.push(Voted {
                t_us,
                node,
                round: *round,
                choice: choice.clone(),
                justified: *justified,
            }),
            Event::WaitingForPeers { missing } => {
                self.waiting
                    .entry(node)
                    .or_default()
                    .push((t_us, missing.clone()));
            }
            Event::DkgEquivocation { round, dealer } => {
                self.equivocation_times
                    .push((node, t_us, *round, dealer.clone()));
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

    fn harness(&mut self, t_us: u64, node: u32, name: &str, _detail: &str) {
        match name {
            "repaired" => {
                self.repaired_us.insert(node, t_us);
            }
            "ended" => {
                self.ended_us.insert(node, t_us);
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
