//! The DKG actor's metrics (under its context: `..._dkg_*`).

use super::wire::Message;
use commonware_runtime::telemetry::metrics::{
    CounterFamily, EncodeLabelSet, MetricsExt as _, Registered,
    raw::{Counter, Gauge},
};

/// The label of the traffic counters: the kind of DKG message (`dealing`, `ack`, `log`,
/// `agree`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Kind {
    pub kind: String,
}

/// The kind of `message`, as the traffic counters name it.
pub(super) fn kind(message: &Message) -> &'static str {
    match message {
        Message::Dealing { .. } => "dealing",
        Message::Ack { .. } => "ack",
        Message::Log { .. } => "log",
        Message::Agree { .. } => "agree",
    }
}

/// The DKG's metrics (under the actor's context: `..._dkg_*`).
pub(super) struct Metrics {
    pub rejected: Registered<Counter>,
    pub muted: Registered<Counter>,
    pub attempts_failed: Registered<Counter>,
    pub round: Registered<Gauge>,
    pub epochs_completed: Registered<Counter>,
    /// Frames sent, one per recipient, by kind (what the ceremony costs the network).
    pub frames_sent: CounterFamily<Kind>,
    /// Bytes of those frames (payload, before the transport's framing and encryption).
    pub bytes_sent: CounterFamily<Kind>,
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
            frames_sent: context.family(
                "frames_sent",
                "dkg frames sent (one per recipient), by kind of message",
            ),
            bytes_sent: context.family(
                "bytes_sent",
                "bytes of dkg frames sent (payload, one copy per recipient), by kind of message",
            ),
        }
    }

    /// Frames and bytes sent so far of each kind that was sent, in kind order.
    pub fn sent_so_far(&self) -> Vec<(&'static str, u64, u64)> {
        ["ack", "agree", "dealing", "log"]
            .into_iter()
            .filter_map(|kind| {
                let label = Kind {
                    kind: kind.to_string(),
                };
                let frames = self.frames_sent.get(&label)?.get();
                let bytes = self.bytes_sent.get(&label).map_or(0, |b| b.get());
                Some((kind, frames, bytes))
            })
            .collect()
    }

    /// Counts `copies` frames of `bytes` bytes each of `message`'s kind.
    pub fn sent(&self, message: &Message, copies: usize, bytes: usize) {
        let label = Kind {
            kind: kind(message).to_string(),
        };
        self.frames_sent.get_or_create(&label).inc_by(copies as u64);
        self.bytes_sent
            .get_or_create(&label)
            .inc_by((copies * bytes) as u64);
    }
}
