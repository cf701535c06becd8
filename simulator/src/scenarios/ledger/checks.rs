//! The ledger's checks after a run: `ledger-converges`, `no-acked-op-lost`, `pending-bounded`
//! over the final snapshot, `late-joiner`'s pages, and `ledger-byzantine`'s invariants (see the
//! family's docs).

use super::{
    byzantine::{LedgerLiar, LedgerMisbehaviour, LiarReport},
    observer::LedgerObserver,
    plan::Workload,
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    trace::Sink,
};
use cohort_protocol::{
    PublicKey,
    ledger::{OpId, Status, dag},
};
use commonware_formatting::hex;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

/// The invariants of `ledger-byzantine` (see the module docs).
pub fn check_liar(
    liar: &LedgerLiar,
    members: &[PublicKey],
    report: &LiarReport,
    observations: &LedgerObserver,
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    checks: &mut Checks,
) {
    let key = &members[liar.node];
    let honest = || {
        statuses
            .iter()
            .map(|(node, status, ids)| (*node, status, ids))
    };
    match liar.misbehaviour {
        LedgerMisbehaviour::Equivocate => {
            if report.forks == 0 {
                return;
            }
            for (node, status, _) in honest() {
                if !status.flagged.contains(key) {
                    checks.fail(
                        Invariant::EquivocationDetected,
                        format!(
                            "node {node} did not flag the equivocator {key} ({} forks sent)",
                            report.forks
                        ),
                    );
                }
            }
        }
        LedgerMisbehaviour::Forge => {
            for (node, _, ids) in honest() {
                if let Some(id) = report.forged.iter().find(|id| ids.contains(*id)) {
                    checks.fail(
                        Invariant::ForgeriesRejected,
                        format!(
                            "node {node} applied the forged op {}",
                            hex(&id.as_ref()[..8])
                        ),
                    );
                }
                let refused = observations.refused.get(&(node as u32, key.clone()));
                if !report.forged.is_empty()
                    && !refused.is_some_and(|r| r.iter().any(|r| r.contains("invalid op")))
                {
                    checks.fail(
                        Invariant::ForgeriesRejected,
                        format!("node {node} never refused the forger's ops: {refused:?}"),
                    );
                }
            }
        }
        LedgerMisbehaviour::Replay => {
            for (node, _, _) in honest() {
                if let Some(reasons) = observations.refused.get(&(node as u32, key.clone())) {
                    checks.fail(
                        Invariant::ReplaysAreDuplicates,
                        format!("node {node} refused the replayer: {reasons:?}"),
                    );
                }
            }
        }
        LedgerMisbehaviour::Flood => {
            for (node, status, _) in honest() {
                if !report.busy_from.contains(&status.me) {
                    checks.fail(
                        Invariant::FlooderGetsBusy,
                        format!(
                            "node {node} never answered the flooder Busy ({} requests sent)",
                            report.requests
                        ),
                    );
                }
            }
        }
    }
}

/// `late-joiner-pages`: the late member caught up the preloaded ledger through several pages
/// (recorded as a note).
pub fn check_late_joiner(
    plan: &CorePlan,
    workload: &Workload,
    sink: &Arc<Mutex<Sink>>,
    checks: &mut Checks,
) {
    let mut sink = sink.lock().expect("sink");
    for late in &plan.late_starts {
        let runs = sink
            .observer::<LedgerObserver>()
            .backfill_runs
            .get(&(late.node as u32))
            .cloned()
            .unwrap_or_default();
        // Runs until the preloaded ledger was in: a run cut short (a lost request) is followed
        // by another with the next peer, which starts where the first stopped.
        let (mut pages, mut ops, mut count) = (0, 0, 0);
        for (run_pages, run_ops) in &runs {
            if ops >= workload.preload_ops {
                break;
            }
            pages += run_pages;
            ops += run_ops;
            count += 1;
        }
        if ops >= workload.preload_ops && pages > 1 {
            sink.notes.push(format!(
                "late joiner node {} caught up {ops} ops in {pages} pages over {count} runs",
                late.node
            ));
        } else {
            checks.fail(
                Invariant::LateJoinerPages,
                format!(
                    "node {} (late) fetched {ops} of the {} preloaded ops in {pages} pages over {count} runs",
                    late.node, workload.preload_ops
                ),
            );
        }
    }
}

