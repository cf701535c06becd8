//! The simulated network of a run, on either transport: its drawn links, a partition's cut, the
//! heal, and each node's handle on it.
//!
//! [`Transport::Lean`] (the default) is [`super::lean`]: per-link FIFO delivery with the drawn
//! latency, jitter and loss, and nothing else. [`Transport::Commonware`] is commonware-p2p's
//! simulated network (simulated TCP per link, a bandwidth model), for scenarios that need it.
//! Both are reached through the same handles ([`Net`], [`NodeNet`], [`SimSender`],
//! [`SimReceiver`]), so scenarios, lives and liars never name a transport; each run's plan says
//! which one it uses ([`crate::plan::CorePlan::transport`]).

use super::lean;
use crate::plan::LinkPlan;
pub use crate::plan::Transport;
use cohort_protocol::{
    Duplex, PublicKey,
    channels::{Channel, Registrar},
};
use commonware_actor::{Feedback, Unreliable};
use commonware_p2p::{
    BlockedSubscription, Blocker, CheckedSender, LimitedSender, Recipients, simulated,
};
use commonware_runtime::{IoBuf, IoBufs, Quota, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, Probability};
use std::{num::NonZeroUsize, sync::Arc, time::Duration};

/// Largest frame the simulated network carries: the protocol's one frame limit.
pub const MAX_FRAME: u32 = cohort_protocol::MAX_FRAME_BYTES as u32;

/// Frames each registered channel of each node holds on the lean transport before it drops
/// arrivals: commonware's simulated receiver reports one quota burst per peer it may hear
/// from; this is that bound for the largest cluster, never reached by an honest workload.
pub const LEAN_INBOX: usize = 64 * 1024;

/// commonware's simulated network's oracle.
pub type Oracle = simulated::Oracle<PublicKey, deterministic::Context>;

/// A run's network, on one transport.
pub enum Net {
    Commonware(Oracle),
    Lean(lean::Network),
}

/// The network of `members` with the drawn `links`, started on `transport` (shared: each node's
/// [`super::ExpiringBlocker`] lifts blocks through it).
pub async fn network(
    context: &deterministic::Context,
    members: &[PublicKey],
    links: &[LinkPlan],
    transport: Transport,
) -> Arc<Net> {
    let net = match transport {
        Transport::Commonware => {
            let (network, oracle) = simulated::Network::new_with_peers(
                context.child("network"),
                simulated::Config {
                    max_size: MAX_FRAME,
                    max_peers_per_set: NonZeroUsize::new(members.len()).expect("at least one node"),
                    disconnect_on_block: true,
                    tracked_peer_sets: NZUsize!(1),
                },
                members.to_vec(),
            )
            .await;
            network.start();
            Net::Commonware(oracle)
        }
        Transport::Lean => Net::Lean(lean::Network::new(
            context.child("network"),
            members,
            lean::Config {
                max_size: MAX_FRAME as usize,
                inbox: NZUsize!(LEAN_INBOX),
            },
        )),
    };
    for link in links {
        net.add_link(&members[link.from], &members[link.to], link)
            .await;
    }
    Arc::new(net)
}

impl Net {
    /// Node `me`'s handle: registers its channels and blocks its peers.
    pub fn node(&self, me: &PublicKey) -> NodeNet {
        match self {
            Net::Commonware(oracle) => NodeNet::Commonware(oracle.control(me.clone())),
            Net::Lean(network) => NodeNet::Lean(network.control(me)),
        }
    }

    /// Every (blocker, blocked) pair.
    pub async fn blocked(&self) -> Vec<(PublicKey, PublicKey)> {
        match self {
            Net::Commonware(oracle) => oracle.blocked().await.unwrap_or_default(),
            Net::Lean(network) => network.blocked(),
        }
    }

    /// `from` no longer blocks `to`.
    pub async fn unblock(&self, from: PublicKey, to: PublicKey) {
        match self {
            Net::Commonware(oracle) => {
                let _ = oracle.unblock(from, to).await;
            }
            Net::Lean(network) => network.unblock(&from, &to),
        }
    }

    /// What the lean transport did with its frames (`None` on commonware's).
    pub fn lean_stats(&self) -> Option<lean::Stats> {
        match self {
            Net::Commonware(_) => None,
            Net::Lean(network) => Some(network.stats()),
        }
    }

