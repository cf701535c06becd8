//! The checkpoint family's part of a fault plan, and its draw.

use crate::plan::{CorePlan, draw_crashes_within, draw_links, plan_rng};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=10;

/// Which checkpoint scenario a plan is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `checkpoint`.
    Checkpoint,
}

/// The scaled checkpoint protocol of a run, and how long it runs: a simulated "day" is one
/// `interval_ms`. The members run for `duration_ms` (at least 4 intervals: the first boot
/// waits one, then 3 certified days at least), then every link heals and the cluster is left
/// alone for `quiesce_ms` before the checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPlan {
    pub interval_ms: u64,
    pub check_ms: u64,
    pub window_ms: u64,
    pub duration_ms: u64,
    pub quiesce_ms: u64,
}

/// The scaled interval: 5 simulated minutes stand for 24 h.
pub const INTERVAL_MS: u64 = 5 * 60 * 1000;
/// The proposal check: every 15 s (24 h / 15 min = 96 checks a day; 20 here).
pub const CHECK_MS: u64 = 15_000;
/// The vote window (60 s in production; half here, against a 5 min day).
pub const WINDOW_MS: u64 = 30_000;

/// Draws the plan of `seed` for `kind` (with `nodes` members if given, else drawn).
pub fn plan(kind: Kind, seed: u64, nodes: Option<usize>) -> (CorePlan, CheckpointPlan) {
    let mut rng = plan_rng(seed);
    let drawn = rng.random_range(DRAWN_NODES);
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let days = rng.random_range(3..=4u64);
    let duration_ms = (days + 1) * INTERVAL_MS + rng.random_range(0..INTERVAL_MS / 2);
    let crashes = match kind {
        Kind::Checkpoint => draw_crashes_within(&mut rng, nodes, duration_ms),
    };
    let core = CorePlan {
        crashes,
        ..CorePlan::new(nodes, links)
    };
    let checkpoint = CheckpointPlan {
        interval_ms: INTERVAL_MS,
        check_ms: CHECK_MS,
        window_ms: WINDOW_MS,
        duration_ms,
        quiesce_ms: 2 * WINDOW_MS + CHECK_MS,
    };
    (core, checkpoint)
}
