//! The ledger actor: one task that owns a node's DAG, op store, backfill server and sync
//! scheduler, and talks to its peers on two channels (gossip and backfill).
//!
//! What it does, and the order that keeps SPEC section 3's durability rule:
//!
//! - **Start.** Replays the op store through the DAG (trusted: every stored op was verified
//!   before it was stored), judges the store against what it should hold ([`super::own`]),
//!   and appends this start's `Boot { boot_count }` op: at once when the store is intact,
//!   after own-chain recovery from the peers otherwise (an author never reuses a seq).
//! - **Own ops** (`Boot`, `Heartbeat` every [`Settings::heartbeat`], `Data` from the mailbox):
//!   built on the current heads, applied, appended and **synced**, the store marked as holding
//!   it ([`OpStore::mark`]), and only then broadcast to every member and reported to the
//!   submitter.
//! - **Gossip in** ([`super::gossip`]). Ops are applied; every op that became applied (drained
//!   pending ops too) is appended and synced before anything else happens. Nothing is
//!   re-broadcast (see [`super::wire`]). An op that waits for a parent, or a digest that differs
//!   from ours, makes the node want a backfill round.
//! - **Anti-entropy** ([`super::gossip`]). Every [`Settings::anti_entropy`] the node sends its
//!   state digest to one peer (round robin over the members), asking for the peer's in return.
//! - **Backfill rounds** ([`super::sync`]) follow the scheduler ([`crate::sync::scheduler`]):
//!   at boot (boot recovery), then whenever the node wants one and the scheduler says it is due.
//!   A round asks peers one at a time, each for a whole run ([`super::backfill::client::Fetch`]).
//!   Every request has a deadline ([`Settings::request_timeout`]) and is sent again (under a
//!   fresh id) when it passes, [`REQUEST_ATTEMPTS`] times in all before the run fails; a short
//!   `Busy` is waited out. A run asks for everything the peer has that we lack, not only the
//!   parents our pending ops miss: the peer we ask may lack those, and may have others we lack.
//! - **Caught up.** The round ends as soon as a run completes and no peer whose last digest
//!   differed from ours is still to be asked (a peer that reported another digest is a
//!   *suspect* until a run with it completes or it reports our digest), or when no peer is
//!   left. The first round's end is boot recovery ([`super::Mailbox::boot_recovered`]).
//! - **Checkpoints.** Once the DKG publishes the group key ([`Config::keys`]), the DAG verifies
//!   checkpoint certificates with it (checkpoints that arrived before wait for it). The
//!   checkpoint actor asks for a subject's view ([`super::Mailbox::view`]) and appends its own
//!   certified checkpoints ([`super::Mailbox::append_checkpoint`]); the actor notes when it last
//!   received an op from each member, which is what "seen online" means.
//! - **Backfill server** ([`super::serve`]). Requests from members are answered by the
//!   rate-limited server ([`super::backfill::server`]).
//!
//! Bad input: an undecodable frame, a frame from a non-member, a gossiped op with a bad
//! signature or a broken chain, and a backfill server that breaks the protocol all prove the
//! sender hostile: the input is dropped, counted, traced, and the peer is blocked
//! ([`crate::refusal`]). Replays of valid ops are duplicates, not misbehaviour. Equivocation is
//! evidence against the *author* (flagged, never blocked for it: the forks are kept and spread
//! so every node can see them).
//!
//! A storage error is fatal: the actor stops with it, and the node recovers on restart.

use super::{
    backfill::{self, client::Fetch, server, server::Server},
    dag::{self, Dag, Outcome, Reason},
    ingress::{Error, Governance, Inbox, PeerStatus, Request, Status, SubjectView},
    metrics::Metrics,
    op::{MAX_DATA_BYTES, MAX_OP_BYTES, OpId, OpKind, SignedOp},
    own::{GIVE_UP_PATIENCES, Recovery, StoreState},
    wire::Message as Gossip,
};
use crate::{
    channels::{Channel, Duplex},
    cluster::{Cluster, PublicKey},
    committee::{Added, Chain},
    dkg, refusal,
    sync::scheduler::{self, Scheduler},
    trace::{Event, Tracer},
};
use cohort_storage::ledger::OpStore;
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner, Storage};
use futures::{StreamExt as _, channel::oneshot};
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

