//! Running a barrier scenario and checking its invariants (see the family's docs).

use super::{observer::BarrierObserver, plan::BarrierPlan};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    trace::Sink,
    world::{Role, cluster, identities, micros, misconfigured, network, run_all},
};
use cohort_protocol::{Cluster, PROTOCOL_VERSION, PublicKey, Timing, engine::Task};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
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

    let start = context.current();
    let clusters: Vec<Cluster> = (0..plan.nodes)
        .map(|index| match barrier.odd_node {
            Some((odd, mismatch)) if odd == index => misconfigured(&honest_cluster, mismatch),
            _ => honest_cluster.clone(),
        })
        .collect();
    let results = run_all(
        &context,
        plan,
        &keys,
        clusters,
        Task::Walk {
            steps: barrier.steps,
        },
        |_| Role::Honest,
        &oracle,
        &sink,
        SCENARIO_DEADLINE,
    )
    .await;
    let Some(results) = results else {
        let sink = sink.lock().expect("sink");
        let observations = sink.observer::<BarrierObserver>();
        let stuck: Vec<usize> = (0..plan.nodes)
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
    // Every barrier node is honest: each has a result.
    let results: Vec<_> = results.into_iter().flatten().collect();
    let blocked = oracle.blocked().await;
    let sink = sink.lock().expect("sink");
    let observations = sink.observer::<BarrierObserver>();
    checks.extend(sink.online_violations());

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
