//! Running a ledger scenario: the workload, the heal and quiesce, and the snapshot of every
//! member's ledger the checks judge (see the family's docs).

use super::{
    byzantine::{Liar, LiarReport},
    checks::{PendingRule, check_final, check_late_joiner, check_liar, orphans},
    observer::LedgerObserver,
    plan::LedgerPlan,
    preload::{preload_history, preload_store},
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    trace::Sink,
    world::{NetRegistrar, QUOTA_PER_SECOND, Role, cluster, cut, identities, network, spawn_all},
};
use bytes::Bytes;
use cohort_protocol::{
    LedgerChannels, PROTOCOL_VERSION, PublicKey, Timing,
    engine::Task,
    ledger::{Mailbox, OpId, Settings, SignedOp, Status},
};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Heartbeat period of the simulated members.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long after the quiesce the check waits for an instant with no op in flight.
const SETTLE: Duration = Duration::from_secs(10);
/// How often it looks.
const SETTLE_POLL: Duration = Duration::from_millis(20);

/// The ledger settings of simulated members: the defaults, with a faster heartbeat and digest
/// exchange so short runs exercise them, and a shorter own-chain patience (a recovering member
/// gives unserved claims up within a run's quiesce).
pub fn settings() -> Settings {
    Settings {
        heartbeat: HEARTBEAT,
        anti_entropy: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        own_chain_patience: Duration::from_secs(2),
        ..Settings::default()
    }
}

