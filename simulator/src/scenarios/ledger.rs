//! The ledger scenarios.
//!
//! `ledger`: n members (4..=10 drawn unless `--nodes`) run only the ledger (no ceremony) over
//! lossy, jittery links. Each member appends `Data` ops at a drawn rate for a drawn time (plus its
//! `Boot` op and a `Heartbeat` every [`HEARTBEAT`]); then every link heals (no loss) and the
//! cluster is left alone for the quiesce period, after which the invariants are checked on every
//! member's ledger.
//!
//! Invariants:
//! - `ledger-converges`: after the quiesce, every member reports the same state digest and op
//!   count, with nothing pending, and has completed boot recovery. Heartbeats go on meanwhile,
//!   so the check looks (every 20 ms, for up to 10 s) for an instant with no op in flight;
//! - `no-acked-op-lost`: every op a member acknowledged (its submit returned an id) is in every
//!   member's ledger;
//! - `honest-never-rejected`: no member refused a ledger input from another (they are all
//!   honest here), and nobody was caught equivocating;
//! - `honest-never-equivocates` (online, from the trace, across restarts): no member appended two
//!   different ops with one seq;
//! - `pending-bounded`: no member's pending buffer ever held more than its bound (checked on the
//!   final status: the bound is enforced on every insert).

use super::{
    Scenario, Violation,
    barrier::{cluster, identities, network},
    life::spawn_all,
};
use crate::{
    plan::{FaultPlan, Workload, draw_links, plan_rng},
    trace::Sink,
};
use bytes::Bytes;
use cohort_protocol::{
    PROTOCOL_VERSION, PublicKey, Timing,
    engine::Task,
    ledger::{
        OpId,
        actor::{Mailbox, Settings, Status},
        dag,
    },
};
use commonware_cryptography::Signer as _;
use commonware_p2p::simulated::{self, Link};
use commonware_runtime::{Clock as _, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::Probability;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=10;
/// Heartbeat period of the simulated members.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Quiet time after the heal before the checks.
pub const QUIESCE: Duration = Duration::from_secs(10);
/// How long after the quiesce the check waits for an instant with no op in flight.
const SETTLE: Duration = Duration::from_secs(10);
/// How often it looks.
const SETTLE_POLL: Duration = Duration::from_millis(20);
/// Largest `Data` payload the workload submits.
const MAX_PAYLOAD: usize = 256;

/// The ledger settings of simulated members: the defaults, with a faster heartbeat and digest
/// exchange so short runs exercise them.
pub fn settings() -> Settings {
    Settings {
        heartbeat: HEARTBEAT,
        anti_entropy: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        ..Settings::default()
    }
}

pub fn plan(_scenario: Scenario, seed: u64, nodes: Option<usize>) -> FaultPlan {
    let mut rng = plan_rng(seed);
    let nodes = nodes.unwrap_or_else(|| rng.random_range(DRAWN_NODES));
    let links = draw_links(&mut rng, nodes);
    let workload = Workload {
        ops_per_sec: rng.random_range(2..=10),
        duration_ms: rng.random_range(4_000..=8_000),
        quiesce_ms: QUIESCE.as_millis() as u64,
        max_payload: MAX_PAYLOAD,
    };
    FaultPlan {
        nodes,
        steps: 0,
        links,
        odd_node: None,
        crashes: Vec::new(),
        point_crashes: Vec::new(),
        bench: false,
        late_starts: Vec::new(),
        committees: Vec::new(),
        byzantine: None,
        workload: Some(workload),
    }
}

pub async fn run(
    _scenario: Scenario,
    context: deterministic::Context,
    seed: u64,
    plan: &FaultPlan,
    sink: Arc<Mutex<Sink>>,
) -> Vec<Violation> {
    let workload = plan.workload.clone().expect("ledger plans have a workload");
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = cluster(&members, PROTOCOL_VERSION, Timing::default());
    let oracle = network(&context, &members, &plan.links).await;
    let spawned = spawn_all(
        &context,
        plan,
        &keys,
        vec![cluster; plan.nodes],
        Task::Serve,
        Some(settings()),
        &oracle,
        &sink,
    );
    let slots: Vec<_> = spawned.iter().map(|(_, slot)| slot.clone()).collect();

    // The workload: each member submits Data ops at the drawn rate until the heal.
    let acked: Arc<Mutex<Vec<(usize, OpId)>>> = Arc::default();
    let start = context.current();
    let end = start + Duration::from_millis(workload.duration_ms);
    for (node, slot) in slots.iter().enumerate() {
        let slot = slot.clone();
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
                        acked.lock().expect("acked").push((node, id));
                    }
                }
            });
    }
    context.sleep_until(end).await;
    heal(&oracle, &members, plan).await;
    context
        .sleep(Duration::from_millis(workload.quiesce_ms))
        .await;

    let mut violations = Vec::new();
    {
        let observations = &sink.lock().expect("sink").observations;
        violations.extend(observations.violations.iter().cloned());
        if observations.ledger_rejected > 0 || !observations.equivocators.is_empty() {
            violations.push(Violation::new(
                "honest-never-rejected",
                format!(
                    "{} ledger inputs refused, equivocators flagged: {:?}",
                    observations.ledger_rejected, observations.equivocators
                ),
            ));
        }
    }
    // Heartbeats go on during the quiesce: wait (bounded) for an instant at which no op is in
    // flight, i.e. every member reports one digest.
    let settle_end = context.current() + SETTLE;
    let snapshot = loop {
        let mut snapshot = Vec::with_capacity(slots.len());
        for slot in &slots {
            let mailbox = slot.lock().expect("slot").clone();
            snapshot.push(match mailbox {
                Some(mut mailbox) => mailbox.status().await.ok(),
                None => None,
            });
        }
        let digests: BTreeSet<_> = snapshot.iter().flatten().map(|s| s.digest).collect();
        if digests.len() <= 1 || context.current() >= settle_end {
            break snapshot;
        }
        context.sleep(SETTLE_POLL).await;
    };
    let mut statuses: Vec<(usize, Status, BTreeSet<OpId>)> = Vec::new();
    for (node, (slot, status)) in slots.iter().zip(snapshot).enumerate() {
        let mailbox = slot.lock().expect("slot").clone();
        match (status, op_ids(mailbox).await) {
            (Some(status), Some(ids)) => statuses.push((node, status, ids)),
            _ => violations.push(Violation::new(
                "ledger-converges",
                format!("node {node} is not running at the end"),
            )),
        }
    }
    check_final(&statuses, &acked.lock().expect("acked"), &mut violations);
    violations
}

