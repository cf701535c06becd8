//! The barrier's pure state machine (SPEC section 1).
//!
//! [`State`] holds one node's view of every peer's barrier session and step. It does no I/O: the
//! actor feeds it inputs (a decoded message, an undecodable frame, a tick, a local request) with
//! the current time and the runtime RNG, and it answers with [`Outputs`] (messages to send, peers
//! to block, events to trace). That keeps every rule unit-testable without a runtime.
//!
//! Rules kept here:
//! - A session opens with a signed `Hello`; the receiver checks version, cluster hash and
//!   signature. An invalid hello is answered with `Reject`, the peer's step is not updated, and
//!   the error is recorded: from then on every waiter returns it (the barrier needs *every*
//!   member, so a member that cannot join makes it fail fast rather than hang).
//! - A peer's step never decreases; its first observed step is 0 or 1; afterwards it stays or
//!   advances by 1 or 2; it never exceeds the configured last step. Anything else is recorded as
//!   an error naming the peer, and the peer is blocked (the transport authenticates it, so a
//!   broken rule is proof of misbehaviour). A peer's step history spans its sessions: a peer that
//!   restarts must resume at its persisted step.
//! - **A restart without its position** (issue 14: the node's metadata was lost): a peer whose
//!   *new* session's first `Sync` is below the step we saw of it is answered
//!   [`RejectReason::Behind`] with that step, and is neither blocked nor counted faulty (its
//!   step history is kept; a step that goes down within one session is still a violation).
//!   The restarted node records each peer's claim and adopts the highest step that more than
//!   `f = (n - 1) / 3` peers vouch for ([`Event::StepRecovered`]): one of them is honest, and
//!   an honest peer only saw steps the node had reached, so a liar alone cannot push it
//!   forward. Local steps up to the adopted one are then accepted as already passed (the
//!   ceremony redoes its lost work at the step it reached). Only quorum mode gains from this:
//!   in the all-members mode (the walk) a node at step 0 still judges its peers' first steps
//!   by its resume window.
//! - **Faults expire** ([`Config::fault_expiry`]): a recorded fault is forgotten once it is
//!   that old ([`Event::PeerFaultExpired`]); the peer counts again, a new session to it opens,
//!   and if it still breaks the rules it is recorded (and blocked) again.
//! - A node that itself restarted resumes at the step it recorded before announcing it
//!   ([`Config::resume_step`] = s). Every peer is then at `s - 1`, `s` or `s + 1` (none can pass
//!   `s + 1` without us, none was below `s - 1` when we moved to `s`), so the first step observed
//!   of a peer must lie in that window; with `s = 0` that is the spec's "0 or 1".
//! - **Quorum mode** (an extension of the spec's rule, off unless [`Config::quorum_mode`] is
//!   set; the DKG uses it): a ceremony whose phases wait for a quorum, not for every member,
//!   lets peers move on without us, so a peer's step may be any distance from ours, and a
//!   restarted node may find peers far below or above its resume step. The rules left: a
//!   peer's step never decreases (across its sessions) and never passes the last step. A peer
//!   that breaks them, refuses us or does not speak the protocol is recorded as faulty: a
//!   [`Condition::QuorumAtStep`] wait counts it absent and fails only when the faulty leave too
//!   few members for the quorum, and setting our own step goes on.
//! - **Attempt blocks** (an extension of the spec's rule, off unless [`Config::block`] is set):
//!   a ceremony that runs its attempts as blocks of `block` steps may abandon an attempt that
//!   missed its deadline by jumping forward to the first step of a later block. So with blocks a
//!   peer may also jump to any later block start; a node that restarted accepts a first
//!   observation at any block start above `s`, and, when `s` is itself a block start (it may have
//!   jumped there alone), any step up to `s + 1`. The ceremony, not the barrier, decides what a
//!   peer in a later block means (see `dkg::actor`).
//! - A frame from a member that does not decode means the peer does not speak this protocol: it
//!   is reported (error + block) and not dialled again. A silent peer is different (it may be
//!   down): its hello is retried forever with capped exponential backoff and jitter, and it is
//!   reported as unresponsive once.
//! - Frames from non-members are dropped and their sender blocked; they never affect the barrier.
//! - Every `Sync` echoes the step the sender has seen of the receiver (reset when the peer opens a
//!   new session, i.e. restarted: only its current life's echoes count). "All at step n" means
//!   every member is at `n` *and* has seen this node at `n`: a node cannot pass a step before every
//!   peer knows it reached it, so under any message loss a peer observes each of our steps (never
//!   a jump of more than the spec's tolerated 2, and a first observation of 0 or 1).
//! - Shutdown: a node announces shutdown in its `Sync`s; every peer echoes `shutdown_ack` once it
//!   saw the announcement. Both flags are repeated every period, so a lost message heals itself.

use super::wire::{HELLO_NAMESPACE, Hello, Message, RejectReason, Sync};
use crate::{
    backoff,
    channels::Channel,
    cluster::{Cluster, ClusterHash, ProtocolVersion, PublicKey},
    trace::Event,
};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_utils::{Faults as _, N3f1};
use rand::{Rng, RngExt as _};
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};
use thiserror::Error;

/// Configuration of the state machine.
#[derive(Clone, Debug)]
pub struct Config {
    /// How often every peer is sent our step; also the base of the reconnect backoff.
    pub sync_period: Duration,
    /// Cap of the reconnect backoff.
    pub reconnect_cap: Duration,
    /// After this many unanswered hellos a peer is reported unresponsive (and still retried).
    pub unresponsive_after: u32,
    /// The highest step any member may announce.
    pub max_step: u64,
    /// The step this node resumes at after a restart (0 on a first start).
    pub resume_step: u64,
    /// Length of an *attempt block* (0: no blocks). With blocks, steps `k * block + 1` are
    /// block starts, and a member may also jump forward to any block start: that is how a
    /// ceremony attempt that missed its deadline is abandoned for a new one (see
    /// [`is_block_start`]).
    pub block: u64,
    /// Quorum mode (see the module docs): peers move on with a quorum, not with everybody, so
    /// a peer's step may be any distance from ours; only a step that goes down (or past the
    /// last step) breaks the rules.
    pub quorum_mode: bool,
    /// Catch-up mode (with governance, where members are admitted at runtime): a valid hello
    /// from a key that is not a member here (this cluster's hash, a good signature) is answered
    /// with [`RejectReason::CatchUp`] and not blocked, since it may have been admitted by a
    /// certificate this node has not applied yet; its other frames are dropped without a
    /// block. A `CatchUp` answer to our own hello is retried with backoff, never a fault.
    pub catch_up: bool,
    /// How long a peer's recorded fault lasts (`None`: for the life of this state). When it
    /// expires the peer counts again, a new session to it opens, and it is judged afresh: a
    /// peer an operator repaired rejoins without the rest of the cluster restarting, and one
    /// that keeps misbehaving is recorded (and blocked) again. The transport's own block of the
    /// peer should last as long (the node gives the same value to its p2p config).
    pub fault_expiry: Option<Duration>,
    /// Checks hello signatures ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
}

/// An error recorded by the barrier or returned to one waiter.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BarrierError {
    /// We refused `peer`'s hello.
    #[error("refused hello from peer {peer}: {reason}")]
    PeerRefused {
        peer: PublicKey,
        reason: RejectReason,
    },
    /// `peer` refused our hello or our session.
    #[error("peer {peer} refused us: {reason}")]
    RefusedByPeer {
        peer: PublicKey,
        reason: RejectReason,
    },
    /// `peer` broke the step rules.
    #[error("peer {peer} broke the step rules: previous {previous:?}, announced {got}")]
    StepViolation {
        peer: PublicKey,
        previous: Option<u64>,
        got: u64,
    },
    /// `peer` sent a frame that is not a barrier message.
    #[error("peer {peer} does not speak the barrier protocol: {detail}")]
    NotProtocol { peer: PublicKey, detail: String },
    /// A wait reached its deadline.
    #[error("timed out waiting for {what}; still missing: {}", display_keys(.missing))]
    Timeout {
        what: String,
        missing: Vec<PublicKey>,
    },
    /// The local caller asked for a step below the current one or above the last step.
    #[error("invalid local step {requested} (current {current}, last {max})")]
    InvalidLocalStep {
        current: u64,
        requested: u64,
        max: u64,
    },
    /// The barrier actor is gone.
    #[error("barrier stopped")]
    Stopped,
}

impl BarrierError {
    /// The peer this error names, if any.
    pub fn peer(&self) -> Option<&PublicKey> {
        match self {
            BarrierError::PeerRefused { peer, .. }
            | BarrierError::RefusedByPeer { peer, .. }
            | BarrierError::StepViolation { peer, .. }
            | BarrierError::NotProtocol { peer, .. } => Some(peer),
            BarrierError::Timeout { .. }
            | BarrierError::InvalidLocalStep { .. }
            | BarrierError::Stopped => None,
        }
    }
}

/// Whether `step` starts an attempt block of length `block` (never without blocks).
pub fn is_block_start(block: u64, step: u64) -> bool {
    block > 0 && step > 0 && (step - 1).is_multiple_of(block)
}

fn display_keys(keys: &[PublicKey]) -> String {
    let parts: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    parts.join(", ")
}

