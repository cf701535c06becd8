//! `cohort-sim bench checkpoint`: what a certified checkpoint costs, and what compaction saves.
//!
//! Every measurement runs the real engine (barrier, DKG, ledger, checkpoint actor, op store)
//! in the simulator, with the checkpoint settings of the `checkpoint` scenarios (a day scaled to
//! [`INTERVAL_MS`], the vote window to [`WINDOW_MS`], the production jitter of 0 to 3 s before
//! each vote), on lossless links of [`LINK_MS`] one-way latency, with no crash.
//!
//! - **Certification** (per committee size, `--nodes`, default 7,16,32): the members run the
//!   DKG and then [`CERTIFY_DAYS`] days of checkpoints. For every certified checkpoint, the
//!   simulated time from its proposal to its certificate (the subject's trace: proposal sent,
//!   `t`-th approval recovered), reported as median and maximum next to the 60 s vote window
//!   of the design Cohort replaces (which always waits the whole window); the frames and bytes
//!   every member's checkpoint actor sent (its `frames_sent` and `bytes_sent` metrics: proposals,
//!   resends and votes), per certified checkpoint; and the certificate's size (the threshold
//!   signature in each `Checkpoint` op, against the replaced design's up to 10 ed25519
//!   signatures of 64 bytes).
//! - **Growth** (`--days`, default 30): 4 members for that many days, once with compaction
//!   and once without (same seed, same world, same ops): the ops and bytes member 0's ledger
//!   holds in memory and its op store's records and bytes, sampled about ten times. With
//!   compaction, presence state grows with the number of checkpoints (each keeps the chain of
//!   certificates and a frontier of at most one op per parent), not of heartbeats.

use crate::{
    plan::{LinkPlan, perfect_links},
    run::CYCLE,
    scenarios::{
        Scenario,
        checkpoint::{
            CheckpointObserver, observers,
            plan::{INTERVAL_MS, WINDOW_MS},
            settings,
        },
        dkg::{Kind as DkgKind, plan::timing},
        ledger::run::all_ops,
    },
    trace::Sink,
    world::{Role, cluster, identities, network, spawn_all},
};
use cohort_protocol::{
    PROTOCOL_VERSION, PublicKey,
    engine::Task,
    ledger::{OpKind, SignedOp},
};
use commonware_codec::EncodeSize as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, Metrics as _, Runner as _, deterministic};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// One-way latency of every link.
pub const LINK_MS: u64 = 10;
/// Days the certification measurement runs after the first (which only waits an interval).
pub const CERTIFY_DAYS: u64 = 2;
/// The replaced design's vote window (it always waits it out).
pub const OLD_WINDOW: Duration = Duration::from_secs(60);
/// The replaced design's certificate: up to 10 ed25519 signatures of 64 bytes.
pub const OLD_CERTIFICATE_BYTES: usize = 10 * 64;
/// The seed of every benchmark world.
const SEED: u64 = 1;

/// What certification cost in one committee size.
#[derive(Clone, Debug)]
pub struct Certification {
    pub nodes: usize,
    pub certified: usize,
    /// Proposal to certificate, median and maximum (simulated).
    pub median: Duration,
    pub max: Duration,
    /// Checkpoint-channel frames and bytes sent by every member, per certified checkpoint.
    pub frames_per_checkpoint: f64,
    pub bytes_per_checkpoint: f64,
    /// The certificate's size (smallest and largest seen), and its whole op's.
    pub certificate_bytes: (usize, usize),
    pub op_bytes: usize,
    pub wall: Duration,
}

/// One sample of member 0's ledger.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub day: u64,
    pub held_ops: usize,
    pub held_bytes: usize,
    pub store_records: u64,
    pub store_bytes: u64,
    pub checkpoints: usize,
}

/// The growth measurement: samples with and without compaction.
#[derive(Clone, Debug)]
pub struct Growth {
    pub compacted: Vec<Sample>,
    pub uncompacted: Vec<Sample>,
    /// Presence ops (boots and heartbeats) authored by all members over the run.
    pub presence_authored: usize,
}

