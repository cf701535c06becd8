//! The ledger scenarios.
//!
//! `ledger`: n members (4..=10 drawn unless `--nodes`) run only the ledger (no ceremony) over
//! lossy, jittery links. Each member appends `Data` ops at a drawn rate for a drawn time (plus its
//! `Boot` op and a `Heartbeat` every [`HEARTBEAT`]); then every link heals (no loss) and the
//! cluster is left alone for the quiesce period, after which the invariants are checked on every
//! member's ledger.
//!
//! `ledger-crash`: the same while members crash at drawn times during the workload and at drawn
//! crash points (right after the op store synced, before the ops are broadcast or acknowledged),
//! losing what they had not synced, and restart from their own storage.
//!
//! `ledger-partition`: a drawn half of the members is cut off from the other half for the whole
//! workload; both halves append independently, then the heal joins them.
//!
//! `late-joiner`: before anything runs, the members that start on time hold a ledger of
//! [`PRELOAD_OPS`] ops (written to their op stores); one drawn member starts 1 to 3 s late with
//! an empty store while the others append, and must catch up through many backfill pages.
//!
//! `ledger-byzantine`: as `ledger`, with one drawn member replaced by a liar running no honest
//! engine (see [`crate::ledger_byzantine`]): an equivocator, a forger (ops claiming another
//! author, ops of a non-member), a replayer of old ops, or a backfill flooder.
//!
//! Invariants:
//! - `ledger-converges`: after the quiesce, every member reports the same state digest and op
//!   count, with nothing pending, and has completed boot recovery. Heartbeats go on meanwhile
//!   (and a crash point may still take a member down), so the check looks (every 20 ms, for up
//!   to 10 s) for an instant with every member up and recovered, and no op in flight;
//! - `no-acked-op-lost`: every op a member acknowledged (its submit returned an id) is in every
//!   member's ledger;
//! - `honest-never-rejected`: no member refused a ledger input from another (they are all
//!   honest here), and nobody was caught equivocating;
//! - `honest-never-equivocates` (online, from the trace, across restarts): no member appended two
//!   different ops with one seq;
//! - `pending-bounded`: no member's pending buffer ever held more than its bound (checked on the
//!   final status: the bound is enforced on every insert);
//! - `no-synced-op-lost` (online, from the trace): a restarted member's op store holds at least
//!   every op it had synced before the crash;
//! - `equivocation-detected` (`ledger-byzantine`): every honest member flagged the equivocator;
//!   `forgeries-rejected`: no honest ledger holds a forged op, and every honest member refused
//!   the forger; `replays-are-duplicates`: no honest member refused the replayer (its old ops are
//!   duplicates, not misbehaviour); `flooder-gets-busy`: every honest member answered the
//!   flooder `Busy`, while `ledger-converges` shows the honest rounds were not starved. In this
//!   scenario `honest-never-rejected` concerns honest pairs only, the convergence checks run
//!   over the honest members, and ops may stay pending (a liar's op whose parent only the liar
//!   had, lost on the way);
//! - `late-joiner-pages` (`late-joiner`): the late member fetched the preloaded ledger through
//!   more than one page (over one run, or several when a lost request cut a run short: the next
//!   run starts where it stopped); pages and runs are printed as a note.

use super::{
    Scenario, Violation,
    barrier::{cluster, identities, network},
    life::{QUOTA_PER_SECOND, spawn_all},
};
use crate::{
    ledger_byzantine::{LedgerLiar, LedgerMisbehaviour, Liar, LiarReport},
    plan::{
        FaultPlan, LateStart, Workload, draw_crashes_within, draw_distinct, draw_links,
        draw_point_crashes, plan_rng,
    },
    trace::Sink,
};
use bytes::Bytes;
use cohort_protocol::{
    LedgerChannels, PROTOCOL_VERSION, PublicKey, Timing,
    channels::SimulatedRegistrar,
    engine::Task,
    ledger::{Dag, Mailbox, OpId, OpKind, Settings, SignedOp, Status, dag, op::MAX_OP_BYTES},
};
use cohort_storage::ledger::OpStore;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_p2p::simulated::{self, Link};
use commonware_runtime::{Clock as _, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, Probability};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=10;
/// Node counts of `late-joiner` (every on-time member holds the whole preloaded ledger).
const LATE_JOINER_NODES: std::ops::RangeInclusive<usize> = 3..=6;
/// Ops that exist before the late joiner starts.
pub const PRELOAD_OPS: u64 = 20_000;
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

