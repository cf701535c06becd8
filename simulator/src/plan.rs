//! Fault plans: everything a run's world does to the protocol, drawn from the seed. This module
//! holds the part every family shares ([`CorePlan`]) and the draws the families' plans use.
//!
//! A plan is generated with a ChaCha RNG seeded from the run seed, separate from the runtime's
//! scheduler RNG, so it can be printed (JSON), saved, edited and replayed on its own: the runtime
//! RNG only decides scheduling and the protocol's own randomness.

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Salt mixed into the seed so the plan RNG never mirrors the runtime RNG.
const PLAN_SALT: u64 = 0x636f_686f_7274_706c; // "cohortpl"

/// Bounds of a drawn link.
pub const MAX_LATENCY_MS: u64 = 80;
/// Lowest per-message delivery probability drawn, in per-mille.
pub const MIN_SUCCESS_PER_MILLE: u32 = 850;

/// Which transport a run's nodes talk over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// The lean transport (`world::lean`).
    #[default]
    Lean,
    /// commonware-p2p's simulated network.
    Commonware,
}

impl Transport {
    /// Both transports.
    pub const ALL: [Transport; 2] = [Transport::Lean, Transport::Commonware];

    /// Its name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Lean => "lean",
            Transport::Commonware => "commonware",
        }
    }

    /// Whether it is the default (plans leave it out).
    pub fn is_default(&self) -> bool {
        *self == Transport::default()
    }
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown transport {s:?} (lean or commonware)"))
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One directed link's behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPlan {
    pub from: usize,
    pub to: usize,
    /// Mean latency.
    pub latency_ms: u64,
    /// Standard deviation of the latency.
    pub jitter_ms: u64,
    /// Probability a message is delivered, in per-mille.
    pub success_per_mille: u32,
}

/// One crash of one node: its tasks stop at `at_ms` (simulated, from the start of the run), its
/// unsynced writes are lost, `loss` (if any) damages what it had synced, and it is rebuilt from
/// what is left of its storage `down_ms` later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashPlan {
    pub node: usize,
    pub at_ms: u64,
    pub down_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
}

/// Damage to a crashed node's *synced* storage (`cohort_storage::damage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// The disk is replaced: every store is gone (boot counter included).
    Disk,
    /// The op store is gone (its files deleted); the other stores are kept.
    OpStore,
    /// The newest `bytes` of the op store's journal are gone (a torn or corrupted page: the
    /// journal cuts the damaged records off at the next open).
    OpTail { bytes: u64 },
    /// The node metadata is gone (barrier step, boot counter, ceremony flag); the op store and
    /// the DKG journal are kept.
    Meta,
    /// The DKG journal is gone (the shares and dealings of every round); the other stores are
    /// kept.
    DkgJournal,
}

impl Loss {
    /// One line for traces.
    pub fn describe(&self) -> String {
        match self {
            Loss::Disk => "disk".to_string(),
            Loss::OpStore => "op_store".to_string(),
            Loss::OpTail { bytes } => format!("op_tail bytes={bytes}"),
            Loss::Meta => "meta".to_string(),
            Loss::DkgJournal => "dkg_journal".to_string(),
        }
    }
}

/// A crash at a *crash point* rather than at a time: node `node` halts the `hit`-th time its
/// protocol code reaches a crash point (for the DKG: right after a journal sync, before the
/// message the synced record protects leaves, e.g. between persisting a dealing and sending the
/// ack), and is rebuilt from its storage `down_ms` later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointCrash {
    pub node: usize,
    pub hit: u64,
    pub down_ms: u64,
}

/// How a misconfigured node's cluster definition differs from everybody else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Mismatch {
    /// Same members, different minor protocol version.
    Version,
    /// Same members and version, different timing (so a different cluster hash).
    ClusterHash,
}

/// An operator's repair: node `node` starts with a cluster definition that differs from the
/// others' as `mismatch` says (an honest node, misconfigured), and at `at_ms` its operator stops
/// it (if it has not failed by then) and starts it again, from its own storage, with the right
/// definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairPlan {
    pub node: usize,
    pub at_ms: u64,
    pub mismatch: Mismatch,
}

