//! Running a DKG scenario and checking its invariants (see the family's docs).

use super::{
    byzantine::Misbehaviour,
    checks::{check_absence, check_byzantine, check_log_sets, check_repairs, check_reshare},
    observer::DkgObserver,
    plan::{DkgPlan, Kind, timing},
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    scenarios::barrier::run::check_honest_not_blocked,
    trace::Sink,
    world::{Role, cluster, identities, micros, network, run_all, with_committees},
};
use cohort_protocol::{Outcome, PROTOCOL_VERSION, PublicKey, dkg::check, engine::Task};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
use rand::SeedableRng as _;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Every engine must have ended by then (simulated time).
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);
/// Random quorums the threshold check tries.
const QUORUMS_CHECKED: usize = 3;
/// How long after a misconfigured member's repair its old life's frames may still arrive (and
/// be refused): longer than any drawn link's latency and jitter.
const REPAIR_GRACE: Duration = Duration::from_secs(1);

/// Runs a DKG scenario of `kind`; reports into `checks`.
pub async fn run(
    kind: Kind,
    context: deterministic::Context,
    seed: u64,
    plan: CorePlan,
    dkg: DkgPlan,
    sink: Arc<Mutex<Sink>>,
    mut checks: Checks,
) -> Checks {
    let plan = &plan;
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = with_committees(
        cluster(&members, PROTOCOL_VERSION, timing(kind)),
        &members,
        &dkg.committees,
    );
    let last_epoch = cluster.last_epoch();
    let start_us = micros(context.current());
    let oracle = network(&context, &members, &plan.links, plan.transport).await;
    oracle.partition(&context, &plan.partitions, &sink);

    // A liar whose hellos must be refused gets another cluster definition (another hash).
    let mut clusters = vec![cluster.clone(); plan.nodes];
    if let Some(b) = &dkg.byzantine
        && b.misbehaviour == Misbehaviour::BadHello
    {
        let mut odd = *cluster.timing();
        odd.sync_period += Duration::from_millis(1);
        clusters[b.node] = cohort_protocol::Cluster::new(
            members.clone(),
            cluster.threshold(),
            PROTOCOL_VERSION,
            odd,
        )
        .expect("the odd cluster is valid");
    }
    let results = run_all(
        &context,
        plan,
        &keys,
        clusters,
        Task::Dkg,
        |index| match &dkg.byzantine {
            _ if dkg.absent.contains(&index) => Role::External,
            Some(b) if b.node == index => Role::Tampered(b.tamper(
                &keys[index],
                &members,
                &context,
                timing(kind).phase_timeout,
            )),
            _ => Role::Honest,
        },
        &oracle,
        &sink,
        SCENARIO_DEADLINE,
    )
    .await;
    // Judged whether or not every engine ended (a permanent block shows as a hang too).
    if checks.covers(Invariant::NoPermanentBlock) {
        let sink = sink.lock().expect("sink");
        check_repairs(
            plan,
            micros(context.current()),
            &dkg.absent,
            &members,
            sink.observer::<DkgObserver>(),
            &mut checks,
        );
    }
    let Some(results) = results else {
        let sink = sink.lock().expect("sink");
        let observations = sink.observer::<DkgObserver>();
        let stuck: Vec<usize> = (0..plan.nodes)
            .filter(|i| !observations.group_keys.contains_key(&(*i as u32)))
            .collect();
        checks.fail(
            Invariant::NoHang,
            format!(
                "engines still running after {SCENARIO_DEADLINE:?} of simulated time; nodes without a key: {stuck:?}"
            ),
        );
        return checks;
    };
    let blocked = oracle.blocked().await;
    let sink = sink.lock().expect("sink");
    let observations = sink.observer::<DkgObserver>();
    checks.extend(sink.online_violations());

    let byzantine = dkg.byzantine.as_ref().map(|b| b.node);
    if checks.covers(Invariant::HonestNotBlocked) {
        let liar = byzantine.map(|b| members[b].clone());
        check_honest_not_blocked(&blocked, liar.as_ref(), &mut checks);
        // A misconfigured member's faults before its repair are its own, and so are the faults
        // recorded of it until its old life's frames are gone.
        let grace_us = REPAIR_GRACE.as_micros() as u64;
        let excused = |node: u32, peer: &PublicKey, at_us: u64| {
            plan.repairs.iter().any(|r| {
                let repaired = observations
                    .repaired_us
                    .get(&(r.node as u32))
                    .copied()
                    .unwrap_or(u64::MAX);
                (r.node as u32 == node && at_us < repaired)
                    || (members[r.node] == *peer && at_us < repaired.saturating_add(grace_us))
            })
        };
        for ((node, peer), spans) in &observations.fault_spans {
            if Some(*node as usize) == byzantine || Some(peer) == liar.as_ref() {
                continue;
            }
            if let Some((at_us, _)) = spans.iter().find(|(at, _)| !excused(*node, peer, *at)) {
                checks.fail(
                    Invariant::HonestNotBlocked,
                    format!("node {node}'s barrier recorded honest {peer} as faulty at {at_us} us"),
                );
            }
        }
    }
    // Members that never start run no engine: the results are those of the others, in order.
    let running: Vec<usize> = (0..plan.nodes)
        .filter(|i| !dkg.absent.contains(i))
        .collect();
    let mut completed = Vec::new();
    for (index, result) in running.iter().copied().zip(results.iter()) {
        let Some(result) = result.as_ref().filter(|_| Some(index) != byzantine) else {
            // Whatever the liar ends with (or that it is still waiting) is its own business.
            continue;
        };
        match result {
            Ok(Outcome { dkg: Some(c), .. }) if c.epoch == last_epoch => {
                completed.push((index, c.clone()))
            }
            Ok(Outcome { dkg: Some(c), .. }) => checks.fail(
                Invariant::DkgCompletes,
                format!("node {index} ended at epoch {} of {last_epoch}", c.epoch),
            ),
            Ok(_) => checks.fail(
                Invariant::DkgCompletes,
                format!("node {index} ended without a DKG result"),
            ),
            Err(error) => checks.fail(
                Invariant::DkgCompletes,
                format!("node {index} failed: {error}"),
            ),
        }
    }
    // A player of the last epoch ends with a share: its journal is never lost here, so a
    // round finished without one (`share_lost`) is a bug of the node, not a recovery.
    for (index, c) in &completed {
        if c.share.is_none() && c.output.players().position(&members[*index]).is_some() {
            checks.fail(
                Invariant::ShareConsistent,
                format!(
                    "node {index} is a player of epoch {} but holds no share",
                    c.epoch
                ),
            );
        }
    }
    let Some((_, first)) = completed.first() else {
        return checks;
    };
    let sharing = first.output.public().clone();
    for (index, c) in &completed {
        if c.output.public().encode() != sharing.encode() {
            checks.fail(
                Invariant::SameGroupKey,
                format!(
                    "node {index} holds group key {} but node 0's is {}",
                    c.group_key_hex(),
                    first.group_key_hex()
                ),
            );
        }
        if observations.group_keys.get(&(*index as u32)) != Some(&c.group_key_hex()) {
            checks.fail(
                Invariant::SameGroupKey,
                format!(
                    "node {index} traced group key {:?}, holds {}",
                    observations.group_keys.get(&(*index as u32)),
                    c.group_key_hex()
                ),
            );
        }
    }
    check_log_sets(&cluster, byzantine, observations, &completed, &mut checks);
    if checks.covers(Invariant::MisbehaviourDetected)
        && let Some(b) = &dkg.byzantine
    {
        check_byzantine(b, plan, &cluster, &members, observations, &mut checks);
    }
    if checks.covers(Invariant::KeyUnchangedByReshare) {
        check_reshare(
            &cluster,
            byzantine,
            &dkg.absent,
            &members,
            observations,
            &completed,
            &mut checks,
        );
    }
    if checks.covers(Invariant::AbsentReported) {
        check_absence(plan, &members, start_us, observations, &mut checks);
    }
    let honest = running.len() - usize::from(byzantine.is_some());
    if completed.len() == honest && checks.is_empty() && !dkg.bench {
        let shares: Vec<_> = completed
            .iter()
            .filter_map(|(_, c)| c.share.clone())
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let message = seed.to_be_bytes();
        if let Err(failure) =
            check::threshold(&sharing, &shares, &message, QUORUMS_CHECKED, &mut rng)
        {
            let invariant = Invariant::from_name(failure.invariant)
                .expect("the threshold checks name invariants of the catalogue");
            checks.fail(invariant, failure.detail);
        }
    }
    checks
}
