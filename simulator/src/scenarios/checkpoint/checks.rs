//! The checkpoint invariants, judged on every member's final ledger (see the family's docs).

use super::{
    byzantine::{CheckpointLiar, LiarReport},
    observer::CheckpointObserver,
    plan::CheckpointPlan,
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
};
use cohort_protocol::{
    PublicKey,
    checkpoint::{Observation, tally, view, wire::CERTIFICATE_NAMESPACE, wire::Digest},
    ledger::{Mailbox, OpId, OpKind, Settings, SignedOp, dag::GroupKey, op::Certified},
};
use commonware_codec::DecodeExt as _;
use std::collections::{BTreeMap, BTreeSet};

/// A member's final ledger.
pub struct Member {
    pub node: usize,
    /// Every op it holds, in its apply order.
    pub ops: Vec<SignedOp>,
    pub mailbox: Mailbox,
}

/// One subject's author chain in one ledger, in seq order (the first op at each seq).
fn chain<'a>(ops: &'a [SignedOp], subject: &PublicKey) -> Vec<&'a SignedOp> {
    let mut by_seq: BTreeMap<u64, &SignedOp> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.op().author == subject.as_ref()) {
        by_seq.entry(op.op().seq).or_insert(op);
    }
    by_seq.into_values().collect()
}

/// Whether `op` is presence history (what compaction may prune).
fn presence(op: &SignedOp) -> bool {
    matches!(op.op().kind, OpKind::Boot { .. } | OpKind::Heartbeat { .. })
}

fn certified(op: &SignedOp) -> Option<&Certified> {
    match &op.op().kind {
        OpKind::Checkpoint(c) => Some(c),
        _ => None,
    }
}

/// The group key the members traced (every honest member traces the same, or
/// `same-group-key` of the DKG fails; this takes the first).
pub fn group_key(observations: &CheckpointObserver) -> Option<GroupKey> {
    let hex = observations.group_keys.values().next()?;
    let bytes = commonware_formatting::from_hex(hex)?;
    GroupKey::decode(bytes::Bytes::from(bytes)).ok()
}

/// Each member's view of each subject at `cutoff_ms`, from its ledger actor.
pub async fn gather_views(
    held: &mut [Member],
    members: &[PublicKey],
    cutoff_ms: u64,
) -> Vec<Vec<Option<Observation>>> {
    let mut out = Vec::with_capacity(held.len());
    for member in held.iter_mut() {
        let mut views = Vec::with_capacity(members.len());
        for subject in members {
            let seen = member
                .mailbox
                .view(
                    subject.clone(),
                    cutoff_ms,
                    std::time::Duration::from_secs(1),
                )
                .await
                .ok()
                .flatten()
                .and_then(|v| v.observation);
            views.push(seen);
        }
        out.push(views);
    }
    out
}

/// No certificate counts a voter twice: each certification an honest subject traced had at
/// least `threshold` approvals and no more than the distinct voters that approved its proposal
/// before it (the subject, the honest voters that traced an approval, the liar if it sent a
/// valid partial on it).
pub fn check_counting(
    observations: &CheckpointObserver,
    threshold: usize,
    liar: Option<(&CheckpointLiar, &LiarReport)>,
    checks: &mut Checks,
) {
    for (node, certifications) in &observations.certified {
        for c in certifications {
            let mut voters: std::collections::BTreeSet<u32> = observations
                .approved
                .get(&c.digest)
                .into_iter()
                .flatten()
                .filter(|(_, t)| **t <= c.t_us)
                .map(|(voter, _)| *voter)
                .collect();
            voters.insert(*node);
            if let Some((liar, report)) = liar
                && report.approvals.contains(&c.digest)
            {
                voters.insert(liar.node as u32);
            }
            if c.approvals < threshold || c.approvals > voters.len() {
                checks.fail(
                    Invariant::NoVoterCountedTwice,
                    format!(
                        "node {node}'s checkpoint at {} ({}) counted {} approvals; {} distinct voters approved it (threshold {threshold})",
                        c.as_of_ms,
                        c.digest,
                        c.approvals,
                        voters.len()
                    ),
                );
            }
        }
    }
}