pub fn plan(scenario: Scenario, seed: u64, nodes: Option<usize>) -> FaultPlan {
    let mut rng = plan_rng(seed);
    let drawn = match scenario {
        Scenario::LateJoiner => rng.random_range(LATE_JOINER_NODES),
        _ => rng.random_range(DRAWN_NODES),
    };
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let workload = Workload {
        ops_per_sec: rng.random_range(2..=10),
        duration_ms: rng.random_range(4_000..=8_000),
        quiesce_ms: QUIESCE.as_millis() as u64,
        max_payload: MAX_PAYLOAD,
        preload_ops: if scenario == Scenario::LateJoiner {
            PRELOAD_OPS
        } else {
            0
        },
    };
    let (crashes, point_crashes) = if scenario == Scenario::LedgerCrash {
        let crashes = draw_crashes_within(&mut rng, nodes, workload.duration_ms);
        let crashed: Vec<usize> = crashes.iter().map(|c| c.node).collect();
        // A crash point per persisted batch: right after the sync, before the broadcast.
        let points = draw_point_crashes(&mut rng, nodes, &crashed, 60);
        (crashes, points)
    } else {
        (Vec::new(), Vec::new())
    };
    let partition = (scenario == Scenario::LedgerPartition && nodes >= 2).then(|| {
        let all: Vec<usize> = (0..nodes).collect();
        draw_distinct(&mut rng, &all, nodes / 2)
    });
    let ledger_liar = (scenario == Scenario::LedgerByzantine).then(|| LedgerLiar {
        node: rng.random_range(0..nodes),
        misbehaviour: LedgerMisbehaviour::ALL[rng.random_range(0..LedgerMisbehaviour::ALL.len())],
        seed: rng.random(),
    });
    let late_starts = if scenario == Scenario::LateJoiner {
        vec![LateStart {
            node: rng.random_range(0..nodes),
            at_ms: rng.random_range(1_000..=3_000),
        }]
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
        committees: Vec::new(),
        byzantine: None,
        workload: Some(workload),
        partition,
        ledger_liar,
    }
}

/// `count` ops by `authors` (round robin), each on top of all the ops before it, with small
/// `Data` payloads: a ledger that already exists.
pub fn preload_history(
    keys: &[ed25519::PrivateKey],
    authors: &[usize],
    count: u64,
) -> Vec<SignedOp> {
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let mut dag = Dag::new(&members, dag::Config::default());
    let mut ops = Vec::with_capacity(count as usize);
    for i in 0..count {
        let author = authors[(i as usize) % authors.len()];
        let kind = OpKind::Data(Bytes::from(i.to_be_bytes().repeat(4)));
        let op = SignedOp::sign(&keys[author], dag.next_op(author, kind, 0));
        dag.apply_trusted(vec![op.clone()]);
        ops.push(op);
    }
    ops
}

