//! Running a barrier scenario and checking its invariants (see the family's docs).

use super::{liar::BarrierLiar, observer::BarrierObserver, plan::BarrierPlan};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    trace::Sink,
    world::{
        NetRegistrar, QUOTA_PER_SECOND, Role, cluster, identities, micros, misconfigured, network,
        run_all,
    },
};
use cohort_protocol::{
    Cluster, PROTOCOL_VERSION, PublicKey, Timing,
    channels::{Channel, Registrar as _},
    engine::{EngineError, Outcome, Task},
};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// Every engine must have ended by then (simulated time).
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);
/// A mismatch must be reported by every honest node within this much simulated time.
pub const REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// Runs a barrier scenario; reports into `checks`.
pub async fn run(
    context: deterministic::Context,
    seed: u64,
    plan: CorePlan,
    barrier: BarrierPlan,
    sink: Arc<Mutex<Sink>>,
    mut checks: Checks,
) -> Checks {
    let plan = &plan;
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let honest_cluster = cluster(&members, PROTOCOL_VERSION, Timing::default());

    let oracle = network(&context, &members, &plan.links, plan.transport).await;
    oracle.partition(&context, &plan.partitions, &sink);

    let start = context.current();
    let clusters: Vec<Cluster> = (0..plan.nodes)
        .map(|index| match barrier.odd_node {
            Some((odd, mismatch)) if odd == index => misconfigured(&honest_cluster, mismatch),
            _ => honest_cluster.clone(),
        })
        .collect();
    let liar = barrier.liar.as_ref().map(|l| l.node);
    if let Some(l) = &barrier.liar {
        let mut registrar = NetRegistrar {
            node: oracle.node(&members[l.node]),
            quota: Quota::per_second(NZU32!(QUOTA_PER_SECOND)),
            hook: None,
        };
        let channel = registrar.register(Channel::Barrier).await;
        let (l, key, cluster) = (l.clone(), keys[l.node].clone(), honest_cluster.clone());
        context
            .child("liar")
            .spawn(move |context| super::liar::run(context, l, key, cluster, channel));
    }
    let results = run_all(
        &context,
        plan,
        &keys,
        clusters,
        Task::Walk {
            steps: barrier.steps,
        },
        |index| {
            if Some(index) == liar {
                Role::External
            } else {
                Role::Honest
            }
        },
        &oracle,
        &sink,
        SCENARIO_DEADLINE,
    )
    .await;
    let Some(results) = results else {
        let sink = sink.lock().expect("sink");
        let observations = sink.observer::<BarrierObserver>();
        let stuck: Vec<usize> = (0..plan.nodes)
            .filter(|i| Some(*i) != liar)
            .filter(|i| {
                let i = *i as u32;
                !observations.walk_complete.contains(&i) && !observations.failures.contains_key(&i)
            })
            .collect();
        checks.fail(
            Invariant::NoHang,
            format!(
                "engines still running after {SCENARIO_DEADLINE:?} of simulated time: nodes {stuck:?}"
            ),
        );
        return checks;
    };
    let blocked = oracle.blocked().await;
    let sink = sink.lock().expect("sink");
    let observations = sink.observer::<BarrierObserver>();
    checks.extend(sink.online_violations());
    if let Some(l) = &barrier.liar {
        check_liar(
            l,
            &members,
            &results,
            &blocked,
            observations,
            start,
            &mut checks,
        );
        return checks;
    }
    // Every other barrier node is honest: each has a result.
    let results: Vec<_> = results.into_iter().flatten().collect();

    match barrier.odd_node {
        None => {
            for (index, result) in results.iter().enumerate() {
                let node = index as u32;
                if let Err(error) = result {
                    checks.fail(
                        Invariant::WalkCompletes,
                        format!("node {index} failed: {error}"),
                    );
                    continue;
                }
                let set = observations.steps_set.get(&node);
                let missing: Vec<u64> = (1..=barrier.steps)
                    .filter(|s| !set.is_some_and(|set| set.contains(s)))
                    .collect();
                if !missing.is_empty() || observations.all_at.get(&node) != Some(&barrier.steps) {
                    checks.fail(
                        Invariant::EveryNodeReachesEveryStep,
                        format!(
                            "node {index} never set steps {missing:?} or saw all at {} (saw {:?})",
                            barrier.steps,
                            observations.all_at.get(&node)
                        ),
                    );
                }
                let handshake_done = observations.walk_complete.contains(&node)
                    && !observations.shutdown_incomplete.contains(&node);
                if checks.covers(Invariant::ShutdownCompletes) && !handshake_done {
                    checks.fail(
                        Invariant::ShutdownCompletes,
                        format!("node {index} ended without finishing its shutdown handshake"),
                    );
                }
            }
        }
        Some((odd, _)) => {
            let odd_key = &members[odd];
            for (index, result) in results.iter().enumerate() {
                if index == odd {
                    if result.is_ok() {
                        checks.fail(
                            Invariant::OddNodeRefused,
                            format!("misconfigured node {index} completed its walk"),
                        );
                    }
                    continue;
                }
                match result {
                    Err(error) if error.peer() == Some(odd_key) => {}
                    Err(error) => checks.fail(
                        Invariant::MismatchReported,
                        format!("node {index} failed without naming node {odd}: {error}"),
                    ),
                    Ok(_) => checks.fail(
                        Invariant::MismatchReported,
                        format!("node {index} completed its walk despite node {odd}"),
                    ),
                }
                let reported_us = observations.failures.get(&(index as u32)).map(|f| f.0);
                let start_us = micros(start);
                if reported_us
                    .is_none_or(|t| t.saturating_sub(start_us) > micros_of(REPORT_DEADLINE))
                {
                    checks.fail(
                        Invariant::MismatchReported,
                        format!(
                            "node {index} reported at {reported_us:?} us, later than {REPORT_DEADLINE:?}"
                        ),
                    );
                }
            }
            check_honest_not_blocked(&blocked, Some(odd_key), &mut checks);
        }
    }
    checks
}

