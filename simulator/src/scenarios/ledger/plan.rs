//! The ledger family's part of a fault plan, and its draw.

use super::byzantine::{LedgerLiar, LedgerMisbehaviour};
use crate::plan::{
    CorePlan, LateStart, Loss, draw_crashes_within, draw_distinct, draw_links, draw_point_crashes,
    draw_storage_faults, plan_rng,
};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=10;
/// Node counts of `late-joiner` (every on-time member holds the whole preloaded ledger).
const LATE_JOINER_NODES: std::ops::RangeInclusive<usize> = 3..=6;
/// Ops that exist before the late joiner starts.
pub const PRELOAD_OPS: u64 = 20_000;
/// Quiet time after the heal before the checks.
pub const QUIESCE: Duration = Duration::from_secs(10);
/// Largest `Data` payload the workload submits.
const MAX_PAYLOAD: usize = 256;

/// Which ledger scenario a plan is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ledger`.
    Ledger,
    /// `ledger-crash`.
    Crash,
    /// `ledger-partition`.
    Partition,
    /// `late-joiner`.
    LateJoiner,
    /// `ledger-byzantine`.
    Byzantine,
    /// `ledger-disk-loss`.
    DiskLoss,
}

/// Largest tail of the op store a `ledger-disk-loss` crash cuts off, in bytes (ops are about
/// 100 to 400 bytes: up to a few dozen records).
const MAX_TAIL_CUT: u64 = 8192;

/// The ledger workload: every member submits `Data` ops (payload sizes uniform in
/// `1..=max_payload`, gaps uniform in `0..=2 / ops_per_sec` seconds, both drawn from the seed)
/// for `duration_ms`; then every link heals and the cluster quiesces for `quiesce_ms` before the
/// final checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub ops_per_sec: u32,
    pub duration_ms: u64,
    pub quiesce_ms: u64,
    pub max_payload: usize,
    /// Ops written to the stores of the members that start on time before anything runs (a
    /// ledger that already exists: `late-joiner`).
    #[serde(default)]
    pub preload_ops: u64,
}

/// What a ledger plan adds to the common core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerPlan {
    /// What the members append.
    pub workload: Workload,
    /// The ledger liar, if any (`ledger-byzantine`).
    #[serde(default)]
    pub liar: Option<LedgerLiar>,
}

/// Draws the plan of `seed` for `kind` (with `nodes` members if given, else drawn).
pub fn plan(kind: Kind, seed: u64, nodes: Option<usize>) -> (CorePlan, LedgerPlan) {
    let mut rng = plan_rng(seed);
    let drawn = match kind {
        Kind::LateJoiner => rng.random_range(LATE_JOINER_NODES),
        _ => rng.random_range(DRAWN_NODES),
    };
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let workload = Workload {
        ops_per_sec: rng.random_range(2..=10),
        duration_ms: rng.random_range(4_000..=8_000),
        quiesce_ms: QUIESCE.as_millis() as u64,
        max_payload: MAX_PAYLOAD,
        preload_ops: if kind == Kind::LateJoiner {
            PRELOAD_OPS
        } else {
            0
        },
    };
    let (crashes, point_crashes) = if kind == Kind::Crash {
        let crashes = draw_crashes_within(&mut rng, nodes, workload.duration_ms);
        let crashed: Vec<usize> = crashes.iter().map(|c| c.node).collect();
        // A crash point per persisted batch: right after the sync, before the broadcast.
        let points = draw_point_crashes(&mut rng, nodes, &crashed, 60);
        (crashes, points)
    } else if kind == Kind::DiskLoss {
        let mut crashes = draw_crashes_within(&mut rng, nodes, workload.duration_ms);
        // One or two of the crashes damage what their node had synced, on at most f nodes
        // (a third of the cluster, at least one).
        let f = (nodes.saturating_sub(1) / 3).max(1);
        let all: Vec<usize> = (0..crashes.len()).collect();
        let count = rng.random_range(1..=2usize);
        let mut losers: Vec<usize> = Vec::new();
        for i in draw_distinct(&mut rng, &all, count) {
            let crash = &mut crashes[i];
            if losers.len() >= f && !losers.contains(&crash.node) {
                continue;
            }
            losers.push(crash.node);
            crash.loss = Some(match rng.random_range(0..3u8) {
                0 => Loss::Disk,
                1 => Loss::OpStore,
                _ => Loss::OpTail {
                    bytes: rng.random_range(1..=MAX_TAIL_CUT),
                },
            });
        }
        (crashes, Vec::new())
    } else {
        (Vec::new(), Vec::new())
    };
    let partition = (kind == Kind::Partition && nodes >= 2).then(|| {
        let all: Vec<usize> = (0..nodes).collect();
        draw_distinct(&mut rng, &all, nodes / 2)
    });
    let ledger_liar = (kind == Kind::Byzantine).then(|| LedgerLiar {
        node: rng.random_range(0..nodes),
        misbehaviour: LedgerMisbehaviour::ALL[rng.random_range(0..LedgerMisbehaviour::ALL.len())],
        seed: rng.random(),
    });
    let late_starts = if kind == Kind::LateJoiner {
        vec![LateStart {
            node: rng.random_range(0..nodes),
            at_ms: rng.random_range(1_000..=3_000),
        }]
    } else {
        Vec::new()
    };
    // Storage faults come last, so the draws above are those of the plan without them.
    let storage_faults = if kind == Kind::Crash {
        draw_storage_faults(&mut rng, nodes, workload.duration_ms)
    } else {
        Vec::new()
    };
    let core = CorePlan {
        storage_faults,
        crashes,
        point_crashes,
        late_starts,
        partition,
        ..CorePlan::new(nodes, links)
    };
    let ledger = LedgerPlan {
        workload,
        liar: ledger_liar,
    };
    (core, ledger)
}
