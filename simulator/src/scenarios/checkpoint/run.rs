//! Running a checkpoint scenario: the members run the DKG, the ledger and the checkpoint
//! protocol for the planned simulated days; then the heal, the quiesce and the snapshot of
//! every member's ledger the checks judge (see the family's docs).

use super::{
    checks::{Member, check_checkpoints, gather_views},
    observer::CheckpointObserver,
    plan::CheckpointPlan,
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
    scenarios::{
        dkg::Kind as DkgKind,
        dkg::plan::timing,
        ledger::{
            LedgerObserver,
            checks::check_final,
            run::{all_ops, settle},
        },
    },
    trace::Sink,
    world::{Role, cluster, heal, identities, micros, network, spawn_all},
};
use cohort_protocol::{PROTOCOL_VERSION, PublicKey, checkpoint, engine::Task, ledger::Settings};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
use std::{
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
    let keys = identities(seed, plan.nodes);
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let cluster = cluster(&members, PROTOCOL_VERSION, timing(DkgKind::Dkg));
    let oracle = network(&context, &members, &plan.links).await;
    let settings = settings(&cp);
    let spawned = spawn_all(
        &context,
        plan,
        &keys,
        vec![cluster.clone(); plan.nodes],
        Task::Dkg,
        Some(settings),
        |_| Role::Honest,
        &oracle,
        &sink,
    );
    let slots: Vec<_> = spawned.iter().map(|(_, slot)| slot.clone()).collect();
    let start_ms = micros(context.current()) / 1000;
    context.sleep(Duration::from_millis(cp.duration_ms)).await;
    heal(&oracle, &members, &plan.links).await;
    context.sleep(Duration::from_millis(cp.quiesce_ms)).await;

    {
        let sink = sink.lock().expect("sink");
        checks.extend(sink.online_violations());
        let observations = sink.observer::<LedgerObserver>();
        for ((node, peer), reasons) in &observations.refused {
            checks.fail(
                Invariant::HonestNeverRejected,
                format!("node {node} refused honest {peer}: {reasons:?}"),
            );
        }
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
    let snapshot = settle(&context, &slots, SETTLE).await;
    let end_ms = micros(context.current()) / 1000;
    let mut statuses = Vec::new();
    let mut held = Vec::new();
    for (node, (slot, status)) in slots.iter().zip(snapshot).enumerate() {
        let mailbox = slot.lock().expect("slot").clone();
        match (status, all_ops(mailbox.clone()).await, mailbox) {
            (Some(status), Some(ops), Some(mailbox)) => {
                statuses.push((node, status, ops.iter().map(|o| o.id()).collect()));
                held.push(Member { node, ops, mailbox });
            }
            _ => checks.fail(
                Invariant::LedgerConverges,
                format!("node {node} is not running at the end"),
            ),
        }
    }
    check_final(&statuses, &[], true, &mut checks);
    // The views first (the ledgers answer while the sink is free), then the checks.
    let views = gather_views(&mut held, &members, end_ms).await;
    let sink = sink.lock().expect("sink");
    let observations = sink.observer::<CheckpointObserver>();
    check_checkpoints(
        plan,
        &cp,
        &settings,
        &members,
        observations,
        &held,
        &views,
        (start_ms, end_ms),
        &mut checks,
    );
    checks
}