/// `barrier-liar-reported` and `honest-not-blocked` of `barrier-byzantine`.
fn check_liar(
    liar: &BarrierLiar,
    members: &[PublicKey],
    results: &[Option<Result<Outcome, EngineError>>],
    blocked: &[(PublicKey, PublicKey)],
    observations: &BarrierObserver,
    start: SystemTime,
    checks: &mut Checks,
) {
    let liar_key = &members[liar.node];
    for (index, result) in results.iter().enumerate() {
        if index == liar.node {
            continue;
        }
        match result {
            Some(Err(error)) if error.peer() == Some(liar_key) => {}
            Some(Err(error)) => checks.fail(
                Invariant::BarrierLiarReported,
                format!(
                    "node {index} failed without naming liar {}: {error}",
                    liar.node
                ),
            ),
            Some(Ok(_)) => checks.fail(
                Invariant::BarrierLiarReported,
                format!("node {index} completed its walk despite liar {}", liar.node),
            ),
            None => checks.fail(
                Invariant::BarrierLiarReported,
                format!("node {index} has no result"),
            ),
        }
        let reported_us = observations.failures.get(&(index as u32)).map(|f| f.0);
        if reported_us.is_none_or(|t| t.saturating_sub(micros(start)) > micros_of(REPORT_DEADLINE))
        {
            checks.fail(
                Invariant::BarrierLiarReported,
                format!(
                    "node {index} reported at {reported_us:?} us, later than {REPORT_DEADLINE:?}"
                ),
            );
        }
        let blocks_liar = blocked
            .iter()
            .any(|(from, to)| *from == members[index] && to == liar_key);
        if liar.misbehaviour.breaks_step_rules() && !blocks_liar {
            checks.fail(
                Invariant::BarrierLiarReported,
                format!(
                    "node {index} did not block liar {} ({:?} breaks the step rules)",
                    liar.node, liar.misbehaviour
                ),
            );
        }
    }
    check_honest_not_blocked(blocked, Some(liar_key), checks);
}

/// `honest-not-blocked` over the transport's blocks at the end: no pair of honest nodes (every
/// node but `odd`, the misconfigured or lying one) where one blocks the other.
pub fn check_honest_not_blocked(
    blocked: &[(PublicKey, PublicKey)],
    odd: Option<&PublicKey>,
    checks: &mut Checks,
) {
    for (from, to) in blocked {
        if Some(from) != odd && Some(to) != odd {
            checks.fail(
                Invariant::HonestNotBlocked,
                format!("honest {from} blocked honest {to}"),
            );
        }
    }
}

fn micros_of(d: Duration) -> u64 {
    d.as_micros() as u64
}