/// The part of a run's fault plan every protocol family shares: the nodes, their links, their
/// crashes, late starts and a partition. Each family adds its own part (the scenario catalogue's
/// `FaultPlan` joins the two).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorePlan {
    pub nodes: usize,
    pub links: Vec<LinkPlan>,
    /// Node crashes, in time order.
    #[serde(default)]
    pub crashes: Vec<CrashPlan>,
    /// Crashes at crash points, per node in hit order.
    #[serde(default)]
    pub point_crashes: Vec<PointCrash>,
    /// Nodes that start late (absent until then).
    #[serde(default)]
    pub late_starts: Vec<LateStart>,
    /// Nodes cut off from the others until the family's heal (`ledger-partition`: the end of the
    /// workload).
    #[serde(default)]
    pub partition: Option<Vec<usize>>,
    /// Nodes whose clock is skewed (at most one entry per node).
    #[serde(default)]
    pub clocks: Vec<ClockPlan>,
    /// Misconfigured nodes and when their operators repair them (at most one entry per node).
    #[serde(default)]
    pub repairs: Vec<RepairPlan>,
    /// How long a block a protocol rule imposes lasts, at the transport and in the barrier
    /// (`None`: a production node's default, `cohort_protocol::engine::DEFAULT_BLOCK_EXPIRY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_expiry_ms: Option<u64>,
    /// The transport the nodes talk over (left out when it is the default).
    #[serde(default, skip_serializing_if = "Transport::is_default")]
    pub transport: Transport,
    /// Crashes at enumerated crash points: node `node` halts at a moment around its `sync`-th
    /// storage sync (`cohort-sim crash-points`; at most one per node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_crashes: Vec<SyncCrash>,
    /// Windows in which a node's storage fails (at most one entry per node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_faults: Vec<StorageFaultPlan>,
    /// The buggify points enabled in this run, each with its firing probability
    /// (`cohort_protocol::buggify`), and the seed of the RNG that decides each firing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buggify: Vec<BuggifyPlan>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub buggify_seed: u64,
    /// Partition windows: nodes split into groups (one-way or both ways) for a while, then
    /// healed (any scenario; see [`PartitionPlan`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionPlan>,
}

/// A partition window: from `at_ms` for `for_ms`, the nodes are split into `groups` (node
/// indices of the run's network; the nodes in no group form one more group, the last). Every
/// link from a node of group `i` to a node of group `j != i` is cut; a `one_way` cut only
/// cuts `i < j`: the earlier groups cannot reach the later ones, which still reach them (a
/// half-open firewall, an asymmetric route). At the end of the window the cut links are
/// back as they are then. Windows may overlap: a link is up when no window cuts it. A
/// scenario's final heal (the ledger and checkpoint families' quiesce) lifts every cut and
/// ends every window still open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionPlan {
    pub at_ms: u64,
    pub for_ms: u64,
    pub groups: Vec<Vec<usize>>,
    #[serde(default)]
    pub one_way: bool,
}

impl PartitionPlan {
    /// The group of `node` (`groups.len()` for the nodes in none).
    pub fn group_of(&self, node: usize) -> usize {
        self.groups
            .iter()
            .position(|g| g.contains(&node))
            .unwrap_or(self.groups.len())
    }

    /// Whether the window cuts the link `from -> to`.
    pub fn cuts(&self, from: usize, to: usize) -> bool {
        let (a, b) = (self.group_of(from), self.group_of(to));
        a != b && (!self.one_way || a < b)
    }
}

/// Longest partition window drawn (ms).
pub const MAX_PARTITION_MS: u64 = 5_000;

/// Draws 1..=3 partition windows among `nodes`, each starting within `window_ms` of the start
/// and lasting up to [`MAX_PARTITION_MS`] (ending by `window_ms`): the nodes shuffled and split
/// into 2..=3 groups (one node alone, a minority, halves), a third of them one-way.
pub fn draw_partitions(rng: &mut ChaCha8Rng, nodes: usize, window_ms: u64) -> Vec<PartitionPlan> {
    if nodes < 2 || window_ms < 200 {
        return Vec::new();
    }
    let count = rng.random_range(1..=3usize);
    let mut windows: Vec<PartitionPlan> = (0..count)
        .map(|_| {
            let mut order: Vec<usize> = (0..nodes).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let parts = rng.random_range(2..=3usize).min(nodes);
            // Cut points: the first group is 1..=half of the nodes, the second (if any) a
            // share of the rest; the rest form the last group (left implicit).
            let first = rng.random_range(1..=(nodes / 2).max(1));
            let mut groups = vec![order[..first].to_vec()];
            if parts == 3 && nodes - first >= 2 {
                let second = rng.random_range(1..nodes - first);
                groups.push(order[first..first + second].to_vec());
            }
            for g in &mut groups {
                g.sort_unstable();
            }
            let for_ms = rng.random_range(100..=MAX_PARTITION_MS.min(window_ms / 2));
            PartitionPlan {
                at_ms: rng.random_range(0..=window_ms - for_ms),
                for_ms,
                groups,
                one_way: rng.random_range(0..3u8) == 0,
            }
        })
        .collect();
    windows.sort_by_key(|w| w.at_ms);
    windows
}

