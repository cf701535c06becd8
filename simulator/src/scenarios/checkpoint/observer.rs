//! What the checkpoint invariants need from the trace.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::{barrier::observer::BarrierObserver, ledger::LedgerObserver},
    trace::{Observer, Refusals, keep_refusal},
};
use cohort_protocol::{Channel, Event, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// One certified checkpoint, as its subject traced it.
#[derive(Clone, Debug)]
pub struct Certification {
    pub round: u8,
    pub as_of_ms: u64,
    pub approvals: usize,
    /// The proposal's short digest.
    pub digest: String,
    /// When it was traced (simulated µs).
    pub t_us: u64,
}

/// The checkpoint observations, per node.
#[derive(Debug, Default)]
pub struct CheckpointObserver {
    /// The group key each node traced on finishing its DKG (hex).
    pub group_keys: BTreeMap<u32, String>,
    /// Each node's DKG completions by epoch: the group key (hex) and whether it holds a share
    /// (the last traced, a restart loading the epoch again).
    pub completions: BTreeMap<u32, BTreeMap<u64, (String, bool)>>,
    /// Epochs each node finished without its share (its DKG journal was lost).
    pub share_lost: BTreeMap<u32, BTreeSet<u64>>,
    /// Governance inputs refused, per author: each reason and the nodes that refused.
    pub governance_refused: BTreeMap<PublicKey, BTreeMap<&'static str, BTreeSet<u32>>>,
    /// Each node's certified checkpoints.
    pub certified: BTreeMap<u32, Vec<Certification>>,
    /// Per proposal (short digest): each honest voter that approved it, and when it first did
    /// (simulated µs).
    pub approved: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Per peer: the nodes that blocked it for a checkpoint input.
    pub blocked: BTreeMap<PublicKey, BTreeSet<u32>>,
    /// Refusals `honest-never-rejected` judges: every refusal of a ledger or checkpoint input,
    /// and every refusal that blocked its sender (a DKG input of a round another member has
    /// left behind is refused without blame, which is the DKG's business).
    pub refused: Refusals,
    /// Per peer: inputs dropped because the receiver did not list it as a member yet (a
    /// joiner catching up; never blamed).
    pub catch_up: BTreeMap<PublicKey, u64>,
    /// When each proposal (short digest) was first traced by its proposer (simulated µs).
    pub proposed_at: BTreeMap<String, u64>,
    /// Rounds each node proposed, and rounds that closed without a certificate.
    pub proposed: BTreeMap<u32, u64>,
    pub failed: BTreeMap<u32, u64>,
}

impl Observer for CheckpointObserver {
    fn observe(&mut self, t_us: u64, node: u32, event: &Event) {
        match event {
            Event::ShareLost { epoch, .. } => {
                self.share_lost.entry(node).or_default().insert(*epoch);
            }
            Event::DkgComplete {
                group_key,
                epoch,
                share,
                ..
            } => {
                self.group_keys.insert(node, group_key.clone());
                self.completions
                    .entry(node)
                    .or_default()
                    .insert(*epoch, (group_key.clone(), *share));
            }
            Event::CheckpointCertified {
                round,
                as_of_ms,
                approvals,
                digest,
            } => self.certified.entry(node).or_default().push(Certification {
                round: *round,
                as_of_ms: *as_of_ms,
                approvals: *approvals,
                digest: digest.clone(),
                t_us,
            }),
            Event::CheckpointVoted {
                approve: true,
                digest,
                ..
            } => {
                self.approved
                    .entry(digest.clone())
                    .or_default()
                    .entry(node)
                    .or_insert(t_us);
            }
            Event::InputRejected {
                channel,
                peer,
                blocked,
                reason,
            } => {
                if *channel == Channel::Checkpoint && *blocked {
                    self.blocked.entry(peer.clone()).or_default().insert(node);
                }
                if !*blocked && catching_up(reason) {
                    // A joiner this node does not list yet: dropped without blame, by design.
                    *self.catch_up.entry(peer.clone()).or_default() += 1;
                } else if *blocked || channel.is_ledger() || *channel == Channel::Checkpoint {
                    keep_refusal(&mut self.refused, node, event);
                }
            }
            Event::CheckpointProposed { digest, .. } => {
                *self.proposed.entry(node).or_default() += 1;
                self.proposed_at.entry(digest.clone()).or_insert(t_us);
            }
            Event::CheckpointRoundFailed { .. } => *self.failed.entry(node).or_default() += 1,
            Event::GovernanceRefused { author, reason } => {
                self.governance_refused
                    .entry(author.clone())
                    .or_default()
                    .entry(*reason)
                    .or_default()
                    .insert(node);
            }
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

/// Whether an unblocking refusal is one of a key this node does not list as a member yet (a
/// joiner catching up): its ops on gossip, its checkpoint frames.
fn catching_up(reason: &str) -> bool {
    reason.contains("not an author here") || reason == "non_member"
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
