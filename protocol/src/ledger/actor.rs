//! The ledger actor: one task that owns a node's DAG, op store, backfill server and sync
//! scheduler, and talks to its peers on two channels (gossip and backfill).
//!
//! What it does, and the order that keeps SPEC section 3's durability rule:
//!
//! - **Start.** Replays the op store through the DAG (trusted: every stored op was verified
//!   before it was stored), then appends this start's `Boot { boot_count }` op.
//! - **Own ops** (`Boot`, `Heartbeat` every [`Settings::heartbeat`], `Data` from the mailbox):
//!   built on the current heads, applied, appended and **synced**, and only then broadcast to
//!   every member and reported to the submitter.
//! - **Gossip in.** Ops are applied; every op that became applied (drained pending ops too) is
//!   appended and synced before anything else happens. Nothing is re-broadcast (see
//!   [`super::wire`]). An op that waits for a parent, or a digest that differs from ours, makes
//!   the node want a backfill round.
//! - **Anti-entropy.** Every [`Settings::anti_entropy`] the node sends its state digest to one
//!   peer (round robin over the members), asking for the peer's in return.
//! - **Backfill rounds** follow the scheduler ([`crate::sync::scheduler`]): at boot (boot
//!   recovery), then whenever the node wants one and the scheduler says it is due. A round asks
//!   peers one at a time, each for a whole run ([`crate::backfill::client::Run`]). Every request
//!   has a deadline ([`Settings::request_timeout`]) and is sent again (under a fresh id) when it
//!   passes, [`REQUEST_ATTEMPTS`] times in all before the run fails; a short `Busy` is waited
//!   out. A run asks for everything the peer has that we lack, not only the parents our pending
//!   ops miss: the peer we ask may lack those, and may have others we lack.
//! - **Caught up.** The round ends as soon as a run completes and no peer whose last digest
//!   differed from ours is still to be asked (a peer that reported another digest is a
//!   *suspect* until a run with it completes or it reports our digest), or when no peer is
//!   left. The first round's end is boot recovery ([`Mailbox::boot_recovered`]).
//! - **Backfill server.** Requests from members are answered by the rate-limited server
//!   ([`crate::backfill::server`]).
//!
//! Bad input: an undecodable frame, a frame from a non-member, a gossiped op with a bad
//! signature or a broken chain, and a backfill server that breaks the protocol all prove the
//! sender hostile: the input is dropped, counted, traced, and the peer is blocked. Replays of
//! valid ops are duplicates, not misbehaviour. Equivocation is evidence against the *author*
//! (flagged, never blocked for it: the forks are kept and spread so every node can see them).
//!
//! A storage error is fatal: the actor stops with it, and the node recovers on restart.

use super::{
    Dag, OpId, OpKind, SignedOp,
    dag::{self, Outcome},
    op::{MAX_DATA_BYTES, MAX_OP_BYTES},
    wire::Message as Gossip,
};
use crate::{
    backfill::{
        self,
        client::{Failure, PageResult, Run, Verdict},
        server::{self, Served, Server},
    },
    cluster::{Cluster, PublicKey},
    sync::scheduler::{self, Scheduler},
    trace::{Event, Tracer},
};
use bytes::Bytes;
use cohort_storage::ledger::OpStore;
use commonware_codec::{Decode as _, Encode as _};
use commonware_cryptography::{Signer as _, ed25519, sha256};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{
    Clock, Metrics, Spawner, Storage,
    telemetry::metrics::{
        Registered,
        raw::{Counter, Gauge},
    },
};
use futures::{
    StreamExt as _,
    channel::{mpsc, oneshot},
};
use rand_core::CryptoRng;
use std::{
    collections::BTreeSet,
    time::{Duration, SystemTime},
};
use thiserror::Error;

/// Timing and limits of the ledger actor.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Period of this node's `Heartbeat` ops.
    pub heartbeat: Duration,
    /// Period of the digest exchange with one peer.
    pub anti_entropy: Duration,
    /// Deadline of one backfill request.
    pub request_timeout: Duration,
    /// Ops asked for per backfill page.
    pub page_limit: u32,
    pub dag: dag::Config,
    pub server: server::Config,
    pub scheduler: scheduler::Config,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            anti_entropy: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            page_limit: 1024,
            dag: dag::Config::default(),
            server: server::Config::default(),
            scheduler: scheduler::Config {
                interval: Duration::from_millis(500),
                base: Duration::from_millis(250),
                cap: Duration::from_secs(10),
                stale_after: Duration::from_secs(30),
                anchor_window: Duration::from_secs(60),
            },
        }
    }
}

