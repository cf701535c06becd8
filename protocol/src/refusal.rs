//! The one way an actor refuses a network input: counted, logged, traced as
//! [`Event::InputRejected`], and the peer blocked at the transport when the input proves it
//! hostile (SPEC 0). Whether an input proves hostility is the caller's judgement: the DKG, for
//! one, mutes a member instead of blocking it (see `dkg::actor`).

use crate::{
    channels::Channel,
    cluster::PublicKey,
    trace::{Event, Tracer},
};
use commonware_p2p::Blocker;
use commonware_runtime::telemetry::metrics::{Registered, raw::Counter};

/// Refuses an input of `peer` on `channel` for `reason`: counts it in `refused`, logs it,
/// blocks the peer when `block`, and traces it.
pub(crate) fn refuse<T, B>(
    tracer: &T,
    refused: &Registered<Counter>,
    blocker: &mut B,
    channel: Channel,
    peer: PublicKey,
    reason: String,
    block: bool,
) where
    T: Tracer,
    B: Blocker<PublicKey = PublicKey>,
{
    refused.inc();
    tracing::debug!(%peer, %reason, block, %channel, "input refused");
    if block {
        commonware_p2p::block!(
            blocker,
            peer.clone(),
            "{channel}: peer proved hostile: {reason}"
        );
    }
    tracer.record(Event::InputRejected {
        channel,
        peer,
        reason,
        blocked: block,
    });
}