/// Writes `ops` to the op store of node `node` (as if it had applied them before this run).
pub(crate) async fn preload_store(context: &deterministic::Context, node: usize, ops: &[SignedOp]) {
    let (mut store, existing) = OpStore::open(
        context.child("preload").with_attribute("node", node),
        &format!("node{node}"),
        MAX_OP_BYTES,
    )
    .await
    .expect("open the op store");
    assert!(existing.is_empty(), "preloading a fresh store");
    for op in ops {
        store.append(op.encoded()).await.expect("append");
    }
    store.sync().await.expect("sync");
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
    if let Some(side) = &plan.partition {
        // Cut every link across the partition until the heal.
        for link in &plan.links {
            if side.contains(&link.from) != side.contains(&link.to) {
                let _ = oracle
                    .remove_link(members[link.from].clone(), members[link.to].clone())
                    .await;
            }
        }
    }
    if workload.preload_ops > 0 {
        let late: Vec<usize> = plan.late_starts.iter().map(|l| l.node).collect();
        let authors: Vec<usize> = (0..plan.nodes).filter(|i| !late.contains(i)).collect();
        let history = preload_history(&keys, &authors, workload.preload_ops);
        for node in &authors {
            preload_store(&context, *node, &history).await;
        }
    }
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
    let liar = plan.ledger_liar.as_ref().map(|l| l.node);
    // The honest members' slots (a liar has none).
    let slots: Vec<_> = spawned
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != liar)
        .map(|(i, (_, slot))| (i, slot.clone()))
        .collect();
    let liar_report: Arc<Mutex<LiarReport>> = Arc::default();
    if let Some(l) = &plan.ledger_liar {
        let mut registrar = SimulatedRegistrar {
            control: oracle.control(members[l.node].clone()),
            quota: Quota::per_second(NZU32!(QUOTA_PER_SECOND)),
        };
        let LedgerChannels { gossip, backfill } = LedgerChannels::register(&mut registrar).await;
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
            .spawn(move |context| liar.run(context, misbehaviour));
    }

    // The workload: each member submits Data ops at the drawn rate until the heal.
    let acked: Arc<Mutex<Vec<(usize, OpId)>>> = Arc::default();
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
        let liar_key = liar.map(|l| members[l].clone());
        for ((node, peer), reasons) in &observations.refused {
            if Some(*node as usize) != liar && Some(peer) != liar_key.as_ref() {
                violations.push(Violation::new(
                    "honest-never-rejected",
                    format!("node {node} refused honest {peer}: {reasons:?}"),
                ));
            }
        }
        let honest_flagged: Vec<_> = observations
            .equivocators
            .iter()
            .filter(|a| Some(*a) != liar_key.as_ref())
            .collect();
        if !honest_flagged.is_empty() {
            violations.push(Violation::new(
                "honest-never-rejected",
                format!("honest members flagged as equivocators: {honest_flagged:?}"),
            ));
        }
    }
    // Heartbeats go on during the quiesce: wait (bounded) for an instant at which every member
    // is up and no op is in flight, i.e. every member reports one digest.
    let settle_end = context.current() + SETTLE;
    let snapshot = loop {
        let mut snapshot = Vec::with_capacity(slots.len());
        for (_, slot) in &slots {
            let mailbox = slot.lock().expect("slot").clone();
            snapshot.push(match mailbox {
                Some(mut mailbox) => mailbox.status().await.ok(),
                None => None,
            });
        }
        // A member may also be down (a crash point hit late): wait for its restart and its boot
        // recovery too.
        let all_up = snapshot
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.boot_recovered));
        let digests: BTreeSet<_> = snapshot.iter().flatten().map(|s| s.digest).collect();
        if (all_up && digests.len() <= 1) || context.current() >= settle_end {
            break snapshot;
        }
        context.sleep(SETTLE_POLL).await;
    };
    let mut statuses: Vec<(usize, Status, BTreeSet<OpId>)> = Vec::new();
    for ((node, slot), status) in slots.iter().zip(snapshot) {
        let node = *node;
        let mailbox = slot.lock().expect("slot").clone();
        match (status, op_ids(mailbox).await) {
            (Some(status), Some(ids)) => statuses.push((node, status, ids)),
            _ => violations.push(Violation::new(
                "ledger-converges",
                format!("node {node} is not running at the end"),
            )),
        }
    }
    // A liar's ops may wait forever for a parent only it had (lost on the way): pending ops are
    // only an honest-cluster failure.
    let expect_no_pending = plan.ledger_liar.is_none();
    check_final(
        &statuses,
        &acked.lock().expect("acked"),
        expect_no_pending,
        &mut violations,
    );
    if let Some(l) = &plan.ledger_liar {
        let report = liar_report.lock().expect("liar report").clone();
        let observations = &sink.lock().expect("sink").observations;
        check_liar(
            l,
            &members,
            &report,
            observations,
            &statuses,
            &mut violations,
        );
    }
    if workload.preload_ops > 0 {
        check_late_joiner(plan, &workload, &sink, &mut violations);
    }
    violations
}

