//! Running a checkpoint scenario: the members run the DKG, the ledger and the checkpoint
//! protocol for the planned simulated days; then the heal, the quiesce and the snapshot of
//! every member's ledger the checks judge (see the family's docs).

use super::{
    byzantine::{CheckpointMisbehaviour, Liar, LiarReport, LiarSidecar},
    checks::{
        Member, check_checkpoints, check_counting, check_late_joiner, check_liar, gather_views,
        group_key,
    },
    governance,
    observer::CheckpointObserver,
    plan::{CheckpointPlan, DATA_MAX_PAYLOAD},
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    scenarios::{
        dkg::Kind as DkgKind,
        dkg::plan::timing,
        ledger::{
            LedgerObserver,
            checks::{PendingRule, authored_by, check_final},
            run::{all_ops, settle},
        },
    },
    trace::Sink,
    world::{
        NetRegistrar, QUOTA_PER_SECOND, Role, cluster, identities, micros, network, quorum,
        spawn_all, with_committees,
    },
};
use cohort_protocol::{
    Channel, PROTOCOL_VERSION, PublicKey, Registrar as _, checkpoint, committee, dkg,
    engine::Task,
    ledger::{Settings, Status},
};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

/// Heartbeat period of the simulated members.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long after the quiesce the check waits for an instant with no op in flight.
const SETTLE: Duration = Duration::from_secs(20);

/// The ledger and checkpoint settings of simulated members for `plan`.
pub fn settings(plan: &CheckpointPlan) -> Settings {
    Settings {
        heartbeat: HEARTBEAT,
        anti_entropy: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        checkpoint: Some(checkpoint::Settings {
            interval: Duration::from_millis(plan.interval_ms),
            check: Duration::from_millis(plan.check_ms),
            window: Duration::from_millis(plan.window_ms),
            resend: Duration::from_secs(5),
            online_within: HEARTBEAT * 6,
            ..checkpoint::Settings::default()
        }),
        // Rewrite the op store after most compactions, so runs crash in and around rewrites.
        rewrite_slack: 64,
        compact: plan.compact,
        // The governance actor runs when the operator has changes to ask for.
        governance: (!plan.changes.is_empty()).then_some(committee::Settings {
            check: Duration::from_secs(1),
            settle: Duration::from_secs(5),
            certify_after: Duration::from_secs(5),
            online_within: HEARTBEAT * 6,
        }),
        ..Settings::default()
    }
}