/// Where around a storage sync a [`SyncCrash`] halts its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum SyncMoment {
    /// Immediately before the sync: what it would have made durable is lost.
    Before,
    /// Immediately after the sync completed, before the caller goes on.
    After,
    /// Immediately after the first frame the node sends once the sync completed.
    AfterSend,
}

impl SyncMoment {
    pub const ALL: [SyncMoment; 3] = [SyncMoment::Before, SyncMoment::After, SyncMoment::AfterSend];

    pub const fn name(self) -> &'static str {
        match self {
            SyncMoment::Before => "before",
            SyncMoment::After => "after",
            SyncMoment::AfterSend => "after_send",
        }
    }
}

/// Node `node` halts (a crash: its tasks stop, unsynced writes are lost) at `at` its `sync`-th
/// storage sync (counted from 1 over all its lives), and restarts from its storage `down_ms`
/// later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncCrash {
    pub node: usize,
    pub sync: u64,
    pub at: SyncMoment,
    pub down_ms: u64,
}

/// From `at_ms` for `for_ms` (simulated, from the start of the run), node `node`'s storage fails:
/// reads, writes and syncs each with its rate in per-mille, and a failed write leaves a prefix
/// of its bytes behind `torn_per_mille` of the time (`world::disk`). Faults are drawn from an RNG
/// seeded with `seed`. A storage error is fatal for the node: it stops, restarts from its
/// storage and recovers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageFaultPlan {
    pub node: usize,
    pub at_ms: u64,
    pub for_ms: u64,
    pub read_per_mille: u32,
    pub write_per_mille: u32,
    pub sync_per_mille: u32,
    pub torn_per_mille: u32,
    pub seed: u64,
}

/// Longest storage-fault window drawn (ms).
pub const MAX_STORAGE_FAULT_MS: u64 = 3_000;

/// Draws storage-fault windows on 1..=2 distinct nodes of `nodes`, each starting within
/// `window_ms` of the start: reads, writes and syncs failing at rates up to 20 %, half the failed
/// writes torn.
pub fn draw_storage_faults(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    window_ms: u64,
) -> Vec<StorageFaultPlan> {
    let candidates: Vec<usize> = (0..nodes).collect();
    let count = rng.random_range(1..=2usize).min(nodes);
    draw_distinct(rng, &candidates, count)
        .into_iter()
        .map(|node| StorageFaultPlan {
            node,
            at_ms: rng.random_range(0..window_ms.max(1)),
            for_ms: rng.random_range(100..=MAX_STORAGE_FAULT_MS),
            read_per_mille: rng.random_range(0..=200),
            write_per_mille: rng.random_range(0..=200),
            sync_per_mille: rng.random_range(0..=200),
            torn_per_mille: rng.random_range(0..=500),
            seed: rng.random(),
        })
        .collect()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One enabled buggify point: its name (`cohort_protocol::buggify::Point::name`) and how
/// often it fires when reached, in per-mille.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuggifyPlan {
    pub point: String,
    pub per_mille: u32,
}

/// Salt of the buggify draw's RNG (separate from the family's draws, which it leaves as they
/// were).
const BUGGIFY_SALT: u64 = 0x6275_6767_6966_7921; // "buggify!"

/// One seed in this many runs with buggify points enabled (the others walk no rare path on
/// purpose: a campaign sees both worlds).
pub const BUGGIFY_ONE_IN: u32 = 2;
/// Highest firing probability drawn for a point, in per-mille.
pub const MAX_BUGGIFY_PER_MILLE: u32 = 250;

