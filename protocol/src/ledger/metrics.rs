//! The ledger actor's metrics (under its context: `..._ledger_*`).

use commonware_runtime::telemetry::metrics::{
    Registered,
    raw::{Counter, Gauge},
};

/// Every metric of the ledger actor.
pub(super) struct Metrics {
    pub ops: Registered<Gauge>,
    pub pending: Registered<Gauge>,
    pub heads: Registered<Gauge>,
    pub flagged: Registered<Gauge>,
    pub applied: Registered<Counter>,
    pub duplicates: Registered<Counter>,
    pub rejected: Registered<Counter>,
    pub evicted: Registered<Counter>,
    pub inputs_rejected: Registered<Counter>,
    pub pages_served: Registered<Counter>,
    pub busy_sent: Registered<Counter>,
    pub pages_fetched: Registered<Counter>,
    pub runs_failed: Registered<Counter>,
    pub boot_recovered: Registered<Gauge>,
    pub held: Registered<Gauge>,
    pub pruned: Registered<Counter>,
    pub rewrites: Registered<Counter>,
    pub store_state: Registered<Gauge>,
    pub own_chain_ready: Registered<Gauge>,
}

impl Metrics {
    pub fn init(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            ops: context.register("ops", "ops applied and stored", Gauge::default()),
            pending: context.register("pending", "ops waiting for a parent", Gauge::default()),
            heads: context.register("heads", "ops without children", Gauge::default()),
            flagged: context.register(
                "flagged_authors",
                "authors caught equivocating",
                Gauge::default(),
            ),
            applied: context.register(
                "ops_applied",
                "ops applied (own and received)",
                Counter::default(),
            ),
            duplicates: context.register(
                "ops_duplicate",
                "received ops already held",
                Counter::default(),
            ),
            rejected: context.register(
                "ops_rejected",
                "received ops rejected: bad signature, non-member, malformed, broken chain",
                Counter::default(),
            ),
            evicted: context.register(
                "pending_evicted",
                "pending ops evicted by the bound",
                Counter::default(),
            ),
            inputs_rejected: context.register(
                "inputs_rejected",
                "gossip and backfill frames refused (undecodable, non-member, hostile)",
                Counter::default(),
            ),
            pages_served: context.register(
                "backfill_pages_served",
                "backfill pages served",
                Counter::default(),
            ),
            busy_sent: context.register(
                "backfill_busy_sent",
                "backfill requests answered Busy",
                Counter::default(),
            ),
            pages_fetched: context.register(
                "backfill_pages_fetched",
                "backfill pages received",
                Counter::default(),
            ),
            runs_failed: context.register(
                "backfill_runs_failed",
                "backfill runs that failed",
                Counter::default(),
            ),
            boot_recovered: context.register(
                "boot_recovered",
                "1 once the first backfill round has ended",
                Gauge::default(),
            ),
            held: context.register("held", "ops held in memory", Gauge::default()),
            pruned: context.register(
                "pruned",
                "presence ops removed by compaction",
                Counter::default(),
            ),
            rewrites: context.register(
                "store_rewrites",
                "op store rewrites after a compaction",
                Counter::default(),
            ),
            store_state: context.register(
                "store_state",
                "what the op store held at open: 0 fresh, 1 intact, 2 truncated, 3 lost, 4 unverified",
                Gauge::default(),
            ),
            own_chain_ready: context.register(
                "own_chain_ready",
                "0 while the node recovers its own chain from its peers and authors nothing",
                Gauge::default(),
            ),
        }
    }
}
