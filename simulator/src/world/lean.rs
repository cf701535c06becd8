//! The lean transport: commonware-p2p's `Sender`, `Receiver` and `Blocker` implemented directly
//! on the deterministic runtime, for campaigns.
//!
//! commonware's simulated network models every link as a simulated TCP stream, with a task per
//! link, per-event auditing and a bandwidth model. Our protocols need none of that: they need
//! frames that arrive late, out of step with other links, or not at all. This transport keeps
//! exactly what a scenario draws and nothing else:
//!
//! - **Links** are directed, each with a latency, a jitter and a delivery probability
//!   ([`LinkPlan`]). A frame sent at `t` is due at `t + latency + d`, `d` drawn uniformly from
//!   `[-jitter, +jitter]` (never before `t`), and never before the previous frame on the same
//!   link (**FIFO per link**, as over TCP); it is lost with probability `1 - success`. Draws come
//!   from the transport's own ChaCha RNG, seeded once from the run's runtime RNG, so a run stays
//!   a function of its seed.
//! - **No link, no delivery**: a partition removes links (one way or both) and the heal puts them
//!   back; a frame sent over a missing link is dropped and counted.
//! - **Blocks**: a frame between two peers either of which blocks the other is dropped at send
//!   time (commonware's `disconnect_on_block`).
//! - **Rate limits**: the same per-recipient quota commonware's simulated sender applies
//!   (commonware-p2p's own `LimitedSender`, so `Sender::send` answers alike).
//! - **Bounded queues**: each registered channel of each node holds at most
//!   [`Config::inbox`] frames not yet received; an arrival beyond that is dropped and counted
//!   ([`Stats::overflowed`]).
//!
//! One task delivers every frame: due frames wait in one heap ordered by (due time, send order),
//! and the task sleeps until the earliest (a send that becomes the new earliest wakes it). A
//! frame costs its payload (an `IoBuf`, shared between recipients), one heap entry and one queue
//! entry; nothing is formatted and no task is spawned per frame. A node that registers a channel
//! again (a new life) replaces its queue, and frames sent to its old life that are still in
//! flight are dropped (counted as [`Stats::stale`]), as a restarted process never reads what
//! was sent over its dead connections; frames its old life sent still arrive.

use crate::plan::LinkPlan;
use cohort_protocol::PublicKey;
use commonware_actor::{Feedback, Unreliable};
use commonware_p2p::{
    BlockedSubscription, Blocker, LimitedSender, Recipients, UnlimitedSender, utils::limited,
};
use commonware_runtime::{Clock as _, IoBuf, IoBufs, Quota, Spawner as _, deterministic};
use commonware_utils::{channel::ring, ordered::Set};
use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque},
    future::poll_fn,
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard},
    task::{Poll, Waker},
    time::{Duration, SystemTime},
};

/// How a lean network is built.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest frame a sender may send (a larger one is a bug of the sender: it panics, as
    /// commonware's senders do).
    pub max_size: usize,
    /// Frames each registered channel of each node holds before it drops arrivals.
    pub inbox: NonZeroUsize,
}

/// What the transport did with the frames it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames accepted for delivery (one per recipient).
    pub sent: u64,
    /// Frames put in a recipient's queue.
    pub delivered: u64,
    /// Frames lost on their link (drawn).
    pub lost: u64,
    /// Frames dropped because one end blocks the other.
    pub blocked: u64,
    /// Frames dropped because no link joined the two ends (a partition).
    pub unlinked: u64,
    /// Frames dropped because the recipient's queue was full, or it never registered the
    /// channel.
    pub overflowed: u64,
    /// Frames sent to a life of the recipient that ended before they arrived.
    pub stale: u64,
}

/// One directed link's behaviour, and when its last frame is due (FIFO).
#[derive(Clone, Copy, Debug)]
struct Link {
    latency: Duration,
    jitter: Duration,
    success_per_mille: u32,
    last_due: SystemTime,
}

