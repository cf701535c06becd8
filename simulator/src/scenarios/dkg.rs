//! `dkg` and `dkg-crash`: the epoch 0 DKG on a lossy, jittery simulated network.
//!
//! `dkg`: n members (4..=16 drawn unless `--nodes`), threshold `t = N3f1::quorum(n)`, run the
//! ceremony and the shutdown handshake. `dkg-crash`: the same while members crash at drawn times
//! and at drawn crash points (right after a journal sync, e.g. between persisting a dealing and
//! sending its ack) and restart from their own storage.
//!
//! Invariants:
//! - `dkg-completes`: every node's engine ends `Ok` with an epoch 0 result: restarted nodes too;
//! - `same-group-key`: every node holds the same public polynomial (and so group key), and the
//!   group key every node traced on finishing is that one;
//! - `share-consistent`, `threshold-recovers`, `fewer-than-t-fail`: see
//!   `cohort_protocol::dkg::check::threshold`, over a message drawn from the seed;
//! - `one-polynomial-per-dealer`, `one-ack-per-dealer` (online, from the trace, across restarts);
//! - `no-hang`: every engine ends before the scenario deadline.

use super::{
    Scenario, Violation,
    barrier::{cluster, identities, network},
    life::run_all,
};
use crate::{
    plan::{FaultPlan, draw_crashes, draw_links, draw_point_crashes, plan_rng},
    trace::Sink,
};
use cohort_protocol::{Outcome, PROTOCOL_VERSION, PublicKey, Timing, dkg::check, engine::Task};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::deterministic;
use rand::{RngExt as _, SeedableRng as _};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=16;
/// Every engine must have ended by then (simulated time).
pub const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);
/// Random quorums the threshold check tries.
const QUORUMS_CHECKED: usize = 3;

pub fn plan(scenario: Scenario, seed: u64, nodes: Option<usize>) -> FaultPlan {
    let mut rng = plan_rng(seed);
    let drawn = rng.random_range(DRAWN_NODES);
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let (crashes, point_crashes) = if scenario == Scenario::DkgCrash {
        let crashes = draw_crashes(&mut rng, nodes);
        let crashed: Vec<usize> = crashes.iter().map(|c| c.node).collect();
        // Crash points per node: the seed, one per dealing accepted, the log.
        let points = draw_point_crashes(&mut rng, nodes, &crashed, nodes as u64 + 2);
        (crashes, points)
    } else {
        (Vec::new(), Vec::new())
    };
    FaultPlan {
        nodes,
        steps: 0,
        links,
        odd_node: None,
        crashes,
        point_crashes,
        bench: false,
    }
}

pub async fn run(
    context: deterministic::Context,
    seed: u64,
    plan: &FaultPlan,
    sink: Arc<Mutex<Sink>>,
) -> Vec<Violation> {
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = cluster(&members, PROTOCOL_VERSION, Timing::default());
    let oracle = network(&context, &members, &plan.links).await;

    let results = run_all(
        &context,
        plan,
        &keys,
        vec![cluster; plan.nodes],
        Task::Dkg,
        &oracle,
        &sink,
        SCENARIO_DEADLINE,
    )
    .await;
    let mut violations = Vec::new();
    let Some(results) = results else {
        let observations = &sink.lock().expect("sink").observations;
        let stuck: Vec<usize> = (0..plan.nodes)
            .filter(|i| !observations.group_keys.contains_key(&(*i as u32)))
            .collect();
        violations.push(Violation::new(
            "no-hang",
            format!(
                "engines still running after {SCENARIO_DEADLINE:?} of simulated time; nodes without a key: {stuck:?}"
            ),
        ));
        return violations;
    };
    let observations = &sink.lock().expect("sink").observations;
    violations.extend(observations.violations.iter().cloned());

    let mut completed = Vec::new();
    for (index, result) in results.iter().enumerate() {
        match result {
            Ok(Outcome { dkg: Some(c), .. }) => completed.push((index, c.clone())),
            Ok(_) => violations.push(Violation::new(
                "dkg-completes",
                format!("node {index} ended without a DKG result"),
            )),
            Err(error) => violations.push(Violation::new(
                "dkg-completes",
                format!("node {index} failed: {error}"),
            )),
        }
    }
    let Some((_, first)) = completed.first() else {
        return violations;
    };
    let sharing = first.output.public().clone();
    for (index, c) in &completed {
        if c.output.public().encode() != sharing.encode() {
            violations.push(Violation::new(
                "same-group-key",
                format!(
                    "node {index} holds group key {} but node 0's is {}",
                    c.group_key_hex(),
                    first.group_key_hex()
                ),
            ));
        }
        if observations.group_keys.get(&(*index as u32)) != Some(&c.group_key_hex()) {
            violations.push(Violation::new(
                "same-group-key",
                format!(
                    "node {index} traced group key {:?}, holds {}",
                    observations.group_keys.get(&(*index as u32)),
                    c.group_key_hex()
                ),
            ));
        }
    }
    if completed.len() == plan.nodes && violations.is_empty() && !plan.bench {
        let shares: Vec<_> = completed
            .iter()
            .filter_map(|(_, c)| c.share.clone())
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let message = seed.to_be_bytes();
        if let Err(failure) =
            check::threshold(&sharing, &shares, &message, QUORUMS_CHECKED, &mut rng)
        {
            violations.push(Violation::new(failure.invariant, failure.detail));
        }
    }
    violations
}