/// Configuration of the actor.
#[derive(Clone)]
pub struct Config<T: Tracer> {
    pub signer: ed25519::PrivateKey,
    pub cluster: Cluster,
    pub partition_prefix: String,
    pub tracer: T,
    /// This start's boot number (the `Boot` op carries it).
    pub boot: u64,
    pub settings: Settings,
}

/// Why the actor stopped, or a request failed.
#[derive(Debug, Error)]
pub enum Error {
    /// Storage failed: fatal for the node, which recovers on restart.
    #[error("storage: {0}")]
    Storage(#[from] cohort_storage::Error),
    /// A stored op does not decode (the store is corrupt).
    #[error("stored op {position} does not decode")]
    CorruptStore { position: u64 },
    /// A `Data` payload is larger than [`MAX_DATA_BYTES`].
    #[error("payload of {0} bytes is larger than {MAX_DATA_BYTES}")]
    PayloadTooLarge(usize),
    /// The actor is not running (stopped, or the node crashed).
    #[error("ledger actor not running")]
    Closed,
}

/// A peer as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: PublicKey,
    pub failures: u32,
    /// Milliseconds since the Unix epoch (runtime clock) of the last completed run.
    pub last_success_ms: Option<u64>,
    pub anchor: bool,
}

/// A snapshot of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub me: PublicKey,
    pub digest: sha256::Digest,
    pub ops: u64,
    pub heads: Vec<OpId>,
    pub pending: usize,
    pub evicted: u64,
    pub flagged: Vec<PublicKey>,
    pub boot_recovered: bool,
    pub peers: Vec<PeerStatus>,
}

enum Request {
    Submit {
        payload: Bytes,
        reply: oneshot::Sender<Result<OpId, Error>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Ops {
        after: u64,
        limit: usize,
        reply: oneshot::Sender<(Vec<SignedOp>, u64)>,
    },
    BootRecovered {
        reply: oneshot::Sender<()>,
    },
}

/// How other actors (and the admin API) reach the ledger.
#[derive(Clone)]
pub struct Mailbox {
    sender: mpsc::Sender<Request>,
}

/// The receiving end of a [`Mailbox`], handed to [`Actor::open`].
pub struct Inbox {
    receiver: mpsc::Receiver<Request>,
}

/// A mailbox and its inbox.
pub fn mailbox(size: usize) -> (Mailbox, Inbox) {
    let (sender, receiver) = mpsc::channel(size);
    (Mailbox { sender }, Inbox { receiver })
}

impl Mailbox {
    /// Appends a `Data` op; resolves with its id once it is durable and broadcast.
    pub async fn submit(&mut self, payload: Bytes) -> Result<OpId, Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Submit { payload, reply })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }

    /// A snapshot of the ledger.
    pub async fn status(&mut self) -> Result<Status, Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Status { reply })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)
    }

    /// Resolves once boot recovery is complete (the first backfill round of this start ended):
    /// what the checkpoint protocol waits for before it proposes or votes.
    pub async fn boot_recovered(&mut self) -> Result<(), Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::BootRecovered { reply })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)
    }

    /// Up to `limit` applied ops from position `after` on, and the position after the last.
    pub async fn ops(&mut self, after: u64, limit: usize) -> Result<(Vec<SignedOp>, u64), Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Ops {
                after,
                limit,
                reply,
            })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)
    }
}

/// The ledger's metrics (`..._ledger_*`).
struct LedgerMetrics {
    ops: Registered<Gauge>,
    pending: Registered<Gauge>,
    heads: Registered<Gauge>,
    flagged: Registered<Gauge>,
    applied: Registered<Counter>,
    duplicates: Registered<Counter>,
    rejected: Registered<Counter>,
    evicted: Registered<Counter>,
    inputs_rejected: Registered<Counter>,
    pages_served: Registered<Counter>,
    busy_sent: Registered<Counter>,
    pages_fetched: Registered<Counter>,
    runs_failed: Registered<Counter>,
    boot_recovered: Registered<Gauge>,
}