/// Every op id a member holds.
async fn op_ids(mailbox: Option<Mailbox>) -> Option<BTreeSet<OpId>> {
    let mut mailbox = mailbox?;
    let mut ids = BTreeSet::new();
    let mut after = 0;
    loop {
        let (ops, next) = mailbox.ops(after, 4096).await.ok()?;
        if ops.is_empty() {
            return Some(ids);
        }
        ids.extend(ops.iter().map(|o| o.id()));
        after = next;
    }
}

/// `ledger-converges`, `no-acked-op-lost`, `pending-bounded` over the final statuses.
fn check_final(
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    acked: &[(usize, OpId)],
    violations: &mut Vec<Violation>,
) {
    let Some((_, reference, _)) = statuses.first() else {
        return;
    };
    for (node, status, ids) in statuses {
        if status.digest != reference.digest || status.ops != reference.ops {
            violations.push(Violation::new(
                "ledger-converges",
                format!(
                    "node {node} holds {} ops (digest {}), node {} holds {} (digest {})",
                    status.ops,
                    hex(status.digest.as_ref()),
                    statuses[0].0,
                    reference.ops,
                    hex(reference.digest.as_ref())
                ),
            ));
        }
        if status.pending != 0 || !status.boot_recovered {
            violations.push(Violation::new(
                "ledger-converges",
                format!(
                    "node {node} still has {} pending ops (boot recovered: {})",
                    status.pending, status.boot_recovered
                ),
            ));
        }
        if status.pending > dag::DEFAULT_MAX_PENDING {
            violations.push(Violation::new(
                "pending-bounded",
                format!("node {node} holds {} pending ops", status.pending),
            ));
        }
        let lost: Vec<&(usize, OpId)> = acked.iter().filter(|(_, id)| !ids.contains(id)).collect();
        if let Some((author, id)) = lost.first() {
            violations.push(Violation::new(
                "no-acked-op-lost",
                format!(
                    "node {node} lacks {} acknowledged ops, e.g. {} of node {author}",
                    lost.len(),
                    hex(&id.as_ref()[..8])
                ),
            ));
        }
    }
}

/// Every link of the plan again, with its latency but no loss.
async fn heal(
    oracle: &simulated::Oracle<PublicKey, deterministic::Context>,
    members: &[PublicKey],
    plan: &FaultPlan,
) {
    for link in &plan.links {
        let (from, to) = (members[link.from].clone(), members[link.to].clone());
        let _ = oracle.remove_link(from.clone(), to.clone()).await;
        oracle
            .add_link(
                from,
                to,
                Link {
                    latency: Duration::from_millis(link.latency_ms),
                    jitter: Duration::from_millis(link.jitter_ms),
                    success_rate: Probability::new(1, 1).expect("certain delivery"),
                },
            )
            .await
            .expect("link between known peers");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
