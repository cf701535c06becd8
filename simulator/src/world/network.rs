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
pub use crate::plan::Transport;
use crate::{
    plan::{LinkPlan, PartitionPlan},
    trace::{Sink, micros},
};
use cohort_protocol::{
    Duplex, PublicKey,
    channels::{Channel, Registrar},
};
use commonware_actor::{Feedback, Unreliable};
use commonware_p2p::{
    BlockedSubscription, Blocker, CheckedSender, LimitedSender, Recipients, simulated,
};
use commonware_runtime::{
    Clock as _, IoBuf, IoBufs, Quota, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZUsize, Probability};
use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// Largest frame the simulated network carries: the protocol's one frame limit.
pub const MAX_FRAME: u32 = cohort_protocol::MAX_FRAME_BYTES as u32;

/// Frames each registered channel of each node holds on the lean transport before it drops
/// arrivals: commonware's simulated receiver reports one quota burst per peer it may hear
/// from; this is that bound for the largest cluster, never reached by an honest workload.
pub const LEAN_INBOX: usize = 64 * 1024;

/// commonware's simulated network's oracle.
pub type Oracle = simulated::Oracle<PublicKey, deterministic::Context>;

/// A run's network, on one transport, and the book of its links: what each link is meant to
/// be, and which partition windows cut it now.
pub struct Net {
    transport: Links,
    members: Vec<PublicKey>,
    book: Mutex<LinkBook>,
}

/// The transport under a [`Net`].
enum Links {
    Commonware(Oracle),
    Lean(lean::Network),
}

/// Each directed link's intended setting (from the plan, lossless after the final heal) and
/// how many partition windows cut it now; a link is on the transport when none does.
#[derive(Default)]
struct LinkBook {
    base: BTreeMap<(usize, usize), LinkPlan>,
    cuts: BTreeMap<(usize, usize), u32>,
    /// The final heal happened: no window cuts anything any more.
    healed: bool,
}

/// The network of `members` with the drawn `links`, started on `transport` (shared: each node's
/// [`super::ExpiringBlocker`] lifts blocks through it).
pub async fn network(
    context: &deterministic::Context,
    members: &[PublicKey],
    links: &[LinkPlan],
    transport: Transport,
) -> Arc<Net> {
    let transport = match transport {
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
            Links::Commonware(oracle)
        }
        Transport::Lean => Links::Lean(lean::Network::new(
            context.child("network"),
            members,
            lean::Config {
                max_size: MAX_FRAME as usize,
                inbox: NZUsize!(LEAN_INBOX),
            },
        )),
    };
    let net = Net {
        transport,
        members: members.to_vec(),
        book: Mutex::default(),
    };
    for link in links {
        net.book().base.insert((link.from, link.to), link.clone());
        net.add_link(link.from, link.to, link).await;
    }
    Arc::new(net)
}

