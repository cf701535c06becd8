//! The DKG scenarios (`dkg`, `dkg-crash`, `dkg-absent`, `dkg-byzantine`, `reshare`) on a lossy,
//! jittery simulated network.
//!
//! `dkg`: n members (4..=16 drawn unless `--nodes`), threshold `t = N3f1::quorum(n)`, run the
//! ceremony and the shutdown handshake. `dkg-crash`: the same while members crash at drawn times
//! and at drawn crash points (right after a journal sync, e.g. between persisting a dealing and
//! sending its ack) and restart from their own storage, with a phase timeout
//! ([`CRASH_PHASE_TIMEOUT`]) about as long as an outage, so attempts also fail and are retried
//! around the crashes. `dkg-absent`: `f + 1` members (so fewer
//! than `t` are live) start only after 2.5 to 4 phase timeouts (a shorter phase timeout,
//! [`ABSENT_PHASE_TIMEOUT`], keeps the run short). `dkg-byzantine`: as `dkg`, with one member
//! lying on the DKG channel (see [`crate::byzantine`]; the misbehaviour, the liar and its victims
//! are drawn) while members crash and restart as in `dkg-crash`. `reshare`: nodes `0..k` (k = 4..=14) run
//! epoch 0 while nodes `k` and `k + 1` observe it; epoch 1 reshares the key to a committee where
//! node `k` replaces a drawn member and node `k + 1` is added; members crash and restart as in
//! `dkg-crash` (so some restart between the epochs, or in epoch 1 with epoch 0 loaded).
//!
//! Invariants:
//! - `dkg-completes`: every node's engine ends `Ok` with an epoch 0 result: restarted nodes too;
//! - `same-group-key`: every node holds the same public polynomial (and so group key), and the
//!   group key every node traced on finishing is that one;
//! - `share-consistent`, `threshold-recovers`, `fewer-than-t-fail`: see
//!   `cohort_protocol::dkg::check::threshold`, over a message drawn from the seed;
//! - `one-polynomial-per-dealer`, `one-ack-per-dealer` (online, from the trace, across restarts);
//! - `no-hang`: every engine ends before the scenario deadline.
//! - `misbehaviour-detected` (`dkg-byzantine`): every victim refused the liar's input for what it
//!   is (an invalid dealing, an invalid ack, an undecodable frame; two dealings are each valid
//!   alone, so there only the outcome is checked); `honest-never-muted`: no honest member muted
//!   another; and every invariant above holds over the honest members (the liar is left out);
//! - `key-unchanged-by-reshare` (`reshare`): every node finishes every epoch, and the group key
//!   it reports for each is epoch 0's; `shares-follow-committee`: after the reshare exactly the
//!   new committee's members hold shares (the replaced member holds none, the newcomers do), and
//!   the threshold checks run over the new committee's shares;
//! - `absent-attempt-fails` (`dkg-absent`): while the late members are away, every live member's
//!   first attempt (round 0) fails within a phase timeout and a margin of the start (no hang), at
//!   least one of them with a deadline error naming a late member (the others may follow it to
//!   the next round before their own deadline); and `absent-later-attempt-succeeds`: once they
//!   come, the ceremony finishes in a later round (with `dkg-completes` and the key checks
//!   above).

use super::{
    Scenario, Violation,
    barrier::{cluster, identities, network},
    life::{micros, run_all},
};
use crate::{
    byzantine::{Byzantine, Misbehaviour},
    plan::{
        FaultPlan, LateStart, draw_crashes, draw_distinct, draw_links, draw_point_crashes, plan_rng,
    },
    trace::Sink,
};
use cohort_protocol::{Outcome, PROTOCOL_VERSION, PublicKey, Timing, dkg::check, engine::Task};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
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
/// The phase timeout of `dkg-absent`.
pub const ABSENT_PHASE_TIMEOUT: Duration = Duration::from_secs(5);
/// The phase timeout of `dkg-crash`.
pub const CRASH_PHASE_TIMEOUT: Duration = Duration::from_secs(3);
/// How late an attempt's failure may be reported after its phase timeout ran out.
const FAILURE_MARGIN: Duration = Duration::from_secs(2);

fn timing(scenario: Scenario) -> Timing {
    match scenario {
        Scenario::DkgAbsent => Timing {
            phase_timeout: ABSENT_PHASE_TIMEOUT,
            ..Timing::default()
        },
        // Outages (up to 3 s) about as long as a phase: some attempts fail and are retried
        // while members crash and restart, which is where abandoning a round must stay safe.
        Scenario::DkgCrash | Scenario::Reshare | Scenario::DkgByzantine => Timing {
            phase_timeout: CRASH_PHASE_TIMEOUT,
            ..Timing::default()
        },
        _ => Timing::default(),
    }
}