/// Draws the buggify points of `seed`: none one seed in [`BUGGIFY_ONE_IN`]; otherwise each
/// point enabled with probability 1/2, firing with a probability drawn in
/// `10..=MAX_BUGGIFY_PER_MILLE` per-mille.
pub fn draw_buggify(seed: u64) -> (Vec<BuggifyPlan>, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ BUGGIFY_SALT);
    if !rng.random_ratio(BUGGIFY_ONE_IN - 1, BUGGIFY_ONE_IN) {
        return (Vec::new(), 0);
    }
    let mut points = Vec::new();
    for point in cohort_protocol::buggify::Point::ALL {
        if rng.random_bool(0.5) {
            points.push(BuggifyPlan {
                point: point.name().to_string(),
                per_mille: rng.random_range(10..=MAX_BUGGIFY_PER_MILLE),
            });
        }
    }
    let seed = rng.random_range(1..=u64::MAX);
    if points.is_empty() {
        (points, 0)
    } else {
        (points, seed)
    }
}

/// Node `node`'s clock reads `offset_ms` ahead of the run's and runs `drift_ppm` parts per
/// million fast (negative: slow); only its own protocol code sees it (`world::skew`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockPlan {
    pub node: usize,
    pub offset_ms: u64,
    pub drift_ppm: i64,
}

impl CorePlan {
    /// `nodes` nodes on `links`, with no crash, late start or partition.
    pub fn new(nodes: usize, links: Vec<LinkPlan>) -> Self {
        Self {
            nodes,
            links,
            ..Self::default()
        }
    }

    /// How long a block lasts in this run (see [`CorePlan::block_expiry_ms`]).
    pub fn block_expiry(&self) -> std::time::Duration {
        self.block_expiry_ms
            .map_or(cohort_protocol::engine::DEFAULT_BLOCK_EXPIRY, |ms| {
                std::time::Duration::from_millis(ms.max(1))
            })
    }
}

/// Node `node` is absent from the start and starts `at_ms` into the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateStart {
    pub node: usize,
    pub at_ms: u64,
}

/// The plan RNG of `seed`.
pub fn plan_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ PLAN_SALT)
}

/// One seed in this many draws a clean network: each link's latency as usual, but steady (no
/// jitter) and nothing lost.
///
/// The nodes' transport is TCP, so on loopback or a quiet LAN nothing is dropped and delays
/// barely vary, and that is a world of its own: a bug that loss or jitter happens to hide shows
/// there and only there. One did: a restarted member sent, each period, a frame that its
/// finished peers answered and then a request; one answer per period was allowed, so the request
/// went unanswered unless the frame before it was lost or the two periods' frames arrived less
/// than a period apart, which loss and jitter made happen now and then, and loopback never.
pub const CLEAN_NETWORK_ONE_IN: u32 = 4;

/// Draws every directed link between `nodes` nodes (a clean network one seed in
/// [`CLEAN_NETWORK_ONE_IN`]).
pub fn draw_links(rng: &mut ChaCha8Rng, nodes: usize) -> Vec<LinkPlan> {
    let clean = rng.random_ratio(1, CLEAN_NETWORK_ONE_IN);
    let mut links = Vec::with_capacity(nodes * nodes.saturating_sub(1));
    for from in 0..nodes {
        for to in 0..nodes {
            if from == to {
                continue;
            }
            let latency_ms = rng.random_range(1..=MAX_LATENCY_MS);
            links.push(LinkPlan {
                from,
                to,
                latency_ms,
                jitter_ms: if clean {
                    0
                } else {
                    rng.random_range(0..=latency_ms / 4)
                },
                success_per_mille: if clean {
                    1000
                } else {
                    rng.random_range(MIN_SUCCESS_PER_MILLE..=1000)
                },
            });
        }
    }
    links
}

/// Every directed link between `nodes` nodes with no latency and no loss (benchmarks).
pub fn perfect_links(nodes: usize) -> Vec<LinkPlan> {
    (0..nodes)
        .flat_map(|from| {
            (0..nodes)
                .filter(move |to| *to != from)
                .map(move |to| (from, to))
        })
        .map(|(from, to)| LinkPlan {
            from,
            to,
            latency_ms: 0,
            jitter_ms: 0,
            success_per_mille: 1000,
        })
        .collect()
}