/// Runs a ledger scenario; reports into `checks`.
pub async fn run(
    context: deterministic::Context,
    seed: u64,
    plan: CorePlan,
    ledger: LedgerPlan,
    sink: Arc<Mutex<Sink>>,
    mut checks: Checks,
) -> Checks {
    let plan = &plan;
    let workload = ledger.workload.clone();
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = cluster(&members, PROTOCOL_VERSION, Timing::default());
    let oracle = network(&context, &members, &plan.links, plan.transport).await;
    if let Some(side) = &plan.partition {
        // Cut every link across the partition until the heal.
        cut(&oracle, side).await;
    }
    oracle.partition(&context, &plan.partitions, &sink);
    if workload.preload_ops > 0 {
        let late: Vec<usize> = plan.late_starts.iter().map(|l| l.node).collect();
        let authors: Vec<usize> = (0..plan.nodes).filter(|i| !late.contains(i)).collect();
        let history = preload_history(&keys, &authors, workload.preload_ops);
        for node in &authors {
            preload_store(&context, *node, &history).await;
        }
    }
    let liar = ledger.liar.as_ref().map(|l| l.node);
    let spawned = spawn_all(
        &context,
        plan,
        &keys,
        vec![cluster; plan.nodes],
        Task::Serve,
        Some(settings()),
        |index| {
            if Some(index) == liar {
                Role::External
            } else {
                Role::Honest
            }
        },
        &oracle,
        &sink,
    );
    // The honest members' slots (a liar has none).
    let slots: Vec<_> = spawned
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != liar)
        .map(|(i, (_, slot, _, _))| (i, slot.clone()))
        .collect();
    let liar_report: Arc<Mutex<LiarReport>> = Arc::default();
    if let Some(l) = &ledger.liar {
        let mut registrar = NetRegistrar {
            node: oracle.node(&members[l.node]),
            quota: Quota::per_second(NZU32!(QUOTA_PER_SECOND)),
            hook: None,
        };
        let LedgerChannels {
            gossip, backfill, ..
        } = LedgerChannels::register(&mut registrar).await;
        let liar = Liar {
            key: keys[l.node].clone(),
            members: members.clone(),
            me: l.node,
            rng: ChaCha8Rng::seed_from_u64(l.seed),
            gossip,
            backfill,
            report: liar_report.clone(),
            until: context.current() + Duration::from_millis(workload.duration_ms),
        };
        let misbehaviour = l.misbehaviour;
        context
            .child("liar")
            .spawn(move |context| misbehaviour.run(context, liar));
    }

    // The workload: each member submits Data ops at the drawn rate until the heal.
    // Each acknowledged op: its member, its id, and when (ms from the start).
    let acked: Arc<Mutex<Vec<(usize, OpId, u64)>>> = Arc::default();
    let start = context.current();
    let end = start + Duration::from_millis(workload.duration_ms);
    for (node, slot) in slots.iter() {
        let (node, slot) = (*node, slot.clone());
        let acked = acked.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (node as u64).wrapping_mul(0x9e37_79b9));
        let workload = workload.clone();
        context
            .child("workload")
            .with_attribute("node", node)
            .spawn(move |context| async move {
                let mean_gap_ms = 1000 / u64::from(workload.ops_per_sec.max(1));
                loop {
                    let gap = rng.random_range(0..=2 * mean_gap_ms);
                    context.sleep(Duration::from_millis(gap)).await;
                    if context.current() >= end {
                        return;
                    }
                    let size = rng.random_range(1..=workload.max_payload);
                    let payload: Vec<u8> = (0..size).map(|_| rng.random()).collect();
                    let mailbox = slot.lock().expect("slot").clone();
                    if let Some(mut mailbox) = mailbox
                        && let Ok(id) = mailbox.submit(Bytes::from(payload)).await
                    {
                        let at_ms = context
                            .current()
                            .duration_since(start)
                            .unwrap_or_default()
                            .as_millis() as u64;
                        acked.lock().expect("acked").push((node, id, at_ms));
                    }
                }
            });
    }
    context.sleep_until(end).await;
    oracle.heal().await;
    context
        .sleep(Duration::from_millis(workload.quiesce_ms))
        .await;

    {
        let sink = sink.lock().expect("sink");
        let observations = sink.observer::<LedgerObserver>();
        checks.extend(sink.online_violations());
        let liar_key = liar.map(|l| members[l].clone());
        for ((node, peer), reasons) in &observations.refused {
            if Some(*node as usize) != liar && Some(peer) != liar_key.as_ref() {
                checks.fail(
                    Invariant::HonestNeverRejected,
                    format!("node {node} refused honest {peer}: {reasons:?}"),
                );
            }
        }
        let honest_flagged: Vec<_> = observations
            .equivocators
            .iter()
            .filter(|a| Some(*a) != liar_key.as_ref())
            .collect();
        if !honest_flagged.is_empty() {
            let invariant = if checks.covers(Invariant::HonestNeverFlagged) {
                Invariant::HonestNeverFlagged
            } else {
                Invariant::HonestNeverRejected
            };
            checks.fail(
                invariant,
                format!("honest members flagged as equivocators: {honest_flagged:?}"),
            );
        }
    }
    let mailboxes: Vec<_> = slots.iter().map(|(_, slot)| slot.clone()).collect();
    // After a storage loss, "settled" also means every member authors again (a recovering one
    // may wait for its peers' claims up to its give-up).
    let require_authoring = checks.covers(Invariant::RecoveredNodeRejoins);
    let snapshot = settle(&context, &mailboxes, SETTLE, require_authoring).await;
    let mut statuses: Vec<(usize, Status, BTreeSet<OpId>)> = Vec::new();
    for ((node, slot), status) in slots.iter().zip(snapshot) {
        let node = *node;
        let mailbox = slot.lock().expect("slot").clone();
        match (status, all_ops(mailbox).await) {
            (Some(status), Some(ops)) => {
                statuses.push((node, status, ops.iter().map(|o| o.id()).collect()))
            }
            _ => checks.fail(
                Invariant::LedgerConverges,
                format!("node {node} is not running at the end"),
            ),
        }
    }
    // A liar's ops may wait forever for a parent only it had (lost on the way); after a storage
    // loss, ops of the lost life that named an op lost with every copy wait for ever.
    let orphans = {
        let sink = sink.lock().expect("sink");
        orphans(
            &statuses,
            &sink.observer::<LedgerObserver>().appended_before_loss,
        )
    };
    let pending_rule = match (ledger.liar.is_some(), require_authoring) {
        (true, _) => PendingRule::Any,
        (false, true) => PendingRule::Excused(&orphans),
        (false, false) => PendingRule::Nothing,
    };
    let acked = excuse_lost_with_disk(plan, &statuses, &acked.lock().expect("acked"), &sink);
    check_final(&statuses, &acked, pending_rule, &mut checks);
    if checks.covers(Invariant::HonestNeverFlagged) {
        for (node, status, _) in &statuses {
            if !status.flagged.is_empty() {
                checks.fail(
                    Invariant::HonestNeverFlagged,
                    format!("node {node} holds evidence against {:?}", status.flagged),
                );
            }
        }
    }
    if checks.covers(Invariant::RecoveredNodeRejoins) {
        check_recovered(&sink, &statuses, &mut checks);
    }
    check_reused(&sink, &statuses, &mut checks);
    if let Some(l) = &ledger.liar {
        let report = liar_report.lock().expect("liar report").clone();
        let sink = sink.lock().expect("sink");
        check_liar(
            l,
            &members,
            &report,
            sink.observer::<LedgerObserver>(),
            &statuses,
            &mut checks,
        );
    }
    if checks.covers(Invariant::LateJoinerPages) {
        check_late_joiner(plan, &workload, &sink, &mut checks);
    }
    checks
}