/// The invariants of `ledger-byzantine` (see the module docs).
fn check_liar(
    liar: &LedgerLiar,
    members: &[PublicKey],
    report: &LiarReport,
    observations: &crate::trace::Observations,
    statuses: &[(usize, Status, BTreeSet<OpId>)],
    violations: &mut Vec<Violation>,
) {
    let key = &members[liar.node];
    let honest = || {
        statuses
            .iter()
            .map(|(node, status, ids)| (*node, status, ids))
    };
    match liar.misbehaviour {
        LedgerMisbehaviour::Equivocate => {
            if report.forks == 0 {
                return;
            }
            for (node, status, _) in honest() {
                if !status.flagged.contains(key) {
                    violations.push(Violation::new(
                        "equivocation-detected",
                        format!(
                            "node {node} did not flag the equivocator {key} ({} forks sent)",
                            report.forks
                        ),
                    ));
                }
            }
        }
        LedgerMisbehaviour::Forge => {
            for (node, _, ids) in honest() {
                if let Some(id) = report.forged.iter().find(|id| ids.contains(*id)) {
                    violations.push(Violation::new(
                        "forgeries-rejected",
                        format!(
                            "node {node} applied the forged op {}",
                            hex(&id.as_ref()[..8])
                        ),
                    ));
                }
                let refused = observations.refused.get(&(node as u32, key.clone()));
                if !report.forged.is_empty()
                    && !refused.is_some_and(|r| r.iter().any(|r| r.contains("invalid op")))
                {
                    violations.push(Violation::new(
                        "forgeries-rejected",
                        format!("node {node} never refused the forger's ops: {refused:?}"),
                    ));
                }
            }
        }
        LedgerMisbehaviour::Replay => {
            for (node, _, _) in honest() {
                if let Some(reasons) = observations.refused.get(&(node as u32, key.clone())) {
                    violations.push(Violation::new(
                        "replays-are-duplicates",
                        format!("node {node} refused the replayer: {reasons:?}"),
                    ));
                }
            }
        }
        LedgerMisbehaviour::Flood => {
            for (node, status, _) in honest() {
                if !report.busy_from.contains(&status.me) {
                    violations.push(Violation::new(
                        "flooder-gets-busy",
                        format!(
                            "node {node} never answered the flooder Busy ({} requests sent)",
                            report.requests
                        ),
                    ));
                }
            }
        }
    }
}

/// `late-joiner-pages`: the late member caught up the preloaded ledger through several pages
/// (recorded as a note).
fn check_late_joiner(
    plan: &FaultPlan,
    workload: &Workload,
    sink: &Arc<Mutex<Sink>>,
    violations: &mut Vec<Violation>,
) {
    let mut sink = sink.lock().expect("sink");
    for late in &plan.late_starts {
        let runs = sink
            .observations
            .backfill_runs
            .get(&(late.node as u32))
            .cloned()
            .unwrap_or_default();
        // Runs until the preloaded ledger was in: a run cut short (a lost request) is followed
        // by another with the next peer, which starts where the first stopped.
        let (mut pages, mut ops, mut count) = (0, 0, 0);
        for (run_pages, run_ops) in &runs {
            if ops >= workload.preload_ops {
                break;
            }
            pages += run_pages;
            ops += run_ops;
            count += 1;
        }
        if ops >= workload.preload_ops && pages > 1 {
            sink.notes.push(format!(
                "late joiner node {} caught up {ops} ops in {pages} pages over {count} runs",
                late.node
            ));
        } else {
            violations.push(Violation::new(
                "late-joiner-pages",
                format!(
                    "node {} (late) fetched {ops} of the {} preloaded ops in {pages} pages over {count} runs",
                    late.node, workload.preload_ops
                ),
            ));
        }
    }
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
    expect_no_pending: bool,
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
        if (expect_no_pending && status.pending != 0) || !status.boot_recovered {
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