/// What a wait is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Both directions of every peer's session are open.
    AllConnected,
    /// This node and every peer are at `step` or beyond, and every peer has seen this node there.
    AllAtStep(u64),
    /// Every peer acknowledged our shutdown announcement.
    ShutdownAcknowledged,
    /// Every peer announced its own shutdown.
    AllShutdown,
    /// This node and `quorum` members (this node included) are at `step` or beyond, each
    /// having seen this node there. A member recorded as faulty (it broke the rules, refused us,
    /// or does not speak the protocol) counts as absent; the wait fails with the recorded error
    /// only once too many are faulty for the quorum.
    QuorumAtStep(u64, usize),
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::AllConnected => write!(f, "all peers connected"),
            Condition::AllAtStep(step) => write!(f, "all members at step {step}"),
            Condition::ShutdownAcknowledged => write!(f, "shutdown acknowledgements"),
            Condition::AllShutdown => write!(f, "every peer's shutdown"),
            Condition::QuorumAtStep(step, quorum) => {
                write!(f, "{quorum} members at step {step}")
            }
        }
    }
}

/// What the state machine asks the actor to do.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Messages to send, each to one peer.
    pub sends: Vec<(PublicKey, Message)>,
    /// Peers to block at the transport.
    pub blocks: Vec<PublicKey>,
    /// Events to trace.
    pub events: Vec<Event>,
}

impl Outputs {
    fn send(&mut self, to: &PublicKey, message: Message) {
        self.sends.push((to.clone(), message));
    }
}

/// Our outbound session to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outbound {
    /// Hello sent `attempt` times (0: not yet); the next one is due at `next_hello`.
    Connecting {
        session: u64,
        attempt: u32,
        next_hello: SystemTime,
    },
    /// The peer welcomed `session`.
    Established { session: u64 },
    /// Given up for good (the peer refused us or does not speak the protocol).
    Closed,
}

/// What we know of one peer.
#[derive(Clone, Debug)]
struct Peer {
    outbound: Outbound,
    /// The peer's session to us that we accepted.
    inbound: Option<u64>,
    /// The peer's last observed step.
    step: Option<u64>,
    /// The peer's current inbound session has not had a `Sync` accepted yet: its first step
    /// below `step` means it restarted without its position (answered `Behind`, not a fault).
    fresh: bool,
    /// The peer announced shutdown.
    shutdown: bool,
    /// The peer acknowledged our shutdown.
    acked_ours: bool,
    /// Highest step of ours the peer has echoed (clamped to our step).
    seen_ours: u64,
    connected_reported: bool,
}

impl Peer {
    /// A peer we have not heard from, our hello due at `now`.
    fn new(now: SystemTime, rng: &mut impl Rng) -> Self {
        Peer {
            outbound: Outbound::Connecting {
                session: rng.next_u64(),
                attempt: 0,
                next_hello: now,
            },
            inbound: None,
            step: None,
            fresh: false,
            shutdown: false,
            acked_ours: false,
            seen_ours: 0,
            connected_reported: false,
        }
    }
}

/// Public view of one peer, for status pages and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: PublicKey,
    pub connected: bool,
    pub step: Option<u64>,
    pub shutdown: bool,
}

/// Public view of the barrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub step: u64,
    pub shutdown: bool,
    pub error: Option<BarrierError>,
    pub peers: Vec<PeerStatus>,
}

/// One node's barrier state.
pub struct State {
    signer: ed25519::PrivateKey,
    me: PublicKey,
    version: ProtocolVersion,
    cluster_hash: ClusterHash,
    members: Vec<PublicKey>,
    cfg: Config,
    step: u64,
    shutdown: bool,
    peers: BTreeMap<PublicKey, Peer>,
    error: Option<BarrierError>,
    /// Every peer with a recorded fault: its first, and when it was recorded (for
    /// [`Config::fault_expiry`]).
    faulty: BTreeMap<PublicKey, (BarrierError, SystemTime)>,
    /// The steps peers said they had seen of us before our restart (`Behind` answers).
    claims: BTreeMap<PublicKey, u64>,
    /// Our hello signatures by session (ed25519 signing is deterministic: a hello sent again is
    /// the same bytes, signed once). Cleared past a bound.
    hello_signatures: BTreeMap<u64, ed25519::Signature>,
    /// Per peer, the last hello whose signature verified (session and signature): the same
    /// hello again is not verified again.
    verified_hellos: BTreeMap<PublicKey, (u64, ed25519::Signature)>,
    /// The step adopted from those claims, if any: local steps up to it are already behind us.
    recovered: Option<u64>,
    /// Highest step reported by an `AllAtStep` event.
    reported_all_at: u64,
    reported_acknowledged: bool,
    reported_all_shutdown: bool,
}

impl State {
    /// A fresh state at step 0, with a session to open to every other member.
    pub fn new(
        signer: ed25519::PrivateKey,
        cluster: &Cluster,
        cfg: Config,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Self {
        let me = signer.public_key();
        let peers = cluster
            .members()
            .iter()
            .filter(|member| **member != me)
            .map(|member| (member.clone(), Peer::new(now, rng)))
            .collect();
        let step = cfg.resume_step;
        Self {
            signer,
            me,
            version: cluster.version(),
            cluster_hash: cluster.hash(),
            members: cluster.members().to_vec(),
            cfg,
            step,
            shutdown: false,
            peers,
            error: None,
            faulty: BTreeMap::new(),
            claims: BTreeMap::new(),
            hello_signatures: BTreeMap::new(),
            verified_hellos: BTreeMap::new(),
            recovered: None,
            reported_all_at: 0,
            reported_acknowledged: false,
            reported_all_shutdown: false,
        }
    }

    /// Makes every key of `members` that is not one yet a member (a committee certified at
    /// runtime admitted it): a session to it opens at once. Members are never removed (a
    /// removed member still deals in the reshare that removes it, and observes afterwards).
    pub fn add_members(&mut self, members: &[PublicKey], now: SystemTime, rng: &mut impl Rng) {
        for key in members {
            if *key == self.me {
                // A joiner's barrier starts on the genesis definition, which does not list it.
                if !self.members.contains(key) {
                    self.members.push(key.clone());
                }
                continue;
            }
            if self.peers.contains_key(key) {
                continue;
            }
            self.peers.insert(key.clone(), Peer::new(now, rng));
            self.members.push(key.clone());
        }
    }

    /// This node's identity.
    pub fn me(&self) -> &PublicKey {
        &self.me
    }

    /// The recorded error, if any.
    pub fn error(&self) -> Option<&BarrierError> {
        self.error.as_ref()
    }

    /// The error a wait for `quorum` members returns: the recorded one, once so many members
    /// are faulty that the others cannot make it.
    pub fn quorum_error(&self, quorum: usize) -> Option<&BarrierError> {
        let possible = self.members.len() - self.faulty.len();
        if possible < quorum {
            self.error.as_ref()
        } else {
            None
        }
    }

    /// The peers recorded as faulty.
    pub fn faulty(&self) -> impl Iterator<Item = &PublicKey> {
        self.faulty.keys()
    }

    /// This node's step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Whether `peer` is a member other than us.
    pub fn is_peer(&self, peer: &PublicKey) -> bool {
        self.peers.contains_key(peer)
    }

    /// The reconnect delay after `attempt` unanswered hellos: `min(base * 2^(attempt-1), cap)`,
    /// then a uniform jitter down to half of it so peers that failed together do not retry in
    /// lockstep.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let delay = backoff::exponential(self.cfg.sync_period, attempt, self.cfg.reconnect_cap);
        let nanos = delay.as_nanos() as u64;
        let half = nanos / 2;
        Duration::from_nanos(half + rng.random_range(0..=nanos - half))
    }

    fn record_error(&mut self, now: SystemTime, error: BarrierError, out: &mut Outputs) {
        if let Some(peer) = error.peer()
            && !self.faulty.contains_key(peer)
        {
            out.events.push(Event::PeerFaulty {
                peer: peer.clone(),
                error: error.to_string(),
            });
            self.faulty.insert(peer.clone(), (error.clone(), now));
        }
        if self.error.is_none() {
            out.events.push(Event::BarrierFailed {
                error: error.to_string(),
            });
            self.error = Some(error);
        }
    }

