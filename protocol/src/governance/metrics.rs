//! The governance actor's metrics (under its context: `..._governance_*`).

use commonware_runtime::telemetry::metrics::{
    CounterFamily, EncodeLabelSet, MetricsExt as _, Registered,
    raw::{Counter, Gauge},
};

/// The label of the refusal counter: why a proposal or a vote was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Why {
    pub reason: String,
}

/// Every metric of the governance actor.
pub(super) struct Metrics {
    pub proposed: Registered<Counter>,
    pub voted: Registered<Counter>,
    pub certified: Registered<Counter>,
    /// Proposals not approved and votes not counted, by reason (each counted once).
    pub refused: CounterFamily<Why>,
    /// The last epoch the committee chain defines.
    pub last_epoch: Registered<Gauge>,
    /// Proposals held for epochs after the chain's last.
    pub open: Registered<Gauge>,
}

impl Metrics {
    pub fn init(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            proposed: context.register(
                "proposed",
                "committee proposals this node made",
                Counter::default(),
            ),
            voted: context.register(
                "voted",
                "approvals (Vote ops) this node appended",
                Counter::default(),
            ),
            certified: context.register(
                "certified",
                "certificates (Certify ops) this node appended",
                Counter::default(),
            ),
            refused: context.family(
                "refused",
                "committee proposals not approved and votes not counted, by reason",
            ),
            last_epoch: context.register(
                "last_epoch",
                "the last epoch the committee chain defines",
                Gauge::default(),
            ),
            open: context.register(
                "open",
                "committee proposals held for epochs after the chain's last",
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
