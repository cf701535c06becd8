//! The checkpoint family's part of a fault plan, and its draw.

use super::byzantine::{CheckpointLiar, CheckpointMisbehaviour};
use crate::plan::{
    ClockPlan, CorePlan, CrashPlan, LateStart, Loss, draw_crashes_within, draw_links,
    draw_partitions, draw_storage_faults, plan_rng,
};
use crate::scenarios::dkg::{
    byzantine::{Byzantine, Misbehaviour},
    plan::draw_byzantine,
};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};

/// Node counts drawn when `--nodes` is not given.
const DRAWN_NODES: std::ops::RangeInclusive<usize> = 4..=10;

/// Which checkpoint scenario a plan is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `checkpoint`.
    Checkpoint,
    /// `checkpoint-byzantine`: one liar (a member, or an outsider).
    Byzantine,
    /// `checkpoint-skew`: skewed and drifting clocks.
    Skew,
    /// `checkpoint-reshare`: a second committee in the genesis definition, reshared right
    /// after the DKG while its two newcomers are down (they start after the first day).
    Reshare,
    /// `checkpoint-late-joiner`: one member starts after several certified days, from peers
    /// that compacted their ledgers.
    LateJoiner,
    /// `governance`: an operator proposes a committee change through a member's governance
    /// actor; the members vote on it and certify it in their ledgers.
    Governance,
    /// `membership-byzantine`: as `governance`, with a member lying in governance ops.
    MembershipByzantine,
    /// `join`: the operator adds a node that runs from the start (or starts later) with only
    /// the genesis definition: a joiner.
    Join,
    /// `replace-dead`: a member goes down for good; the operator replaces it with a joiner.
    ReplaceDead,
    /// `remove`: the operator removes a member (which keeps running, as an observer).
    Remove,
    /// `dkg-disk-loss`: a member loses its DKG journal after the DKG; the operator proposes the
    /// unchanged committee, whose reshare gives it a new share.
    KeyLoss,
    /// `all`: the checkpoint world with a reshare, a late newcomer, a Data workload, mild clock
    /// skew, crashes, storage faults, partition windows and (half the seeds) a liar.
    All,
}

impl Kind {
    /// Whether the plan has an operator (and the members run governance).
    pub fn governed(self) -> bool {
        matches!(
            self,
            Kind::Governance
                | Kind::MembershipByzantine
                | Kind::Join
                | Kind::ReplaceDead
                | Kind::Remove
                | Kind::KeyLoss
        )
    }
}

/// A committee change an operator asks a member for, in node indices (index `nodes` is the
/// outsider: a key on no machine yet, which a change may add).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Add {
        node: usize,
    },
    Remove {
        node: usize,
    },
    Replace {
        old: usize,
        new: usize,
    },
    /// The unchanged committee (a reshare: key recovery).
    Reshare,
}

/// The operator's request: at `at_ms`, to member `by` (retried every [`RETRY_MS`] while the
/// member cannot take it yet: down, recovering, no live quorum).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePlan {
    pub at_ms: u64,
    pub by: usize,
    pub change: ChangeKind,
}

/// How often the operator asks again when the member could not take a change yet.
pub const RETRY_MS: u64 = 10_000;

/// What the governance liar of `membership-byzantine` does (through its own ledger: its
/// ops are validly signed; what they say is hostile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceMisbehaviour {
    /// Just before the operator, proposes two different committees for the next epoch.
    Equivocate,
    /// Once the operator's proposal is in its ledger, votes on it with an invalid partial (a
    /// share of another dealing) and with a partial over another digest.
    BadVotes,
    /// Just before the operator, proposes a committee that breaks the rules (below the safe
    /// size, or not resharing the current output).
    BadProposal,
}

impl GovernanceMisbehaviour {
    pub const ALL: [GovernanceMisbehaviour; 3] = [
        GovernanceMisbehaviour::Equivocate,
        GovernanceMisbehaviour::BadVotes,
        GovernanceMisbehaviour::BadProposal,
    ];
}

/// The governance liar: a member whose DKG, ledger and checkpoints are honest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceLiar {
    pub node: usize,
    pub misbehaviour: GovernanceMisbehaviour,
    pub seed: u64,
}