    /// Forgets the faults older than [`Config::fault_expiry`]: the peer counts again and a
    /// new session to it opens now; the recorded error moves to the next faulty peer, if any.
    fn expire_faults(&mut self, now: SystemTime, rng: &mut impl Rng, out: &mut Outputs) {
        let Some(expiry) = self.cfg.fault_expiry else {
            return;
        };
        let expired: Vec<PublicKey> = self
            .faulty
            .iter()
            .filter(|(_, (_, at))| at.checked_add(expiry).is_some_and(|end| end <= now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.faulty.remove(&key);
            if let Some(peer) = self.peers.get_mut(&key)
                && peer.outbound == Outbound::Closed
            {
                peer.outbound = Outbound::Connecting {
                    session: rng.next_u64(),
                    attempt: 0,
                    next_hello: now,
                };
            }
            if self.error.as_ref().and_then(BarrierError::peer) == Some(&key) {
                self.error = self.faulty.values().next().map(|(error, _)| error.clone());
            }
            out.events.push(Event::PeerFaultExpired { peer: key });
        }
    }

    fn sync_for(&self, peer: &Peer) -> Option<Message> {
        match peer.outbound {
            Outbound::Established { session } => Some(Message::Sync(Sync {
                session,
                step: self.step,
                seen: peer.step.unwrap_or(0),
                shutdown: self.shutdown,
                shutdown_ack: peer.shutdown,
            })),
            _ => None,
        }
    }

    fn hello(&mut self, session: u64) -> Message {
        if self.hello_signatures.len() > 4 * (self.peers.len() + 1) {
            self.hello_signatures.clear();
        }
        let (signer, cluster_hash) = (&self.signer, &self.cluster_hash);
        let signature = self
            .hello_signatures
            .entry(session)
            .or_insert_with(|| {
                signer.sign(
                    HELLO_NAMESPACE,
                    &Hello::signed_payload(cluster_hash, session),
                )
            })
            .clone();
        Message::Hello(Hello {
            version: self.version,
            cluster_hash: self.cluster_hash,
            session,
            signature,
        })
    }

    /// Sends our current `Sync` to every peer with an open session.
    fn broadcast_sync(&self, out: &mut Outputs) {
        for (key, peer) in &self.peers {
            if let Some(message) = self.sync_for(peer) {
                out.send(key, message);
            }
        }
    }

    /// Periodic work: faults that expired, hellos that are due and a `Sync` to every open
    /// session.
    pub fn on_tick(&mut self, now: SystemTime, rng: &mut impl Rng, out: &mut Outputs) {
        self.expire_faults(now, rng, out);
        let keys: Vec<PublicKey> = self.peers.keys().cloned().collect();
        for key in keys {
            let outbound = self.peers[&key].outbound.clone();
            match outbound {
                Outbound::Connecting {
                    session,
                    attempt,
                    next_hello,
                } if now >= next_hello => {
                    let attempt = attempt.saturating_add(1);
                    let delay = self.backoff(attempt, rng);
                    out.send(&key, self.hello(session));
                    if attempt == self.cfg.unresponsive_after {
                        out.events.push(Event::PeerUnresponsive {
                            peer: key.clone(),
                            attempts: attempt,
                        });
                    }
                    let peer = self.peers.get_mut(&key).expect("known peer");
                    peer.outbound = Outbound::Connecting {
                        session,
                        attempt,
                        next_hello: now + delay,
                    };
                }
                Outbound::Established { .. } => {
                    if let Some(message) = self.sync_for(&self.peers[&key]) {
                        out.send(&key, message);
                    }
                }
                _ => {}
            }
        }
    }

    /// Sets this node's step and tells every peer at once.
    pub fn set_step(&mut self, step: u64, out: &mut Outputs) -> Result<(), BarrierError> {
        if step < self.step && self.recovered.is_some_and(|recovered| step <= recovered) {
            // Our peers saw us past this step before our restart: the ceremony redoes the
            // work it lost, at the step it reached (see `on_reject`).
            return Ok(());
        }
        if step < self.step || step > self.cfg.max_step {
            return Err(BarrierError::InvalidLocalStep {
                current: self.step,
                requested: step,
                max: self.cfg.max_step,
            });
        }
        if step != self.step {
            self.step = step;
            out.events.push(Event::StepSet { step });
            self.broadcast_sync(out);
            self.check_progress(out);
        }
        Ok(())
    }

    /// Announces shutdown to every peer (idempotent).
    pub fn announce_shutdown(&mut self, out: &mut Outputs) {
        if !self.shutdown {
            self.shutdown = true;
            out.events.push(Event::ShutdownAnnounced);
            self.broadcast_sync(out);
            self.check_progress(out);
        }
    }

    /// A frame from `from` that failed to decode.
    pub fn on_undecodable(
        &mut self,
        now: SystemTime,
        from: &PublicKey,
        detail: String,
        out: &mut Outputs,
    ) {
        out.blocks.push(from.clone());
        let member = self.peers.contains_key(from);
        out.events.push(Event::InputRejected {
            channel: Channel::Barrier,
            peer: from.clone(),
            reason: if member {
                format!("undecodable: {detail}")
            } else {
                "non-member".to_string()
            },
            blocked: true,
        });
        if let Some(peer) = self.peers.get_mut(from) {
            peer.outbound = Outbound::Closed;
            self.record_error(
                now,
                BarrierError::NotProtocol {
                    peer: from.clone(),
                    detail,
                },
                out,
            );
        }
    }

    /// A decoded message from `from`.
    pub fn on_message(
        &mut self,
        now: SystemTime,
        rng: &mut impl Rng,
        from: &PublicKey,
        message: Message,
        out: &mut Outputs,
    ) {
        if !self.peers.contains_key(from) {
            self.on_stranger(from, message, out);
            return;
        }
        match message {
            Message::Hello(hello) => self.on_hello(now, rng, from, hello, out),
            Message::Welcome { session } => {
                let peer = self.peers.get_mut(from).expect("checked member");
                if let Outbound::Connecting { session: ours, .. } = peer.outbound
                    && ours == session
                {
                    peer.outbound = Outbound::Established { session };
                    let sync = self.sync_for(&self.peers[from]).expect("established");
                    out.send(from, sync);
                }
            }
            Message::Sync(sync) => self.on_sync(now, rng, from, sync, out),
            Message::Reject { session, reason } => {
                self.on_reject(now, rng, from, session, reason, out)
            }
        }
        self.check_progress(out);
    }

    /// A frame from a key that is not a member here. Blocked, unless in catch-up mode (see
    /// [`Config::catch_up`]): then a valid hello is told to catch up, the rest dropped.
    fn on_stranger(&mut self, from: &PublicKey, message: Message, out: &mut Outputs) {
        if !self.cfg.catch_up {
            out.blocks.push(from.clone());
            out.events.push(Event::InputRejected {
                channel: Channel::Barrier,
                peer: from.clone(),
                reason: "non-member".to_string(),
                blocked: true,
            });
            return;
        }
        let reason = match message {
            Message::Hello(hello) => {
                let valid = hello.version == self.version
                    && hello.cluster_hash == self.cluster_hash
                    && self.cfg.verifier.verify(
                        from,
                        HELLO_NAMESPACE,
                        &Hello::signed_payload(&hello.cluster_hash, hello.session),
                        &hello.signature,
                    );
                if valid {
                    out.send(
                        from,
                        Message::Reject {
                            session: hello.session,
                            reason: RejectReason::CatchUp,
                        },
                    );
                    "not a member yet: told to catch up"
                } else {
                    "non-member hello for another cluster or badly signed"
                }
            }
            _ => "non-member",
        };
        out.events.push(Event::InputRejected {
            channel: Channel::Barrier,
            peer: from.clone(),
            reason: reason.to_string(),
            blocked: false,
        });
    }

    fn on_hello(
        &mut self,
        now: SystemTime,
        rng: &mut impl Rng,
        from: &PublicKey,
        hello: Hello,
        out: &mut Outputs,
    ) {
        let reason = if hello.version != self.version {
            Some(RejectReason::VersionMismatch {
                ours: self.version,
                theirs: hello.version,
            })
        } else if hello.cluster_hash != self.cluster_hash {
            Some(RejectReason::ClusterMismatch {
                ours: self.cluster_hash,
                theirs: hello.cluster_hash,
            })
        } else if self
            .verified_hellos
            .get(from)
            .is_none_or(|(session, signature)| {
                *session != hello.session || *signature != hello.signature
            })
            && !self.cfg.verifier.verify(
                from,
                HELLO_NAMESPACE,
                &Hello::signed_payload(&hello.cluster_hash, hello.session),
                &hello.signature,
            )
        {
            Some(RejectReason::BadSignature)
        } else {
            None
        };
        if reason.is_none() {
            self.verified_hellos
                .insert(from.clone(), (hello.session, hello.signature.clone()));
        }
        if let Some(reason) = reason {
            out.send(
                from,
                Message::Reject {
                    session: hello.session,
                    reason,
                },
            );
            let blocked = reason == RejectReason::BadSignature;
            if blocked {
                out.blocks.push(from.clone());
            }
            out.events.push(Event::InputRejected {
                channel: Channel::Barrier,
                peer: from.clone(),
                reason: reason.to_string(),
                blocked,
            });
            self.peers.get_mut(from).expect("checked member").outbound = Outbound::Closed;
            self.record_error(
                now,
                BarrierError::PeerRefused {
                    peer: from.clone(),
                    reason,
                },
                out,
            );
            return;
        }

        let peer = self.peers.get_mut(from).expect("checked member");
        if peer.inbound != Some(hello.session) {
            let restarted = peer.inbound.is_some();
            peer.inbound = Some(hello.session);
            peer.fresh = true;
            if restarted {
                // What the peer's previous life saw of us is gone with it: its new life must echo
                // our step and acknowledge our shutdown again before they count.
                peer.seen_ours = 0;
                peer.acked_ours = false;
            }
            // A new session from a peer we already knew: it restarted and forgot ours, or it
            // only opened a new one (after our own reopen, or an old hello of it was
            // replayed). Ask at once on ours instead of at the next tick: a restarted peer
            // answers `UnknownSession` and we reopen then; one that remembers it accepts it.
            // Reopening ours here instead would make two peers that each take the other's
            // new session for a restart reopen theirs for ever (one replayed hello starts it).
            if restarted {
                let prompt = self.sync_for(&self.peers[from]);
                if let Some(sync) = prompt {
                    out.send(from, sync);
                }
            }
        }
        let peer = self.peers.get_mut(from).expect("checked member");
        out.send(
            from,
            Message::Welcome {
                session: hello.session,
            },
        );
        // The peer is evidently up: if our own hello is waiting out a backoff, send it now.
        if let Outbound::Connecting {
            session, attempt, ..
        } = peer.outbound
        {
            let attempt = attempt.saturating_add(1);
            let next_hello = now + self.backoff(attempt, rng);
            self.peers.get_mut(from).expect("checked member").outbound = Outbound::Connecting {
                session,
                attempt,
                next_hello,
            };
            out.send(from, self.hello(session));
        }
    }

    fn on_sync(
        &mut self,
        now: SystemTime,
        rng: &mut impl Rng,
        from: &PublicKey,
        sync: Sync,
        out: &mut Outputs,
    ) {
        let max_step = self.cfg.max_step;
        let our_shutdown = self.shutdown;
        let our_step = self.step;
        let resume = self.cfg.resume_step;
        let peer = self.peers.get_mut(from).expect("checked member");
        if peer.inbound != Some(sync.session) {
            if crate::canary!(StepAfterRefusal) {
                canary_record_step(peer, from, sync.step, out);
            }
            out.send(
                from,
                Message::Reject {
                    session: sync.session,
                    reason: RejectReason::UnknownSession,
                },
            );
            return;
        }
        let block = self.cfg.block;
        let valid = if self.cfg.quorum_mode {
            peer.step.is_none_or(|previous| sync.step >= previous) && sync.step <= max_step
        } else {
            (match peer.step {
                None if resume == 0 => sync.step <= 1 || is_block_start(block, sync.step),
                // Around our resume step; below it too if we resumed at a block start (we may have
                // jumped there without the others); or a later block start (they moved on).
                None => {
                    let lowest = if is_block_start(block, resume) {
                        0
                    } else {
                        resume - 1
                    };
                    (sync.step >= lowest && sync.step <= resume + 1)
                        || (sync.step > resume && is_block_start(block, sync.step))
                }
                Some(previous) => {
                    sync.step >= previous
                        && (sync.step - previous <= 2 || is_block_start(block, sync.step))
                }
            }) && sync.step <= max_step
        };
        if !valid
            && peer.fresh
            && let Some(seen) = peer.step.filter(|seen| sync.step < *seen)
        {
            // A new session that starts below the step we saw: the peer restarted without its
            // position (an honest restart never does this, but a lost metadata file does).
            // Tell it where it was, without blocking it or counting it faulty; its session
            // stays unaccepted until it comes back at `seen` or above.
            peer.inbound = None;
            out.send(
                from,
                Message::Reject {
                    session: sync.session,
                    reason: RejectReason::Behind { seen },
                },
            );
            out.events.push(Event::InputRejected {
                channel: Channel::Barrier,
                peer: from.clone(),
                reason: format!(
                    "restarted below its step: {seen} -> {}; told to resume",
                    sync.step
                ),
                blocked: false,
            });
            return;
        }
        if !valid {
            let previous = peer.step;
            if crate::canary!(StepAfterRefusal) {
                canary_record_step(peer, from, sync.step, out);
            }
            peer.outbound = Outbound::Closed;
            peer.inbound = None;
            out.send(
                from,
                Message::Reject {
                    session: sync.session,
                    reason: RejectReason::StepViolation {
                        previous: previous.unwrap_or(0),
                        got: sync.step,
                    },
                },
            );
            out.blocks.push(from.clone());
            out.events.push(Event::InputRejected {
                channel: Channel::Barrier,
                peer: from.clone(),
                reason: format!("step rule: {previous:?} -> {}", sync.step),
                blocked: true,
            });
            self.record_error(
                now,
                BarrierError::StepViolation {
                    peer: from.clone(),
                    previous,
                    got: sync.step,
                },
                out,
            );
            return;
        }
        peer.fresh = false;
        let new_step = peer.step != Some(sync.step);
        if new_step {
            peer.step = Some(sync.step);
            out.events.push(Event::PeerStep {
                peer: from.clone(),
                step: sync.step,
            });
        }
        peer.seen_ours = peer.seen_ours.max(sync.seen.min(our_step));
        // Both flags only ever turn on: a peer cannot take back a shutdown.
        let newly_shutdown = sync.shutdown && !peer.shutdown;
        peer.shutdown |= sync.shutdown;
        peer.acked_ours |= sync.shutdown_ack && our_shutdown;
        // The peer is demonstrably alive: if our own session to it is still waiting out a long
        // backoff (grown while the peer was down), start over and say hello now.
        if let Outbound::Connecting {
            session,
            next_hello,
            ..
        } = peer.outbound
            && next_hello > now + self.cfg.sync_period
        {
            let delay = self.backoff(1, rng);
            self.peers.get_mut(from).expect("checked member").outbound = Outbound::Connecting {
                session,
                attempt: 1,
                next_hello: now + delay,
            };
            out.send(from, self.hello(session));
        }
        if new_step || newly_shutdown {
            // Echo the new step / acknowledge at once rather than at the next tick.
            let ack = self.sync_for(&self.peers[from]);
            if let Some(ack) = ack {
                out.send(from, ack);
            }
        }
    }

    fn on_reject(
        &mut self,
        now: SystemTime,
        rng: &mut impl Rng,
        from: &PublicKey,
        session: u64,
        reason: RejectReason,
        out: &mut Outputs,
    ) {
        let peer = self.peers.get_mut(from).expect("checked member");
        let current = match peer.outbound {
            Outbound::Connecting { session, .. } | Outbound::Established { session } => session,
            Outbound::Closed => return,
        };
        if current != session {
            // About a session we already replaced: stale.
            return;
        }
        if reason == RejectReason::CatchUp {
            // The peer has not applied our admission yet: our hello is due again after its
            // backoff, as for a silent peer.
            return;
        }
        if let RejectReason::Behind { seen } = reason {
            self.on_behind(now, rng, from, seen, out);
            return;
        }
        if reason == RejectReason::UnknownSession {
            // The peer lost our session (it restarted): reconnect after a jittered base delay.
            let delay = self.backoff(1, rng);
            let peer = self.peers.get_mut(from).expect("checked member");
            peer.outbound = Outbound::Connecting {
                session: rng.next_u64(),
                attempt: 0,
                next_hello: now + delay,
            };
            return;
        }
        peer.outbound = Outbound::Closed;
        self.record_error(
            now,
            BarrierError::RefusedByPeer {
                peer: from.clone(),
                reason,
            },
            out,
        );
    }

    /// `from` saw us at `seen` before we restarted. Once more peers than the faults tolerated
    /// (`f = (n - 1) / 3` of `n` members) vouch for a step above ours, we adopt the highest
    /// step that many vouch for: at least one of them is honest, and an honest peer only saw
    /// steps we had reached, so it is a step we had reached (a liar alone cannot push us
    /// forward). Our session to `from` reopens after a jittered base delay (at once if we
    /// adopted a step), as after `UnknownSession`.
    fn on_behind(
        &mut self,
        now: SystemTime,
        rng: &mut impl Rng,
        from: &PublicKey,
        seen: u64,
        out: &mut Outputs,
    ) {
        self.claims
            .insert(from.clone(), seen.min(self.cfg.max_step));
        let needed = N3f1::max_faults(self.members.len()) as usize + 1;
        let mut claimed: Vec<u64> = self.claims.values().copied().collect();
        claimed.sort_unstable_by(|a, b| b.cmp(a));
        let adopted = claimed
            .get(needed - 1)
            .copied()
            .filter(|step| *step > self.step);
        let delay = match adopted {
            Some(_) => Duration::ZERO,
            None => self.backoff(1, rng),
        };
        self.peers.get_mut(from).expect("checked member").outbound = Outbound::Connecting {
            session: rng.next_u64(),
            attempt: 0,
            next_hello: now + delay,
        };
        if let Some(step) = adopted {
            let vouched = claimed.iter().filter(|c| **c >= step).count();
            self.step = step;
            self.recovered = Some(step);
            out.events.push(Event::StepRecovered { step, vouched });
            out.events.push(Event::StepSet { step });
            self.broadcast_sync(out);
            // Everyone who told us so gets a new session at once.
            for (key, claim) in &self.claims {
                if *claim <= step
                    && let Some(peer) = self.peers.get_mut(key)
                    && let Outbound::Connecting { session, .. } = peer.outbound
                {
                    peer.outbound = Outbound::Connecting {
                        session,
                        attempt: 0,
                        next_hello: now,
                    };
                }
            }
        }
    }

    /// Peers that keep `condition` from holding (empty: it holds). This node itself is listed
    /// when it is the one below the step.
    pub fn missing(&self, condition: Condition) -> Vec<PublicKey> {
        if let Condition::QuorumAtStep(step, quorum) = condition {
            return self.missing_for_quorum(step, quorum);
        }
        let mut missing: Vec<PublicKey> = self
            .peers
            .iter()
            .filter(|(_, peer)| match condition {
                Condition::AllConnected => !Self::connected(peer),
                Condition::AllAtStep(step) => {
                    peer.step.is_none_or(|s| s < step) || peer.seen_ours < step
                }
                Condition::ShutdownAcknowledged => !peer.acked_ours,
                Condition::AllShutdown => !peer.shutdown,
                Condition::QuorumAtStep(..) => unreachable!("answered above"),
            })
            .map(|(key, _)| key.clone())
            .collect();
        let me_missing = match condition {
            Condition::AllAtStep(step) => self.step < step,
            Condition::ShutdownAcknowledged => !self.shutdown,
            _ => false,
        };
        if me_missing {
            missing.push(self.me.clone());
            missing.sort();
        }
        missing
    }

    /// [`Condition::QuorumAtStep`]: empty once this node and a quorum are there; else every
    /// member not there (this node first among them if it is below the step).
    fn missing_for_quorum(&self, step: u64, quorum: usize) -> Vec<PublicKey> {
        let there = |key: &PublicKey, peer: &Peer| {
            !self.faulty.contains_key(key)
                && peer.step.is_some_and(|s| s >= step)
                && peer.seen_ours >= step
        };
        let count = self.peers.iter().filter(|(k, p)| there(k, p)).count();
        let me_there = self.step >= step;
        if me_there && count + 1 >= quorum {
            return Vec::new();
        }
        let mut missing: Vec<PublicKey> = self
            .peers
            .iter()
            .filter(|(k, p)| !there(k, p))
            .map(|(k, _)| k.clone())
            .collect();
        if !me_there {
            missing.push(self.me.clone());
        }
        missing.sort();
        missing
    }

    fn connected(peer: &Peer) -> bool {
        peer.inbound.is_some() && matches!(peer.outbound, Outbound::Established { .. })
    }

    /// Emits the progress events once each.
    fn check_progress(&mut self, out: &mut Outputs) {
        let keys: Vec<PublicKey> = self
            .peers
            .iter()
            .filter(|(_, peer)| !peer.connected_reported && Self::connected(peer))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.peers
                .get_mut(&key)
                .expect("known peer")
                .connected_reported = true;
            out.events.push(Event::PeerConnected { peer: key });
        }
        let lowest = self
            .peers
            .values()
            .map(|peer| peer.step.unwrap_or(0).min(peer.seen_ours))
            .min()
            .unwrap_or(self.step)
            .min(self.step);
        if lowest > self.reported_all_at {
            self.reported_all_at = lowest;
            out.events.push(Event::AllAtStep { step: lowest });
        }
        if self.shutdown
            && !self.reported_acknowledged
            && self.missing(Condition::ShutdownAcknowledged).is_empty()
        {
            self.reported_acknowledged = true;
            out.events.push(Event::ShutdownAcknowledged);
        }
        if !self.reported_all_shutdown && self.missing(Condition::AllShutdown).is_empty() {
            self.reported_all_shutdown = true;
            out.events.push(Event::AllShutdown);
        }
    }

