//! The checkpoint actor's metrics (under its context: `..._checkpoint_*`).

use commonware_runtime::telemetry::metrics::{
    CounterFamily, EncodeLabelSet, MetricsExt as _, Registered,
    raw::{Counter, Gauge},
};

/// The label of the refusal counter: why an input was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Why {
    pub reason: String,
}

/// Every metric of the checkpoint actor.
pub(super) struct Metrics {
    pub proposed: Registered<Counter>,
    pub certified: Registered<Counter>,
    pub rounds_failed: Registered<Counter>,
    pub votes_sent: Registered<Counter>,
    pub votes_counted: Registered<Counter>,
    /// Proposals and votes refused, by reason (a reason per SPEC section 5's bad input).
    pub refused: CounterFamily<Why>,
    /// Refusals that blocked the sender (what [`crate::refusal`] counts).
    pub inputs_rejected: Registered<Counter>,
    pub frames_sent: Registered<Counter>,
    pub bytes_sent: Registered<Counter>,
    /// 1 while this node's own proposal is being voted on.
    pub voting: Registered<Gauge>,
}

impl Metrics {
    pub fn init(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            proposed: context.register(
                "proposed",
                "checkpoint proposals about this node (rounds 1 and 2)",
                Counter::default(),
            ),
            certified: context.register(
                "certified",
                "checkpoints of this node certified and appended",
                Counter::default(),
            ),
            rounds_failed: context.register(
                "rounds_failed",
                "vote windows of this node's proposals closed without a certificate",
                Counter::default(),
            ),
            votes_sent: context.register(
                "votes_sent",
                "votes sent on other members' proposals",
                Counter::default(),
            ),
            votes_counted: context.register(
                "votes_counted",
                "votes counted on this node's proposals",
                Counter::default(),
            ),
            refused: context.family(
                "refused",
                "checkpoint proposals and votes refused, by reason",
            ),
            inputs_rejected: context.register(
                "inputs_rejected",
                "checkpoint frames refused (every reason; the hostile ones block the sender)",
                Counter::default(),
            ),
            frames_sent: context.register(
                "frames_sent",
                "checkpoint frames sent (one per recipient)",
                Counter::default(),
            ),
            bytes_sent: context.register(
                "bytes_sent",
                "bytes of checkpoint frames sent (one copy per recipient)",
                Counter::default(),
            ),
            voting: context.register(
                "voting",
                "1 while a proposal of this node is open for votes",
                Gauge::default(),
            ),
        }
    }

    /// Counts a refusal of `reason`.
    pub fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&Why {
                reason: reason.to_string(),
            })
            .inc();
    }
}