/// Which ops may still be pending once a run settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingRule<'a> {
    /// None: an honest cluster applies everything it received.
    Nothing,
    /// Only these, each explained by the world:
    /// - ops a member appended before the harness destroyed its storage that no ledger
    ///   applied at the end ([`orphans`]). They may name an op lost with every copy (and so
    ///   wait for ever, on a fork of their author's chain or on an op nobody can send), and a
    ///   member may hold some of such a chain and not the rest: nobody serves pending ops;
    /// - ops a blocked liar authored ([`authored_by`]): once its honest peers block it, an op
    ///   it sent one of them just before may name one that no honest node received.
    Excused(&'a BTreeSet<OpId>),
    /// Any (bounded): a liar's ops may wait forever for a parent only it had.
    Any,
}

/// The ops [`PendingRule::Excused`] excuses after a storage loss: pending somewhere, appended (`lost_lives`: short ids
/// of the ops each member appended before the harness destroyed its storage) by a life whose
/// storage was lost, and applied by no member.
pub fn orphans(
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    lost_lives: &BTreeSet<String>,
) -> BTreeSet<OpId> {
    statuses
        .iter()
        .flat_map(|(_, status, _)| status.pending_ids.iter())
        .filter(|id| lost_lives.contains(&commonware_formatting::hex(&id.as_ref()[..8])))
        .filter(|id| !statuses.iter().any(|(_, _, held)| held.contains(*id)))
        .copied()
        .collect()
}

/// The ops pending somewhere that `node` appended (`appended`: the short id of each op each
/// node appended, by node and seq), for [`PendingRule::Excused`].
pub fn authored_by(
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    appended: &std::collections::BTreeMap<(u32, u64), String>,
    node: usize,
) -> BTreeSet<OpId> {
    let theirs: BTreeSet<&String> = appended
        .iter()
        .filter(|((n, _), _)| *n as usize == node)
        .map(|(_, id)| id)
        .collect();
    statuses
        .iter()
        .flat_map(|(_, status, _)| status.pending_ids.iter())
        .filter(|id| theirs.contains(&commonware_formatting::hex(&id.as_ref()[..8])))
        .copied()
        .collect()
}

/// `ledger-converges`, `no-acked-op-lost`, `pending-bounded` over the final statuses.
pub fn check_final(
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    acked: &[(usize, OpId)],
    pending_rule: PendingRule<'_>,
    checks: &mut Checks,
) {
    let Some((_, reference, _)) = statuses.first() else {
        return;
    };
    for (node, status, ids) in statuses {
        // Compaction leaves nodes holding one ledger with different position counts.
        let compacted = |s: &Status| s.pruned > 0 || s.store_generation > 0;
        let counts_differ =
            !compacted(status) && !compacted(reference) && status.ops != reference.ops;
        if status.digest != reference.digest || counts_differ {
            checks.fail(
                Invariant::LedgerConverges,
                format!(
                    "node {node} holds {} ops (digest {}), node {} holds {} (digest {})",
                    status.ops,
                    hex(status.digest.as_ref()),
                    statuses[0].0,
                    reference.ops,
                    hex(reference.digest.as_ref())
                ),
            );
        }
        let unexplained = match pending_rule {
            PendingRule::Nothing => status.pending,
            PendingRule::Excused(orphans) => status
                .pending_ids
                .iter()
                .filter(|id| !orphans.contains(*id))
                .count(),
            PendingRule::Any => 0,
        };
        if unexplained != 0 || !status.boot_recovered {
            checks.fail(
                Invariant::LedgerConverges,
                format!(
                    "node {node} still has {} pending ops, {} stranded on a fork (boot recovered: {}){}{}",
                    status.pending,
                    status.stranded,
                    status.boot_recovered,
                    if status.pending_waits.is_empty() { "" } else { "; waiting: " },
                    status.pending_waits.join("; ")
                ),
            );
        }
        if status.pending > dag::DEFAULT_MAX_PENDING {
            checks.fail(
                Invariant::PendingBounded,
                format!("node {node} holds {} pending ops", status.pending),
            );
        }
        let lost: Vec<&(usize, OpId)> = acked.iter().filter(|(_, id)| !ids.contains(id)).collect();
        if let Some((author, id)) = lost.first() {
            checks.fail(
                Invariant::NoAckedOpLost,
                format!(
                    "node {node} lacks {} acknowledged ops, e.g. {} of node {author}",
                    lost.len(),
                    hex(&id.as_ref()[..8])
                ),
            );
        }
    }
}
