//! The DKG family's part of a fault plan, and its draw.

use super::byzantine::{Byzantine, Misbehaviour};
use crate::plan::{
    CorePlan, LateStart, Loss, Mismatch, RepairPlan, draw_crashes, draw_distinct, draw_links,
    draw_point_crashes, draw_storage_faults, plan_rng,
};
use cohort_protocol::Timing;
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=16;
/// The phase timeout of `dkg-absent`.
pub const ABSENT_PHASE_TIMEOUT: Duration = Duration::from_secs(5);
/// The phase timeout of `dkg-crash`.
pub const CRASH_PHASE_TIMEOUT: Duration = Duration::from_secs(3);
/// When `barrier-repair`'s operator repairs the misconfigured member (ms from the start).
pub const REPAIR_AT_MS: std::ops::RangeInclusive<u64> = 500..=8_000;
/// How long `barrier-repair`'s blocks last (ms).
pub const REPAIR_BLOCK_EXPIRY_MS: std::ops::RangeInclusive<u64> = 1_000..=15_000;

/// Which DKG scenario a plan is drawn (and a run made) for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `dkg`.
    Dkg,
    /// `dkg-crash`.
    Crash,
    /// `dkg-absent`.
    Absent,
    /// `reshare`.
    Reshare,
    /// `dkg-byzantine`.
    Byzantine,
    /// `dkg-log-liars`.
    LogLiars,
    /// `reshare-byzantine`.
    ReshareByzantine,
    /// `reshare-dead-member`.
    ReshareDead,
    /// `barrier-meta-loss`.
    MetaLoss,
    /// `barrier-repair`.
    Repair,
}

impl Kind {
    /// Whether the scenario runs a reshare (two epochs).
    fn reshares(self) -> bool {
        matches!(
            self,
            Kind::Reshare | Kind::ReshareByzantine | Kind::ReshareDead
        )
    }

    /// Whether members crash and restart (and the crash phase timeout applies).
    fn crashes(self) -> bool {
        self.reshares()
            || matches!(
                self,
                Kind::Crash | Kind::Byzantine | Kind::LogLiars | Kind::MetaLoss
            )
    }
}

/// What a DKG plan adds to the common core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgPlan {
    /// The committee of each DKG epoch, as node indices, epoch 0 first (empty: one epoch, every
    /// node).
    #[serde(default)]
    pub committees: Vec<Vec<usize>>,
    /// The byzantine member, if any.
    #[serde(default)]
    pub byzantine: Option<Byzantine>,
    /// Members that never start (at most `f`: the others must finish without them).
    #[serde(default)]
    pub absent: Vec<usize>,
    /// A benchmark run: skip the observer's own heavy checks (threshold signing) after the run.
    #[serde(default)]
    pub bench: bool,
}

/// The worlds `dkg-absent` draws from.
enum Absence {
    /// Not `dkg-absent`.
    None,
    /// f members never start: the others finish without them.
    Dead,
    /// f + 1 members start late (one short of a quorum without them): the others report them
    /// missing and wait, then finish with them.
    Late,
    /// f members start late, mostly after the others finished the round without them: they
    /// finish it from the others' decision and decided logs (a member down across the end of a
    /// round, as a restarted node can be).
    Stragglers,
}

/// The cluster timing of `kind`.
pub fn timing(kind: Kind) -> Timing {
    match kind {
        Kind::Absent | Kind::Repair => Timing {
            phase_timeout: ABSENT_PHASE_TIMEOUT,
            ..Timing::default()
        },
        // Outages (up to 3 s) about as long as a phase: some attempts fail and are retried
        // while members crash and restart, which is where abandoning a round must stay safe.
        kind if kind.crashes() => Timing {
            phase_timeout: CRASH_PHASE_TIMEOUT,
            ..Timing::default()
        },
        _ => Timing::default(),
    }
}

