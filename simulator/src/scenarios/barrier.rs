//! `barrier` and `barrier-mismatch`: the step barrier on a lossy, jittery simulated network.
//!
//! `barrier`: every node walks steps `1..=S` and shuts down with the others. Invariants:
//! - `walk-completes`: every node's engine ends `Ok` (no barrier error, no timeout);
//! - `every-node-reaches-every-step`: every node set every step and saw all members at `S`;
//! - `step-never-regresses` (online): no node's own or observed peer step ever goes down;
//! - `shutdown-completes`: every node finished the shutdown handshake;
//! - `no-hang`: every engine ends before the scenario deadline.
//!
//! `barrier-crash`: as `barrier`, while nodes crash (tasks stop, unsynced writes lost) at drawn
//! times and restart from their own storage after a drawn downtime. Invariants: `walk-completes`,
//! `every-node-reaches-every-step`, `step-never-regresses` (across restarts) and `no-hang`.
//! Shutdown completion is not required when nodes crash: a handshake that outlives its timeout
//! because peers keep crashing is reported (`shutdown_incomplete`), which the spec allows.
//!
//! `barrier-mismatch`: one node (drawn) has another protocol version or cluster hash.
//! Invariants: `mismatch-reported` (every honest node's engine fails with an error naming the odd
//! node, within [`REPORT_DEADLINE`] of simulated time), `odd-node-refused` (the odd node fails
//! too), `honest-not-blocked` (no honest node blocks another), and `no-hang`.

use super::{
    Scenario, Violation,
    life::{micros, run_all},
};
use crate::{
    plan::{FaultPlan, Mismatch, draw_crashes, draw_links, plan_rng},
    trace::Sink,
};
use cohort_protocol::{
    Cluster, PROTOCOL_VERSION, ProtocolVersion, PublicKey, Timing, engine::Task,
};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{Clock as _, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, Probability};
use rand::{Rng as _, RngExt as _};
use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Fewest and most steps a walk draws.
const STEPS: std::ops::RangeInclusive<u64> = 3..=8;
/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 2..=10;
/// Every engine must have ended by then (simulated time).
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);
/// A mismatch must be reported by every honest node within this much simulated time.
pub const REPORT_DEADLINE: Duration = Duration::from_secs(10);

pub fn plan(scenario: Scenario, seed: u64, nodes: Option<usize>) -> FaultPlan {
    let mut rng = plan_rng(seed);
    let drawn = rng.random_range(DRAWN_NODES);
    let nodes = nodes.unwrap_or(match scenario {
        Scenario::BarrierMismatch => drawn.max(2),
        _ => drawn,
    });
    let steps = rng.random_range(STEPS);
    let links = draw_links(&mut rng, nodes);
    let odd_node = (scenario == Scenario::BarrierMismatch).then(|| {
        let mismatch = if rng.random_bool(0.5) {
            Mismatch::Version
        } else {
            Mismatch::ClusterHash
        };
        (rng.random_range(0..nodes), mismatch)
    });
    let crashes = if scenario == Scenario::BarrierCrash {
        draw_crashes(&mut rng, nodes)
    } else {
        Vec::new()
    };
    FaultPlan {
        nodes,
        steps,
        links,
        odd_node,
        crashes,
        point_crashes: Vec::new(),
        bench: false,
        late_starts: Vec::new(),
        committees: Vec::new(),
        byzantine: None,
        workload: None,
        partition: None,
        ledger_liar: None,
    }
}

/// The identity keys of a run, derived from the plan RNG's stream after the plan.
pub(super) fn identities(seed: u64, nodes: usize) -> Vec<ed25519::PrivateKey> {
    let mut rng = plan_rng(seed.wrapping_add(1));
    (0..nodes)
        .map(|_| ed25519::PrivateKey::from_seed(rng.next_u64()))
        .collect()
}

pub(super) fn cluster(members: &[PublicKey], version: ProtocolVersion, timing: Timing) -> Cluster {
    let n = members.len();
    let threshold = (n - (n - 1) / 3) as u32;
    Cluster::new(members.to_vec(), threshold, version, timing).expect("valid simulated cluster")
}