/// Runs a checkpoint scenario; reports into `checks`.
pub async fn run(
    context: deterministic::Context,
    seed: u64,
    plan: CorePlan,
    cp: CheckpointPlan,
    sink: Arc<Mutex<Sink>>,
    mut checks: Checks,
) -> Checks {
    let plan = &plan;
    // The whole history, for the checks of what compaction pruned.
    sink.lock().expect("sink").archive = Some(Vec::new());
    let outsider = cp
        .liar
        .as_ref()
        .is_some_and(|l| l.misbehaviour == CheckpointMisbehaviour::Outsider);
    // The outsider's key is on the network (one more node), not in the cluster; so is a
    // joiner's (which runs a node, with the genesis definition).
    let joiners = cp.joiners.clone();
    let mut keys = identities(seed, plan.nodes + usize::from(outsider) + joiners.len());
    let on_network: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let outsider_key = outsider.then(|| keys.pop().expect("the outsider's key"));
    let members: Vec<PublicKey> = keys[..plan.nodes].iter().map(|k| k.public_key()).collect();
    // Every running node's key, by node index (the members, then a joiner).
    let node_keys: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = with_committees(
        cluster(&members, PROTOCOL_VERSION, timing(DkgKind::Dkg)),
        &members,
        &cp.committees,
    );
    let oracle = network(&context, &on_network, &plan.links, plan.transport).await;
    oracle.partition(&context, &plan.partitions, &sink);
    let settings = settings(&cp);
    let protocol = settings.checkpoint.expect("checkpoint settings");
    let report: Arc<Mutex<LiarReport>> = Arc::default();
    let member_liar = cp.liar.as_ref().filter(|_| !outsider);
    let spawned = spawn_all(
        &context,
        plan,
        &keys,
        vec![cluster.clone(); keys.len()],
        Task::Dkg,
        Some(settings),
        |i| match member_liar {
            Some(liar) if liar.node == i => Role::Sidecar(Arc::new(LiarSidecar::new(
                liar,
                keys[i].clone(),
                members.clone(),
                protocol,
                report.clone(),
            ))),
            _ => match &cp.dkg_liar {
                Some(liar) if liar.node == i => Role::Tampered(liar.tamper(
                    &keys[i],
                    &members,
                    &context,
                    timing(DkgKind::Dkg).phase_timeout,
                )),
                _ => Role::Honest,
            },
        },
        &oracle,
        &sink,
    );
    if let (Some(key), Some(liar)) = (outsider_key.clone(), &cp.liar) {
        let mut registrar = NetRegistrar {
            node: oracle.node(&key.public_key()),
            quota: Quota::per_second(NZU32!(QUOTA_PER_SECOND)),
            hook: None,
        };
        let channel = registrar.register(Channel::Checkpoint).await;
        let liar = Liar {
            key,
            members: members.clone(),
            channel,
            keys: None,
            ledger: None,
            settings: protocol,
            rng: ChaCha8Rng::seed_from_u64(liar.seed),
            report: report.clone(),
        };
        context
            .child("outsider")
            .spawn(move |context| CheckpointMisbehaviour::Outsider.run(context, liar));
    }
    // The member that lies (in the checkpoint protocol, or in the DKG: the rest of its engine
    // is honest, but its peers may block it) is judged apart, as a liar.
    let liar_node = member_liar
        .map(|l| l.node)
        .or(cp.dkg_liar.as_ref().map(|l| l.node));
    let liar_key = cp
        .liar
        .as_ref()
        .map(|l| l.node)
        .or(liar_node)
        .map(|node| on_network[node.min(on_network.len() - 1)].clone());
    // The honest nodes the ledger checks judge: the members but the liar and a member down for
    // good, and the joiner.
    let honest: Vec<usize> = (0..plan.nodes)
        .filter(|i| Some(*i) != liar_node && Some(*i) != cp.dead)
        .chain(joiners.iter().copied())
        .collect();
    // The honest members' slots (a blocked liar's ledger may never settle with theirs).
    let slots: Vec<_> = honest.iter().map(|i| spawned[*i].1.clone()).collect();
    let start_ms = micros(context.current()) / 1000;
    let first_results: Arc<Mutex<BTreeMap<usize, dkg::Completed>>> = Arc::default();
    let liar_appended: Arc<Mutex<bool>> = Arc::default();
    if !cp.changes.is_empty() {
        // Every node's key, the outsider a change may add last.
        let all_keys: Vec<PublicKey> = identities(seed, plan.nodes + joiners.len().max(1))
            .iter()
            .map(|k| k.public_key())
            .collect();
        let governance_slots = spawned.iter().map(|s| s.2.clone()).collect();
        // Each node's first DKG result (epoch 0), for `removed-member-cannot-sign`.
        for (i, s) in spawned.iter().enumerate() {
            let (first, waiting) = (first_results.clone(), s.3.subscribe());
            context.child("first_result").spawn(move |_| async move {
                if let Ok(completed) = waiting.await {
                    first.lock().expect("first results").insert(i, completed);
                }
            });
        }
        let start = context.current();
        if let (Some(liar), Some(change)) = (cp.governance_liar.clone(), cp.changes.first()) {
            let (ledger, keys) = (spawned[liar.node].1.clone(), spawned[liar.node].3.clone());
            let (me, sink, at_ms) = (members[liar.node].clone(), sink.clone(), change.at_ms);
            let appended = liar_appended.clone();
            context.child("governance_liar").spawn(move |context| {
                governance::liar(
                    context, start, liar, at_ms, ledger, keys, me, sink, appended,
                )
            });
        }
        let (changes, sink) = (cp.changes.clone(), sink.clone());
        context.child("operator").spawn(move |context| {
            governance::operator(context, start, changes, governance_slots, all_keys, sink)
        });
    }
    if cp.data_per_min > 0 {
        let end = context.current() + Duration::from_millis(cp.duration_ms);
        let slots: Vec<_> = honest.iter().map(|i| spawned[*i].1.clone()).collect();
        let rng = ChaCha8Rng::seed_from_u64(seed ^ 0xda7a_da7a);
        context
            .child("workload")
            .spawn(move |context| data_workload(context, slots, rng, cp.data_per_min, end));
    }
    context.sleep(Duration::from_millis(cp.duration_ms)).await;
    oracle.heal().await;
    context.sleep(Duration::from_millis(cp.quiesce_ms)).await;

    {
        let sink = sink.lock().expect("sink");
        checks.extend(sink.online_violations());
        let refused = &sink.observer::<CheckpointObserver>().refused;
        for ((node, peer), reasons) in refused {
            if Some(*node as usize) == liar_node || Some(peer) == liar_key.as_ref() {
                continue;
            }
            checks.fail(
                Invariant::HonestNeverRejected,
                format!("node {node} refused honest {peer}: {reasons:?}"),
            );
        }
        let observations = sink.observer::<LedgerObserver>();
        if !observations.equivocators.is_empty() {
            checks.fail(
                Invariant::HonestNeverRejected,
                format!(
                    "honest members flagged as equivocators: {:?}",
                    observations.equivocators
                ),
            );
        }
    }
    // The members never stop authoring heartbeats: the snapshot, every member's ops and views
    // are read again until no ledger moved while they were read (a heartbeat appended at the
    // instant of the snapshot would otherwise be in its author's view and not yet in the
    // others'), and the history they are judged against ends where they were read.
    let deadline = context.current() + SETTLE;
    let digests = |snapshot: &[Option<Status>]| -> Vec<_> {
        snapshot
            .iter()
            .map(|s| s.as_ref().map(|s| s.digest))
            .collect()
    };
    let (statuses, held, views, end_ms, archived, down) = loop {
        let within = deadline
            .duration_since(context.current())
            .unwrap_or_default();
        let snapshot = settle(&context, &slots, within, false).await;
        let end_ms = micros(context.current()) / 1000;
        let read = digests(&snapshot);
        let mut statuses = Vec::new();
        let mut held = Vec::new();
        let mut down = Vec::new();
        for (&node, (slot, status)) in honest.iter().zip(slots.iter().zip(snapshot)) {
            let mailbox = slot.lock().expect("slot").clone();
            match (status, all_ops(mailbox.clone()).await, mailbox) {
                (Some(status), Some(ops), Some(mailbox)) => {
                    statuses.push((node, status, ops.iter().map(|o| o.id()).collect()));
                    held.push(Member { node, ops, mailbox });
                }
                _ => down.push(node),
            }
        }
        // The views first (the ledgers answer while the sink is free), then the checks.
        let views = gather_views(&mut held, &members, end_ms).await;
        let again = digests(&settle(&context, &slots, Duration::ZERO, false).await);
        let archived = sink
            .lock()
            .expect("sink")
            .archive
            .as_ref()
            .map_or(0, Vec::len);
        if again == read || context.current() >= deadline {
            break (statuses, held, views, end_ms, archived, down);
        }
    };
    for node in down {
        checks.fail(
            Invariant::LedgerConverges,
            format!("node {node} is not running at the end"),
        );
    }
    // A member liar (checkpoint or DKG) may be blocked by its honest peers: its last ops may
    // name one of its own that no honest node received, and wait for ever; only those are
    // excused.
    let liar_ops = match liar_node {
        Some(liar) => authored_by(
            &statuses,
            &sink
                .lock()
                .expect("sink")
                .observer::<LedgerObserver>()
                .appended,
            liar,
        ),
        None => BTreeSet::new(),
    };
    check_final(&statuses, &[], PendingRule::Excused(&liar_ops), &mut checks);
    let compaction_note = {
        let held_ops: Vec<usize> = statuses.iter().map(|(_, s, _)| s.held).collect();
        let records: Vec<u64> = statuses.iter().map(|(_, s, _)| s.store_records).collect();
        format!(
            "compaction: ledgers hold {}..{} ops in memory and {}..{} in their stores, of {archived} authored",
            held_ops.iter().min().unwrap_or(&0),
            held_ops.iter().max().unwrap_or(&0),
            records.iter().min().unwrap_or(&0),
            records.iter().max().unwrap_or(&0),
        )
    };
    // With governance, what each honest node's DKG journal holds once the nodes are stopped
    // (nothing of the run is checked through them after this).
    let mut journals = BTreeMap::new();
    if !cp.changes.is_empty() {
        for handle in spawned.iter().filter_map(|s| s.0.as_ref()) {
            handle.abort();
        }
        for &i in &honest {
            let rounds = dkg::stored_rounds(
                context.child("journal_check").with_attribute("node", i),
                &format!("node{i}"),
                &keys[i],
            )
            .await;
            match rounds {
                Ok(rounds) => {
                    journals.insert(i, rounds);
                }
                Err(error) => checks.fail(
                    Invariant::SharesFollowCommittee,
                    format!("node {i}'s DKG journal does not open: {error}"),
                ),
            }
        }
    }
    let mut sink = sink.lock().expect("sink");
    let mut archive = sink.archive.take().unwrap_or_default();
    // What was authored when the ledgers were read (see above).
    archive.truncate(archived);
    let observations = sink.observer::<CheckpointObserver>();
    check_checkpoints(
        plan,
        &cp,
        &settings,
        &members,
        liar_node,
        observations,
        &held,
        &archive,
        &views,
        (start_ms, end_ms),
        &mut checks,
    );
    let report = report.lock().expect("liar report").clone();
    let liar = cp.liar.as_ref().map(|l| (l, &report));
    // The committees the ledgers certified (governance), judged first: their thresholds count.
    let mut governance_notes = Vec::new();
    let mut certified_committees = Vec::new();
    if !cp.changes.is_empty() {
        let all_keys: Vec<PublicKey> = identities(seed, plan.nodes + joiners.len().max(1))
            .iter()
            .map(|k| k.public_key())
            .collect();
        let honest_keys = honest.iter().map(|i| node_keys[*i].clone()).collect();
        let (note, committees) = governance::check_governance(
            &held,
            group_key(observations).as_ref(),
            cluster.committee(0).unwrap_or_default(),
            &honest_keys,
            &cp.changes,
            &all_keys,
            &mut checks,
        );
        governance_notes.push(note);
        let nodes: Vec<(usize, PublicKey)> =
            honest.iter().map(|i| (*i, node_keys[*i].clone())).collect();
        governance::check_reshares(observations, &committees, &nodes, &mut checks);
        let last: BTreeMap<usize, dkg::Completed> = honest
            .iter()
            .filter_map(|i| spawned[*i].3.current().map(|c| (*i, c)))
            .collect();
        if let Some(liar) = &cp.governance_liar {
            governance_notes.push(governance::check_liar(
                liar,
                &members[liar.node],
                &observations.governance_refused,
                *liar_appended.lock().expect("flag"),
                &mut checks,
            ));
        }
        governance::check_journals(&journals, &committees, &node_keys, &mut checks);
        for &joiner in &joiners {
            governance_notes.push(governance::check_joiner(
                joiner,
                &node_keys[joiner],
                &statuses,
                &held,
                last.get(&joiner),
                &committees,
                observations,
                &mut checks,
            ));
        }
        let first = first_results.lock().expect("first results").clone();
        for change in &cp.changes {
            if let Some(removed) = governance::removed(&change.change)
                && let Some(note) = governance::check_removed(removed, &first, &last, &mut checks)
            {
                governance_notes.push(note);
            }
        }
        if checks.covers(Invariant::KeyRecovered) {
            for crash in &plan.crashes {
                if crash.loss == Some(crate::plan::Loss::DkgJournal) {
                    governance_notes.push(governance::check_key_recovered(
                        crash.node,
                        observations,
                        last.get(&crash.node),
                        &committees,
                        &mut checks,
                    ));
                }
            }
        }
        certified_committees = committees;
    }
    // The smallest threshold of any epoch (each epoch's is its committee's quorum).
    let threshold = cluster
        .committees()
        .iter()
        .chain(&certified_committees)
        .map(|c| quorum(c.len()))
        .min()
        .unwrap_or(cluster.threshold() as usize);
    check_counting(observations, threshold, liar, &mut checks);
    let certified: Vec<_> = observations.certified.values().flatten().collect();
    let mut notes = vec![format!(
        "{} checkpoints certified by honest subjects ({} in round 2)",
        certified.len(),
        certified.iter().filter(|c| c.round == 2).count()
    )];
    let late_start = |node: usize| plan.late_starts.iter().find(|l| l.node == node);
    if let (Some(liar), Some(key)) = (&cp.liar, &liar_key) {
        // A late starter must block it too if the liar still sent hostile frames two days
        // after it started (each day's round gives it some; a starter that came after the
        // last of them may hear none).
        let last_hostile = report.last_hostile_ms.saturating_sub(start_ms);
        let heard: Vec<usize> = honest
            .iter()
            .copied()
            .filter(|n| late_start(*n).is_none_or(|l| l.at_ms + 2 * cp.interval_ms < last_hostile))
            .collect();
        check_liar(observations, liar, key, &report, &heard, &mut checks);
        notes.push(format!(
            "liar node {} {:?}: hostile={} (last at {} ms) repeats={} approvals={} proposals={} certified={} blocked_by={:?}",
            liar.node,
            liar.misbehaviour,
            report.hostile,
            report.last_hostile_ms.saturating_sub(start_ms),
            report.repeats,
            report.approvals.len(),
            report.proposals,
            report.certified,
            observations.blocked.get(key).cloned().unwrap_or_default()
        ));
    }
    if let (Some(liar), Some(key)) = (&cp.dkg_liar, &liar_key) {
        // The DKG family's invariants about it are not checked here; the honest members must
        // still agree on one group key (every certificate verifies under it) and stay live.
        // The note says what it did and who refused it.
        notes.push(format!(
            "dkg liar node {} {:?} against nodes {:?}: refused by {:?}",
            liar.node,
            liar.misbehaviour,
            liar.victims,
            sink.observer::<LedgerObserver>()
                .refused
                .iter()
                .filter(|((_, peer), _)| peer == key)
                .map(|((node, _), _)| *node)
                .collect::<BTreeSet<u32>>()
        ));
    }
    if let Some((joiner, late)) = cp.late_joiner.and_then(|j| Some((j, late_start(j)?))) {
        // What it backfilled to catch up when it started (later rounds bring the tail).
        let backfilled = sink
            .observer::<LedgerObserver>()
            .catch_up
            .get(&(joiner as u32))
            .map_or(0, |(ops, _)| *ops);
        notes.push(check_late_joiner(
            joiner,
            start_ms + late.at_ms,
            &held,
            &archive,
            backfilled,
            &mut checks,
        ));
    }
    notes.extend(governance_notes);
    notes.push(compaction_note);
    sink.notes.extend(notes);
    checks
}