/// A frame on its way.
struct Frame {
    due: SystemTime,
    seq: u64,
    from: u32,
    to: u32,
    channel: u64,
    /// The recipient's registration of the channel when the frame was sent: a frame sent to
    /// one life of a node never reaches the next (its connection died with the old life).
    generation: u64,
    payload: IoBuf,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Frame {}
impl PartialOrd for Frame {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Frame {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// One registered channel of one node: the frames it has not received yet.
#[derive(Debug)]
struct Inbox {
    queue: VecDeque<(PublicKey, IoBuf)>,
    waker: Option<Waker>,
}

type SharedInbox = Arc<Mutex<Inbox>>;

struct State {
    members: Vec<PublicKey>,
    index: BTreeMap<PublicKey, u32>,
    /// `from * n + to`.
    links: Vec<Option<Link>>,
    blocks: BTreeSet<(u32, u32)>,
    /// Each node's current registration of each channel: its number and its queue.
    inboxes: BTreeMap<(u32, u64), (u64, SharedInbox)>,
    registrations: u64,
    in_flight: BinaryHeap<Reverse<Frame>>,
    seq: u64,
    rng: ChaCha8Rng,
    /// The delivery task's waker, and whether it has been woken since it last looked.
    deliverer: Option<Waker>,
    woken: bool,
    subscribers: Vec<(u32, ring::Sender<Set<PublicKey>>)>,
    stats: Stats,
}

impl State {
    fn link_mut(&mut self, from: u32, to: u32) -> &mut Option<Link> {
        let n = self.members.len();
        &mut self.links[from as usize * n + to as usize]
    }

    fn blocked_by(&self, from: u32) -> Set<PublicKey> {
        Set::from_iter_dedup(
            self.blocks
                .range((from, 0)..=(from, u32::MAX))
                .map(|(_, to)| self.members[*to as usize].clone()),
        )
    }

    fn notify_blocked(&mut self, from: u32) {
        let set = self.blocked_by(from);
        self.subscribers
            .retain(|(node, sender)| *node != from || sender.send_lossy(set.clone()));
    }
}

/// A lean simulated network (see the module docs). Cheap to clone: every clone is the same
/// network.
#[derive(Clone)]
pub struct Network {
    state: Arc<Mutex<State>>,
    clock: Arc<deterministic::Context>,
    config: Config,
}

impl Network {
    /// A network of `members` with no links yet; its delivery task runs under `context`.
    pub fn new(context: deterministic::Context, members: &[PublicKey], config: Config) -> Self {
        let mut context = context;
        let seed = context.next_u64();
        let n = members.len();
        let state = Arc::new(Mutex::new(State {
            members: members.to_vec(),
            index: members
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), i as u32))
                .collect(),
            links: vec![None; n * n],
            blocks: BTreeSet::new(),
            inboxes: BTreeMap::new(),
            registrations: 0,
            in_flight: BinaryHeap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            deliverer: None,
            woken: false,
            subscribers: Vec::new(),
            stats: Stats::default(),
        }));
        let network = Self {
            state: state.clone(),
            clock: Arc::new(commonware_runtime::Supervisor::child(&context, "clock")),
            config,
        };
        let deliverer = network.clone();
        commonware_runtime::Supervisor::child(&context, "deliver")
            .spawn(move |context| deliverer.deliver(context));
        network
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("lean network state")
    }

    /// Sets the link `from -> to` (replacing any), due times continuing after its last frame.
    pub fn add_link(&self, from: &PublicKey, to: &PublicKey, plan: &LinkPlan) {
        let mut state = self.lock();
        let (Some(&f), Some(&t)) = (state.index.get(from), state.index.get(to)) else {
            return;
        };
        let last_due = state
            .link_mut(f, t)
            .map_or(SystemTime::UNIX_EPOCH, |l| l.last_due);
        *state.link_mut(f, t) = Some(Link {
            latency: Duration::from_millis(plan.latency_ms),
            jitter: Duration::from_millis(plan.jitter_ms),
            success_per_mille: plan.success_per_mille,
            last_due,
        });
    }

    /// Removes the link `from -> to` (frames already on it still arrive).
    pub fn remove_link(&self, from: &PublicKey, to: &PublicKey) {
        let mut state = self.lock();
        if let (Some(&f), Some(&t)) = (state.index.get(from), state.index.get(to)) {
            *state.link_mut(f, t) = None;
        }
    }

    /// Every (blocker, blocked) pair.
    pub fn blocked(&self) -> Vec<(PublicKey, PublicKey)> {
        let state = self.lock();
        state
            .blocks
            .iter()
            .map(|(f, t)| {
                (
                    state.members[*f as usize].clone(),
                    state.members[*t as usize].clone(),
                )
            })
            .collect()
    }

    /// `from` blocks `to`.
    pub fn block(&self, from: &PublicKey, to: &PublicKey) {
        let mut state = self.lock();
        if let (Some(&f), Some(&t)) = (state.index.get(from), state.index.get(to))
            && state.blocks.insert((f, t))
        {
            state.notify_blocked(f);
        }
    }

    /// `from` no longer blocks `to`.
    pub fn unblock(&self, from: &PublicKey, to: &PublicKey) {
        let mut state = self.lock();
        if let (Some(&f), Some(&t)) = (state.index.get(from), state.index.get(to))
            && state.blocks.remove(&(f, t))
        {
            state.notify_blocked(f);
        }
    }