/// Most crashes one plan draws.
pub const MAX_CRASHES: usize = 6;
/// Crashes happen within this many milliseconds of the start (a walk takes about 0.3 to 1.5 s).
pub const CRASH_WINDOW_MS: u64 = 1_500;
/// Longest downtime of a crashed node (below the cluster's 5 s shutdown timeout, so one outage
/// alone never exceeds what the protocol is specified to wait for).
pub const MAX_DOWN_MS: u64 = 3_000;
/// Least time a restarted node stays up before its next crash, so the outages of one node do
/// not merge into one longer than [`MAX_DOWN_MS`].
pub const MIN_UP_MS: u64 = 2_000;

/// Draws 1..=MAX_CRASHES crashes of any of `nodes` nodes, in time order.
pub fn draw_crashes(rng: &mut ChaCha8Rng, nodes: usize) -> Vec<CrashPlan> {
    draw_crashes_within(rng, nodes, CRASH_WINDOW_MS)
}

/// Draws 1..=MAX_CRASHES crashes of any of `nodes` nodes within `window_ms` of the start, in
/// time order.
pub fn draw_crashes_within(rng: &mut ChaCha8Rng, nodes: usize, window_ms: u64) -> Vec<CrashPlan> {
    let count = rng.random_range(1..=MAX_CRASHES);
    let mut crashes: Vec<CrashPlan> = (0..count)
        .map(|_| CrashPlan {
            node: rng.random_range(0..nodes),
            at_ms: rng.random_range(0..window_ms.max(1)),
            down_ms: rng.random_range(10..=MAX_DOWN_MS),
            loss: None,
        })
        .collect();
    crashes.sort_by_key(|c| (c.at_ms, c.node));
    // Push each crash of a node to at least MIN_UP_MS after its previous restart.
    let mut up_again: Vec<u64> = vec![0; nodes];
    for crash in &mut crashes {
        crash.at_ms = crash.at_ms.max(up_again[crash.node]);
        up_again[crash.node] = crash.at_ms + crash.down_ms + MIN_UP_MS;
    }
    crashes.sort_by_key(|c| (c.at_ms, c.node));
    crashes
}

/// Draws `count` distinct items of `candidates` (at most all of them), sorted.
pub fn draw_distinct(rng: &mut ChaCha8Rng, candidates: &[usize], count: usize) -> Vec<usize> {
    let count = count.min(candidates.len());
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let item = candidates[rng.random_range(0..candidates.len())];
        if !chosen.contains(&item) {
            chosen.push(item);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Draws 1..=2 crash-point crashes of distinct nodes not in `exclude`, each at one of the first
/// `max_hit` crash points of its node.
pub fn draw_point_crashes(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    exclude: &[usize],
    max_hit: u64,
) -> Vec<PointCrash> {
    let candidates: Vec<usize> = (0..nodes).filter(|n| !exclude.contains(n)).collect();
    let mut crashes = Vec::new();
    if candidates.is_empty() {
        return crashes;
    }
    let count = rng.random_range(1..=2usize).min(candidates.len());
    for node in draw_distinct(rng, &candidates, count) {
        crashes.push(PointCrash {
            node,
            hit: rng.random_range(1..=max_hit.max(1)),
            down_ms: rng.random_range(10..=MAX_DOWN_MS),
        });
    }
    crashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_of_one_node_never_overlap() {
        for seed in 0..500 {
            let crashes = draw_crashes(&mut plan_rng(seed), 3);
            assert!(!crashes.is_empty() && crashes.len() <= MAX_CRASHES);
            assert!(crashes.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            for node in 0..3 {
                let mine: Vec<_> = crashes.iter().filter(|c| c.node == node).collect();
                for pair in mine.windows(2) {
                    assert!(pair[1].at_ms >= pair[0].at_ms + pair[0].down_ms + MIN_UP_MS);
                }
            }
        }
    }

    #[test]
    fn links_are_drawn_deterministically_within_bounds() {
        let a = draw_links(&mut plan_rng(5), 4);
        let b = draw_links(&mut plan_rng(5), 4);
        let c = draw_links(&mut plan_rng(6), 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 12);
        for link in &a {
            assert_ne!(link.from, link.to);
            assert!((1..=MAX_LATENCY_MS).contains(&link.latency_ms));
            assert!(link.jitter_ms <= link.latency_ms / 4);
            assert!((MIN_SUCCESS_PER_MILLE..=1000).contains(&link.success_per_mille));
        }
    }
}