/// The liar is blocked as its misbehaviour deserves (see the invariant).
pub fn check_liar(
    observations: &CheckpointObserver,
    liar: &CheckpointLiar,
    key: &PublicKey,
    report: &LiarReport,
    honest: &[usize],
    checks: &mut Checks,
) {
    let blocked_by = observations.blocked.get(key).cloned().unwrap_or_default();
    let misbehaviour = liar.misbehaviour;
    if !misbehaviour.is_hostile() {
        if !blocked_by.is_empty() {
            checks.fail(
                Invariant::CheckpointLiarBlocked,
                format!("the {misbehaviour:?} liar was blocked by nodes {blocked_by:?}"),
            );
        }
        return;
    }
    if report.hostile == 0 {
        return;
    }
    let missing: Vec<usize> = honest
        .iter()
        .copied()
        .filter(|n| !blocked_by.contains(&(*n as u32)))
        .collect();
    let fails = match misbehaviour.reaches_everyone() {
        true => !missing.is_empty(),
        false => blocked_by.is_empty(),
    };
    if fails {
        checks.fail(
            Invariant::CheckpointLiarBlocked,
            format!(
                "the {misbehaviour:?} liar sent {} hostile frames; blocked by {blocked_by:?}, not by {missing:?}",
                report.hostile
            ),
        );
    }
}