    /// A snapshot for status pages and metrics.
    pub fn status(&self) -> Status {
        Status {
            step: self.step,
            shutdown: self.shutdown,
            error: self.error.clone(),
            peers: self
                .peers
                .iter()
                .map(|(key, peer)| PeerStatus {
                    peer: key.clone(),
                    connected: Self::connected(peer),
                    step: peer.step,
                    shutdown: peer.shutdown,
                })
                .collect(),
        }
    }

    /// Every member, in canonical order.
    pub fn members(&self) -> &[PublicKey] {
        &self.members
    }
}

/// Canary `step-after-refusal`: records the step of a `Sync` being refused.
fn canary_record_step(peer: &mut Peer, from: &PublicKey, step: u64, out: &mut Outputs) {
    if peer.step != Some(step) {
        peer.step = Some(step);
        out.events.push(Event::PeerStep {
            peer: from.clone(),
            step,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{PROTOCOL_VERSION, Timing};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::VecDeque;

    const MAX_STEP: u64 = 10;

    fn cfg() -> Config {
        Config {
            sync_period: Duration::from_millis(100),
            reconnect_cap: Duration::from_secs(5),
            unresponsive_after: 4,
            max_step: MAX_STEP,
            resume_step: 0,
            block: 0,
            quorum_mode: false,
            catch_up: false,
            fault_expiry: None,
            verifier: Default::default(),
        }
    }

    fn signers(n: u64) -> Vec<ed25519::PrivateKey> {
        let mut keys: Vec<_> = (0..n).map(ed25519::PrivateKey::from_seed).collect();
        keys.sort_by_key(|k| k.public_key());
        keys
    }

    fn cluster_of(keys: &[ed25519::PrivateKey]) -> Cluster {
        Cluster::new(
            keys.iter().map(|k| k.public_key()).collect(),
            keys.len() as u32,
            PROTOCOL_VERSION,
            Timing::default(),
        )
        .unwrap()
    }

    /// A perfect in-memory network of state machines.
    struct Net {
        states: Vec<State>,
        now: SystemTime,
        rng: ChaCha8Rng,
        queue: VecDeque<(PublicKey, PublicKey, Message)>,
        events: Vec<(usize, Event)>,
        blocks: Vec<(usize, PublicKey)>,
        /// Hellos sent so far.
        hellos: usize,
    }

    impl Net {
        fn new(n: u64) -> Self {
            let keys = signers(n);
            let cluster = cluster_of(&keys);
            Self::with_clusters(keys.into_iter().map(|k| (k, cluster.clone())).collect())
        }

        fn with_clusters(nodes: Vec<(ed25519::PrivateKey, Cluster)>) -> Self {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let now = SystemTime::UNIX_EPOCH;
            let states = nodes
                .into_iter()
                .map(|(key, cluster)| State::new(key, &cluster, cfg(), now, &mut rng))
                .collect();
            Self {
                states,
                now,
                rng,
                queue: VecDeque::new(),
                events: Vec::new(),
                blocks: Vec::new(),
                hellos: 0,
            }
        }

        fn index(&self, key: &PublicKey) -> Option<usize> {
            self.states.iter().position(|s| s.me() == key)
        }

        fn absorb(&mut self, i: usize, out: Outputs) {
            let me = self.states[i].me().clone();
            for (to, message) in out.sends {
                self.hellos += usize::from(matches!(message, Message::Hello(_)));
                self.queue.push_back((me.clone(), to, message));
            }
            self.blocks.extend(out.blocks.into_iter().map(|b| (i, b)));
            self.events.extend(out.events.into_iter().map(|e| (i, e)));
        }

        fn tick(&mut self) {
            self.now += Duration::from_millis(100);
            for i in 0..self.states.len() {
                let mut out = Outputs::default();
                let now = self.now;
                self.states[i].on_tick(now, &mut self.rng, &mut out);
                self.absorb(i, out);
            }
        }

        fn deliver(&mut self) {
            self.deliver_at_most(usize::MAX);
        }

        /// Delivers at most `max` messages; whether the queue emptied.
        fn deliver_at_most(&mut self, max: usize) -> bool {
            for _ in 0..max {
                let Some((from, to, message)) = self.queue.pop_front() else {
                    return true;
                };
                let Some(i) = self.index(&to) else { continue };
                let mut out = Outputs::default();
                let now = self.now;
                self.states[i].on_message(now, &mut self.rng, &from, message, &mut out);
                self.absorb(i, out);
            }
            self.queue.is_empty()
        }

        fn run(&mut self, ticks: usize) {
            for _ in 0..ticks {
                self.tick();
                self.deliver();
            }
        }

        fn set_step(&mut self, i: usize, step: u64) {
            let mut out = Outputs::default();
            self.states[i].set_step(step, &mut out).unwrap();
            self.absorb(i, out);
        }

        fn send(&mut self, from: usize, to: usize, message: Message) {
            let (from, to) = (self.states[from].me().clone(), self.states[to].me().clone());
            self.queue.push_back((from, to, message));
        }
    }

    #[test]
    fn members_connect_and_walk_steps() {
        let mut net = Net::new(4);
        net.run(3);
        for state in &net.states {
            assert!(state.missing(Condition::AllConnected).is_empty());
            assert_eq!(state.error(), None);
        }
        for step in 1..=MAX_STEP {
            for i in 0..4 {
                net.set_step(i, step);
            }
            // Step updates travel at once, without waiting for a tick.
            net.deliver();
            for state in &net.states {
                assert!(
                    state.missing(Condition::AllAtStep(step)).is_empty(),
                    "step {step}"
                );
            }
        }
        let all_at: Vec<_> = net
            .events
            .iter()
            .filter(|(i, e)| *i == 0 && matches!(e, Event::AllAtStep { .. }))
            .collect();
        assert_eq!(all_at.len(), MAX_STEP as usize);
    }

    #[test]
    fn waiting_lists_the_laggards_including_self() {
        let mut net = Net::new(3);
        net.run(3);
        net.set_step(0, 1);
        net.set_step(1, 1);
        net.deliver();
        let laggard = net.states[2].me().clone();
        assert_eq!(
            net.states[0].missing(Condition::AllAtStep(1)),
            vec![laggard.clone()]
        );
        // Node 2 is itself missing from its own view (and so are the peers that have not seen it
        // at step 1, which they cannot have).
        assert!(
            net.states[2]
                .missing(Condition::AllAtStep(1))
                .contains(&laggard)
        );
        net.set_step(2, 1);
        net.deliver();
        for state in &net.states {
            assert!(state.missing(Condition::AllAtStep(1)).is_empty());
        }
    }

    fn mismatch_net(other: Cluster) -> Net {
        let keys = signers(3);
        let cluster = cluster_of(&keys);
        Net::with_clusters(vec![
            (keys[0].clone(), cluster.clone()),
            (keys[1].clone(), cluster),
            (keys[2].clone(), other),
        ])
    }

    #[test]
    fn cluster_mismatch_is_refused_and_recorded_on_both_sides() {
        let keys = signers(3);
        let base = cluster_of(&keys);
        let other = Cluster::new(
            base.members().to_vec(),
            2,
            PROTOCOL_VERSION,
            Timing::default(),
        )
        .unwrap();
        let mut net = mismatch_net(other);
        net.set_step(2, 1);
        net.run(3);
        let odd = net.states[2].me().clone();
        for i in 0..2 {
            let error = net.states[i]
                .error()
                .expect("honest node records the error");
            assert_eq!(error.peer(), Some(&odd));
            assert!(matches!(
                error,
                BarrierError::PeerRefused {
                    reason: RejectReason::ClusterMismatch { .. },
                    ..
                }
            ));
            // The refused peer's step was never taken.
            let status = net.states[i].status();
            let peer = status.peers.iter().find(|p| p.peer == odd).unwrap();
            assert_eq!(peer.step, None);
            assert!(error.to_string().contains(&odd.to_string()));
        }
        assert!(net.states[2].error().is_some());
        // A mismatch is a configuration error, not misbehaviour: nobody is blocked.
        assert!(net.blocks.is_empty());
    }

    #[test]
    fn version_mismatch_is_refused() {
        let keys = signers(3);
        let base = cluster_of(&keys);
        let other = Cluster::new(
            base.members().to_vec(),
            3,
            ProtocolVersion { major: 1, minor: 1 },
            Timing::default(),
        )
        .unwrap();
        let mut net = mismatch_net(other);
        net.run(3);
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::PeerRefused {
                reason: RejectReason::VersionMismatch { .. },
                ..
            })
        ));
    }

    #[test]
    fn bad_hello_signature_blocks_and_records() {
        let mut net = Net::new(2);
        let hash = cluster_of(&signers(2)).hash();
        // Node 1's hello, signed by a key that is not node 1's.
        let forger = ed25519::PrivateKey::from_seed(99);
        let signature = forger.sign(HELLO_NAMESPACE, &Hello::signed_payload(&hash, 5));
        net.send(
            1,
            0,
            Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                cluster_hash: hash,
                session: 5,
                signature,
            }),
        );
        net.deliver();
        let one = net.states[1].me().clone();
        assert!(net.blocks.contains(&(0, one.clone())));
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::PeerRefused {
                reason: RejectReason::BadSignature,
                ..
            })
        ));
        // Node 1 was told why.
        assert!(matches!(
            net.states[1].error(),
            None | Some(BarrierError::RefusedByPeer { .. })
        ));
    }

    #[test]
    fn a_replayed_old_hello_reopens_sessions_once_not_for_ever() {
        let mut net = Net::new(2);
        net.run(3);
        assert!(net.states[0].missing(Condition::AllConnected).is_empty());
        // A valid hello of node 1 for a session it no longer uses (an old one, replayed): node
        // 0 takes it for a restart of node 1 and forgets node 1's real session, which node 1
        // then reopens. Neither may take the other's new session for a restart and reopen its
        // own, round after round (as both did when a new session made a peer reopen its own).
        let old = net.states[1].hello(12345);
        net.send(1, 0, old);
        let before = net.hellos;
        for _ in 0..50 {
            assert!(
                net.deliver_at_most(1000),
                "messages beget messages for ever"
            );
            net.tick();
        }
        assert!(net.deliver_at_most(1000));
        assert!(
            net.hellos - before <= 4,
            "{} hellos after one replay",
            net.hellos - before
        );
        for state in &net.states {
            assert!(state.missing(Condition::AllConnected).is_empty());
            assert_eq!(state.error(), None);
        }
    }

    #[test]
    fn a_replayed_hello_cannot_open_another_session() {
        let mut net = Net::new(2);
        let hash = cluster_of(&signers(2)).hash();
        let key1 = signers(2)[1].clone();
        let signature = key1.sign(HELLO_NAMESPACE, &Hello::signed_payload(&hash, 5));
        // Same signature presented for session 6: must not verify.
        net.send(
            1,
            0,
            Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                cluster_hash: hash,
                session: 6,
                signature,
            }),
        );
        net.deliver();
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::PeerRefused {
                reason: RejectReason::BadSignature,
                ..
            })
        ));
    }

    #[test]
    fn a_hello_sent_again_is_the_same_and_a_forgery_after_a_verified_one_is_refused() {
        let mut net = Net::new(2);
        assert!(matches!(
            (net.states[0].hello(7), net.states[0].hello(7)),
            (Message::Hello(a), Message::Hello(b)) if a == b
        ));
        let hash = cluster_of(&signers(2)).hash();
        let key1 = signers(2)[1].clone();
        let hello = |signature| {
            Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                cluster_hash: hash,
                session: 5,
                signature,
            })
        };
        // A valid hello, then the same one again (not verified again), then a forged one for
        // the same session: refused, the cache notwithstanding.
        // Handed to node 0 alone (its answers are not delivered).
        let good = key1.sign(HELLO_NAMESPACE, &Hello::signed_payload(&hash, 5));
        let from = key1.public_key();
        let (now, mut out) = (net.now, Outputs::default());
        for message in [hello(good.clone()), hello(good)] {
            net.states[0].on_message(now, &mut net.rng, &from, message, &mut out);
        }
        assert!(net.states[0].error().is_none());
        let forged = ed25519::PrivateKey::from_seed(99)
            .sign(HELLO_NAMESPACE, &Hello::signed_payload(&hash, 5));
        net.states[0].on_message(now, &mut net.rng, &from, hello(forged), &mut out);
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::PeerRefused {
                reason: RejectReason::BadSignature,
                ..
            })
        ));
    }

    #[test]
    fn in_catch_up_mode_a_stranger_is_told_to_catch_up_then_admitted() {
        let keys = signers(4);
        let cluster = cluster_of(&keys);
        let joiner = ed25519::PrivateKey::from_seed(99);
        let joiner_key = joiner.public_key();
        let mut nodes: Vec<_> = keys.into_iter().map(|k| (k, cluster.clone())).collect();
        nodes.push((joiner, cluster.clone()));
        let mut net = Net::with_clusters(nodes);
        for state in &mut net.states {
            state.cfg.catch_up = true;
        }
        net.run(10);
        // The members do not know the joiner yet: its hellos are answered with `CatchUp`,
        // nobody is blocked and nothing fails.
        assert!(net.blocks.is_empty(), "{:?}", net.blocks);
        assert!(net.states.iter().all(|s| s.error().is_none()));
        assert!(net.events.iter().any(|(i, e)| *i < 4
            && matches!(e, Event::InputRejected { blocked: false, reason, .. } if reason.contains("catch up"))));
        assert!(!net.states[4].missing(Condition::AllConnected).is_empty());
        // Once they apply its admission, sessions open both ways.
        let now = net.now;
        for i in 0..4 {
            net.states[i].add_members(std::slice::from_ref(&joiner_key), now, &mut net.rng);
        }
        net.run(40);
        for state in &net.states {
            assert!(
                state.missing(Condition::AllConnected).is_empty(),
                "{:?}",
                state.status()
            );
            assert!(state.error().is_none());
        }
        assert!(net.blocks.is_empty());
        // A hello for another cluster from a stranger is dropped, not answered, not blocked.
        let other = ed25519::PrivateKey::from_seed(5);
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            cluster_hash: ClusterHash::from([9u8; 32]),
            session: 1,
            signature: other.sign(
                HELLO_NAMESPACE,
                &Hello::signed_payload(&ClusterHash::from([9u8; 32]), 1),
            ),
        });
        let mut out = Outputs::default();
        net.states[0].on_message(now, &mut net.rng, &other.public_key(), hello, &mut out);
        assert!(out.sends.is_empty() && out.blocks.is_empty());
    }

    #[test]
    fn non_members_are_blocked_without_failing_the_barrier() {
        let mut net = Net::new(2);
        let stranger = ed25519::PrivateKey::from_seed(77).public_key();
        let mut out = Outputs::default();
        let now = net.now;
        net.states[0].on_message(
            now,
            &mut net.rng,
            &stranger,
            Message::Welcome { session: 1 },
            &mut out,
        );
        net.states[0].on_undecodable(now, &stranger, "garbage".into(), &mut out);
        assert_eq!(out.blocks, vec![stranger.clone(), stranger]);
        assert_eq!(net.states[0].error(), None);
        assert!(
            out.events
                .iter()
                .all(|e| matches!(e, Event::InputRejected { blocked: true, .. }))
        );
    }

    #[test]
    fn undecodable_frames_from_a_member_mean_it_does_not_speak_the_protocol() {
        let mut net = Net::new(2);
        let one = net.states[1].me().clone();
        let mut out = Outputs::default();
        let now = net.now;
        net.states[0].on_undecodable(now, &one, "Invalid Enum".into(), &mut out);
        assert_eq!(out.blocks, vec![one.clone()]);
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::NotProtocol { peer, .. }) if *peer == one
        ));
        // And it is not dialled again.
        let mut out = Outputs::default();
        for _ in 0..50 {
            net.now += Duration::from_secs(1);
            let now = net.now;
            net.states[0].on_tick(now, &mut net.rng, &mut out);
        }
        assert!(out.sends.is_empty());
    }

    /// Node 1 opens a session to node 0 and presents `steps` on it; only node 0 processes input.
    fn observe_steps(steps: &[u64]) -> Option<BarrierError> {
        observe_steps_in_blocks(0, steps)
    }

    fn observe_steps_in_blocks(block: u64, steps: &[u64]) -> Option<BarrierError> {
        let mut net = Net::new(2);
        net.states[0].cfg.block = block;
        let session = 42;
        let hello = net.states[1].hello(session);
        net.send(1, 0, hello);
        for step in steps {
            net.send(
                1,
                0,
                Message::Sync(Sync {
                    session,
                    step: *step,
                    seen: 0,
                    shutdown: false,
                    shutdown_ack: false,
                }),
            );
        }
        let zero = net.states[0].me().clone();
        let inbox: Vec<_> = net
            .queue
            .drain(..)
            .filter(|(_, to, _)| *to == zero)
            .collect();
        for (from, _, message) in inbox {
            let mut out = Outputs::default();
            let now = net.now;
            net.states[0].on_message(now, &mut net.rng, &from, message, &mut out);
        }
        net.states[0].error().cloned()
    }

    #[test]
    fn step_rules() {
        assert_eq!(observe_steps(&[0, 1, 1, 3, 4, 6]), None);
        assert_eq!(observe_steps(&[1]), None);
        for (steps, previous, got) in [
            (&[2u64][..], None, 2),
            (&[0, 3][..], Some(0), 3),
            (&[1, 2, 1][..], Some(2), 1),
            (&[1, 3, 5, 7, 9, 11][..], Some(9), 11),
        ] {
            match observe_steps(steps) {
                Some(BarrierError::StepViolation {
                    previous: p,
                    got: g,
                    ..
                }) => assert_eq!((p, g), (previous, got), "{steps:?}"),
                other => panic!("{steps:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn jumps_to_a_later_block_start_are_allowed_only_with_blocks() {
        // Blocks of 4: starts 1, 5, 9 (the last step is 10).
        assert_eq!(observe_steps_in_blocks(4, &[0, 1, 5, 6, 9, 10]), None);
        assert_eq!(
            observe_steps_in_blocks(4, &[9]),
            None,
            "a first sight at a block start"
        );
        for (block, steps, got) in [
            (0, &[1u64, 5][..], 5),
            (4, &[1, 6][..], 6),
            (4, &[9, 5][..], 5),
            (4, &[3][..], 3),
        ] {
            match observe_steps_in_blocks(block, steps) {
                Some(BarrierError::StepViolation { got: g, .. }) => assert_eq!(g, got, "{steps:?}"),
                other => panic!("{block} {steps:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_restarted_node_accepts_peers_around_its_resume_step() {
        let keys = signers(2);
        let cluster = cluster_of(&keys);
        let observe_in = |block: u64, resume: u64, first: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            let now = SystemTime::UNIX_EPOCH;
            let config = Config {
                resume_step: resume,
                block,
                ..cfg()
            };
            let mut state = State::new(keys[0].clone(), &cluster, config, now, &mut rng);
            assert_eq!(state.step(), resume);
            let peer = keys[1].public_key();
            let mut out = Outputs::default();
            let hello = State::new(keys[1].clone(), &cluster, cfg(), now, &mut rng).hello(9);
            state.on_message(now, &mut rng, &peer, hello, &mut out);
            let sync = Message::Sync(Sync {
                session: 9,
                step: first,
                seen: 0,
                shutdown: false,
                shutdown_ack: false,
            });
            state.on_message(now, &mut rng, &peer, sync, &mut out);
            state.error().is_none()
        };
        let observe = |resume: u64, first: u64| observe_in(0, resume, first);
        assert!(observe(5, 4) && observe(5, 5) && observe(5, 6));
        assert!(!observe(5, 3) && !observe(5, 7));
        assert!(observe(0, 0) && observe(0, 1) && !observe(0, 2));
        assert!(observe(1, 0) && observe(1, 2) && !observe(1, 3));
        // With blocks of 4: also any later block start, and anything below a resumed block start.
        let observe_blocks = |resume: u64, first: u64| observe_in(4, resume, first);
        assert!(observe_blocks(7, 6) && observe_blocks(7, 8) && observe_blocks(7, 9));
        assert!(!observe_blocks(7, 5) && !observe_blocks(7, 10) && !observe_blocks(7, 1));
        assert!(observe_blocks(5, 2) && observe_blocks(5, 6) && observe_blocks(5, 9));
        assert!(!observe_blocks(5, 7) && observe_blocks(0, 9) && !observe_blocks(0, 2));
    }

    #[test]
    fn unknown_session_makes_the_sender_reconnect() {
        let mut net = Net::new(2);
        net.run(2);
        // Node 0 "restarts": a fresh state that knows no session.
        let keys = signers(2);
        let cluster = cluster_of(&keys);
        let now = net.now;
        net.states[0] = State::new(keys[0].clone(), &cluster, cfg(), now, &mut net.rng);
        // Node 1's next sync is refused with UnknownSession; node 1 opens a new session and
        // both end up connected again.
        net.run(5);
        for state in &net.states {
            assert!(state.missing(Condition::AllConnected).is_empty());
            assert_eq!(state.error(), None);
        }
    }

    #[test]
    fn silent_peers_are_retried_with_capped_backoff_and_reported_once() {
        let mut net = Net::new(2);
        let one = net.states[1].me().clone();
        let mut hellos = Vec::new();
        let mut reported = 0;
        for _ in 0..2_000 {
            net.now += Duration::from_millis(100);
            let mut out = Outputs::default();
            let now = net.now;
            net.states[0].on_tick(now, &mut net.rng, &mut out);
            if out
                .sends
                .iter()
                .any(|(_, m)| matches!(m, Message::Hello(_)))
            {
                hellos.push(now);
            }
            reported += out
                .events
                .iter()
                .filter(|e| matches!(e, Event::PeerUnresponsive { peer, .. } if *peer == one))
                .count();
        }
        assert_eq!(reported, 1);
        // Gaps grow, never exceed the cap (plus one tick of granularity), and never stop.
        let gaps: Vec<Duration> = hellos
            .windows(2)
            .map(|w| w[1].duration_since(w[0]).unwrap())
            .collect();
        assert!(gaps.len() > 30, "kept retrying: {}", gaps.len());
        assert!(gaps.iter().all(|g| *g <= Duration::from_millis(5_100)));
        assert!(gaps[0] < gaps[6]);
    }

    #[test]
    fn echoes_of_a_peers_previous_life_do_not_count() {
        // Found by `cohort-sim run --scenario barrier-crash --seed 737`.
        let mut net = Net::new(2);
        net.run(3);
        net.set_step(0, 1);
        net.deliver();
        // Node 1's first life echoed our step 1. It restarts (a new session) and announces step
        // 1 before it has seen anything of us: node 0 must not count the old echo.
        let keys = signers(2);
        let cluster = cluster_of(&keys);
        let now = net.now;
        let mut reborn = State::new(keys[1].clone(), &cluster, cfg(), now, &mut net.rng);
        let one = reborn.me().clone();
        let mut out = Outputs::default();
        net.states[0].on_message(now, &mut net.rng, &one, reborn.hello(4242), &mut out);
        let sync = Message::Sync(Sync {
            session: 4242,
            step: 1,
            seen: 0,
            shutdown: false,
            shutdown_ack: false,
        });
        net.states[0].on_message(now, &mut net.rng, &one, sync, &mut out);
        assert_eq!(
            net.states[0].missing(Condition::AllAtStep(1)),
            vec![one.clone()]
        );
        // Its echo in the new life counts.
        let echo = Message::Sync(Sync {
            session: 4242,
            step: 1,
            seen: 1,
            shutdown: false,
            shutdown_ack: false,
        });
        net.states[0].on_message(now, &mut net.rng, &one, echo, &mut out);
        assert!(net.states[0].missing(Condition::AllAtStep(1)).is_empty());
    }

    #[test]
    fn live_traffic_cuts_a_long_reconnect_backoff_short() {
        let mut net = Net::new(2);
        // Node 0 dials a silent node 1 until its backoff is at the cap.
        for _ in 0..200 {
            net.now += Duration::from_millis(100);
            let mut out = Outputs::default();
            let now = net.now;
            net.states[0].on_tick(now, &mut net.rng, &mut out);
        }
        // Node 1 comes up and its hello gets through, but node 0's next hello is far away and
        // node 0's hellos keep getting lost: a Sync from node 1 makes node 0 say hello at once.
        let hello = net.states[1].hello(77);
        let mut out = Outputs::default();
        let now = net.now;
        let one = net.states[1].me().clone();
        net.states[0].on_message(now, &mut net.rng, &one, hello, &mut out);
        let sync = Message::Sync(Sync {
            session: 77,
            step: 0,
            seen: 0,
            shutdown: false,
            shutdown_ack: false,
        });
        let mut out = Outputs::default();
        net.now += Duration::from_millis(150);
        let now = net.now;
        net.states[0].on_message(now, &mut net.rng, &one, sync, &mut out);
        assert!(
            out.sends
                .iter()
                .any(|(to, m)| *to == one && matches!(m, Message::Hello(_)))
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let net = Net::new(2);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let state = &net.states[0];
        for attempt in [0, 1, 2, 5, 30, u32::MAX] {
            let delay = state.backoff(attempt, &mut rng);
            let full =
                backoff::exponential(Duration::from_millis(100), attempt, Duration::from_secs(5));
            assert!(delay <= full && delay >= full / 2, "{attempt}: {delay:?}");
        }
        let draws: std::collections::BTreeSet<_> =
            (0..20).map(|_| state.backoff(3, &mut rng)).collect();
        assert!(draws.len() > 1, "jitter varies");
    }

    #[test]
    fn shutdown_handshake() {
        let mut net = Net::new(3);
        net.run(3);
        let mut out = Outputs::default();
        net.states[0].announce_shutdown(&mut out);
        net.absorb(0, out);
        net.deliver();
        assert!(
            net.states[0]
                .missing(Condition::ShutdownAcknowledged)
                .is_empty()
        );
        assert_eq!(net.states[1].missing(Condition::AllShutdown).len(), 1);
        for i in 1..3 {
            let mut out = Outputs::default();
            net.states[i].announce_shutdown(&mut out);
            net.absorb(i, out);
        }
        net.deliver();
        for state in &net.states {
            assert!(state.missing(Condition::ShutdownAcknowledged).is_empty());
            assert!(state.missing(Condition::AllShutdown).is_empty());
        }
    }

    #[test]
    fn local_step_rules() {
        let mut net = Net::new(2);
        let mut out = Outputs::default();
        net.states[0].set_step(3, &mut out).unwrap();
        assert!(net.states[0].set_step(2, &mut out).is_err());
        assert!(net.states[0].set_step(MAX_STEP + 1, &mut out).is_err());
        assert!(net.states[0].set_step(3, &mut out).is_ok());
    }

    #[test]
    fn refusal_by_peer_is_recorded() {
        let mut net = Net::new(2);
        net.run(2);
        let session = match net.states[0].peers.values().next().unwrap().outbound {
            Outbound::Established { session } => session,
            _ => panic!(),
        };
        net.send(
            1,
            0,
            Message::Reject {
                session,
                reason: RejectReason::BadSignature,
            },
        );
        // A reject about a session we no longer use is stale and ignored.
        net.send(
            1,
            0,
            Message::Reject {
                session: session.wrapping_add(1),
                reason: RejectReason::BadSignature,
            },
        );
        net.deliver();
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::RefusedByPeer { .. })
        ));
    }

    /// A network in quorum mode (the DKG's) where everyone walked to step 3, and node `lost`
    /// restarted without its metadata (a fresh state at step 0).
    fn quorum_net_with_a_lost_position(n: u64, lost: usize) -> Net {
        let mut net = Net::new(n);
        for state in &mut net.states {
            state.cfg.quorum_mode = true;
        }
        net.run(3);
        for step in 1..=3 {
            for i in 0..n as usize {
                net.set_step(i, step);
            }
            net.deliver();
        }
        let keys = signers(n);
        let cluster = cluster_of(&keys);
        let config = Config {
            quorum_mode: true,
            ..cfg()
        };
        let now = net.now;
        net.states[lost] = State::new(keys[lost].clone(), &cluster, config, now, &mut net.rng);
        net.events.clear();
        net
    }

    #[test]
    fn a_peer_restarted_without_its_step_is_told_where_it_was_and_resumes_there() {
        let mut net = quorum_net_with_a_lost_position(4, 3);
        let lost = net.states[3].me().clone();
        net.run(20);
        // Nobody blocked it or counted it faulty: its peers answered `Behind`.
        assert!(net.blocks.is_empty(), "{:?}", net.blocks);
        assert!(
            !net.events
                .iter()
                .any(|(_, e)| matches!(e, Event::PeerFaulty { .. }))
        );
        assert!(net.events.iter().any(|(i, e)| *i != 3
            && matches!(e, Event::InputRejected { blocked: false, reason, .. } if reason.starts_with("restarted below"))));
        // It adopted step 3 (vouched by every peer), and everyone sees it there.
        assert_eq!(net.states[3].step(), 3);
        assert!(net.events.iter().any(|(i, e)| *i == 3
            && matches!(e, Event::StepRecovered { step: 3, vouched } if *vouched >= 2)));
        for i in 0..3 {
            let status = net.states[i].status();
            let seen = status.peers.iter().find(|p| p.peer == lost).unwrap();
            assert!(seen.connected && seen.step == Some(3), "node {i}: {seen:?}");
            assert_eq!(net.states[i].error(), None);
        }
        // Its ceremony redoes steps 1..=3 without an error; the next step goes out as usual.
        for step in 1..=3 {
            net.set_step(3, step);
        }
        net.set_step(3, 4);
        net.deliver();
        for i in 0..3 {
            let status = net.states[i].status();
            assert_eq!(
                status.peers.iter().find(|p| p.peer == lost).unwrap().step,
                Some(4)
            );
        }
        // A step that goes back within one session is still a violation.
        let mut out = Outputs::default();
        let now = net.now;
        let session = net.states[0].peers[&lost].inbound.unwrap();
        let back = Message::Sync(Sync {
            session,
            step: 2,
            seen: 0,
            shutdown: false,
            shutdown_ack: false,
        });
        net.states[0].on_message(now, &mut net.rng, &lost, back, &mut out);
        assert_eq!(out.blocks, vec![lost]);
    }

    #[test]
    fn one_liar_cannot_push_a_restarted_node_forward() {
        // n = 4 tolerates f = 1: a step needs f + 1 = 2 peers vouching for it.
        let mut net = quorum_net_with_a_lost_position(4, 3);
        let peers: Vec<PublicKey> = (0..3).map(|i| net.states[i].me().clone()).collect();
        let behind = |net: &mut Net, peer: usize, seen: u64| {
            let key = peers[peer].clone();
            let session = match net.states[3].peers[&key].outbound {
                Outbound::Connecting { session, .. } | Outbound::Established { session } => session,
                Outbound::Closed => panic!("closed"),
            };
            let mut out = Outputs::default();
            let now = net.now;
            let reject = Message::Reject {
                session,
                reason: RejectReason::Behind { seen },
            };
            net.states[3].on_message(now, &mut net.rng, &key, reject, &mut out);
            out
        };
        behind(&mut net, 0, 9);
        assert_eq!(net.states[3].step(), 0, "one claim moves nothing");
        let out = behind(&mut net, 1, 2);
        assert_eq!(net.states[3].step(), 2, "the second highest of two claims");
        assert!(out.events.iter().any(|e| matches!(
            e,
            Event::StepRecovered {
                step: 2,
                vouched: 2
            }
        )));
        assert!(out.blocks.is_empty() && net.states[3].error().is_none());
        behind(&mut net, 2, 3);
        assert_eq!(net.states[3].step(), 3);
    }

    #[test]
    fn faults_expire_and_a_peer_that_misbehaves_again_is_recorded_again() {
        let mut net = Net::new(2);
        for state in &mut net.states {
            state.cfg.fault_expiry = Some(Duration::from_secs(1));
        }
        net.run(3);
        let one = net.states[1].me().clone();
        let session = net.states[0].peers[&one].inbound.unwrap();
        let jump = |session| {
            Message::Sync(Sync {
                session,
                step: 7,
                seen: 0,
                shutdown: false,
                shutdown_ack: false,
            })
        };
        net.send(1, 0, jump(session));
        net.deliver();
        assert!(matches!(
            net.states[0].error(),
            Some(BarrierError::StepViolation { .. })
        ));
        assert_eq!(net.states[0].faulty().count(), 1);
        assert_eq!(net.blocks, vec![(0, one.clone())]);
        // Before the expiry nothing changes; after it the peer counts again and a new
        // session to it opens.
        net.events.clear();
        for _ in 0..5 {
            net.tick();
        }
        assert_eq!(net.states[0].faulty().count(), 1);
        for _ in 0..6 {
            net.tick();
        }
        assert_eq!(net.states[0].faulty().count(), 0);
        assert_eq!(net.states[0].error(), None);
        assert!(
            net.events
                .iter()
                .any(|(i, e)| *i == 0
                    && matches!(e, Event::PeerFaultExpired { peer } if *peer == one))
        );
        net.deliver();
        net.run(3);
        assert!(net.states[0].missing(Condition::AllConnected).is_empty());
        // It breaks the rules again: recorded (and blocked) again.
        let session = net.states[0].peers[&one].inbound.unwrap();
        net.send(1, 0, jump(session));
        net.deliver();
        assert_eq!(net.states[0].faulty().count(), 1);
        assert_eq!(net.blocks.len(), 2);
    }
}