pub use super::backfill::client::REQUEST_ATTEMPTS;

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
    /// Runs the checkpoint actor beside the ledger with these settings (`None`: no
    /// checkpoints are proposed or voted on; received ones are still verified and kept).
    pub checkpoint: Option<crate::vote::Settings>,
    /// Runs the governance actor beside the ledger with these settings (`None`: this node
    /// neither proposes, votes on nor certifies committees; governance ops it receives are
    /// still verified and kept, and certified committees still enter its chain).
    pub governance: Option<crate::committee::Settings>,
    /// Compacts the ledger after each checkpoint that raises a floor (see
    /// [`super::dag`]'s docs), and rewrites the op store once it holds more than twice the
    /// kept ops plus `rewrite_slack` records.
    pub compact: bool,
    pub rewrite_slack: u64,
    /// How long own-chain recovery waits for every peer's answer before it decides with
    /// fewer ([`super::own`]).
    pub own_chain_patience: Duration,
}

/// Default records the op store may hold beyond twice the kept ops before a compaction
/// rewrites it.
pub const REWRITE_SLACK: u64 = 4096;

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
            checkpoint: None,
            governance: None,
            compact: true,
            rewrite_slack: REWRITE_SLACK,
            own_chain_patience: Duration::from_secs(5),
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
    /// Where the DKG publishes the group key checkpoints are verified under (`None`: this
    /// node runs no DKG, and checkpoints wait in the pending buffer).
    pub keys: Option<dkg::Keys>,
    /// Checks op signatures ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
}