/// Checks every checkpoint invariant over the honest members' final ledgers `held` (and
/// `views`, each member's view of each subject at `window.1`, the end of the run). The
/// subject `liar` (a member liar) is judged by what honest members must hold of it, not by
/// what an honest subject proposes: no round 1 exactness, no liveness.
#[allow(clippy::too_many_arguments)]
pub fn check_checkpoints(
    plan: &CorePlan,
    cp: &CheckpointPlan,
    settings: &Settings,
    members: &[PublicKey],
    liar: Option<usize>,
    observations: &CheckpointObserver,
    held: &[Member],
    archive: &[SignedOp],
    views: &[Vec<Option<Observation>>],
    (start_ms, end_ms): (u64, u64),
    checks: &mut Checks,
) {
    let Some(key) = group_key(observations) else {
        checks.fail(
            Invariant::CheckpointsVerify,
            "no member traced a group key: the DKG did not finish",
        );
        return;
    };
    let tolerance = settings.checkpoint.expect("checkpoint settings").tolerance;
    // Every certificate verifies and chains, in every ledger; and every ledger holds the same
    // checkpoints at each position of each subject's chain.
    let mut lists: BTreeMap<usize, Vec<Vec<Digest>>> = BTreeMap::new();
    for member in held {
        for (s, subject) in members.iter().enumerate() {
            let mut previous: Option<(Digest, u64)> = None;
            let mut ids = Vec::new();
            for op in chain(&member.ops, subject) {
                let Some(c) = certified(op) else { continue };
                let id = c.id(op.op().author);
                if !tally::verify(&key, CERTIFICATE_NAMESPACE, &id, &c.signature) {
                    checks.fail(
                        Invariant::CheckpointsVerify,
                        format!(
                            "node {} holds a checkpoint of node {s} (seq {}) whose certificate does not verify",
                            member.node,
                            op.op().seq
                        ),
                    );
                }
                let chains = c.previous == previous.map(|(id, _)| id)
                    && previous.is_none_or(|(_, as_of)| c.as_of_ms > as_of);
                if !chains {
                    checks.fail(
                        Invariant::CheckpointsVerify,
                        format!(
                            "node {} holds a checkpoint of node {s} (seq {}) that does not chain",
                            member.node,
                            op.op().seq
                        ),
                    );
                }
                previous = Some((id, c.as_of_ms));
                ids.push(id);
            }
            lists.entry(s).or_default().push(ids);
        }
    }
    for (s, per_member) in &lists {
        if per_member.windows(2).any(|w| w[0] != w[1]) {
            let counts: Vec<usize> = per_member.iter().map(Vec::len).collect();
            checks.fail(
                Invariant::OneCheckpointPerPosition,
                format!("members hold different checkpoints of node {s} (counts {counts:?})"),
            );
        }
    }
    if held.is_empty() {
        return;
    }
    check_compaction(held, archive, checks);
    // Every certified value is within tolerance of the honest members' views at its `as_of`
    // (every honest ledger holds the same ops, so one view stands for all of them: the whole
    // history, as every node authored it, since compaction pruned the old ops in each); a
    // round 1 proposal of an honest subject is its view exactly.
    for (s, subject) in members.iter().enumerate() {
        let chain = chain(archive, subject);
        let mut base: Option<(usize, &Certified)> = None;
        let mut as_ofs = Vec::new();
        for (i, op) in chain.iter().enumerate() {
            let Some(c) = certified(op) else { continue };
            let from = base.map_or(0, |(at, _)| at);
            let seen = view::observe(
                base.map(|(_, c)| c),
                chain[from..].iter().map(|o| o.op()),
                c.as_of_ms,
            );
            match seen {
                Some(seen) if c.round == 1 && seen != c.observation && Some(s) != liar => checks.fail(
                    Invariant::CertifiedWithinTolerance,
                    format!(
                        "node {s}'s round 1 checkpoint at {} says {:?}, its history says {seen:?}",
                        c.as_of_ms, c.observation
                    ),
                ),
                Some(seen) if !tolerance.admits(&c.observation, &seen) => checks.fail(
                    Invariant::CertifiedWithinTolerance,
                    format!(
                        "node {s}'s checkpoint at {} says {:?}, the honest view is {seen:?}",
                        c.as_of_ms, c.observation
                    ),
                ),
                None => checks.fail(
                    Invariant::CertifiedWithinTolerance,
                    format!("node {s}'s checkpoint at {} has no honest view", c.as_of_ms),
                ),
                _ => {}
            }
            base = Some((i, c));
            as_ofs.push(c.as_of_ms);
        }
        // Liveness: no gap between the subject's first op, its checkpoints and the end is
        // longer than an interval plus the protocol's slack and the outages within it.
        let first = chain.first();
        if let (Some(first), false) = (first, Some(s) == liar) {
            check_liveness(
                plan,
                cp,
                s,
                first.op().time_ms,
                &as_ofs,
                (start_ms, end_ms),
                checks,
            );
        }
        if first.is_none() {
            checks.fail(
                Invariant::CheckpointLiveness,
                format!("node {s} authored no op"),
            );
            continue;
        };
        // Every member derives the same view of the subject at the end from its compacted
        // ledger, and it is the one the whole history gives. The liar's history is what it
        // authored, not what reached the honest members (they may have blocked it): for the
        // liar subject the members must only agree with each other.
        let expected = match Some(s) == liar {
            true => views.first().and_then(|v| v.get(s).copied().flatten()),
            false => view::observe(
                base.map(|(_, c)| c),
                chain[base.map_or(0, |(at, _)| at)..].iter().map(|o| o.op()),
                end_ms,
            ),
        };
        for (member, per_subject) in held.iter().zip(views) {
            if per_subject.get(s).copied().flatten() != expected {
                checks.fail(
                    Invariant::ObservationsAgree,
                    format!(
                        "node {} sees node {s} as {:?}, its history says {expected:?}",
                        member.node,
                        per_subject.get(s)
                    ),
                );
            }
        }
    }
}