impl LedgerMetrics {
    fn new(context: &impl Metrics) -> Self {
        Self {
            ops: context.register("ops", "ops applied and stored", Gauge::default()),
            pending: context.register("pending", "ops waiting for a parent", Gauge::default()),
            heads: context.register("heads", "ops without children", Gauge::default()),
            flagged: context.register(
                "flagged_authors",
                "authors caught equivocating",
                Gauge::default(),
            ),
            applied: context.register(
                "ops_applied",
                "ops applied (own and received)",
                Counter::default(),
            ),
            duplicates: context.register(
                "ops_duplicate",
                "received ops already held",
                Counter::default(),
            ),
            rejected: context.register(
                "ops_rejected",
                "received ops rejected: bad signature, non-member, malformed, broken chain",
                Counter::default(),
            ),
            evicted: context.register(
                "pending_evicted",
                "pending ops evicted by the bound",
                Counter::default(),
            ),
            inputs_rejected: context.register(
                "inputs_rejected",
                "gossip and backfill frames refused (undecodable, non-member, hostile)",
                Counter::default(),
            ),
            pages_served: context.register(
                "backfill_pages_served",
                "backfill pages served",
                Counter::default(),
            ),
            busy_sent: context.register(
                "backfill_busy_sent",
                "backfill requests answered Busy",
                Counter::default(),
            ),
            pages_fetched: context.register(
                "backfill_pages_fetched",
                "backfill pages received",
                Counter::default(),
            ),
            runs_failed: context.register(
                "backfill_runs_failed",
                "backfill runs that failed",
                Counter::default(),
            ),
            boot_recovered: context.register(
                "boot_recovered",
                "1 once the first backfill round has ended",
                Gauge::default(),
            ),
        }
    }
}

/// Tries of one backfill request (the first and the retries after a deadline) before the run
/// fails: a lost message on a lossy link must not cost the whole run.
pub const REQUEST_ATTEMPTS: u32 = 3;

/// The run in progress, its request's deadline, and how often that request was sent.
struct Active {
    run: Run,
    deadline: SystemTime,
    attempts: u32,
}