/// The scaled checkpoint protocol of a run, and how long it runs: a simulated "day" is one
/// `interval_ms`. The members run for `duration_ms` (at least 4 intervals: the first boot
/// waits one, then 3 certified days at least), then every link heals and the cluster is left
/// alone for `quiesce_ms` before the checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointPlan {
    pub interval_ms: u64,
    pub check_ms: u64,
    pub window_ms: u64,
    pub duration_ms: u64,
    pub quiesce_ms: u64,
    /// The liar of `checkpoint-byzantine`.
    #[serde(default)]
    pub liar: Option<CheckpointLiar>,
    /// `checkpoint-reshare`: the committee of each epoch, as node indices (empty: one epoch,
    /// every node).
    #[serde(default)]
    pub committees: Vec<Vec<usize>>,
    /// `checkpoint-late-joiner`: the member that starts late (its start is in the core plan's
    /// late starts).
    #[serde(default)]
    pub late_joiner: Option<usize>,
    /// Whether the members compact their ledgers after each certified checkpoint (on unless a
    /// plan says otherwise; `bench checkpoint` measures both).
    #[serde(default = "on")]
    pub compact: bool,
    /// `governance`: the operator's committee changes.
    #[serde(default)]
    pub changes: Vec<ChangePlan>,
    /// `membership-byzantine`: the governance liar.
    #[serde(default)]
    pub governance_liar: Option<GovernanceLiar>,
    /// `join`, `replace-dead`: the node indices of the joiners (the keys after the members';
    /// they run with the genesis definition, which does not list them; a start is in the core
    /// plan's late starts when it is late). `join` admits a second one half the time, after
    /// the first: it must learn the key while it cannot count the first one's votes yet.
    #[serde(default)]
    pub joiners: Vec<usize>,
    /// `replace-dead`: the member that goes down for good (its last crash in the core plan
    /// never ends).
    #[serde(default)]
    pub dead: Option<usize>,
    /// `all`: Data ops the honest members submit per minute (on average, together: each op by
    /// one of them drawn at random) until the heal, of 1..=[`DATA_MAX_PAYLOAD`] random bytes
    /// (none when 0). Sparse, so compaction still prunes most presence ops (a Data op keeps
    /// the heads it names as parents).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data_per_min: u32,
    /// `all`: a member of both committees lying in the DKG and the reshare (any
    /// `dkg-byzantine` or `dkg-log-liars` lie but refused hellos); the rest of its engine
    /// (ledger, checkpoints) is honest. Never with a checkpoint liar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkg_liar: Option<Byzantine>,
}