/// `compaction-sound`: in every member's ledger, every op has all its parents, or is a presence
/// op below a checkpoint of its author that the ledger holds (the frontier compaction keeps);
/// and no compaction lost an op it must keep: every checkpoint and data op any node authored.
fn check_compaction(held: &[Member], archive: &[SignedOp], checks: &mut Checks) {
    for member in held {
        let ids: BTreeSet<OpId> = member.ops.iter().map(|o| o.id()).collect();
        let mut floors: BTreeMap<[u8; 32], u64> = BTreeMap::new();
        for op in &member.ops {
            if certified(op).is_some() {
                let floor = floors.entry(op.op().author).or_default();
                *floor = (*floor).max(op.op().seq);
            }
        }
        let mut broken = 0usize;
        let mut example = None;
        for op in &member.ops {
            let complete = op.op().parents.iter().all(|p| ids.contains(p));
            let presence = presence(op);
            let covered = presence
                && floors
                    .get(&op.op().author)
                    .is_some_and(|floor| op.op().seq < *floor);
            if !complete && !covered {
                broken += 1;
                example.get_or_insert((op.op().seq, op.op().kind.name()));
            }
        }
        if let Some((seq, kind)) = example {
            checks.fail(
                Invariant::CompactionSound,
                format!(
                    "node {} holds {broken} ops without all their parents that no checkpoint covers (e.g. a {kind} at seq {seq})",
                    member.node
                ),
            );
        }
        let lost: Vec<&SignedOp> = archive
            .iter()
            .filter(|o| !presence(o))
            .filter(|o| !ids.contains(&o.id()))
            .collect();
        if let Some(first) = lost.first() {
            let op = first.op();
            checks.fail(
                Invariant::CompactionSound,
                format!(
                    "node {} lacks {} checkpoint or data ops that were authored (the first: a {} of {} at seq {}, authored at {} ms)",
                    member.node,
                    lost.len(),
                    op.kind.name(),
                    op.author[..8].iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    op.seq,
                    op.time_ms
                ),
            );
        }
    }
}

/// Liveness of subject `s`: no gap between its first op (`first_ms`), its checkpoints' `as_of`
/// and the end is longer than an interval plus the protocol's slack and the outages within it.
fn check_liveness(
    plan: &CorePlan,
    cp: &CheckpointPlan,
    s: usize,
    first_ms: u64,
    as_ofs: &[u64],
    (start_ms, end_ms): (u64, u64),
    checks: &mut Checks,
) {
    let mut points = vec![first_ms.max(start_ms)];
    points.extend(as_ofs.iter().copied());
    points.push(end_ms);
    let slack = cp.check_ms + 2 * cp.window_ms + 20_000;
    // `as_of` is on the subject's clock, the start and the end on the run's: its offset and
    // its drift over the run.
    let skew = plan.clocks.iter().find(|c| c.node == s).map_or(0, |c| {
        c.offset_ms + c.drift_ppm.unsigned_abs() * end_ms.saturating_sub(start_ms) / 1_000_000
    });
    // Every fault window of the plan as (start, length), relative to the run's start: each
    // may cost a day's round (a crash or a storage error restarts a node, a partition cuts
    // voters off), and so may a committee that cannot reach a quorum of honest voters yet.
    let windows = plan
        .crashes
        .iter()
        .map(|c| (c.at_ms, c.down_ms))
        .chain(plan.storage_faults.iter().map(|f| (f.at_ms, f.for_ms)))
        .chain(plan.partitions.iter().map(|p| (p.at_ms, p.for_ms)))
        .chain(over_budget(plan, cp).map(|until| (0, until)));
    let windows: Vec<(u64, u64)> = windows.collect();
    for (k, w) in points.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let outages: u64 = windows
            .iter()
            .filter(|(at, length)| {
                let at = start_ms + at;
                at <= b && at.saturating_add(*length).saturating_add(slack) >= a
            })
            .map(|(_, length)| length.saturating_add(cp.window_ms + cp.check_ms))
            .fold(0, u64::saturating_add);
        // The first day also holds the DKG.
        let dkg = if k == 0 { 60_000 } else { 0 };
        let allowed = (cp.interval_ms + slack + dkg + skew).saturating_add(outages);
        if b.saturating_sub(a) > allowed {
            checks.fail(
                Invariant::CheckpointLiveness,
                format!(
                    "node {s} went {} ms without a checkpoint (from {a} to {b}; allowed {allowed})",
                    b - a
                ),
            );
        }
    }
}