pub async fn run(
    context: deterministic::Context,
    seed: u64,
    plan: &FaultPlan,
    sink: Arc<Mutex<Sink>>,
) -> Vec<Violation> {
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let honest_cluster = cluster(&members, PROTOCOL_VERSION, Timing::default());

    let oracle = network(&context, &members, &plan.links).await;

    let start = context.current();
    let clusters: Vec<Cluster> = (0..plan.nodes)
        .map(|index| match plan.odd_node {
            Some((odd, Mismatch::Version)) if odd == index => cluster(
                &members,
                ProtocolVersion {
                    major: PROTOCOL_VERSION.major,
                    minor: PROTOCOL_VERSION.minor + 1,
                },
                Timing::default(),
            ),
            Some((odd, Mismatch::ClusterHash)) if odd == index => cluster(
                &members,
                PROTOCOL_VERSION,
                Timing {
                    sync_period: Duration::from_millis(110),
                    ..Timing::default()
                },
            ),
            _ => honest_cluster.clone(),
        })
        .collect();
    let results = run_all(
        &context,
        plan,
        &keys,
        clusters,
        Task::Walk { steps: plan.steps },
        &oracle,
        &sink,
        SCENARIO_DEADLINE,
    )
    .await;
    let mut violations = Vec::new();
    let Some(results) = results else {
        let observations = &sink.lock().expect("sink").observations;
        let stuck: Vec<usize> = (0..plan.nodes)
            .filter(|i| {
                let i = *i as u32;
                !observations.walk_complete.contains(&i) && !observations.failures.contains_key(&i)
            })
            .collect();
        violations.push(Violation::new(
            "no-hang",
            format!(
                "engines still running after {SCENARIO_DEADLINE:?} of simulated time: nodes {stuck:?}"
            ),
        ));
        return violations;
    };
    let blocked = oracle.blocked().await.unwrap_or_default();
    let observations = &sink.lock().expect("sink").observations;
    violations.extend(observations.violations.iter().cloned());

    match plan.odd_node {
        None => {
            for (index, result) in results.iter().enumerate() {
                let node = index as u32;
                if let Err(error) = result {
                    violations.push(Violation::new(
                        "walk-completes",
                        format!("node {index} failed: {error}"),
                    ));
                    continue;
                }
                let set = observations.steps_set.get(&node);
                let missing: Vec<u64> = (1..=plan.steps)
                    .filter(|s| !set.is_some_and(|set| set.contains(s)))
                    .collect();
                if !missing.is_empty() || observations.all_at.get(&node) != Some(&plan.steps) {
                    violations.push(Violation::new(
                        "every-node-reaches-every-step",
                        format!(
                            "node {index} never set steps {missing:?} or saw all at {} (saw {:?})",
                            plan.steps,
                            observations.all_at.get(&node)
                        ),
                    ));
                }
                let handshake_done = observations.walk_complete.contains(&node)
                    && !observations.shutdown_incomplete.contains(&node);
                if plan.crashes.is_empty() && !handshake_done {
                    violations.push(Violation::new(
                        "shutdown-completes",
                        format!("node {index} ended without finishing its shutdown handshake"),
                    ));
                }
            }
        }
        Some((odd, _)) => {
            let odd_key = &members[odd];
            for (index, result) in results.iter().enumerate() {
                if index == odd {
                    if result.is_ok() {
                        violations.push(Violation::new(
                            "odd-node-refused",
                            format!("misconfigured node {index} completed its walk"),
                        ));
                    }
                    continue;
                }
                match result {
                    Err(error) if error.peer() == Some(odd_key) => {}
                    Err(error) => violations.push(Violation::new(
                        "mismatch-reported",
                        format!("node {index} failed without naming node {odd}: {error}"),
                    )),
                    Ok(_) => violations.push(Violation::new(
                        "mismatch-reported",
                        format!("node {index} completed its walk despite node {odd}"),
                    )),
                }
                let reported_us = observations.failures.get(&(index as u32)).map(|f| f.0);
                let start_us = micros(start);
                if reported_us
                    .is_none_or(|t| t.saturating_sub(start_us) > micros_of(REPORT_DEADLINE))
                {
                    violations.push(Violation::new(
                        "mismatch-reported",
                        format!(
                            "node {index} reported at {reported_us:?} us, later than {REPORT_DEADLINE:?}"
                        ),
                    ));
                }
            }
            for (from, to) in blocked {
                if from != *odd_key && to != *odd_key {
                    violations.push(Violation::new(
                        "honest-not-blocked",
                        format!("honest {from} blocked honest {to}"),
                    ));
                }
            }
        }
    }
    violations
}

/// The simulated network of `members` with the drawn `links`, started.
pub(crate) async fn network(
    context: &deterministic::Context,
    members: &[PublicKey],
    links: &[crate::plan::LinkPlan],
) -> simulated::Oracle<PublicKey, deterministic::Context> {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: cohort_protocol::MAX_FRAME_BYTES as u32,
            max_peers_per_set: NonZeroUsize::new(members.len()).expect("at least one node"),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        members.to_vec(),
    )
    .await;
    network.start();
    for link in links {
        oracle
            .add_link(
                members[link.from].clone(),
                members[link.to].clone(),
                Link {
                    latency: Duration::from_millis(link.latency_ms),
                    jitter: Duration::from_millis(link.jitter_ms),
                    success_rate: Probability::new(link.success_per_mille as u64, 1000)
                        .expect("per-mille within bounds"),
                },
            )
            .await
            .expect("link between known peers");
    }

    oracle
}

fn micros_of(d: Duration) -> u64 {
    d.as_micros() as u64
}