/// The acknowledged ops the checks hold the cluster to: all of them but those that can only
/// have been lost with a disk, i.e. acknowledged by a member that later lost synced storage,
/// and held by no member at the end (its author was the only one to hold it: an ack means
/// durable on the author; another member's copy would have been backfilled back). Counted in a
/// note.
fn excuse_lost_with_disk(
    plan: &CorePlan,
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    acked: &[(usize, OpId, u64)],
    sink: &Arc<Mutex<Sink>>,
) -> Vec<(usize, OpId)> {
    let lost_at: Vec<(usize, u64)> = plan
        .crashes
        .iter()
        .filter(|c| c.loss.is_some())
        .map(|c| (c.node, c.at_ms))
        .collect();
    let mut excused = 0;
    let mut kept = Vec::with_capacity(acked.len());
    for (node, id, at_ms) in acked {
        let lost_later = lost_at.iter().any(|(n, at)| n == node && at >= at_ms);
        if lost_later && !statuses.iter().any(|(_, _, held)| held.contains(id)) {
            excused += 1;
        } else {
            kept.push((*node, *id));
        }
    }
    if !lost_at.is_empty() {
        sink.lock().expect("sink").notes.push(format!(
            "storage loss: {excused} acknowledged ops were held by their author alone when its storage was lost"
        ));
    }
    kept
}

/// `recovered-node-rejoins`: every member whose storage the harness damaged reported the
/// damage at its next open, authors again (an op appended since, authoring on at the end) and
/// is running at the end (`ledger-converges` judges its ledger).
fn check_recovered(
    sink: &Arc<Mutex<Sink>>,
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    checks: &mut Checks,
) {
    let sink = sink.lock().expect("sink");
    let observations = sink.observer::<LedgerObserver>();
    for line in &observations.damage_unnoticed {
        checks.fail(Invariant::RecoveredNodeRejoins, line.clone());
    }
    for (node, damage) in &observations.damaged {
        let status = statuses.iter().find(|(n, _, _)| *n == *node as usize);
        let detail = match status.map(|(_, s, _)| &s.authoring) {
            None => Some("is not running at the end".to_string()),
            Some(Err(why)) => Some(format!("does not author at the end: {why}")),
            Some(Ok(())) if !damage.authored => Some("authored no op since".to_string()),
            Some(Ok(())) => None,
        };
        if let Some(detail) = detail {
            checks.fail(
                Invariant::RecoveredNodeRejoins,
                format!("node {node}, after losing its {}: {detail}", damage.loss),
            );
        }
    }
}

/// `honest-never-equivocates` across storage loss: a member that lost its storage may append a
/// seq again only if no ledger holds the first op of that seq at the end (its only copies were
/// destroyed: nobody can ever see both). Counted in a note.
fn check_reused(
    sink: &Arc<Mutex<Sink>>,
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    checks: &mut Checks,
) {
    let mut sink = sink.lock().expect("sink");
    let reused = sink.observer::<LedgerObserver>().reused.clone();
    if reused.is_empty() {
        return;
    }
    let held = |short: &str| {
        statuses.iter().any(|(_, _, ids)| {
            ids.iter()
                .any(|id| commonware_formatting::hex(&id.as_ref()[..8]) == short)
        })
    };
    for (node, seq, first, second) in &reused {
        if held(first) {
            checks.fail(
                Invariant::HonestNeverEquivocates,
                format!("node {node} appended ops {first} and {second} with seq {seq}, and a ledger holds the first"),
            );
        }
    }
    sink.notes.push(format!(
        "storage loss: {} seqs appended again after their first op was lost with every copy",
        reused.len()
    ));
}

/// The slot holding a member's current ledger mailbox (`None` while it is down).
pub type Slot = Arc<Mutex<Option<Mailbox>>>;

/// Each member's status at the first instant (polled every [`SETTLE_POLL`], for at most
/// `within`) at which every member is up, has completed boot recovery and reports one digest:
/// heartbeats go on during a quiesce, and a member may be down (a crash point hit late), so
/// the checks wait for its restart and recovery too (and, with `require_authoring`, for every
/// member to author again with nothing pending but ops stranded on a fork: a storage loss
/// orphaned them, they wait for an op lost with every copy). At `within`, the last poll is
/// returned.
pub async fn settle(
    context: &deterministic::Context,
    slots: &[Slot],
    within: Duration,
    require_authoring: bool,
) -> Vec<Option<Status>> {
    let end = context.current() + within;
    loop {
        let mut snapshot = Vec::with_capacity(slots.len());
        for slot in slots {
            let mailbox = slot.lock().expect("slot").clone();
            snapshot.push(match mailbox {
                Some(mut mailbox) => mailbox.status().await.ok(),
                None => None,
            });
        }
        let all_up = snapshot.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                s.boot_recovered
                    && (!require_authoring || (s.authoring.is_ok() && s.pending == s.stranded))
            })
        });
        let digests: BTreeSet<_> = snapshot.iter().flatten().map(|s| s.digest).collect();
        if (all_up && digests.len() <= 1) || context.current() >= end {
            return snapshot;
        }
        context.sleep(SETTLE_POLL).await;
    }
}

/// Every op a member holds, in its apply order (`None`: it is down).
pub async fn all_ops(mailbox: Option<Mailbox>) -> Option<Vec<SignedOp>> {
    let mut mailbox = mailbox?;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (ops, next) = mailbox.ops(after, 4096).await.ok()?;
        if ops.is_empty() {
            return Some(out);
        }
        out.extend(ops.into_iter().map(|(_, op)| op));
        after = next;
    }
}
