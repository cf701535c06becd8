//! The simulator's hook on what a node sends on the DKG channel (its byzantine members: bad
//! shares, two dealings, forged acks, garbage). Compiled only with the `sim` feature: a
//! production build has no way to tamper with its own messages.

use super::{ceremony::RoundSpec, wire};
use crate::cluster::PublicKey;

/// A hook on what a node sends on the DKG channel: the simulator builds its byzantine members
/// with it (bad shares, two dealings, forged acks, garbage). An honest node has none.
pub trait Tamper: Send + Sync + 'static {
    /// The frames to send in place of `message` (meant for `to`), each to one peer.
    fn outgoing(
        &self,
        spec: &RoundSpec,
        to: &[PublicKey],
        message: &wire::Message,
    ) -> Vec<(PublicKey, bytes::Bytes)>;
}