/// The ledger actor of one node.
pub struct Actor<E, T, S, R, B>
where
    E: Clock + Spawner + commonware_runtime::Metrics + Storage + CryptoRng,
    T: Tracer,
{
    pub(super) context: E,
    pub(super) cfg: Config<T>,
    pub(super) me: PublicKey,
    /// This node's author index (`None`: a joiner whose admission is not applied here yet;
    /// it appends nothing until it is, see the module docs).
    my_index: Option<usize>,
    /// Every other author, genesis members first, then in order of admission (the
    /// scheduler's peer indices).
    pub(super) peers: Vec<PublicKey>,
    pub(super) dag: Dag,
    /// The randomness of batch signature checks: the actor's own stream (seeded once from the
    /// runtime), so how many checks a batch needs never shifts the runtime's stream (a
    /// verifier memo leaves known signatures out of a batch; see [`crate::verify`]).
    pub(super) batch_rng: rand_chacha::ChaCha20Rng,
    /// The genesis definition and the committees certified in the ledger.
    chain: Chain,
    store: OpStore<E>,
    /// What the op store held at open.
    store_state: StoreState,
    /// Own-chain recovery in progress: nothing is authored until it ends ([`super::own`]).
    pub(super) recovery: Option<Recovery>,
    /// `Data` submits held while the own chain recovers (at most [`MAX_HELD_SUBMITS`]),
    /// appended in order once it has.
    held_submits: Vec<(bytes::Bytes, oneshot::Sender<Result<OpId, Error>>)>,
    pub(super) server: Server,
    pub(super) scheduler: Scheduler,
    /// The backfill run in flight, if any.
    pub(super) fetch: Option<Fetch>,
    pub(super) want_sync: bool,
    /// Peers whose last reported digest differed from ours, neither backfilled from nor
    /// failed to answer since.
    pub(super) suspects: BTreeSet<usize>,
    /// Whether a run of the current backfill round completed (some peer answered in full).
    pub(super) round_served: bool,
    /// Waiting for boot recovery.
    pub(super) recovery_waiters: Vec<oneshot::Sender<()>>,
    pub(super) next_request_id: u64,
    pub(super) next_exchange: usize,
    started: SystemTime,
    /// When an op of each author was last applied (this node's clock), by author index.
    pub(super) last_heard: Vec<Option<SystemTime>>,
    /// Joiners' requests for a DKG output: the digest, the deadline, the reply.
    output_waiters: Vec<OutputWaiter>,
    /// When each peer was last answered each output (one answer per peer, digest and
    /// [`OUTPUT_ANSWER_PERIOD`]).
    pub(super) output_answered: BTreeMap<(PublicKey, [u8; 32]), SystemTime>,
    inbox: Inbox,
    pub(super) gossip: Duplex<S, R>,
    pub(super) backfill: Duplex<S, R>,
    blocker: B,
    pub(super) metrics: Metrics,
}

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + commonware_runtime::Metrics + Storage + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    /// Opens the op store and rebuilds the DAG from it.
    pub async fn open(
        mut context: E,
        cfg: Config<T>,
        inbox: Inbox,
        gossip: Duplex<S, R>,
        backfill: Duplex<S, R>,
        blocker: B,
    ) -> Result<Self, Error> {
        let me = cfg.signer.public_key();
        let (store, records) =
            OpStore::open(context.child("ops"), &cfg.partition_prefix, MAX_OP_BYTES).await?;
        let mut dag =
            Dag::new(cfg.cluster.members(), cfg.settings.dag).with_verifier(cfg.verifier.clone());
        let record_count = records.len() as u64;
        let mut ops = Vec::with_capacity(records.len());
        for (position, record) in records.into_iter().enumerate() {
            let op = SignedOp::parse(record).map_err(|_| Error::CorruptStore {
                position: position as u64,
            })?;
            // An own op the store kept is durable, whether or not its append returned (its
            // sync may have failed after the bytes reached the disk).
            if op.op().author == me.as_ref() {
                cfg.tracer.archive(op.encoded());
            }
            ops.push(op);
        }
        dag.apply_trusted(ops);
        // A store not rewritten since the last compaction still holds what it pruned: prune
        // it from memory again now (the store is rewritten at the next compaction).
        let pruned = if cfg.settings.compact {
            dag.compact()
        } else {
            0
        };
        let mut chain = Chain::new(cfg.cluster.clone());
        for (op, proposal) in dag.committees() {
            chain.add(*op, proposal.clone());
        }
        let my_index = author_index(&dag, &me);
        let own_head = my_index
            .and_then(|i| dag.newest(i))
            .map_or(0, |op| op.op().seq);
        let store_state = StoreState::classify(store.marks(), record_count, own_head, cfg.boot);
        match store_state {
            StoreState::Intact | StoreState::Fresh => {
                tracing::info!(me = %me, state = store_state.name(), records = record_count, own_head, "op store opened")
            }
            _ => tracing::warn!(
                me = %me,
                state = store_state.name(),
                records = record_count,
                own_head,
                marked_own_head = store.marks().own_head,
                marked_records = ?store.marks().records,
                "op store lost synced records: recovering this node's own chain from its peers before authoring"
            ),
        }
        cfg.tracer.record(Event::LedgerOpened {
            ops: store.len(),
            state: store_state.name(),
        });
        let authors = dag.authors().len();
        let peers: Vec<PublicKey> = dag
            .authors()
            .iter()
            .filter(|m| **m != me)
            .cloned()
            .collect();
        let now = context.current();
        let metrics = Metrics::init(&context);
        metrics.store_state.set(store_state.code());
        metrics.own_chain_ready.set(1);
        metrics.pruned.inc_by(pruned as u64);
        metrics.held.set(dag.held() as i64);
        Ok(Self {
            scheduler: Scheduler::new(cfg.settings.scheduler, peers.len(), now),
            server: Server::new(cfg.settings.server),
            me,
            my_index,
            peers,
            batch_rng: {
                use rand::SeedableRng as _;
                rand_chacha::ChaCha20Rng::from_rng(&mut context)
            },
            dag,
            chain,
            store,
            store_state,
            recovery: None,
            held_submits: Vec::new(),
            fetch: None,
            want_sync: true,
            suspects: BTreeSet::new(),
            round_served: false,
            recovery_waiters: Vec::new(),
            next_request_id: 1,
            next_exchange: my_index.unwrap_or(0),
            started: now,
            last_heard: vec![None; authors],
            output_waiters: Vec::new(),
            output_answered: BTreeMap::new(),
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
        if self.my_index.is_some() {
            self.begin_authoring(boot).await?;
        } else {
            tracing::info!(me = %self.me, "not a ledger author yet: catching up as a joiner");
        }
        let mut next_heartbeat = self.context.current() + self.cfg.settings.heartbeat;
        let mut next_exchange = self.context.current();
        let mut group_key = match &self.cfg.keys {
            Some(keys) => futures::future::Either::Left(keys.subscribe()),
            None => futures::future::Either::Right(futures::future::pending()),
        };
        loop {
            let now = self.context.current();
            self.drive(now).await?;
            self.follow_authors(boot).await?;
            self.drive_recovery(now, boot).await?;
            self.expire_output_waiters(now);
            let mut wake = next_heartbeat.min(next_exchange);
            if let Some(recovery) = &self.recovery {
                // The next ask, and the patience's end and the give-up while still ahead.
                let give_up =
                    recovery.started() + self.cfg.settings.own_chain_patience * GIVE_UP_PATIENCES;
                let next = [recovery.next_ask, recovery.patience_ends(), give_up]
                    .into_iter()
                    .filter(|t| *t > now)
                    .min();
                if let Some(next) = next {
                    wake = wake.min(next);
                }
            }
            if let Some(deadline) = self.output_waiters.iter().map(|w| w.deadline).min() {
                wake = wake.min(deadline);
            }
            if let Some(fetch) = &self.fetch {
                wake = wake.min(fetch.deadline());
            }
            if self.want_sync && !self.scheduler.in_round() {
                wake = wake.min(self.scheduler.next_round_at().max(now));
            }
            select! {
                request = self.inbox.receiver.next() => {
                    let Some(request) = request else { return Ok(()) };
                    self.on_request(request).await?;
                },
                frame = self.gossip.receiver.recv() => {
                    let Ok((peer, frame)) = frame else { return Err(Error::Closed) };
                    self.on_gossip(peer, frame).await?;
                },
                frame = self.backfill.receiver.recv() => {
                    let Ok((peer, frame)) = frame else { return Err(Error::Closed) };
                    self.on_backfill(peer, frame).await?;
                },
                completed = &mut group_key => {
                    group_key = futures::future::Either::Right(futures::future::pending());
                    if let Ok(completed) = completed {
                        let report = self.dag.set_group_key(*completed.group_key());
                        self.persist(&report).await?;
                    }
                },
                _ = self.context.sleep_until(wake) => {
                    let now = self.context.current();
                    if now >= next_heartbeat {
                        // A joiner not admitted yet has nothing to beat for, nor a node
                        // still recovering its own chain.
                        if self.my_index.is_some() && self.recovery.is_none() {
                            let uptime_ms =
                                millis(now.duration_since(self.started).unwrap_or_default());
                            self.append(OpKind::Heartbeat { uptime_ms }).await?;
                        }
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

    /// Builds, stores, syncs and broadcasts this node's next op. Its time is the clock's, but
    /// always after the node's previous op (a stalled or stepped-back clock does not make two
    /// own ops share an instant, which the checkpoint view relies on).
    async fn append(&mut self, kind: OpKind) -> Result<OpId, Error> {
        let Some(my_index) = self.my_index else {
            return Err(Error::NotAdmitted);
        };
        if self.recovery.is_some() {
            return Err(Error::Recovering);
        }
        let now_ms = millis(
            self.context
                .current()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        let previous_ms = self.dag.newest(my_index).map(|op| op.op().time_ms);
        let time_ms = previous_ms.map_or(now_ms, |p| now_ms.max(p.saturating_add(1)));
        let op = SignedOp::sign(&self.cfg.signer, self.dag.next_op(my_index, kind, time_ms));
        let report = self.dag.apply(vec![op.clone()], &mut self.batch_rng);
        match report.outcomes[..] {
            [Outcome::Applied] => {}
            [Outcome::Rejected(reason)] => {
                tracing::error!(me = %self.me, seq = op.op().seq, reason = reason.name(), "own op rejected");
                return Err(Error::Rejected(reason));
            }
            _ => unreachable!("an own op on top of the heads applies or is rejected"),
        }
        self.persist(&report).await?;
        self.cfg.tracer.archive(op.encoded());
        // The store holds this op durably: say so, durably, before anyone hears of it.
        self.store.mark(op.op().seq).await?;
        self.cfg.tracer.record(Event::OpAppended {
            seq: op.op().seq,
            kind: op.op().kind.name(),
            id: short(&op.id()),
        });
        // Rare path: the frame is lost before it leaves (the peers backfill the op).
        if !crate::buggify!(GossipDrop) {
            let frame = Gossip::Ops(vec![op.clone()]).encode();
            self.gossip
                .sender
                .send(Recipients::Some(self.peers.clone()), frame, false);
        }
        Ok(op.id())
    }

    /// Stores and syncs every op `report` applied, then updates metrics and traces.
    pub(super) async fn persist(&mut self, report: &dag::Report) -> Result<(), Error> {
        if !report.applied.is_empty() {
            let now = self.context.current();
            for id in &report.applied {
                let op = self.dag.get(id).expect("just applied");
                if let Some(author) = self.dag.member(&op.op().author) {
                    if self.last_heard.len() <= author {
                        self.last_heard.resize(author + 1, None);
                    }
                    self.last_heard[author] = Some(now);
                }
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
        if report.floors_raised && self.cfg.settings.compact {
            self.compact().await?;
        }
        self.metrics.applied.inc_by(report.applied.len() as u64);
        self.metrics.evicted.inc_by(report.evicted as u64);
        for author in &report.flagged {
            self.cfg.tracer.record(Event::Equivocation {
                author: author.clone(),
            });
        }
        for id in &report.certified {
            let Some(proposal) = self.dag.committees().get(id) else {
                continue;
            };
            let added = self.chain.add(*id, proposal.clone());
            if matches!(added, Added::New | Added::Conflict) {
                self.cfg.tracer.record(Event::CommitteeCertified {
                    epoch: proposal.epoch,
                    members: proposal.members.len(),
                    digest: commonware_formatting::hex(&proposal.digest()[..8]),
                    conflict: added == Added::Conflict,
                });
            }
        }
        for (_, reason) in &report.rejected_later {
            self.metrics.rejected.inc();
            tracing::debug!(me = %self.me, reason = reason.name(), "pending op rejected");
        }
        self.metrics.ops.set(self.dag.len() as i64);
        self.metrics.held.set(self.dag.held() as i64);
        self.metrics.pending.set(self.dag.pending_len() as i64);
        self.metrics.heads.set(self.dag.head_count() as i64);
        self.metrics
            .flagged
            .set(self.dag.equivocations().count() as i64);
        Ok(())
    }

    /// Prunes what the raised floors made prunable, and rewrites the op store once it holds
    /// more than twice what is kept. The rewrite is crash-safe (the store's docs): a crash
    /// leaves the old or the new store, and either replays into the same ledger.
    async fn compact(&mut self) -> Result<(), Error> {
        let pruned = self.dag.compact();
        self.metrics.pruned.inc_by(pruned as u64);
        self.metrics.held.set(self.dag.held() as i64);
        let kept = self.dag.held() as u64;
        if self.store.len() > 2 * kept + self.cfg.settings.rewrite_slack {
            let records: Vec<bytes::Bytes> = self
                .dag
                .replay_order()
                .into_iter()
                .map(|op| op.encoded().clone())
                .collect();
            self.cfg.tracer.record(Event::OpsRewriting {
                kept: records.len() as u64,
            });
            self.store.rewrite(records.iter()).await?;
            // The store now holds exactly the kept ops, all durable (fewer than it held).
            self.cfg.tracer.record(Event::OpsSynced {
                total: self.store.len(),
            });
            self.metrics.rewrites.inc();
            if self.cfg.tracer.crash_point("ledger-rewritten") {
                // Halt here, as if the node crashed right after the rewrite's commit.
                futures::future::pending::<()>().await;
            }
            tracing::debug!(
                me = %self.me,
                kept,
                generation = self.store.generation(),
                "op store rewritten"
            );
        }
        Ok(())
    }

    async fn on_request(&mut self, request: Request) -> Result<(), Error> {
        match request {
            Request::Submit { payload, reply } => {
                if payload.len() > MAX_DATA_BYTES {
                    let _ = reply.send(Err(Error::PayloadTooLarge(payload.len())));
                    return Ok(());
                }
                if self.recovery.is_some() && self.held_submits.len() < MAX_HELD_SUBMITS {
                    // Answered once the own chain is recovered.
                    self.held_submits.push((payload, reply));
                    return Ok(());
                }
                let result = self.append(OpKind::Data(payload)).await;
                if let Err(Error::Storage(_)) = &result {
                    return result.map(|_| ());
                }
                let _ = reply.send(result);
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
            Request::View {
                subject,
                cutoff_ms,
                online_within,
                reply,
            } => {
                let _ = reply.send(self.view(&subject, cutoff_ms, online_within));
            }
            Request::Governance {
                online_within,
                reply,
            } => {
                let _ = reply.send(self.governance(online_within));
            }
            Request::AppendGovernance { kind, reply } => {
                if !matches!(
                    kind,
                    OpKind::Propose(_) | OpKind::Vote { .. } | OpKind::Certify { .. }
                ) {
                    let _ = reply.send(Err(Error::Rejected(Reason::Malformed)));
                    return Ok(());
                }
                if let OpKind::Certify { proposal, .. } = &kind
                    && self.dag.committees().contains_key(proposal)
                {
                    let _ = reply.send(Err(Error::AlreadyCertified));
                    return Ok(());
                }
                let result = self.append(kind).await;
                if let Err(Error::Storage(_)) = &result {
                    return result.map(|_| ());
                }
                let _ = reply.send(result);
            }
            Request::AppendCheckpoint { certified, reply } => {
                let result = self.append(OpKind::Checkpoint(certified)).await;
                if let Err(Error::Storage(_)) = &result {
                    return result.map(|_| ());
                }
                let _ = reply.send(result);
            }
            Request::FetchOutput { digest, reply } => {
                let id = self.next_request_id;
                self.next_request_id += 1;
                let frame = backfill::Message::OutputRequest { id, digest }.encode();
                self.backfill
                    .sender
                    .send(Recipients::Some(self.peers.clone()), frame, false);
                self.output_waiters.push(OutputWaiter {
                    id,
                    digest,
                    deadline: self.context.current() + self.cfg.settings.request_timeout,
                    reply,
                });
            }
            Request::SetGroupKey { key, reply } => {
                if self.dag.group_key().is_none() {
                    let report = self.dag.set_group_key(*key);
                    self.persist(&report).await?;
                }
                let _ = reply.send(());
            }
            Request::Ops {
                after,
                limit,
                reply,
            } => {
                let (ops, next) = self.dag.held_from(after, limit);
                let ops = ops.into_iter().map(|(p, op)| (p, op.clone())).collect();
                let _ = reply.send((ops, next));
            }
        }
        Ok(())
    }

    /// The authors an op was applied from within `within` (this node included, once it is
    /// an author).
    fn live(&self, within: Duration) -> BTreeSet<PublicKey> {
        let now = self.context.current();
        let authors = self.dag.authors();
        self.last_heard
            .iter()
            .enumerate()
            .filter(|(i, heard)| {
                Some(*i) == self.my_index
                    || heard.is_some_and(|t| now.duration_since(t).unwrap_or_default() <= within)
            })
            .filter_map(|(i, _)| authors.get(i).cloned())
            .chain(self.my_index.and_then(|i| authors.get(i).cloned()))
            .collect()
    }

    /// Follows the authors the certified committees admitted: each new one becomes a peer
    /// (gossip, digest exchange, backfill), and this node, once admitted itself (a joiner),
    /// appends its `Boot` and authors from then on.
    async fn follow_authors(&mut self, boot: u64) -> Result<(), Error> {
        let authors = self.dag.authors().len();
        if self.peers.len() + usize::from(self.my_index.is_some()) == authors {
            return Ok(());
        }
        let now = self.context.current();
        for key in self.dag.authors() {
            if *key != self.me && !self.peers.contains(key) {
                self.peers.push(key.clone());
                self.scheduler.add_peer(now);
            }
        }
        if self.last_heard.len() < authors {
            self.last_heard.resize(authors, None);
        }
        if self.my_index.is_none() {
            self.my_index = author_index(&self.dag, &self.me);
            if self.my_index.is_some() {
                tracing::info!(me = %self.me, "admitted by a certified committee: authoring");
                self.begin_authoring(boot).await?;
            }
        }
        Ok(())
    }

    /// This node became an author (at start, or admitted): it appends its `Boot` op, after
    /// own-chain recovery when the store cannot vouch for the chain ([`super::own`]).
    async fn begin_authoring(&mut self, boot: u64) -> Result<(), Error> {
        match self.store_state.recovery() {
            None => {
                self.append(OpKind::Boot { boot_count: boot }).await?;
            }
            Some(strict) => {
                let threshold = self.chain.cluster().threshold();
                self.recovery = Some(Recovery::new(
                    strict,
                    self.context.current(),
                    self.cfg.settings.own_chain_patience,
                    self.peers.len(),
                    threshold,
                ));
                self.metrics.own_chain_ready.set(0);
                self.cfg.tracer.record(Event::OwnChainRecovering {
                    state: self.store_state.name(),
                });
            }
        }
        Ok(())
    }

    /// The seq of this node's newest op held (0: none, or not an author).
    pub(super) fn own_head(&self) -> u64 {
        self.my_index
            .and_then(|i| self.dag.newest(i))
            .map_or(0, |op| op.op().seq)
    }

    /// Moves own-chain recovery forward: asks the peers that did not answer (again every
    /// request timeout), and once the rule decided, backfills until the own chain reaches
    /// the target, then authors the `Boot` op.
    async fn drive_recovery(&mut self, now: SystemTime, boot: u64) -> Result<(), Error> {
        let own_head = self.own_head();
        let peers = self.peers.len();
        let Some(recovery) = &mut self.recovery else {
            return Ok(());
        };
        recovery.set_peers(peers);
        match recovery.decide(now) {
            None => {
                if now >= recovery.next_ask {
                    recovery.next_ask = now + self.cfg.settings.request_timeout / 4;
                    tracing::info!(me = %self.me, why = recovery.why(own_head), "not authoring yet");
                    let asked: Vec<PublicKey> = self
                        .peers
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !recovery.answered(*i))
                        .map(|(_, p)| p.clone())
                        .collect();
                    self.ask_heads(asked);
                }
            }
            Some(target) if own_head >= target => {
                tracing::info!(me = %self.me, own_head, target, "own chain recovered: authoring");
                self.recovery = None;
                self.metrics.own_chain_ready.set(1);
                self.cfg
                    .tracer
                    .record(Event::OwnChainRecovered { own_head, target });
                self.append(OpKind::Boot { boot_count: boot }).await?;
                for (payload, reply) in std::mem::take(&mut self.held_submits) {
                    let result = self.append(OpKind::Data(payload)).await;
                    if let Err(Error::Storage(_)) = &result {
                        return result.map(|_| ());
                    }
                    let _ = reply.send(result);
                }
            }
            Some(target) => {
                let patience = self.cfg.settings.own_chain_patience;
                if now >= recovery.started() + patience * GIVE_UP_PATIENCES {
                    tracing::warn!(
                        me = %self.me,
                        own_head,
                        target,
                        "peers claim more of this node's chain than they served: giving the claims up"
                    );
                    recovery.give_up(own_head);
                    return Ok(());
                }
                // Backfill until the chain reaches the target, from the peers that hold more
                // of it first, and ask the heads again (a pending op may have been applied or
                // evicted since).
                let ahead: Vec<usize> = recovery.ahead_of(own_head).collect();
                if now >= recovery.next_ask {
                    recovery.next_ask = now + self.cfg.settings.request_timeout;
                    tracing::info!(me = %self.me, why = recovery.why(own_head), "not authoring yet");
                    self.ask_heads(self.peers.clone());
                }
                self.suspects.extend(ahead);
                self.want_sync = true;
            }
        }
        Ok(())
    }

    /// Asks `peers` how far they hold this node's chain (any answer counts: a head is a fact
    /// whichever request it answers).
    fn ask_heads(&mut self, peers: Vec<PublicKey>) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let frame = backfill::Message::HeadRequest { id }.encode();
        self.backfill
            .sender
            .send(Recipients::Some(peers), frame, false);
    }

    /// A peer's answer to a head request: how far it holds this node's chain.
    pub(super) fn on_head(&mut self, peer: &PublicKey, seq: u64) {
        let Some(index) = self.peers.iter().position(|p| p == peer) else {
            return;
        };
        let own_head = self.own_head();
        match &mut self.recovery {
            Some(recovery) => recovery.answer(index, seq),
            None if seq > own_head => {
                // Unasked (or late): a debug line only, a peer cannot flood the log with it.
                tracing::debug!(me = %self.me, %peer, seq, own_head, "a peer holds more of this node's chain than it does")
            }
            None => {}
        }
    }

    /// Answers the output requests whose deadline passed with `None`.
    fn expire_output_waiters(&mut self, now: SystemTime) {
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.output_waiters)
            .into_iter()
            .partition(|w| now >= w.deadline);
        self.output_waiters = kept;
        for waiter in expired {
            let _ = waiter.reply.send(None);
        }
    }

    /// An `Output` answer: it resolves the waiting request it names if its digest matches
    /// (anything else is dropped: an answer proves nothing beyond its digest).
    pub(super) fn on_output(&mut self, id: u64, round: u64, output: bytes::Bytes) {
        let digest = crate::committee::encoded_output_digest(round, &output);
        let Some(i) = self
            .output_waiters
            .iter()
            .position(|w| w.id == id && w.digest == digest)
        else {
            return;
        };
        let waiter = self.output_waiters.swap_remove(i);
        let _ = waiter.reply.send(Some((round, output)));
    }

    fn governance(&self, within: Duration) -> Governance {
        Governance {
            proposals: self.dag.proposals(self.chain.last_epoch()),
            chain: self.chain.clone(),
            live: self.live(within),
            boot_recovered: self.scheduler.boot_recovered(),
            group_key: self.dag.group_key().is_some(),
            admitted: self.my_index.is_some(),
            unverified: match (self.my_index, self.dag.group_key()) {
                (None, None) => self.dag.unverified_proposals(self.chain.last_epoch()),
                _ => Vec::new(),
            },
        }
    }

    fn view(&self, subject: &PublicKey, cutoff_ms: u64, within: Duration) -> Option<SubjectView> {
        let index = author_index(&self.dag, subject)?;
        let (base, ops) = self.dag.history(index);
        let observation = super::view::observe(base, ops.map(|op| op.op()), cutoff_ms);
        let newest_ms = self.dag.newest(index).map(|op| op.op().time_ms);
        let online = self.live(within).len();
        Some(SubjectView {
            observation,
            newest_ms,
            latest: self
                .dag
                .latest_checkpoint(index)
                .map(|(id, c)| (id, c.as_of_ms)),
            flagged: self.dag.is_flagged(index),
            boot_recovered: self.scheduler.boot_recovered(),
            online,
        })
    }

    fn status(&self) -> Status {
        let now = self.context.current();
        Status {
            me: self.me.clone(),
            digest: self.dag.digest(),
            ops: self.dag.len(),
            held: self.dag.held(),
            pruned: self.dag.pruned_total(),
            store_records: self.store.len(),
            store_bytes: self.store.bytes(),
            store_generation: self.store.generation(),
            heads: self.dag.heads().copied().collect(),
            pending: self.dag.pending_len(),
            pending_ids: self.dag.pending_ids(),
            pending_waits: self.dag.pending_waits(4),
            stranded: self.dag.stranded_len(),
            evicted: self.dag.evicted_total(),
            flagged: self.dag.equivocations().map(|(a, _)| a.clone()).collect(),
            boot_recovered: self.scheduler.boot_recovered(),
            store_state: self.store_state.name(),
            authoring: match (&self.recovery, self.my_index) {
                (Some(recovery), _) => Err(recovery.why(self.own_head())),
                (None, None) => Err("not a member of the ledger yet".to_string()),
                (None, Some(_)) => Ok(()),
            },
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

    /// Drops an input with its reason; a peer that proved hostile is blocked (and forgotten by
    /// the backfill server).
    pub(super) fn reject(
        &mut self,
        channel: Channel,
        peer: PublicKey,
        reason: String,
        block: bool,
    ) {
        if block {
            self.server.forget(&peer);
        }
        refusal::refuse(
            &self.cfg.tracer,
            &self.metrics.inputs_rejected,
            &mut self.blocker,
            channel,
            peer,
            reason,
            block,
        );
    }
}

/// `Data` submits held at most while the own chain recovers (more fail with
/// [`Error::Recovering`]).
pub const MAX_HELD_SUBMITS: usize = 1024;

/// How often one peer is answered a DKG output at most.
pub(super) const OUTPUT_ANSWER_PERIOD: Duration = Duration::from_secs(1);

/// A joiner's request for a DKG output, waiting for an answer.
struct OutputWaiter {
    id: u64,
    digest: [u8; 32],
    deadline: SystemTime,
    reply: oneshot::Sender<Option<(u64, bytes::Bytes)>>,
}

/// The author index of `key` in `dag`, if it is an author.
pub(super) fn author_index(dag: &Dag, key: &PublicKey) -> Option<usize> {
    let mut raw = [0u8; 32];
    raw.copy_from_slice(key.as_ref());
    dag.member(&raw)
}

/// Whole milliseconds of a duration, saturating.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The first 8 bytes of an id in hex (for traces).
fn short(id: &OpId) -> String {
    commonware_formatting::hex(&id.as_ref()[..8])
}