    /// Sets the link `from -> to` as `link` says (replacing any).
    async fn set_link(&self, from: &PublicKey, to: &PublicKey, link: &LinkPlan) {
        self.remove_link(from, to).await;
        self.add_link(from, to, link).await;
    }

    /// Adds the link `from -> to` as `link` says (there is none).
    async fn add_link(&self, from: &PublicKey, to: &PublicKey, link: &LinkPlan) {
        match self {
            Net::Commonware(oracle) => {
                oracle
                    .add_link(
                        from.clone(),
                        to.clone(),
                        simulated::Link {
                            latency: Duration::from_millis(link.latency_ms),
                            jitter: Duration::from_millis(link.jitter_ms),
                            success_rate: Probability::new(link.success_per_mille as u64, 1000)
                                .expect("per-mille within bounds"),
                        },
                    )
                    .await
                    .expect("link between known peers");
            }
            Net::Lean(network) => network.add_link(from, to, link),
        }
    }

    /// Removes the link `from -> to`.
    async fn remove_link(&self, from: &PublicKey, to: &PublicKey) {
        match self {
            Net::Commonware(oracle) => {
                let _ = oracle.remove_link(from.clone(), to.clone()).await;
            }
            Net::Lean(network) => network.remove_link(from, to),
        }
    }
}

/// Removes every link of `links` that crosses between `side` and the other nodes.
pub async fn cut(net: &Net, members: &[PublicKey], links: &[LinkPlan], side: &[usize]) {
    for link in links {
        if side.contains(&link.from) != side.contains(&link.to) {
            net.remove_link(&members[link.from], &members[link.to])
                .await;
        }
    }
}

/// Every link of `links` again, with its latency but no loss.
pub async fn heal(net: &Net, members: &[PublicKey], links: &[LinkPlan]) {
    for link in links {
        let healed = LinkPlan {
            success_per_mille: 1000,
            ..link.clone()
        };
        net.set_link(&members[link.from], &members[link.to], &healed)
            .await;
    }
}

/// One node's handle on the network: registers its channels ([`NetRegistrar`]) and blocks its
/// peers (the transport's own [`Blocker`]).
#[derive(Clone)]
pub enum NodeNet {
    Commonware(simulated::Control<PublicKey, deterministic::Context>),
    Lean(lean::Control),
}

impl NodeNet {
    /// Registers `channel` with `quota` per recipient.
    pub async fn register(&self, channel: Channel, quota: Quota) -> SimDuplex {
        match self {
            NodeNet::Commonware(control) => {
                // The harness registers each channel once per life of a known peer: a failure
                // is a bug of the harness, not an input.
                let (sender, receiver) = control
                    .register(channel.id(), quota)
                    .await
                    .unwrap_or_else(|e| panic!("register the {channel} channel: {e}"));
                Duplex {
                    sender: SimSender::Commonware(Box::new(sender)),
                    receiver: SimReceiver::Commonware(receiver),
                }
            }
            NodeNet::Lean(control) => {
                let (sender, receiver) = control.register(channel.id(), quota);
                Duplex {
                    sender: SimSender::Lean(sender),
                    receiver: SimReceiver::Lean(receiver),
                }
            }
        }
    }
}

impl Blocker for NodeNet {
    type PublicKey = PublicKey;

    fn block(&mut self, peer: PublicKey) -> Feedback {
        match self {
            NodeNet::Commonware(control) => control.block(peer),
            NodeNet::Lean(control) => control.block(peer),
        }
    }

    fn blocked(&mut self) -> BlockedSubscription<PublicKey> {
        match self {
            NodeNet::Commonware(control) => control.blocked(),
            NodeNet::Lean(control) => control.blocked(),
        }
    }
}

/// Registers a node's channels on its transport, one quota for every channel.
pub struct NetRegistrar {
    pub node: NodeNet,
    pub quota: Quota,
    /// Told of every frame the node's senders send (enumerated crash points).
    pub hook: Option<Arc<dyn SendHook>>,
}

impl Registrar for NetRegistrar {
    type Sender = SimSender;
    type Receiver = SimReceiver;