/// Until when (ms after the run's start) some committee holds more faulty members than it
/// tolerates (`f` of `n`, as the DKG's `N3f1`): a member liar (of the checkpoint protocol or
/// of the DKG) plus the members that have not started yet (late starters). While it does, its
/// honest members may not reach a quorum of approvals, and no day's round is expected to
/// certify. `None`: never. Conservative when the plan reshares: every committee is taken as
/// in force from the start.
fn over_budget(plan: &CorePlan, cp: &CheckpointPlan) -> Option<u64> {
    let liar = cp
        .liar
        .as_ref()
        .filter(|l| l.misbehaviour != super::byzantine::CheckpointMisbehaviour::Outsider)
        .map(|l| l.node)
        .or(cp.dkg_liar.as_ref().map(|l| l.node));
    let everyone: Vec<usize> = (0..plan.nodes).collect();
    let committees: Vec<&[usize]> = if cp.committees.is_empty() {
        vec![&everyone]
    } else {
        cp.committees.iter().map(Vec::as_slice).collect()
    };
    committees
        .into_iter()
        .filter_map(|committee| {
            let f = committee.len().saturating_sub(1) / 3;
            let liars = usize::from(liar.is_some_and(|l| committee.contains(&l)));
            let mut starts: Vec<u64> = plan
                .late_starts
                .iter()
                .filter(|l| committee.contains(&l.node) && Some(l.node) != liar)
                .map(|l| l.at_ms)
                .collect();
            starts.sort_unstable();
            // Faulty at time t: the liar and the late starters not started by t.
            (liars + starts.len() > f).then(|| {
                let must_start = liars + starts.len() - f;
                starts.get(must_start - 1).copied().unwrap_or(u64::MAX)
            })
        })
        .max()
}

/// `checkpoint-late-joiner-caught-up`: the late member (`joiner`, started at `started_ms`)
/// holds every checkpoint any member authored, each of which its ledger verified under the
/// group key on apply, and it was served a compacted ledger: the ops it backfilled to catch up
/// when it started (`backfilled`), but the ops authored before it started that compaction keeps
/// (every op but presence, and the presence ops those name as parents), are fewer than the
/// other presence ops authored before it started (its peers' floors had pruned most of them;
/// the rest, above the floors, and the tail authored while it caught up, are fewer).
/// Returns a note with the counts.
pub fn check_late_joiner(
    joiner: usize,
    started_ms: u64,
    held: &[Member],
    archive: &[SignedOp],
    backfilled: u64,
    checks: &mut Checks,
) -> String {
    let Some(member) = held.iter().find(|m| m.node == joiner) else {
        checks.fail(
            Invariant::CheckpointLateJoinerCaughtUp,
            format!("the late member {joiner} is not running at the end"),
        );
        return format!("late joiner {joiner}: not running");
    };
    let ids: BTreeSet<OpId> = member.ops.iter().map(|o| o.id()).collect();
    let checkpoints: Vec<&SignedOp> = archive.iter().filter(|o| certified(o).is_some()).collect();
    let missing = checkpoints
        .iter()
        .filter(|o| !ids.contains(&o.id()))
        .count();
    if missing > 0 {
        checks.fail(
            Invariant::CheckpointLateJoinerCaughtUp,
            format!(
                "the late member {joiner} lacks {missing} of the {} certified checkpoints",
                checkpoints.len()
            ),
        );
    }
    // Compaction keeps every op but presence, and the presence ops those name as parents.
    let before: Vec<&SignedOp> = archive
        .iter()
        .filter(|o| o.op().time_ms < started_ms)
        .collect();
    let pinned: BTreeSet<OpId> = before
        .iter()
        .filter(|o| !presence(o))
        .flat_map(|o| o.op().parents.iter().copied())
        .collect();
    let (history, kept): (Vec<&SignedOp>, Vec<&SignedOp>) = before
        .into_iter()
        .partition(|o| presence(o) && !pinned.contains(&o.id()));
    let (history, kept) = (history.len() as u64, kept.len() as u64);
    let pruned_served = backfilled.saturating_sub(kept);
    if pruned_served >= history.max(1) {
        checks.fail(
            Invariant::CheckpointLateJoinerCaughtUp,
            format!(
                "the late member {joiner} backfilled {backfilled} ops, of which {pruned_served} beyond the {kept} kept ops authored before it started: not fewer than the {history} prunable presence ops authored before it started: its peers did not serve a compacted ledger"
            ),
        );
    }
    format!(
        "late joiner {joiner}: backfilled {backfilled} ops ({kept} kept ops authored before it started) for {history} prunable presence ops authored before it started; holds {} ops and all {} checkpoints but {missing}",
        member.ops.len(),
        checkpoints.len()
    )
}