pub fn plan(scenario: Scenario, seed: u64, nodes: Option<usize>) -> FaultPlan {
    let mut rng = plan_rng(seed);
    let drawn = match scenario {
        // Epoch 0's committee of 4..=14, plus the two newcomers of epoch 1.
        Scenario::Reshare => rng.random_range(6..=16),
        _ => rng.random_range(DRAWN_NODES),
    };
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let (crashes, point_crashes) = if matches!(
        scenario,
        Scenario::DkgCrash | Scenario::Reshare | Scenario::DkgByzantine
    ) {
        let crashes = draw_crashes(&mut rng, nodes);
        let crashed: Vec<usize> = crashes.iter().map(|c| c.node).collect();
        // Crash points per node and epoch: the seed, one per dealing accepted, the log.
        let epochs = if scenario == Scenario::Reshare { 2 } else { 1 };
        let points = draw_point_crashes(&mut rng, nodes, &crashed, epochs * (nodes as u64 + 2));
        (crashes, points)
    } else {
        (Vec::new(), Vec::new())
    };
    let late_starts = if scenario == Scenario::DkgAbsent {
        // f + 1 late members: t - 1 live, one short of a quorum.
        let late = (nodes - 1) / 3 + 1;
        let all: Vec<usize> = (0..nodes).collect();
        let chosen = draw_distinct(&mut rng, &all, late);
        let phase = ABSENT_PHASE_TIMEOUT.as_millis() as u64;
        chosen
            .into_iter()
            .map(|node| LateStart {
                node,
                at_ms: rng.random_range(phase * 5 / 2..=phase * 4),
            })
            .collect()
    } else {
        Vec::new()
    };
    let byzantine = (scenario == Scenario::DkgByzantine).then(|| {
        let node = rng.random_range(0..nodes);
        let misbehaviour = Misbehaviour::ALL[rng.random_range(0..Misbehaviour::ALL.len())];
        let others: Vec<usize> = (0..nodes).filter(|i| *i != node).collect();
        let victims = if misbehaviour == Misbehaviour::Garbage {
            others
        } else {
            // 1..=f victims (more would only make the dealer reveal too many and be dropped).
            let count = rng.random_range(1..=((nodes - 1) / 3).max(1));
            draw_distinct(&mut rng, &others, count)
        };
        Byzantine {
            node,
            misbehaviour,
            victims,
            seed: rng.random(),
        }
    });
    let committees = if scenario == Scenario::Reshare {
        // Nodes 0..k form epoch 0's committee; epoch 1 replaces a drawn one of them with node
        // k and adds node k + 1.
        let k = nodes - 2;
        let replaced = rng.random_range(0..k);
        let first: Vec<usize> = (0..k).collect();
        let second: Vec<usize> = (0..nodes).filter(|i| *i != replaced).collect();
        vec![first, second]
    } else {
        Vec::new()
    };
    FaultPlan {
        nodes,
        steps: 0,
        links,
        odd_node: None,
        crashes,
        point_crashes,
        bench: false,
        late_starts,
        committees,
        byzantine,
        workload: None,
        partition: None,
        ledger_liar: None,
    }
}