    async fn register(&mut self, channel: Channel) -> SimDuplex {
        let duplex = self.node.register(channel, self.quota).await;
        match &self.hook {
            Some(hook) => Duplex {
                sender: SimSender::Hooked(Box::new(duplex.sender), hook.clone()),
                receiver: duplex.receiver,
            },
            None => duplex,
        }
    }
}

/// Told of every frame a hooked sender sent (after it left).
pub trait SendHook: Send + Sync + 'static {
    fn sent(&self);
}

/// Both ends of a node's channel on either transport.
pub type SimDuplex = Duplex<SimSender, SimReceiver>;

/// A node's sender on one channel, on either transport.
#[derive(Clone)]
pub enum SimSender {
    /// Boxed: commonware's sender is several times the lean one's size.
    Commonware(Box<simulated::Sender<PublicKey, deterministic::Context>>),
    Lean(lean::Sender),
    /// Either, telling a hook of each frame it sends.
    Hooked(Box<SimSender>, Arc<dyn SendHook>),
}

impl std::fmt::Debug for SimSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimSender::Commonware(sender) => sender.fmt(f),
            SimSender::Lean(sender) => sender.fmt(f),
            SimSender::Hooked(sender, _) => write!(f, "Hooked({sender:?})"),
        }
    }
}

/// A [`SimSender`]'s recipients within their rate limits.
pub enum SimChecked<'a> {
    Commonware(
        <simulated::Sender<PublicKey, deterministic::Context> as LimitedSender>::Checked<'a>,
    ),
    Lean(<lean::Sender as LimitedSender>::Checked<'a>),
    Hooked(Box<SimChecked<'a>>, Arc<dyn SendHook>),
}

impl LimitedSender for SimSender {
    type PublicKey = PublicKey;
    type Checked<'a> = SimChecked<'a>;

    fn check(
        &mut self,
        recipients: Recipients<PublicKey>,
    ) -> Result<SimChecked<'_>, std::time::SystemTime> {
        match self {
            SimSender::Commonware(sender) => sender.check(recipients).map(SimChecked::Commonware),
            SimSender::Lean(sender) => sender.check(recipients).map(SimChecked::Lean),
            SimSender::Hooked(sender, hook) => {
                let hook = hook.clone();
                sender
                    .check(recipients)
                    .map(|checked| SimChecked::Hooked(Box::new(checked), hook))
            }
        }
    }
}

impl CheckedSender for SimChecked<'_> {
    type PublicKey = PublicKey;

    fn recipients(&self) -> Vec<PublicKey> {
        match self {
            SimChecked::Commonware(checked) => checked.recipients(),
            SimChecked::Lean(checked) => checked.recipients(),
            SimChecked::Hooked(checked, _) => checked.recipients(),
        }
    }

    fn send(self, message: impl Into<IoBufs> + Send, priority: bool) -> Unreliable<Feedback> {
        match self {
            SimChecked::Commonware(checked) => checked.send(message, priority),
            SimChecked::Lean(checked) => checked.send(message, priority),
            SimChecked::Hooked(checked, hook) => {
                let feedback = checked.send(message, priority);
                hook.sent();
                feedback
            }
        }
    }
}

/// A node's receiver on one channel, on either transport.
#[derive(Debug)]
pub enum SimReceiver {
    Commonware(simulated::Receiver<PublicKey>),
    Lean(lean::Receiver),
}

/// Why a [`SimReceiver`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    #[error(transparent)]
    Commonware(#[from] commonware_p2p::simulated::Error),
    #[error(transparent)]
    Lean(#[from] lean::Closed),
}

impl commonware_p2p::Receiver for SimReceiver {
    type Error = RecvError;
    type PublicKey = PublicKey;

    async fn recv(&mut self) -> Result<(PublicKey, IoBuf), RecvError> {
        match self {
            SimReceiver::Commonware(receiver) => Ok(receiver.recv().await?),
            SimReceiver::Lean(receiver) => Ok(receiver.recv().await?),
        }
    }

    fn capacity(&self) -> NonZeroUsize {
        match self {
            SimReceiver::Commonware(receiver) => receiver.capacity(),
            SimReceiver::Lean(receiver) => receiver.capacity(),
        }
    }
}