/// Links of `nodes` members: [`LINK_MS`] each way, steady, lossless.
fn links(nodes: usize) -> Vec<LinkPlan> {
    perfect_links(nodes)
        .into_iter()
        .map(|l| LinkPlan {
            latency_ms: LINK_MS,
            ..l
        })
        .collect()
}

/// What one benchmark world gives back.
struct World {
    samples: Vec<Sample>,
    observer: CheckpointObserver,
    /// Checkpoint-channel frames and bytes sent by every member.
    frames: u64,
    bytes: u64,
    /// Member 0's final ledger.
    ops: Vec<SignedOp>,
}

/// Runs `nodes` members for `days` days after the first, compacting or not, sampling member
/// 0's ledger at the end of every `every`-th day (and at the end of the run).
fn world(nodes: usize, days: u64, compact: bool, every: u64) -> Result<World, String> {
    let mut plan = Scenario::named("checkpoint").plan(SEED, Some(nodes));
    // Benchmarks measure the usual paths: no buggify point fires.
    plan.core.buggify.clear();
    let crate::scenarios::FamilyPlan::Checkpoint(cp) = &mut plan.family else {
        return Err("the checkpoint scenario draws a checkpoint plan".into());
    };
    cp.compact = compact;
    cp.duration_ms = (days + 1) * INTERVAL_MS + INTERVAL_MS / 2;
    let cp = cp.clone();
    let mut core = plan.core;
    core.links = links(nodes);
    core.crashes.clear();
    core.point_crashes.clear();
    core.clocks.clear();
    core.late_starts.clear();
    let executor = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(SEED)
            .with_cycle(CYCLE)
            .with_timeout(None),
    );
    let sink = Arc::new(Mutex::new(Sink::new(None, observers())));
    let run_sink = sink.clone();
    let (samples, ops, metrics) = executor.start(|context| async move {
        let keys = identities(SEED, nodes);
        let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let oracle = network(&context, &members, &core.links, core.transport).await;
        let cluster = cluster(&members, PROTOCOL_VERSION, timing(DkgKind::Dkg));
        let spawned = spawn_all(
            &context,
            &core,
            &keys,
            vec![cluster; nodes],
            Task::Dkg,
            Some(settings(&cp)),
            |_| Role::Honest,
            &oracle,
            &run_sink,
        );
        let slot = spawned[0].1.clone();
        let start = context.current();
        let step = cp.interval_ms * every.max(1);
        let mut instants: Vec<u64> = (1..)
            .map(|k| k * step)
            .take_while(|t| *t < cp.duration_ms)
            .collect();
        instants.push(cp.duration_ms);
        let mut out = Vec::new();
        let mut ops = Vec::new();
        for at in instants {
            context.sleep_until(start + Duration::from_millis(at)).await;
            let mailbox = slot.lock().expect("slot").clone();
            let Some(mut mailbox) = mailbox else { continue };
            let Ok(status) = mailbox.status().await else {
                continue;
            };
            ops = all_ops(Some(mailbox)).await.unwrap_or_default();
            out.push(Sample {
                day: at / cp.interval_ms,
                held_ops: status.held,
                held_bytes: ops.iter().map(|o| o.encode_size()).sum(),
                store_records: status.store_records,
                store_bytes: status.store_bytes,
                checkpoints: ops
                    .iter()
                    .filter(|o| matches!(o.op().kind, OpKind::Checkpoint(_)))
                    .count(),
            });
        }
        (out, ops, context.encode())
    });
    let (frames, bytes) = checkpoint_traffic(&metrics);
    let mut sink = Arc::try_unwrap(sink)
        .map_err(|_| "the run still holds the trace sink")?
        .into_inner()
        .map_err(|_| "trace sink poisoned")?;
    let observer = std::mem::take(sink.observer_mut::<CheckpointObserver>());
    Ok(World {
        samples,
        observer,
        frames,
        bytes,
        ops,
    })
}

