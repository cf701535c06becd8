//! The p2p channels of one node: their ids, the one frame limit every transport is configured
//! with, and the one way to register them.
//!
//! Every protocol has its own channel ([`Channel`]), and every transport (the node's
//! authenticated p2p, the simulator's network, the tests' networks) carries frames of at most
//! [`MAX_FRAME_BYTES`]. Each wire module asserts at compile time that its largest encoding fits
//! that limit (`barrier::wire`, `ledger::wire`, `ledger::backfill::wire`), so no honest frame can
//! be refused by the transport; the DKG's bound depends on the cluster size and is checked for
//! the largest cluster (`cluster::MAX_MEMBERS`) by a unit test here. The module depends on no
//! protocol, so every protocol may depend on it.
//!
//! [`Registrar`] is implemented once per transport (the node, the simulator); [`Channels::register`]
//! registers exactly the channels a node needs, always in the same order (barrier, DKG, then the
//! ledger's gossip and backfill), which keeps simulated runs identical.

use crate::cluster::PublicKey;
use commonware_p2p::{Receiver, Sender};
use std::{fmt, future::Future};

/// Largest frame any transport carries, in bytes. Every wire message fits it (asserted below).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// One protocol's p2p channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// The step barrier (SPEC 1).
    Barrier,
    /// DKG and resharing (SPEC 2).
    Dkg,
    /// Ledger gossip: new ops and the digest exchange (SPEC 3, 4).
    Gossip,
    /// Ledger backfill: requests and pages (SPEC 4).
    Backfill,
    /// Checkpoint proposals and votes (SPEC 5).
    Checkpoint,
}

impl Channel {
    /// Every channel, in registration order.
    pub const ALL: [Channel; 5] = [
        Channel::Barrier,
        Channel::Dkg,
        Channel::Gossip,
        Channel::Backfill,
        Channel::Checkpoint,
    ];

    /// The channel's p2p id.
    pub const fn id(self) -> u64 {
        match self {
            Channel::Barrier => 0,
            Channel::Dkg => 1,
            Channel::Gossip => 2,
            Channel::Backfill => 3,
            Channel::Checkpoint => 4,
        }
    }

    /// A stable lowercase name (traces, logs, metrics).
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Barrier => "barrier",
            Channel::Dkg => "dkg",
            Channel::Gossip => "gossip",
            Channel::Backfill => "backfill",
            Channel::Checkpoint => "checkpoint",
        }
    }

    /// Whether the channel belongs to the ledger.
    pub const fn is_ledger(self) -> bool {
        matches!(self, Channel::Gossip | Channel::Backfill)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Both ends of one registered channel.
pub struct Duplex<S, R> {
    pub sender: S,
    pub receiver: R,
}

/// Registers channels on one transport (the node's p2p network, the simulator's).
pub trait Registrar {
    type Sender: Sender<PublicKey = PublicKey>;
    type Receiver: Receiver<PublicKey = PublicKey>;

    /// Registers `channel` (with the transport's own quota and backlog).
    fn register(
        &mut self,
        channel: Channel,
    ) -> impl Future<Output = Duplex<Self::Sender, Self::Receiver>> + Send;
}

/// A registrar from a function, for transports that register synchronously (the node's p2p
/// network, whose quota and backlog the function closes over).
pub struct FnRegistrar<F>(pub F);

impl<F, S, R> Registrar for FnRegistrar<F>
where
    F: FnMut(Channel) -> Duplex<S, R> + Send,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    type Sender = S;
    type Receiver = R;

    async fn register(&mut self, channel: Channel) -> Duplex<S, R> {
        (self.0)(channel)
    }
}

/// The ledger's two channels, and the checkpoint channel (checkpoints live in the ledger).
pub struct LedgerChannels<S, R> {
    pub gossip: Duplex<S, R>,
    pub backfill: Duplex<S, R>,
    pub checkpoint: Duplex<S, R>,
}

/// Every channel the engine needs.
pub struct Channels<S, R> {
    /// [`Channel::Barrier`].
    pub barrier: Duplex<S, R>,
    /// [`Channel::Dkg`].
    pub dkg: Duplex<S, R>,
    /// [`Channel::Gossip`] and [`Channel::Backfill`], required when the engine runs a ledger.
    pub ledger: Option<LedgerChannels<S, R>>,
}

impl<S, R> Channels<S, R> {
    /// Registers the barrier's and the DKG's channels, then the ledger's when `ledger` is set.
    pub async fn register<G>(registrar: &mut G, ledger: bool) -> Self
    where
        G: Registrar<Sender = S, Receiver = R>,
    {
        let barrier = registrar.register(Channel::Barrier).await;
        let dkg = registrar.register(Channel::Dkg).await;
        let ledger = match ledger {
            true => Some(LedgerChannels::register(registrar).await),
            false => None,
        };
        Self {
            barrier,
            dkg,
            ledger,
        }
    }
}

impl<S, R> LedgerChannels<S, R> {
    /// Registers gossip, backfill, then checkpoint.
    pub async fn register<G>(registrar: &mut G) -> Self
    where
        G: Registrar<Sender = S, Receiver = R>,
    {
        let gossip = registrar.register(Channel::Gossip).await;
        let backfill = registrar.register(Channel::Backfill).await;
        let checkpoint = registrar.register(Channel::Checkpoint).await;
        Self {
            gossip,
            backfill,
            checkpoint,
        }
    }
}

/// Registers on commonware's simulated network (the simulator, the tests) with one quota for
/// every channel (`sim` feature only).
#[cfg(feature = "sim")]
pub struct SimulatedRegistrar {
    pub control:
        commonware_p2p::simulated::Control<PublicKey, commonware_runtime::deterministic::Context>,
    pub quota: commonware_runtime::Quota,
}

#[cfg(feature = "sim")]
impl Registrar for SimulatedRegistrar {
    type Sender =
        commonware_p2p::simulated::Sender<PublicKey, commonware_runtime::deterministic::Context>;
    type Receiver = commonware_p2p::simulated::Receiver<PublicKey>;

    async fn register(&mut self, channel: Channel) -> Duplex<Self::Sender, Self::Receiver> {
        // The harness registers each channel once per life of a known peer: a failure is a bug
        // of the harness, not an input.
        let (sender, receiver) = self
            .control
            .register(channel.id(), self.quota)
            .await
            .unwrap_or_else(|e| panic!("register the {channel} channel: {e}"));
        Duplex { sender, receiver }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::MAX_MEMBERS;
    use std::num::NonZeroU32;

    #[test]
    fn the_largest_dkg_frame_fits() {
        let members = NonZeroU32::new(MAX_MEMBERS as u32).expect("non-zero");
        let size = crate::dkg::wire::Message::max_size(members);
        assert!(size <= MAX_FRAME_BYTES, "{size} > {MAX_FRAME_BYTES}");
    }

    #[test]
    fn ids_are_distinct_and_in_order() {
        let ids: Vec<u64> = Channel::ALL.iter().map(|c| c.id()).collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        assert!(Channel::ALL.iter().all(|c| c.to_string() == c.name()));
    }
}
