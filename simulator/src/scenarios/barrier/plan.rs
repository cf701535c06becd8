//! The barrier family's part of a fault plan, and its draw.

use super::liar::{BarrierLiar, BarrierMisbehaviour};
pub use crate::plan::Mismatch;
use crate::plan::{CorePlan, draw_crashes, draw_links, draw_storage_faults, plan_rng};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

/// Fewest and most steps a walk draws.
const STEPS: std::ops::RangeInclusive<u64> = 3..=8;
/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 2..=10;

/// Which barrier scenario a plan is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `barrier`.
    Walk,
    /// `barrier-crash`.
    Crash,
    /// `barrier-mismatch`.
    Mismatch,
    /// `barrier-byzantine`.
    Byzantine,
}

/// What a barrier plan adds to the common core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierPlan {
    /// Steps of the walk.
    pub steps: u64,
    /// The misconfigured node, if the scenario has one.
    #[serde(default)]
    pub odd_node: Option<(usize, Mismatch)>,
    /// The barrier liar, if the scenario has one (`barrier-byzantine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liar: Option<BarrierLiar>,
}

/// Draws the plan of `seed` for `kind` (with `nodes` nodes if given, else drawn).
pub fn plan(kind: Kind, seed: u64, nodes: Option<usize>) -> (CorePlan, BarrierPlan) {
    let mut rng = plan_rng(seed);
    let drawn = rng.random_range(DRAWN_NODES);
    let nodes = nodes.unwrap_or(match kind {
        Kind::Mismatch | Kind::Byzantine => drawn.max(2),
        _ => drawn,
    });
    let steps = rng.random_range(STEPS);
    let links = draw_links(&mut rng, nodes);
    let odd_node = (kind == Kind::Mismatch).then(|| {
        let mismatch = if rng.random_bool(0.5) {
            Mismatch::Version
        } else {
            Mismatch::ClusterHash
        };
        (rng.random_range(0..nodes), mismatch)
    });
    let liar = (kind == Kind::Byzantine).then(|| BarrierLiar {
        node: rng.random_range(0..nodes),
        misbehaviour: BarrierMisbehaviour::ALL[rng.random_range(0..BarrierMisbehaviour::ALL.len())],
        seed: rng.random(),
    });
    let crashes = if kind == Kind::Crash {
        draw_crashes(&mut rng, nodes)
    } else {
        Vec::new()
    };
    // Storage faults come last, so the draws above are those of the plan without them.
    let storage_faults = if kind == Kind::Crash {
        draw_storage_faults(&mut rng, nodes, crate::plan::CRASH_WINDOW_MS)
    } else {
        Vec::new()
    };
    let core = CorePlan {
        crashes,
        storage_faults,
        ..CorePlan::new(nodes, links)
    };
    (
        core,
        BarrierPlan {
            steps,
            odd_node,
            liar,
        },
    )
}
