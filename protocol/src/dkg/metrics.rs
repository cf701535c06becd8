//! The DKG actor's metrics (under its context: `..._dkg_*`).

use commonware_runtime::telemetry::metrics::{
    Registered,
    raw::{Counter, Gauge},
};

/// The DKG's metrics (under the actor's context: `..._dkg_*`).
pub(super) struct Metrics {
    pub rejected: Registered<Counter>,
    pub muted: Registered<Counter>,
    pub attempts_failed: Registered<Counter>,
    pub round: Registered<Gauge>,
    pub epochs_completed: Registered<Counter>,
}

impl Metrics {
    pub fn init(context: &impl commonware_runtime::Metrics) -> Self {
        Self {
            rejected: context.register(
                "inputs_rejected",
                "dkg frames refused: undecodable, another round, a non-member, an invalid dealing, ack or log",
                Counter::default(),
            ),
            muted: context.register(
                "members_muted",
                "members muted on the dkg channel after proving hostile",
                Counter::default(),
            ),
            attempts_failed: context.register(
                "attempts_failed",
                "dkg attempts that missed their deadline or were abandoned",
                Counter::default(),
            ),
            round: context.register("round", "the dkg round (attempt) this node is in", Gauge::default()),
            epochs_completed: context.register(
                "epochs_completed",
                "dkg epochs finished (or loaded) by this node",
                Counter::default(),
            ),
        }
    }
}