/// The Data workload until `end`: an op of 1..=[`DATA_MAX_PAYLOAD`] random bytes every
/// `60_000 / per_min` ms on average, each by one of `slots` drawn at random, submitted when
/// that node runs (a refusal while it is down or recovering is what a client sees; the ledger
/// checks judge what was authored).
async fn data_workload(
    context: deterministic::Context,
    slots: Vec<Arc<Mutex<Option<cohort_protocol::ledger::Mailbox>>>>,
    mut rng: ChaCha8Rng,
    per_min: u32,
    end: std::time::SystemTime,
) {
    let mean_gap_ms = 60_000 / u64::from(per_min.max(1));
    loop {
        let gap = rng.random_range(0..=2 * mean_gap_ms);
        context.sleep(Duration::from_millis(gap)).await;
        if context.current() >= end || slots.is_empty() {
            return;
        }
        let slot = &slots[rng.random_range(0..slots.len())];
        let size = rng.random_range(1..=DATA_MAX_PAYLOAD);
        let payload: Vec<u8> = (0..size).map(|_| rng.random()).collect();
        let mailbox = slot.lock().expect("slot").clone();
        if let Some(mut mailbox) = mailbox {
            let _ = mailbox.submit(bytes::Bytes::from(payload)).await;
        }
    }
}