    /// What the transport did so far.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Registers `channel` for `me` (replacing an earlier registration): its sender, rate
    /// limited per recipient by `quota` as commonware's simulated sender is, and its receiver.
    pub fn register(&self, me: &PublicKey, channel: u64, quota: Quota) -> (Sender, Receiver) {
        let inbox = Arc::new(Mutex::new(Inbox {
            queue: VecDeque::new(),
            waker: None,
        }));
        let index = {
            let mut state = self.lock();
            let index = *state.index.get(me).expect("registering a member");
            state.registrations += 1;
            let generation = state.registrations;
            state
                .inboxes
                .insert((index, channel), (generation, inbox.clone()));
            index
        };
        let unlimited = Unlimited {
            network: self.clone(),
            me: index,
            channel,
        };
        let peers = Peers {
            others: self
                .lock()
                .members
                .iter()
                .filter(|k| *k != me)
                .cloned()
                .collect(),
        };
        let sender = Sender {
            inner: limited::LimitedSender::new(
                unlimited,
                quota,
                commonware_runtime::Supervisor::child(self.clock.as_ref(), "limit"),
                peers,
            ),
        };
        let receiver = Receiver {
            inbox,
            capacity: self.config.inbox,
        };
        (sender, receiver)
    }

    /// The blocker of node `me` on this network.
    pub fn control(&self, me: &PublicKey) -> Control {
        Control {
            network: self.clone(),
            me: me.clone(),
        }
    }

    /// Puts `payload` on the links from `from` to each of `to`.
    fn send(&self, from: u32, to: &[u32], channel: u64, payload: IoBuf) {
        assert!(
            payload.len() <= self.config.max_size,
            "frame of {} bytes exceeds the transport's limit of {}",
            payload.len(),
            self.config.max_size
        );
        let now = self.clock.current();
        let mut state = self.lock();
        let mut wake = false;
        for &recipient in to {
            if recipient == from {
                continue;
            }
            if state.blocks.contains(&(from, recipient))
                || state.blocks.contains(&(recipient, from))
            {
                state.stats.blocked += 1;
                continue;
            }
            let Some(link) = *state.link_mut(from, recipient) else {
                state.stats.unlinked += 1;
                continue;
            };
            let Some(generation) = state.inboxes.get(&(recipient, channel)).map(|(g, _)| *g) else {
                // Nobody listens there (a node that never started): nothing to connect to.
                state.stats.overflowed += 1;
                continue;
            };
            state.stats.sent += 1;
            if link.success_per_mille < 1000
                && state.rng.random_range(0..1000u32) >= link.success_per_mille
            {
                state.stats.lost += 1;
                continue;
            }
            let jitter_ms = link.jitter.as_millis() as i64;
            let offset_ms = if jitter_ms > 0 {
                state.rng.random_range(-jitter_ms..=jitter_ms)
            } else {
                0
            };
            let delay = (link.latency.as_millis() as i64 + offset_ms).max(0) as u64;
            let due = (now + Duration::from_millis(delay)).max(link.last_due);
            if let Some(l) = state.link_mut(from, recipient).as_mut() {
                l.last_due = due;
            }
            wake |= state
                .in_flight
                .peek()
                .is_none_or(|Reverse(head)| due < head.due);
            let seq = state.seq;
            state.seq += 1;
            state.in_flight.push(Reverse(Frame {
                due,
                seq,
                from,
                to: recipient,
                channel,
                generation,
                payload: payload.clone(),
            }));
        }
        if wake {
            state.woken = true;
            if let Some(waker) = state.deliverer.take() {
                waker.wake();
            }
        }
    }

    /// The delivery task: hands every frame to its recipient's queue when it is due.
    async fn deliver(self, context: deterministic::Context) {
        loop {
            let next = {
                let now = context.current();
                let mut state = self.lock();
                while state
                    .in_flight
                    .peek()
                    .is_some_and(|Reverse(head)| head.due <= now)
                {
                    let Reverse(frame) = state.in_flight.pop().expect("peeked");
                    let sender = state.members[frame.from as usize].clone();
                    let inbox = state
                        .inboxes
                        .get(&(frame.to, frame.channel))
                        .filter(|(generation, _)| *generation == frame.generation)
                        .map(|(_, inbox)| inbox.clone());
                    let Some(inbox) = inbox else {
                        // The recipient restarted since: the frame died with its connection.
                        state.stats.stale += 1;
                        continue;
                    };
                    let mut inbox = inbox.lock().expect("inbox");
                    if inbox.queue.len() >= self.config.inbox.get() {
                        state.stats.overflowed += 1;
                        continue;
                    }
                    inbox.queue.push_back((sender, frame.payload));
                    if let Some(waker) = inbox.waker.take() {
                        waker.wake();
                    }
                    state.stats.delivered += 1;
                }
                state.woken = false;
                state.in_flight.peek().map(|Reverse(head)| head.due)
            };
            let woken = poll_fn(|cx| {
                let mut state = self.lock();
                if state.woken {
                    state.woken = false;
                    Poll::Ready(())
                } else {
                    state.deliverer = Some(cx.waker().clone());
                    Poll::Pending
                }
            });
            match next {
                Some(due) => {
                    commonware_macros::select! {
                        _ = context.sleep_until(due) => {},
                        _ = woken => {},
                    }
                }
                None => woken.await,
            }
        }
    }
}