/// Largest Data payload of the `all` workload.
pub const DATA_MAX_PAYLOAD: usize = 256;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How long a member that goes down for good stays down (past any run's end).
pub const FOREVER_MS: u64 = 1_000_000_000;

fn on() -> bool {
    true
}

/// When the newcomers of `checkpoint-reshare` start (and the reshare with them): after the
/// first interval's checkpoints, before the second's.
pub const RESHARE_AT_MS: u64 = INTERVAL_MS + INTERVAL_MS / 3;

/// When the late member of `checkpoint-late-joiner` starts, at the earliest: after the third
/// day's checkpoints (the first boot waits one interval, then one is certified each interval).
pub const LATE_JOINER_FROM_MS: u64 = 3 * INTERVAL_MS + INTERVAL_MS / 4;

/// The scaled interval: 5 simulated minutes stand for 24 h.
pub const INTERVAL_MS: u64 = 5 * 60 * 1000;
/// The proposal check: every 15 s (24 h / 15 min = 96 checks a day; 20 here).
pub const CHECK_MS: u64 = 15_000;
/// The vote window (60 s in production; half here, against a 5 min day).
pub const WINDOW_MS: u64 = 30_000;

/// Draws the plan of `seed` for `kind` (with `nodes` members if given, else drawn).
pub fn plan(kind: Kind, seed: u64, nodes: Option<usize>) -> (CorePlan, CheckpointPlan) {
    let mut rng = plan_rng(seed);
    let drawn = match kind {
        // Epoch 0's committee of 4..=8, plus the two newcomers.
        Kind::Reshare => rng.random_range(6..=10),
        // Epoch 0's committee of 4..=6, plus the two newcomers.
        Kind::All => rng.random_range(6..=8),
        // A removal keeps at least the safe committee size of four.
        Kind::Governance | Kind::MembershipByzantine | Kind::Remove => rng.random_range(5..=10),
        Kind::Join | Kind::ReplaceDead | Kind::KeyLoss => rng.random_range(4..=9),
        _ => rng.random_range(DRAWN_NODES),
    };
    let nodes = nodes.unwrap_or(drawn);
    let liar = match kind {
        Kind::Checkpoint
        | Kind::Skew
        | Kind::Reshare
        | Kind::LateJoiner
        | Kind::Governance
        | Kind::MembershipByzantine
        | Kind::Join
        | Kind::ReplaceDead
        | Kind::Remove
        | Kind::KeyLoss => None,
        // Half the seeds, a liar of any kind; a member liar is of epoch 0's committee and
        // stays in epoch 1's (drawn below: the replaced member is not the liar).
        Kind::All if rng.random_bool(0.5) => None,
        Kind::Byzantine | Kind::All => {
            let misbehaviour =
                CheckpointMisbehaviour::ALL[rng.random_range(0..CheckpointMisbehaviour::ALL.len())];
            Some(CheckpointLiar {
                node: match (misbehaviour, kind) {
                    (CheckpointMisbehaviour::Outsider, _) => nodes,
                    (_, Kind::All) => rng.random_range(0..nodes - 2),
                    _ => rng.random_range(0..nodes),
                },
                misbehaviour,
                seed: rng.random(),
            })
        }
    };
    // An outsider is one more node on the network.
    let outsider = liar
        .as_ref()
        .is_some_and(|l| l.misbehaviour == CheckpointMisbehaviour::Outsider);
    // So are the joiners.
    let joiners: Vec<usize> = match kind {
        Kind::Join if rng.random_bool(0.5) => vec![nodes, nodes + 1],
        Kind::Join | Kind::ReplaceDead => vec![nodes],
        _ => Vec::new(),
    };
    let links = draw_links(&mut rng, nodes + usize::from(outsider) + joiners.len());
    let days = rng.random_range(3..=4u64);
    let mut duration_ms = (days + 1) * INTERVAL_MS + rng.random_range(0..INTERVAL_MS / 2);
    // The late joiner starts after three certified days and runs long enough to wait out its
    // first interval and be certified itself.
    let late_joiner = match kind {
        Kind::LateJoiner => Some(LateStart {
            node: rng.random_range(0..nodes),
            at_ms: LATE_JOINER_FROM_MS + rng.random_range(0..INTERVAL_MS / 4),
        }),
        // The second newcomer of the reshare misses it and starts after three certified days.
        Kind::All => Some(LateStart {
            node: nodes - 1,
            at_ms: LATE_JOINER_FROM_MS + rng.random_range(0..INTERVAL_MS / 4),
        }),
        _ => None,
    };
    if let Some(late) = &late_joiner {
        duration_ms = late.at_ms + INTERVAL_MS + INTERVAL_MS / 2;
    }
    let mut crashes = draw_crashes_within(&mut rng, nodes, duration_ms);
    let clocks = match kind {
        Kind::Skew => draw_clocks(&mut rng, nodes),
        Kind::All => draw_mild_clocks(&mut rng, nodes),
        Kind::Checkpoint
        | Kind::Byzantine
        | Kind::Reshare
        | Kind::LateJoiner
        | Kind::Governance
        | Kind::MembershipByzantine
        | Kind::Join
        | Kind::ReplaceDead
        | Kind::Remove
        | Kind::KeyLoss => Vec::new(),
    };
    // Nodes 0..k form epoch 0's committee; epoch 1 replaces a drawn one of them with node k
    // and adds node k + 1 (as `reshare`); the two newcomers start at the reshare.
    let (committees, late_starts) = match kind {
        Kind::Reshare | Kind::All => {
            let k = nodes - 2;
            // Not a member liar (it must stay a member to be judged as one).
            let liar_node = liar.as_ref().map(|l| l.node);
            let replaced = loop {
                let r = rng.random_range(0..k);
                if Some(r) != liar_node {
                    break r;
                }
            };
            let late = (k..nodes)
                .map(|node| LateStart {
                    node,
                    at_ms: match (kind, late_joiner.as_ref()) {
                        (Kind::All, Some(late)) if node == late.node => late.at_ms,
                        _ => RESHARE_AT_MS,
                    },
                })
                .collect();
            (
                vec![
                    (0..k).collect::<Vec<usize>>(),
                    (0..nodes).filter(|i| *i != replaced).collect(),
                ],
                late,
            )
        }
        Kind::LateJoiner => (Vec::new(), late_joiner.iter().cloned().collect()),
        _ => (Vec::new(), Vec::new()),
    };
    // A newcomer does not crash before it starts.
    crashes.retain(|c| {
        late_starts
            .iter()
            .all(|l: &LateStart| l.node != c.node || c.at_ms > l.at_ms)
    });
    // After the DKG (the first interval), well before the end.
    let mut dead = None;
    let mut late_starts = late_starts;
    let changes = match kind {
        Kind::Join | Kind::ReplaceDead | Kind::Remove => {
            let at_ms = rng.random_range(INTERVAL_MS / 2..=2 * INTERVAL_MS);
            let node = rng.random_range(0..nodes);
            let change = match kind {
                Kind::Join => ChangeKind::Add { node: nodes },
                Kind::Remove => ChangeKind::Remove { node },
                _ => {
                    // Down for good a little before the operator notices.
                    let died_ms = at_ms - rng.random_range(10_000..=60_000);
                    crashes.retain(|c| c.node != node);
                    crashes.push(CrashPlan {
                        node,
                        at_ms: died_ms,
                        down_ms: FOREVER_MS,
                        loss: None,
                    });
                    crashes.sort_by_key(|c| c.at_ms);
                    dead = Some(node);
                    ChangeKind::Replace {
                        old: node,
                        new: nodes,
                    }
                }
            };
            // The member the operator asks is not the dead one.
            let by = match dead {
                Some(d) => (d + rng.random_range(1..nodes)) % nodes,
                None => rng.random_range(0..nodes),
            };
            let mut changes = vec![ChangePlan { at_ms, by, change }];
            // A second joiner is added after the first (`join`).
            if let Some(&second) = joiners.get(1) {
                changes.push(ChangePlan {
                    at_ms: at_ms + rng.random_range(INTERVAL_MS / 2..=INTERVAL_MS),
                    by: rng.random_range(0..nodes),
                    change: ChangeKind::Add { node: second },
                });
            }
            // Each joiner runs from the start (a candidate until it is admitted) or starts
            // after its change, as a node an operator brings up later would.
            for (joiner, change) in joiners.iter().zip(&changes) {
                if rng.random_bool(0.5) {
                    late_starts.push(LateStart {
                        node: *joiner,
                        at_ms: change.at_ms + rng.random_range(0..=INTERVAL_MS),
                    });
                }
            }
            changes
        }
        Kind::KeyLoss => {
            // Well after the DKG (the first checkpoint interval's first half), the member's
            // crash takes its DKG journal; the operator notices its missing share and asks
            // another member for the unchanged committee.
            let node = rng.random_range(0..nodes);
            let lost_ms = rng.random_range(INTERVAL_MS / 2..=INTERVAL_MS);
            let down_ms = rng.random_range(1_000..=10_000);
            crashes.retain(|c| c.node != node);
            crashes.push(CrashPlan {
                node,
                at_ms: lost_ms,
                down_ms,
                loss: Some(Loss::DkgJournal),
            });
            crashes.sort_by_key(|c| (c.at_ms, c.node));
            vec![ChangePlan {
                at_ms: lost_ms + down_ms + rng.random_range(10_000..=60_000),
                by: (node + rng.random_range(1..nodes)) % nodes,
                change: ChangeKind::Reshare,
            }]
        }
        Kind::Governance | Kind::MembershipByzantine => {
            let node = rng.random_range(0..nodes);
            let change = match (nodes > 4, rng.random_range(0..3u8)) {
                (true, 0) => ChangeKind::Remove { node },
                (_, 1) => ChangeKind::Replace {
                    old: node,
                    new: nodes,
                },
                _ => ChangeKind::Add { node: nodes },
            };
            vec![ChangePlan {
                at_ms: rng.random_range(INTERVAL_MS / 2..=2 * INTERVAL_MS),
                by: rng.random_range(0..nodes),
                change,
            }]
        }
        _ => Vec::new(),
    };
    // The liar is not the member the operator asks.
    let governance_liar = match (kind, changes.first()) {
        (Kind::MembershipByzantine, Some(change)) => Some(GovernanceLiar {
            node: (change.by + rng.random_range(1..nodes)) % nodes,
            misbehaviour: GovernanceMisbehaviour::ALL
                [rng.random_range(0..GovernanceMisbehaviour::ALL.len())],
            seed: rng.random(),
        }),
        _ => None,
    };
    // Storage faults come last, so the draws above are those of the plan without them.
    let storage_faults = if matches!(kind, Kind::Checkpoint | Kind::All) {
        draw_storage_faults(&mut rng, nodes, duration_ms)
    } else {
        Vec::new()
    };
    let (partitions, data_per_min) = if kind == Kind::All {
        (
            draw_partitions(&mut rng, nodes + usize::from(outsider), duration_ms),
            rng.random_range(1..=4),
        )
    } else {
        (Vec::new(), 0)
    };
    // `all` with committees that tolerate two faults (epoch 1's, of at least seven, holds the
    // late newcomer, absent for days) and no checkpoint liar: a member of both lying in the
    // DKG and the reshare. Drawn last, so the draws above are those of the plan without it.
    let dkg_liar = match (kind, committees.as_slice()) {
        (Kind::All, [first, second]) if second.len() >= 7 && liar.is_none() => {
            let both: Vec<usize> = first
                .iter()
                .copied()
                .filter(|n| second.contains(n))
                .collect();
            let node = both[rng.random_range(0..both.len())];
            let lies: Vec<Misbehaviour> = Misbehaviour::ALL
                .into_iter()
                .filter(|m| *m != Misbehaviour::BadHello)
                .collect();
            Some(draw_byzantine(
                &mut rng,
                node,
                nodes,
                (first.len() - 1) / 3,
                &lies,
            ))
        }
        _ => None,
    };
    let core = CorePlan {
        storage_faults,
        partitions,
        crashes,
        clocks,
        late_starts,
        ..CorePlan::new(nodes, links)
    };
    let checkpoint = CheckpointPlan {
        interval_ms: INTERVAL_MS,
        check_ms: CHECK_MS,
        window_ms: WINDOW_MS,
        duration_ms,
        quiesce_ms: 2 * WINDOW_MS + CHECK_MS,
        liar,
        committees,
        late_joiner: late_joiner.map(|l| l.node),
        compact: true,
        changes,
        governance_liar,
        joiners,
        dead,
        data_per_min,
        dkg_liar,
    };
    (core, checkpoint)
}

/// Clock faults of `checkpoint-skew`. Every node drifts by up to [`MAX_DRIFT_PPM`] either
/// way. `f + 1` nodes (`f = (n - 1) / 3`) keep about the run's clock (within 3 s); the others
/// run 70 to 90 s ahead, more than the uptime tolerance. A voter cuts its view of a subject off
/// at its own clock, so the `f + 1` behind miss the last 70-90 s of every ahead subject's
/// history and disagree with its round 1: `t - 2` approvals, the round fails. Round 2's
/// trimmed mean (the `f` lowest dropped) lies within 45 s of the subject's view, and by then
/// (a window later) the behind voters' views are within tolerance of it too: it is certified.
pub fn draw_clocks(rng: &mut rand_chacha::ChaCha8Rng, nodes: usize) -> Vec<ClockPlan> {
    let behind = (nodes - 1) / 3 + 1;
    let mut order: Vec<usize> = (0..nodes).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut clocks: Vec<ClockPlan> = order
        .iter()
        .enumerate()
        .map(|(k, &node)| ClockPlan {
            node,
            offset_ms: match k < behind {
                true => rng.random_range(0..=3_000),
                false => rng.random_range(70_000..=90_000),
            },
            drift_ppm: rng.random_range(-MAX_DRIFT_PPM..=MAX_DRIFT_PPM),
        })
        .collect();
    clocks.sort_by_key(|c| c.node);
    clocks
}

/// Clock faults of `all`: every node offset by up to 3 s and drifting by up to
/// [`MAX_DRIFT_PPM`] either way, within the protocol's tolerances (the skew that splits the
/// voters is `checkpoint-skew`'s).
pub fn draw_mild_clocks(rng: &mut rand_chacha::ChaCha8Rng, nodes: usize) -> Vec<ClockPlan> {
    (0..nodes)
        .map(|node| ClockPlan {
            node,
            offset_ms: rng.random_range(0..=3_000),
            drift_ppm: rng.random_range(-MAX_DRIFT_PPM..=MAX_DRIFT_PPM),
        })
        .collect()
}

/// Largest clock drift of `checkpoint-skew` (0.2 %: 3.6 s over a 30 min run).
pub const MAX_DRIFT_PPM: i64 = 2_000;