/// The checkpoint actors' `frames_sent` and `bytes_sent`, summed over every member, from the
/// runtime's metrics (Prometheus text).
fn checkpoint_traffic(metrics: &str) -> (u64, u64) {
    let mut frames = 0u64;
    let mut bytes = 0u64;
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name);
        let value: u64 = value.parse::<f64>().map_or(0, |v| v as u64);
        if name.ends_with("checkpoint_frames_sent")
            || name.ends_with("checkpoint_frames_sent_total")
        {
            frames += value;
        } else if name.ends_with("checkpoint_bytes_sent")
            || name.ends_with("checkpoint_bytes_sent_total")
        {
            bytes += value;
        }
    }
    (frames, bytes)
}

/// Measures certification at each size of `sizes`.
pub fn certification(sizes: &[usize]) -> Result<Vec<Certification>, String> {
    let mut out = Vec::new();
    for &nodes in sizes {
        let wall = Instant::now();
        let world = world(nodes, CERTIFY_DAYS, true, CERTIFY_DAYS + 1)?;
        let wall = wall.elapsed();
        let mut latencies: Vec<Duration> = world
            .observer
            .certified
            .values()
            .flatten()
            .filter_map(|c| {
                let at = world.observer.proposed_at.get(&c.digest)?;
                Some(Duration::from_micros(c.t_us.saturating_sub(*at)))
            })
            .collect();
        if latencies.is_empty() {
            return Err(format!("no checkpoint was certified with {nodes} members"));
        }
        latencies.sort();
        let sizes: Vec<(usize, usize)> = world
            .ops
            .iter()
            .filter_map(|o| match &o.op().kind {
                OpKind::Checkpoint(c) => Some((c.signature.encode_size(), o.encode_size())),
                _ => None,
            })
            .collect();
        let certified = latencies.len();
        out.push(Certification {
            nodes,
            certified,
            median: latencies[latencies.len() / 2],
            max: *latencies.last().expect("not empty"),
            frames_per_checkpoint: world.frames as f64 / certified as f64,
            bytes_per_checkpoint: world.bytes as f64 / certified as f64,
            certificate_bytes: (
                sizes.iter().map(|s| s.0).min().unwrap_or(0),
                sizes.iter().map(|s| s.0).max().unwrap_or(0),
            ),
            op_bytes: sizes.iter().map(|s| s.1).max().unwrap_or(0),
            wall,
        });
    }
    Ok(out)
}

/// Members of the growth measurement.
pub const GROWTH_NODES: usize = 4;
/// Samples of the growth measurement (about; one every `days / GROWTH_SAMPLES` days).
const GROWTH_SAMPLES: u64 = 10;

/// Measures growth over `days` days, compacted and not.
pub fn growth(days: u64) -> Result<Growth, String> {
    let every = days.div_ceil(GROWTH_SAMPLES).max(1);
    let compacted = world(GROWTH_NODES, days, true, every)?;
    let uncompacted = world(GROWTH_NODES, days, false, every)?;
    let presence_authored = uncompacted
        .ops
        .iter()
        .filter(|o| matches!(o.op().kind, OpKind::Boot { .. } | OpKind::Heartbeat { .. }))
        .count();
    Ok(Growth {
        compacted: compacted.samples,
        uncompacted: uncompacted.samples,
        presence_authored,
    })
}

/// The old design's window over a measured latency.
pub fn speedup(latency: Duration) -> f64 {
    OLD_WINDOW.as_secs_f64() / latency.as_secs_f64().max(1e-9)
}

/// The vote window of the scaled world (the production one is 60 s).
pub const SCALED_WINDOW: Duration = Duration::from_millis(WINDOW_MS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_read_from_prometheus_lines() {
        let text = "# HELP x\nlife_node_checkpoint_frames_sent_total{index=\"0\"} 5\nlife_node_checkpoint_bytes_sent_total{index=\"0\"} 700\nlife_node_checkpoint_frames_sent_total{index=\"1\"} 3\nother_frames_sent_total 9\n";
        assert_eq!(checkpoint_traffic(text), (8, 700));
    }
}