/// Sends one node's frames on one channel (no rate limit: [`Sender`] wraps it in one).
#[derive(Clone)]
pub struct Unlimited {
    network: Network,
    me: u32,
    channel: u64,
}

impl UnlimitedSender for Unlimited {
    type PublicKey = PublicKey;

    fn send(
        &mut self,
        recipients: Recipients<PublicKey>,
        message: impl Into<IoBufs> + Send,
        _priority: bool,
    ) -> Unreliable<Feedback> {
        let payload = message.into().coalesce();
        let to: Vec<u32> = {
            let state = self.network.lock();
            match &recipients {
                Recipients::All => (0..state.members.len() as u32).collect(),
                Recipients::Some(keys) => keys
                    .iter()
                    .filter_map(|k| state.index.get(k).copied())
                    .collect(),
                Recipients::One(key) => state.index.get(key).copied().into_iter().collect(),
            }
        };
        self.network.send(self.me, &to, self.channel, payload);
        Unreliable::Outcome(Feedback::Ok)
    }
}

/// The peers `Recipients::All` reaches: every other member (the set never changes).
#[derive(Clone)]
pub struct Peers {
    others: Vec<PublicKey>,
}

impl limited::Connected for Peers {
    type PublicKey = PublicKey;

    fn peers(&self) -> Vec<PublicKey> {
        self.others.clone()
    }

    fn subscribe(&self) -> ring::Receiver<Vec<PublicKey>> {
        let (sender, receiver) = ring::channel(NonZeroUsize::MIN);
        sender.send_lossy(self.others.clone());
        receiver
    }
}

/// One node's sender on one channel of a lean network.
#[derive(Clone)]
pub struct Sender {
    inner: limited::LimitedSender<deterministic::Context, Unlimited, Peers>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("lean::Sender").finish_non_exhaustive()
    }
}

impl LimitedSender for Sender {
    type PublicKey = PublicKey;
    type Checked<'a> = limited::CheckedSender<'a, Unlimited>;

    fn check(
        &mut self,
        recipients: Recipients<PublicKey>,
    ) -> Result<Self::Checked<'_>, SystemTime> {
        self.inner.check(recipients)
    }
}

/// Why a lean receiver stopped (it never does: the network lives as long as the run).
#[derive(Debug, thiserror::Error)]
#[error("lean network closed")]
pub struct Closed;

/// One node's receiver on one channel of a lean network.
pub struct Receiver {
    inbox: SharedInbox,
    capacity: NonZeroUsize,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("lean::Receiver").finish_non_exhaustive()
    }
}

impl commonware_p2p::Receiver for Receiver {
    type Error = Closed;
    type PublicKey = PublicKey;

    async fn recv(&mut self) -> Result<(PublicKey, IoBuf), Closed> {
        poll_fn(|cx| {
            let mut inbox = self.inbox.lock().expect("inbox");
            match inbox.queue.pop_front() {
                Some(frame) => Poll::Ready(Ok(frame)),
                None => {
                    inbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }
}

/// One node's blocker on a lean network.
#[derive(Clone)]
pub struct Control {
    network: Network,
    me: PublicKey,
}

impl Control {
    /// Registers `channel` for this node (see [`Network::register`]).
    pub fn register(&self, channel: u64, quota: Quota) -> (Sender, Receiver) {
        self.network.register(&self.me, channel, quota)
    }
}

impl Blocker for Control {
    type PublicKey = PublicKey;

    fn block(&mut self, peer: PublicKey) -> Feedback {
        self.network.block(&self.me, &peer);
        Feedback::Ok
    }

    fn blocked(&mut self) -> BlockedSubscription<PublicKey> {
        let (sender, receiver) = ring::channel(NonZeroUsize::MIN);
        let mut state = self.network.lock();
        let me = *state.index.get(&self.me).expect("a member");
        sender.send_lossy(state.blocked_by(me));
        state.subscribers.push((me, sender));
        receiver
    }
}