pub async fn run(
    scenario: Scenario,
    context: deterministic::Context,
    seed: u64,
    plan: &FaultPlan,
    sink: Arc<Mutex<Sink>>,
) -> Vec<Violation> {
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let mut cluster = cluster(&members, PROTOCOL_VERSION, timing(scenario));
    if !plan.committees.is_empty() {
        let committees = plan
            .committees
            .iter()
            .map(|c| c.iter().map(|i| members[*i].clone()).collect())
            .collect();
        cluster = cluster
            .with_committees(committees)
            .expect("drawn committees are valid");
    }
    let last_epoch = cluster.last_epoch();
    let start_us = micros(context.current());
    let oracle = network(&context, &members, &plan.links).await;

    let results = run_all(
        &context,
        plan,
        &keys,
        vec![cluster.clone(); plan.nodes],
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

    let byzantine = plan.byzantine.as_ref().map(|b| b.node);
    let mut completed = Vec::new();
    for (index, result) in results.iter().enumerate() {
        if Some(index) == byzantine {
            // Whatever the liar ends with is its own business.
            continue;
        }
        match result {
            Ok(Outcome { dkg: Some(c), .. }) if c.epoch == last_epoch => {
                completed.push((index, c.clone()))
            }
            Ok(Outcome { dkg: Some(c), .. }) => violations.push(Violation::new(
                "dkg-completes",
                format!("node {index} ended at epoch {} of {last_epoch}", c.epoch),
            )),
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
    if let Some(b) = &plan.byzantine {
        check_byzantine(b, &members, observations, &mut violations);
    }
    if last_epoch > 0 {
        check_reshare(
            &cluster,
            &members,
            observations,
            &completed,
            &mut violations,
        );
    }
    if !plan.late_starts.is_empty() {
        check_absence(
            plan,
            &members,
            start_us,
            observations,
            &completed,
            &mut violations,
        );
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

/// `absent-attempt-fails` and `absent-later-attempt-succeeds` (see the module docs).
fn check_absence(
    plan: &FaultPlan,
    members: &[PublicKey],
    start_us: u64,
    observations: &crate::trace::Observations,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    violations: &mut Vec<Violation>,
) {
    let first_back = plan.late_starts.iter().map(|l| l.at_ms).min().unwrap_or(0);
    let late: Vec<String> = plan
        .late_starts
        .iter()
        .map(|l| members[l.node].to_string())
        .collect();
    let bound_us = (ABSENT_PHASE_TIMEOUT + FAILURE_MARGIN).as_micros() as u64;
    for node in 0..plan.nodes {
        if plan.late_starts.iter().any(|l| l.node == node) {
            continue;
        }
        let failures = observations
            .attempt_failures
            .get(&(node as u32))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match failures.first() {
            None => violations.push(Violation::new(
                "absent-attempt-fails",
                format!("live node {node} never reported a failed attempt"),
            )),
            Some((t_us, round, error)) => {
                let after = t_us.saturating_sub(start_us);
                if after > bound_us || after > first_back * 1000 {
                    violations.push(Violation::new(
                        "absent-attempt-fails",
                        format!(
                            "live node {node}'s first attempt failed {after} us into the run (bound {bound_us} us, first late start {first_back} ms)"
                        ),
                    ));
                }
                if *round != 0 {
                    violations.push(Violation::new(
                        "absent-attempt-fails",
                        format!("live node {node}'s first failure is of round {round}: {error}"),
                    ));
                }
            }
        }
    }
    // Someone's own deadline ended round 0, naming a late member (the others may have followed
    // it rather than wait for their own).
    let named = observations.attempt_failures.values().any(|failures| {
        failures.first().is_some_and(|(_, round, error)| {
            *round == 0
                && error.contains("missed its deadline")
                && late.iter().any(|k| error.contains(k.as_str()))
        })
    });
    if !named {
        violations.push(Violation::new(
            "absent-attempt-fails",
            "no member's round 0 failed with a deadline error naming a late member",
        ));
    }
    for (index, c) in completed {
        if c.round == 0 {
            violations.push(Violation::new(
                "absent-later-attempt-succeeds",
                format!("node {index} finished round 0, which could not have had a quorum"),
            ));
        }
    }
}

/// `key-unchanged-by-reshare` and `shares-follow-committee` (see the module docs).
fn check_reshare(
    cluster: &cohort_protocol::Cluster,
    members: &[PublicKey],
    observations: &crate::trace::Observations,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    violations: &mut Vec<Violation>,
) {
    // Every epoch every node finished reported the key of the first epoch-0 finisher.
    let Some(((first_node, _), key)) = observations.epoch_keys.iter().find(|((_, e), _)| *e == 0)
    else {
        violations.push(Violation::new(
            "key-unchanged-by-reshare",
            "no node traced finishing epoch 0",
        ));
        return;
    };
    for ((node, epoch), other) in &observations.epoch_keys {
        if other != key {
            violations.push(Violation::new(
                "key-unchanged-by-reshare",
                format!(
                    "node {node} finished epoch {epoch} with group key {other}, node {first_node} finished epoch 0 with {key}"
                ),
            ));
        }
    }
    for node in 0..members.len() as u32 {
        for epoch in 0..=cluster.last_epoch() {
            if !observations.epoch_keys.contains_key(&(node, epoch)) {
                violations.push(Violation::new(
                    "dkg-completes",
                    format!("node {node} never traced finishing epoch {epoch}"),
                ));
            }
        }
    }
    let committee = cluster.committee(cluster.last_epoch()).unwrap_or_default();
    for (index, c) in completed {
        let player = committee.contains(&members[*index]);
        if c.share.is_some() != player {
            violations.push(Violation::new(
                "shares-follow-committee",
                format!(
                    "node {index} (in the last committee: {player}) holds a share: {}",
                    c.share.is_some()
                ),
            ));
        }
    }
}

/// `misbehaviour-detected` and `honest-never-muted` (see the module docs).
fn check_byzantine(
    byzantine: &Byzantine,
    members: &[PublicKey],
    observations: &crate::trace::Observations,
    violations: &mut Vec<Violation>,
) {
    let liar = &members[byzantine.node];
    // What each victim must have refused from the liar (two dealings are each valid alone: the
    // victims cannot tell, the liar's log settles it).
    let expected = match byzantine.misbehaviour {
        Misbehaviour::BadShares => Some("invalid dealing"),
        Misbehaviour::WrongAck => Some("invalid ack"),
        Misbehaviour::Garbage => Some("undecodable"),
        Misbehaviour::TwoDealings => None,
    };
    if let Some(expected) = expected {
        for victim in &byzantine.victims {
            let refused = observations
                .refused
                .get(&(*victim as u32, liar.clone()))
                .is_some_and(|reasons| reasons.iter().any(|r| r.contains(expected)));
            if !refused {
                violations.push(Violation::new(
                    "misbehaviour-detected",
                    format!(
                        "victim node {victim} never refused an input of byzantine node {} as {expected:?}",
                        byzantine.node
                    ),
                ));
            }
        }
    }
    for ((node, peer), reasons) in &observations.refused {
        if *node as usize == byzantine.node || peer == liar {
            continue;
        }
        if let Some(reason) = reasons.iter().find(|r| r.contains("muted")) {
            violations.push(Violation::new(
                "honest-never-muted",
                format!("node {node} muted honest member {peer}: {reason}"),
            ));
        }
    }
}