/// The ledger actor of one node.
pub struct Actor<E, T, S, R, B>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    me: PublicKey,
    my_index: usize,
    /// Every other member, in cluster order (the scheduler's peer indices).
    peers: Vec<PublicKey>,
    dag: Dag,
    store: OpStore<E>,
    server: Server,
    scheduler: Scheduler,
    active: Option<Active>,
    want_sync: bool,
    /// Peers whose last reported digest differed from ours, not backfilled from since.
    suspects: BTreeSet<usize>,
    /// Waiting for boot recovery.
    recovery_waiters: Vec<oneshot::Sender<()>>,
    next_request_id: u64,
    next_exchange: usize,
    started: SystemTime,
    inbox: Inbox,
    gossip: (S, R),
    backfill: (S, R),
    blocker: B,
    metrics: LedgerMetrics,
}

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    /// Opens the op store and rebuilds the DAG from it.
    pub async fn open(
        context: E,
        cfg: Config<T>,
        inbox: Inbox,
        gossip: (S, R),
        backfill: (S, R),
        blocker: B,
    ) -> Result<Self, Error> {
        let me = cfg.signer.public_key();
        let my_index = cfg
            .cluster
            .index_of(&me)
            .expect("the engine checked membership");
        let (store, records) =
            OpStore::open(context.child("ops"), &cfg.partition_prefix, MAX_OP_BYTES).await?;
        let mut dag = Dag::new(cfg.cluster.members(), cfg.settings.dag);
        let mut ops = Vec::with_capacity(records.len());
        for (position, record) in records.into_iter().enumerate() {
            let op = SignedOp::parse(record).map_err(|_| Error::CorruptStore {
                position: position as u64,
            })?;
            ops.push(op);
        }
        dag.apply_trusted(ops);
        cfg.tracer.record(Event::LedgerOpened { ops: store.len() });
        let peers: Vec<PublicKey> = cfg
            .cluster
            .members()
            .iter()
            .filter(|m| **m != me)
            .cloned()
            .collect();
        let now = context.current();
        let metrics = LedgerMetrics::new(&context);
        Ok(Self {
            scheduler: Scheduler::new(cfg.settings.scheduler, peers.len(), now),
            server: Server::new(cfg.settings.server),
            me,
            my_index,
            peers,
            dag,
            store,
            active: None,
            want_sync: true,
            suspects: BTreeSet::new(),
            recovery_waiters: Vec::new(),
            next_request_id: 1,
            next_exchange: my_index,
            started: now,
            inbox,
            gossip,
            backfill,
            blocker,
            metrics,
            context,
            cfg,
        })
    }

    /// Runs until the inbox closes or storage fails.
    pub async fn run(mut self) -> Result<(), Error> {
        let boot = self.cfg.boot;
        self.append(OpKind::Boot { boot_count: boot }).await?;
        let mut next_heartbeat = self.context.current() + self.cfg.settings.heartbeat;
        let mut next_exchange = self.context.current();
        loop {
            let now = self.context.current();
            self.drive(now).await?;
            let mut wake = next_heartbeat.min(next_exchange);
            if let Some(active) = &self.active {
                wake = wake.min(active.deadline);
            }
            if self.want_sync && !self.scheduler.in_round() {
                wake = wake.min(self.scheduler.next_round_at().max(now));
            }
            select! {
                request = self.inbox.receiver.next() => {
                    let Some(request) = request else { return Ok(()) };
                    self.on_request(request).await?;
                },
                frame = self.gossip.1.recv() => {
                    let Ok((peer, frame)) = frame else { return Err(Error::Closed) };
                    self.on_gossip(peer, frame).await?;
                },
                frame = self.backfill.1.recv() => {
                    let Ok((peer, frame)) = frame else { return Err(Error::Closed) };
                    self.on_backfill(peer, frame).await?;
                },
                _ = self.context.sleep_until(wake) => {
                    let now = self.context.current();
                    if now >= next_heartbeat {
                        let uptime_ms = millis(now.duration_since(self.started).unwrap_or_default());
                        self.append(OpKind::Heartbeat { uptime_ms }).await?;
                        next_heartbeat = now + self.cfg.settings.heartbeat;
                    }
                    if now >= next_exchange {
                        self.exchange_digest();
                        next_exchange = now + self.cfg.settings.anti_entropy;
                    }
                },
            }
        }
    }

    /// Moves the backfill machinery forward: expires a late request or a stale round, starts a
    /// round when one is wanted and due, and asks the next peer when no run is active.
    async fn drive(&mut self, now: SystemTime) -> Result<(), Error> {
        if let Some(active) = &self.active
            && now >= active.deadline
        {
            if active.attempts < REQUEST_ATTEMPTS {
                self.send_request(now);
            } else {
                let active = self.active.take().expect("checked");
                self.run_failed(&active.run, now, Failure::Timeout, "no answer");
            }
        }
        if self.scheduler.expire_stale(now).is_some() {
            self.active = None;
        }
        if !self.scheduler.in_round() {
            let wanted = self.want_sync || !self.scheduler.boot_recovered();
            if !wanted || !self.scheduler.due(now) {
                return Ok(());
            }
            self.want_sync = false;
            self.scheduler.begin_round(now, &mut self.context);
            if self.peers.is_empty() {
                // Alone in the cluster: nothing to recover from.
                self.end_round(now, true);
                return Ok(());
            }
        }
        if self.active.is_none() {
            match self.scheduler.choose(now) {
                Some(peer) => {
                    // Everything the peer has that we lack (the ops our pending ones wait for
                    // included), not only the missing parents: the peer may lack those.
                    let run = Run::new(
                        peer,
                        self.dag.known(),
                        Vec::new(),
                        self.cfg.settings.page_limit,
                    );
                    self.active = Some(Active {
                        run,
                        deadline: now,
                        attempts: 0,
                    });
                    self.send_request(now);
                }
                None => self.end_round(now, false),
            }
        }
        Ok(())
    }

    fn end_round(&mut self, now: SystemTime, caught_up: bool) {
        let first = !self.scheduler.boot_recovered();
        self.scheduler.end_round(now, caught_up);
        if !caught_up {
            // Try again once the scheduler's backoff allows.
            self.want_sync = true;
        }
        self.cfg.tracer.record(Event::BackfillRoundEnded {
            caught_up,
            ops: self.dag.len(),
        });
        if first && self.scheduler.boot_recovered() {
            self.metrics.boot_recovered.set(1);
            self.cfg.tracer.record(Event::BootRecovered {
                ops: self.dag.len(),
            });
            for waiter in self.recovery_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Sends the active run's request (its next page, or the same page again) under a fresh id.
    fn send_request(&mut self, now: SystemTime) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let timeout = self.cfg.settings.request_timeout;
        let Some(active) = self.active.as_mut() else {
            return;
        };
        active.attempts += 1;
        active.deadline = now + timeout;
        let request = active.run.request(id);
        let peer = active.run.peer();
        self.send_backfill(peer, request);
    }

    fn run_failed(&mut self, run: &Run, now: SystemTime, failure: Failure, why: &'static str) {
        let peer = run.peer();
        self.metrics.runs_failed.inc();
        let retry_after = match failure {
            Failure::Busy { retry_after } => Some(retry_after),
            _ => None,
        };
        let peer_key = self.peers[peer].clone();
        if let Failure::Hostile(reason) = failure {
            self.reject("backfill", peer_key.clone(), reason.to_string(), true);
        }
        tracing::debug!(me = %self.me, peer = %peer_key, why, ?failure, "backfill run failed");
        self.cfg.tracer.record(Event::BackfillRunFailed {
            peer: peer_key,
            pages: run.pages(),
            ops: run.new_ops(),
            reason: why,
        });
        self.scheduler.peer_failed(peer, now, retry_after);
    }

    /// Builds, stores, syncs and broadcasts this node's next op.
    async fn append(&mut self, kind: OpKind) -> Result<OpId, Error> {
        let time_ms = millis(
            self.context
                .current()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let op = SignedOp::sign(
            &self.cfg.signer,
            self.dag.next_op(self.my_index, kind, time_ms),
        );
        let report = self.dag.apply(vec![op.clone()], &mut self.context);
        debug_assert_eq!(report.outcomes, vec![Outcome::Applied]);
        self.persist(&report).await?;
        self.cfg.tracer.record(Event::OpAppended {
            seq: op.op().seq,
            kind: op.op().kind.name(),
            id: short(&op.id()),
        });
        let frame = Gossip::Ops(vec![op.clone()]).encode();
        self.gossip
            .0
            .send(Recipients::Some(self.peers.clone()), frame, false);
        Ok(op.id())
    }

    /// Stores and syncs every op `report` applied, then updates metrics and traces.
    async fn persist(&mut self, report: &dag::Report) -> Result<(), Error> {
        if !report.applied.is_empty() {
            for id in &report.applied {
                let op = self.dag.get(id).expect("just applied");
                self.store.append(op.encoded()).await?;
            }
            self.store.sync().await?;
            self.cfg.tracer.record(Event::OpsSynced {
                total: self.store.len(),
            });
            if self.cfg.tracer.crash_point("ledger-synced") {
                // Halt here, as if the node crashed right after the sync.
                futures::future::pending::<()>().await;
            }
        }
        self.metrics.applied.inc_by(report.applied.len() as u64);
        self.metrics.evicted.inc_by(report.evicted as u64);
        for author in &report.flagged {
            self.cfg.tracer.record(Event::Equivocation {
                author: author.clone(),
            });
        }
        for (_, reason) in &report.rejected_later {
            self.metrics.rejected.inc();
            tracing::debug!(me = %self.me, reason = reason.name(), "pending op rejected");
        }
        self.metrics.ops.set(self.dag.len() as i64);
        self.metrics.pending.set(self.dag.pending_len() as i64);
        self.metrics.heads.set(self.dag.head_count() as i64);
        self.metrics
            .flagged
            .set(self.dag.equivocations().count() as i64);
        Ok(())
    }

    async fn on_request(&mut self, request: Request) -> Result<(), Error> {
        match request {
            Request::Submit { payload, reply } => {
                if payload.len() > MAX_DATA_BYTES {
                    let _ = reply.send(Err(Error::PayloadTooLarge(payload.len())));
                    return Ok(());
                }
                let id = self.append(OpKind::Data(payload)).await?;
                let _ = reply.send(Ok(id));
            }
            Request::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Request::BootRecovered { reply } => {
                if self.scheduler.boot_recovered() {
                    let _ = reply.send(());
                } else {
                    self.recovery_waiters.push(reply);
                }
            }
            Request::Ops {
                after,
                limit,
                reply,
            } => {
                let end = self.dag.len().min(after.saturating_add(limit as u64));
                let ops = (after..end)
                    .filter_map(|p| self.dag.at(p).cloned())
                    .collect();
                let _ = reply.send((ops, end.max(after.min(self.dag.len()))));
            }
        }
        Ok(())
    }

    fn status(&self) -> Status {
        let now = self.context.current();
        Status {
            me: self.me.clone(),
            digest: self.dag.digest(),
            ops: self.dag.len(),
            heads: self.dag.heads().copied().collect(),
            pending: self.dag.pending_len(),
            evicted: self.dag.evicted_total(),
            flagged: self.dag.equivocations().map(|(a, _)| a.clone()).collect(),
            boot_recovered: self.scheduler.boot_recovered(),
            peers: self
                .peers
                .iter()
                .enumerate()
                .map(|(i, peer)| {
                    let state = self.scheduler.peer(i).expect("one state per peer");
                    PeerStatus {
                        peer: peer.clone(),
                        failures: state.schedule.failures(),
                        last_success_ms: state.last_success.map(|t| {
                            millis(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
                        }),
                        anchor: state.last_served.is_some_and(|t| {
                            now.duration_since(t).unwrap_or_default()
                                <= self.scheduler.config().anchor_window
                        }),
                    }
                })
                .collect(),
        }
    }

    /// Sends our digest to the next peer in round-robin order, asking for its own.
    fn exchange_digest(&mut self) {
        if self.peers.is_empty() {
            return;
        }
        self.next_exchange = (self.next_exchange + 1) % self.peers.len();
        let peer = self.peers[self.next_exchange].clone();
        let frame = Gossip::Digest {
            digest: self.dag.digest(),
            ops: self.dag.len(),
            reply: true,
        }
        .encode();
        self.gossip.0.send(Recipients::One(peer), frame, false);
    }

    async fn on_gossip(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        if !self.cfg.cluster.is_member(&peer) {
            self.reject("gossip", peer, "frame from a non-member".into(), true);
            return Ok(());
        }
        let bytes = frame.copy_to_bytes(frame.remaining());
        let message = match Gossip::decode_cfg(bytes, &()) {
            Ok(message) => message,
            Err(error) => {
                self.metrics.rejected.inc();
                self.reject("gossip", peer, format!("undecodable frame: {error}"), true);
                return Ok(());
            }
        };
        match message {
            Gossip::Ops(ops) => {
                let report = self.dag.apply(ops, &mut self.context);
                self.persist(&report).await?;
                let mut bad = None;
                for outcome in &report.outcomes {
                    match outcome {
                        Outcome::Duplicate => {
                            self.metrics.duplicates.inc();
                        }
                        Outcome::Pending => self.want_sync = true,
                        Outcome::Rejected(reason) => {
                            self.metrics.rejected.inc();
                            bad = Some(*reason);
                        }
                        Outcome::Applied => {}
                    }
                }
                if let Some(reason) = bad {
                    self.reject(
                        "gossip",
                        peer,
                        format!("invalid op: {}", reason.name()),
                        true,
                    );
                }
            }
            Gossip::Digest { digest, reply, .. } => {
                let index = self.peers.iter().position(|p| *p == peer);
                if digest != self.dag.digest() {
                    self.want_sync = true;
                    self.suspects.extend(index);
                } else if let Some(index) = index {
                    self.suspects.remove(&index);
                }
                if reply {
                    let frame = Gossip::Digest {
                        digest: self.dag.digest(),
                        ops: self.dag.len(),
                        reply: false,
                    }
                    .encode();
                    self.gossip.0.send(Recipients::One(peer), frame, false);
                }
            }
        }
        Ok(())
    }

    async fn on_backfill(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        if !self.cfg.cluster.is_member(&peer) {
            self.reject("backfill", peer, "frame from a non-member".into(), true);
            return Ok(());
        }
        let bytes = frame.copy_to_bytes(frame.remaining());
        let message = match backfill::Message::decode_cfg(bytes, &()) {
            Ok(message) => message,
            Err(error) => {
                self.reject(
                    "backfill",
                    peer,
                    format!("undecodable frame: {error}"),
                    true,
                );
                return Ok(());
            }
        };
        let now = self.context.current();
        if let backfill::Message::Request {
            id,
            known,
            missing,
            cursor,
            limit,
        } = &message
        {
            let (reply, served) = self
                .server
                .handle(&peer, now, &self.dag, *id, known, missing, *cursor, *limit);
            match served {
                Served::Page { .. } => {
                    self.metrics.pages_served.inc();
                }
                Served::Busy => {
                    self.metrics.busy_sent.inc();
                }
                Served::Rejected(_) => {}
            }
            self.backfill
                .0
                .send(Recipients::One(peer), reply.encode(), false);
            return Ok(());
        }
        // A reply: only the active run's counts.
        let Some(index) = self.peers.iter().position(|p| *p == peer) else {
            return Ok(());
        };
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        if !active.run.is_reply(index, &message) {
            return Ok(());
        }
        if let Some(wait) = active.run.pace(&message) {
            // Paced to the server's rate limit: ask again once it has a token for us.
            active.attempts = 0;
            active.deadline = now + wait;
            return Ok(());
        }
        if let Some(Verdict::Failed(failure)) = active.run.refused(&message) {
            let active = self.active.take().expect("checked");
            self.run_failed(&active.run, now, failure, "refused");
            return Ok(());
        }
        let backfill::Message::Response {
            ops,
            next_cursor,
            more,
            ..
        } = message
        else {
            return Ok(());
        };
        if let Some(Verdict::Failed(failure)) = active.run.check_page(ops.len(), next_cursor, more)
        {
            let active = self.active.take().expect("checked");
            self.run_failed(&active.run, now, failure, "bad page");
            return Ok(());
        }
        let ids: Vec<OpId> = ops.iter().map(|o| o.id()).collect();
        let report = self.dag.apply(ops, &mut self.context);
        self.persist(&report).await?;
        self.metrics.pages_fetched.inc();
        let mut result = PageResult::default();
        for (id, outcome) in ids.iter().zip(&report.outcomes) {
            match outcome {
                Outcome::Applied => result.new_ops += 1,
                Outcome::Pending => {
                    result.new_ops += 1;
                    if !self.dag.contains(id) && self.dag.is_pending(id) {
                        result.left_pending += 1;
                    }
                }
                Outcome::Duplicate => {
                    self.metrics.duplicates.inc();
                }
                Outcome::Rejected(_) => {
                    self.metrics.rejected.inc();
                    result.rejected += 1;
                }
            }
        }
        self.scheduler.served(index, now, result.new_ops);
        let active = self.active.as_mut().expect("checked above");
        match active.run.after_page(next_cursor, more, result) {
            Verdict::Next => {
                active.attempts = 0;
                self.send_request(now);
            }
            Verdict::Done => {
                let run = self.active.take().expect("active").run;
                self.scheduler.peer_succeeded(index, now);
                self.suspects.remove(&index);
                self.cfg.tracer.record(Event::BackfillRunDone {
                    peer: peer.clone(),
                    pages: run.pages(),
                    ops: run.new_ops(),
                });
                // Caught up: no peer is known to differ. Otherwise the round goes on with the
                // next peer. (Ops waiting for a parent do not hold the round: a parent that some
                // peer has makes that peer's digest differ from ours, and one that nobody has,
                // such as the lost op of a byzantine author, would hold it forever.)
                if self.suspects.is_empty() {
                    self.end_round(now, true);
                }
            }
            Verdict::Failed(failure) => {
                let active = self.active.take().expect("active");
                self.run_failed(&active.run, now, failure, "bad page");
            }
        }
        Ok(())
    }

    fn send_backfill(&mut self, peer: usize, message: backfill::Message) {
        let peer = self.peers[peer].clone();
        self.backfill
            .0
            .send(Recipients::One(peer), message.encode(), false);
    }

    /// Drops an input with its reason; a peer that proved hostile is blocked.
    fn reject(&mut self, channel: &'static str, peer: PublicKey, reason: String, block: bool) {
        self.metrics.inputs_rejected.inc();
        tracing::debug!(me = %self.me, %peer, %reason, block, channel, "ledger input rejected");
        if block {
            commonware_p2p::block!(self.blocker, peer.clone(), "ledger: peer proved hostile");
            self.server.forget(&peer);
        }
        self.cfg.tracer.record(Event::InputRejected {
            channel,
            peer,
            reason,
            blocked: block,
        });
    }
}

/// Whole milliseconds of a duration, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The first 8 bytes of an id in hex (for traces).
fn short(id: &OpId) -> String {
    id.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