impl Net {
    fn book(&self) -> MutexGuard<'_, LinkBook> {
        self.book.lock().expect("link book")
    }

    /// Node `me`'s handle: registers its channels and blocks its peers.
    pub fn node(&self, me: &PublicKey) -> NodeNet {
        match &self.transport {
            Links::Commonware(oracle) => NodeNet::Commonware(oracle.control(me.clone())),
            Links::Lean(network) => NodeNet::Lean(network.control(me)),
        }
    }

    /// Every (blocker, blocked) pair.
    pub async fn blocked(&self) -> Vec<(PublicKey, PublicKey)> {
        match &self.transport {
            Links::Commonware(oracle) => oracle.blocked().await.unwrap_or_default(),
            Links::Lean(network) => network.blocked(),
        }
    }

    /// `from` no longer blocks `to`.
    pub async fn unblock(&self, from: PublicKey, to: PublicKey) {
        match &self.transport {
            Links::Commonware(oracle) => {
                let _ = oracle.unblock(from, to).await;
            }
            Links::Lean(network) => network.unblock(&from, &to),
        }
    }

    /// What the lean transport did with its frames (`None` on commonware's).
    pub fn lean_stats(&self) -> Option<lean::Stats> {
        match &self.transport {
            Links::Commonware(_) => None,
            Links::Lean(network) => Some(network.stats()),
        }
    }

    /// One more window cuts each of `pairs`: the links no window cut before leave the
    /// transport (none does after the final heal).
    pub async fn cut(&self, pairs: &[(usize, usize)]) {
        let gone: Vec<(usize, usize)> = {
            let mut book = self.book();
            if book.healed {
                return;
            }
            let mut gone = Vec::new();
            for pair in pairs {
                let count = book.cuts.entry(*pair).or_default();
                *count += 1;
                if *count == 1 && book.base.contains_key(pair) {
                    gone.push(*pair);
                }
            }
            gone
        };
        for (from, to) in gone {
            self.remove_link(from, to).await;
        }
    }

    /// One window less cuts each of `pairs`: the links no window cuts any more are back, as
    /// the book says they are now.
    pub async fn uncut(&self, pairs: &[(usize, usize)]) {
        let back: Vec<LinkPlan> = {
            let mut book = self.book();
            if book.healed {
                return;
            }
            let mut back = Vec::new();
            for pair in pairs {
                let Some(count) = book.cuts.get_mut(pair) else {
                    continue;
                };
                *count -= 1;
                if *count == 0 {
                    book.cuts.remove(pair);
                    back.extend(book.base.get(pair).cloned());
                }
            }
            back
        };
        for link in back {
            self.add_link(link.from, link.to, &link).await;
        }
    }

    /// The final heal: every link of the plan again, with its latency but no loss; no window
    /// cuts anything from now on.
    pub async fn heal(&self) {
        let links: Vec<LinkPlan> = {
            let mut book = self.book();
            book.healed = true;
            book.cuts.clear();
            for link in book.base.values_mut() {
                link.success_per_mille = 1000;
            }
            book.base.values().cloned().collect()
        };
        for link in links {
            self.remove_link(link.from, link.to).await;
            self.add_link(link.from, link.to, &link).await;
        }
    }

    /// Runs the partition `windows` (see [`PartitionPlan`]), each in a task of its own, and
    /// records each cut and heal as a harness event of every node it cuts off.
    pub fn partition(
        self: &Arc<Self>,
        context: &deterministic::Context,
        windows: &[PartitionPlan],
        sink: &Arc<Mutex<Sink>>,
    ) {
        for (i, window) in windows.iter().enumerate() {
            let window = window.clone();
            let pairs = self.pairs(|from, to| window.cuts(from, to));
            // The nodes that lose at least one link, each told once.
            let mut touched: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
            touched.sort_unstable();
            touched.dedup();
            let detail = format!(
                "window={i} groups={:?} one_way={} for_ms={}",
                window.groups, window.one_way, window.for_ms
            );
            let (net, sink) = (self.clone(), sink.clone());
            context.child("partition").spawn(move |context| async move {
                let record = |context: &deterministic::Context, name: &'static str| {
                    let t_us = micros(context.current());
                    let mut sink = sink.lock().expect("sink");
                    for node in &touched {
                        sink.record_harness(t_us, *node as u32, name, detail.clone());
                    }
                };
                let start = context.current() + Duration::from_millis(window.at_ms);
                context.sleep_until(start).await;
                if net.book().healed {
                    return;
                }
                record(&context, "partitioned");
                net.cut(&pairs).await;
                context.sleep(Duration::from_millis(window.for_ms)).await;
                if net.book().healed {
                    return;
                }
                net.uncut(&pairs).await;
                record(&context, "partition_healed");
            });
        }
    }

    /// Every directed pair of nodes `cuts` says a cut takes, in order.
    fn pairs(&self, cuts: impl Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
        let nodes = self.members.len();
        (0..nodes)
            .flat_map(|from| (0..nodes).map(move |to| (from, to)))
            .filter(|&(from, to)| cuts(from, to))
            .collect()
    }

    /// Sets the link `from -> to` as `link` says (there is none).
    async fn add_link(&self, from: usize, to: usize, link: &LinkPlan) {
        let (from, to) = (&self.members[from], &self.members[to]);
        match &self.transport {
            Links::Commonware(oracle) => {
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
            Links::Lean(network) => network.add_link(from, to, link),
        }
    }

    /// Removes the link `from -> to`.
    async fn remove_link(&self, from: usize, to: usize) {
        let (from, to) = (&self.members[from], &self.members[to]);
        match &self.transport {
            Links::Commonware(oracle) => {
                let _ = oracle.remove_link(from.clone(), to.clone()).await;
            }
            Links::Lean(network) => network.remove_link(from, to),
        }
    }
}

/// Cuts every link that crosses between `side` and the other nodes until the final heal
/// (`ledger-partition`'s partition).
pub async fn cut(net: &Net, side: &[usize]) {
    let pairs = net.pairs(|from, to| side.contains(&from) != side.contains(&to));
    net.cut(&pairs).await;
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