/// Draws the plan of `seed` for `kind` (with `nodes` members if given, else drawn).
pub fn plan(kind: Kind, seed: u64, nodes: Option<usize>) -> (CorePlan, DkgPlan) {
    let mut rng = plan_rng(seed);
    let drawn = match kind {
        // Epoch 0's committee of 4..=14, plus the two newcomers of epoch 1.
        kind if kind.reshares() => rng.random_range(6..=16),
        _ => rng.random_range(DRAWN_NODES),
    };
    let nodes = nodes.unwrap_or(drawn);
    let links = draw_links(&mut rng, nodes);
    let (crashes, point_crashes) = if kind.crashes() {
        let mut crashes = draw_crashes(&mut rng, nodes);
        if kind == Kind::MetaLoss {
            // Every timed crash loses the node's metadata (crash points keep theirs).
            for crash in &mut crashes {
                crash.loss = Some(Loss::Meta);
            }
        }
        let crashed: Vec<usize> = crashes.iter().map(|c| c.node).collect();
        // Crash points per node and epoch: the seed, one per dealing accepted, the log.
        let epochs = if kind.reshares() { 2 } else { 1 };
        let points = draw_point_crashes(&mut rng, nodes, &crashed, epochs * (nodes as u64 + 2));
        (crashes, points)
    } else {
        (Vec::new(), Vec::new())
    };
    // `dkg-absent` draws one of three worlds (see [`Absence`]).
    let faults = (nodes - 1) / 3;
    let absence = match kind {
        Kind::Absent if nodes >= 4 => match rng.random_range(0..3u8) {
            0 => Absence::Dead,
            1 => Absence::Late,
            _ => Absence::Stragglers,
        },
        Kind::Absent => Absence::Late,
        _ => Absence::None,
    };
    let all: Vec<usize> = (0..nodes).collect();
    let mut absent = match absence {
        Absence::Dead => draw_distinct(&mut rng, &all, faults),
        _ => Vec::new(),
    };
    // `barrier-repair`: f members never start, so the ceremony needs the misconfigured one.
    let mut repairs = Vec::new();
    let mut block_expiry_ms = None;
    if kind == Kind::Repair {
        absent = draw_distinct(&mut rng, &all, faults);
        let live: Vec<usize> = all
            .iter()
            .copied()
            .filter(|i| !absent.contains(i))
            .collect();
        let node = live[rng.random_range(0..live.len())];
        let mismatch = if rng.random_bool(0.5) {
            Mismatch::Version
        } else {
            Mismatch::ClusterHash
        };
        repairs.push(RepairPlan {
            node,
            at_ms: rng.random_range(REPAIR_AT_MS),
            mismatch,
        });
        block_expiry_ms = Some(rng.random_range(REPAIR_BLOCK_EXPIRY_MS));
    }
    let phase = ABSENT_PHASE_TIMEOUT.as_millis() as u64;
    let (late, window) = match absence {
        // f + 1 late members: t - 1 live, one short of a quorum.
        Absence::Late => (faults + 1, phase * 5 / 2..=phase * 4),
        // The others finish in about one phase timeout and stay reachable for two more (their
        // shutdown handshake waits for the stragglers, then they linger a phase timeout).
        Absence::Stragglers => (faults, phase..=phase * 2),
        _ => (0, 0..=0),
    };
    let late_starts = draw_distinct(&mut rng, &all, late)
        .into_iter()
        .map(|node| LateStart {
            node,
            at_ms: rng.random_range(window.clone()),
        })
        .collect();
    let byzantine = matches!(
        kind,
        Kind::Byzantine | Kind::LogLiars | Kind::ReshareByzantine
    )
    .then(|| {
        // In a reshare the liar deals in both epochs (one of epoch 0's committee).
        let node = if kind == Kind::ReshareByzantine {
            rng.random_range(0..nodes - 2)
        } else {
            rng.random_range(0..nodes)
        };
        let drawn: &[Misbehaviour] = if kind == Kind::LogLiars {
            &[
                Misbehaviour::TwoLogs,
                Misbehaviour::LateLog,
                Misbehaviour::PartialLog,
                Misbehaviour::BadHello,
            ]
        } else {
            &Misbehaviour::ALL
        };
        draw_byzantine(&mut rng, node, nodes, faults, drawn)
    });
    let committees = if kind.reshares() {
        // Nodes 0..k form epoch 0's committee; epoch 1 replaces a drawn one of them with node
        // k and adds node k + 1.
        let k = nodes - 2;
        let replaced = rng.random_range(0..k);
        let first: Vec<usize> = (0..k).collect();
        let second: Vec<usize> = (0..nodes).filter(|i| *i != replaced).collect();
        if kind == Kind::ReshareDead {
            // The member being replaced is down for good: it never starts.
            absent.push(replaced);
        }
        vec![first, second]
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
        storage_faults,
        crashes,
        point_crashes,
        late_starts,
        repairs,
        block_expiry_ms,
        ..CorePlan::new(nodes, links)
    };
    let dkg = DkgPlan {
        committees,
        byzantine,
        absent,
        bench: false,
    };
    (core, dkg)
}

/// A byzantine member `node` of a cluster of `nodes` tolerating `faults`, lying one of the
/// `drawn` ways: its misbehaviour, its victims (every other member for garbage and refused
/// hellos; two halves for two logs; any subset for a late log; else 1..=`faults` of them) and
/// its seed. `reshare-byzantine` and `all` draw theirs with it too.
pub fn draw_byzantine(
    rng: &mut rand_chacha::ChaCha8Rng,
    node: usize,
    nodes: usize,
    faults: usize,
    drawn: &[Misbehaviour],
) -> Byzantine {
    let misbehaviour = drawn[rng.random_range(0..drawn.len())];
    let others: Vec<usize> = (0..nodes).filter(|i| *i != node).collect();
    let faults = faults.max(1);
    let victims = match misbehaviour {
        Misbehaviour::Garbage | Misbehaviour::BadHello => others,
        misbehaviour => {
            let count = match misbehaviour {
                // Two halves.
                Misbehaviour::TwoLogs => (others.len() / 2).max(1),
                // Any subset.
                Misbehaviour::LateLog => rng.random_range(1..=others.len().max(1)),
                // 1..=f victims (more would only make the dealer reveal too many and be
                // dropped).
                _ => rng.random_range(1..=faults),
            };
            draw_distinct(rng, &others, count.min(others.len()))
        }
    };
    Byzantine {
        node,
        misbehaviour,
        victims,
        seed: rng.random(),
    }
}
