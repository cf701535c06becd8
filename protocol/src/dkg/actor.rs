//! The DKG actor: runs this node's part (dealer, player, or both) of an epoch's ceremony on the
//! DKG channel, gated by the step barrier, and persists through the node's DKG journal.
//!
//! # Phases and barrier steps
//!
//! Round `r` (one attempt of one epoch; see [`step_of`]) owns the barrier steps `4r+1..=4r+4`:
//!
//! | step | phase | entered when | work while it lasts |
//! |---|---|---|---|
//! | `4r+1` | `deal` | at once | a quorum is at `deal` (the gate); then deal to every player whose ack is missing, answer dealings with acks, until every player acked or the deal window (half a phase timeout) passed: the log then reveals the missing players' shares |
//! | `4r+2` | `log` | after the deal window | a quorum is at `log`; then sign, persist, sync and broadcast our log, and take logs until every dealer's is here, or a quarter phase timeout passed with enough of them, or a phase timeout passed |
//! | `4r+3` | `agree` | after the log phase, the journal synced | the agreement on the round's log set (below), until it decides |
//! | `4r+4` | `done` | the decided logs finalized; output and share persisted (share sealed) and synced | |
//!
//! The gates wait for a *quorum* (`n - f` members, this one included) at the step, not for
//! everybody: up to `f` members absent for good never block a round. A gate that waits a whole
//! phase timeout reports the members it misses ([`Event::WaitingForPeers`]) and waits on; a
//! member that broke the barrier's rules counts as absent (the barrier runs in quorum mode).
//!
//! # Agreement
//!
//! Which logs a round finalizes over, or that it is given up, is decided by the members'
//! agreement ([`super::agree`], a two-phase locking protocol with rotating leaders: safe
//! whatever the timing, live once a quorum is up and the network timely). A member takes part
//! from the `agree` phase on, and from then on leaves the round only by its decision: the
//! decided logs (every member finalizes over exactly them, so every one ends with the same
//! output, or every one fails alike and moves on), or `Abandon` (every member moves on to the
//! next round). Rounds therefore move on together, by decision, never by one member's clock,
//! and a member whose peers are in a later round gets there by their decision: a member
//! answers any frame of a round it left with that round's decision ([`Error::GivenUp`] for an
//! abandoned round), and a decision of a later round, once verified, is persisted and followed
//! ([`Error::Overtaken`]). Its votes, its lock and the decision are synced before they are
//! acted on, so a restarted member resumes its agreement where it was.
//!
//! Every step is recorded in the node metadata *before* it is announced; a restarted node resumes
//! at its recorded step, rebuilds its [`Ceremony`] from the round's journal section (resending its
//! acks, its signed log and its votes), and carries on with the phase it was in. A node that
//! finished before the restart loads its output and share and does not run the ceremony again.
//!
//! # Deadlines and attempts
//!
//! Every wait is bounded: each gate by a phase timeout (then it reports and waits again), the log
//! phase by a phase timeout, each view of the agreement by its own deadline (doubling with the
//! view, capped). A round that cannot produce a key is given up by decision, traced as
//! [`Event::DkgAttemptFailed`], and the next round starts (the next block of the barrier's
//! steps: fresh dealing seed, fresh journal section). Finalizing itself may fail (too few usable
//! logs among the decided ones: e.g. dealers had to reveal more shares than the fault bound
//! allows while members were down or lying); that outcome is a function of the decided set, so
//! every member fails alike and moves on to the next round together.
//!
//! With fewer than a quorum up nothing can be decided: the members wait, reporting who is
//! missing, and the round goes on once enough are back.
//!
//! # Bad input
//!
//! Every frame is decoded with bounds from the cluster's size. Undecodable frames and inputs that
//! prove misbehaviour (a dealing from a non-dealer, an invalid dealing, a forged ack or log) are
//! traced as [`Event::InputRejected`] and counted. A non-member is blocked at the transport. A
//! *member* that proves hostile is **muted** on the DKG channel instead (its later DKG frames are
//! dropped unread for the rest of this actor's life, except its logs and decisions), not
//! blocked: a transport block would also cut it off the barrier, where it still counts.
//! Muting costs the ceremony nothing it needs: logs are signed, so a muted member's log is still
//! taken (from it or from the echoes of others) and every member ends with the same log set; a
//! player that refused a dealing gets its share from the dealer's log (revealed), or the dealer is
//! dropped by every member alike when it reveals too many. Benign refusals (another round, a
//! duplicate) are traced and counted without muting. Storage errors are fatal for the node: the
//! actor returns them and the node recovers from its journal on restart.
//!
//! # Crash points
//!
//! After every journal sync the actor asks its tracer whether to halt there
//! ([`Tracer::crash_point`]): the simulator uses that to crash a node exactly between persisting a
//! dealing and sending its ack.
use super::{
    agree::Certified,
    ceremony::{Ceremony, DkgError, Effect, Record, RoundSpec, To},
    ingress::{Completed, Keys},
    metrics::Metrics,
    phase::{Phase, step_of},
    serve::Server,
    wire::{self, Message, Variant},
};
use crate::{
    barrier::{self, BarrierError},
    channels::Duplex,
    cluster::{Cluster, PublicKey},
    trace::{Event, Tracer},
};
use bytes::Bytes;
use cohort_storage::{
    dkg::{DkgJournal, Record as Stored, Replayed, SealingKey},
    meta::NodeMeta,
};
use commonware_codec::Encode as _;
use commonware_cryptography::{
    Signer as _,
    bls12381::dkg::feldman_desmedt::{DealerPubMsg, SignedDealerLog},
    ed25519,
};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner, Storage};
use commonware_utils::ordered::Set;
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    time::Duration,
};
use thiserror::Error;

/// Purpose string of the journal's sealing key.
const SEALING_PURPOSE: &[u8] = b"dkg-journal";

/// What a node's DKG journal holds of one round: whether it has the round's output, and
/// whether it has a share (sealed at rest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredRound {
    pub output: bool,
    pub share: bool,
}

/// How long a buggified journal sync waits before it syncs.
const BUGGIFY_SLOW_SYNC: Duration = Duration::from_millis(300);

/// Opens the DKG journal of the node `signer` under `partition_prefix` (which must not be open
/// elsewhere: the node is stopped) and says, per round, whether it holds an output and a share.
/// Once a reshare completes, only its round may hold a share: older rounds are pruned, so an
/// old epoch's share is erased from the disk (what `removed-member-cannot-sign` checks).
pub async fn stored_rounds<E>(
    context: E,
    partition_prefix: &str,
    signer: &ed25519::PrivateKey,
) -> Result<BTreeMap<u64, StoredRound>, Error>
where
    E: Clock + Spawner + commonware_runtime::Metrics + Storage,
{
    let key = SealingKey::derive(&signer.encode(), SEALING_PURPOSE);
    let (_journal, replayed) = DkgJournal::open(context, partition_prefix, key).await?;
    Ok(replayed
        .iter()
        .map(|(round, records)| {
            let has = |kind| records.iter().any(|r| r.kind == kind);
            (
                *round,
                StoredRound {
                    output: has(super::record::KIND_OUTPUT),
                    share: has(super::record::KIND_SHARE),
                },
            )
        })
        .collect())
}

/// Why the DKG stopped at this node.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Ceremony(#[from] DkgError),
    /// Fatal: the node stops and recovers from its journal on restart.
    #[error("storage: {0}")]
    Storage(#[from] cohort_storage::Error),
    #[error("barrier: {0}")]
    Barrier(#[from] BarrierError),
    #[error("round {round} was given up by the members' agreement (view {view})")]
    GivenUp { round: u64, view: u64 },
    #[error("round {round} left for round {next}, which the members decided")]
    Overtaken { round: u64, next: u64 },
    #[error("the DKG channel closed")]
    Closed,
}

impl Error {
    /// The peer the failure names, if any.
    pub fn peer(&self) -> Option<&PublicKey> {
        match self {
            Error::Barrier(error) => error.peer(),
            _ => None,
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
    /// Where the result is published.
    pub keys: Keys,
    /// With governance: a frame from a key that is not a member of `cluster` is dropped
    /// without a block (it may be a joiner this node's chain does not list yet).
    pub catch_up: bool,
    /// A joiner's starting point: the output (and round) of the epoch before the first one it
    /// takes part in, fetched from a peer and checked against the certified proposal that
    /// binds it (no share). Used only when the journal holds no finished epoch; the epochs up
    /// to it are not run.
    pub start: Option<Completed>,
    /// Decodes frames ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
    /// Rewrites what this node sends (the simulator's byzantine members); `None` everywhere else.
    #[cfg(feature = "sim")]
    pub tamper: Option<std::sync::Arc<dyn super::tamper::Tamper>>,
}

/// One node's DKG actor.
pub struct Actor<E, S, R, B, T>
where
    E: Clock + Spawner + commonware_runtime::Metrics + Storage + CryptoRng,
    T: Tracer,
{
    pub(super) context: E,
    pub(super) cfg: Config<T>,
    pub(super) me: PublicKey,
    pub(super) journal: DkgJournal<E>,
    pub(super) replayed: Replayed,
    pub(super) sender: S,
    pub(super) receiver: R,
    pub(super) blocker: B,
    pub(super) sync_period: Duration,
    pub(super) phase_timeout: Duration,
    /// Digests ([`frame_digest`]) of this round's frames already accepted.
    pub(super) handled: BTreeSet<[u8; 32]>,
    /// The node metadata: records every step before it is announced.
    pub(super) meta: NodeMeta<E>,
    /// Members muted on the DKG channel for proved misbehaviour (for this actor's life).
    pub(super) muted: BTreeSet<PublicKey>,
    /// The decision of every round of this epoch that has one (answers to members still in it).
    pub(super) decisions: BTreeMap<u64, (u64, Certified)>,
    /// A later round whose decision arrived: the current attempt ends and that round's starts.
    pub(super) jump: Option<u64>,
    /// The decided logs of every round finished here (each epoch's last), by dealer index:
    /// served to members still finishing that round.
    pub(super) finished_logs: BTreeMap<u64, BTreeMap<u32, SignedDealerLog<Variant, PublicKey>>>,
    /// When each member was last answered about a past round, and sent logs it asked for (one
    /// answer of each kind per sync period).
    pub(super) answered: super::serve::Limiter,
    pub(super) metrics: Metrics,
    /// The commitment this node dealt last and its encoding (see [`wire::encode_dealing`]).
    pub(super) dealt: Option<(DealerPubMsg<Variant>, Bytes)>,
}

impl<E, S, R, B, T> Actor<E, S, R, B, T>
where
    E: Clock + Spawner + commonware_runtime::Metrics + Storage + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    T: Tracer,
{
    /// Opens the node's DKG journal (replaying it) on the DKG channel; `meta` records every step.
    pub async fn open(
        context: E,
        cfg: Config<T>,
        channel: Duplex<S, R>,
        blocker: B,
        meta: NodeMeta<E>,
    ) -> Result<Self, Error> {
        let key = SealingKey::derive(&cfg.signer.encode(), SEALING_PURPOSE);
        let (journal, replayed) =
            DkgJournal::open(context.child("journal"), &cfg.partition_prefix, key).await?;
        let timing = *cfg.cluster.timing();
        let metrics = Metrics::init(&context);
        let mut actor = Self {
            me: cfg.signer.public_key(),
            context,
            cfg,
            journal,
            replayed,
            sender: channel.sender,
            receiver: channel.receiver,
            blocker,
            sync_period: timing.sync_period,
            phase_timeout: timing.phase_timeout,
            handled: BTreeSet::new(),
            meta,
            muted: BTreeSet::new(),
            decisions: BTreeMap::new(),
            jump: None,
            finished_logs: BTreeMap::new(),
            answered: super::serve::Limiter::default(),
            dealt: None,
            metrics,
        };
        actor.decisions = actor.replayed_decisions()?;
        Ok(actor)
    }

    /// Sets a joiner's starting point (see [`Config::start`]).
    pub fn set_start(&mut self, start: Completed) {
        self.cfg.start = Some(start);
    }

    /// The decisions the journal holds, by round.
    fn replayed_decisions(&self) -> Result<BTreeMap<u64, (u64, Certified)>, Error> {
        let participants = self.participants();
        let mut decisions = BTreeMap::new();
        for (round, stored) in &self.replayed {
            for s in stored
                .iter()
                .filter(|s| s.kind == super::ceremony::KIND_DECIDED)
            {
                let record = Record::decode(s.kind, &s.payload, participants)
                    .map_err(|e| DkgError::Recovery(format!("decision of round {round}: {e}")))?;
                if let Record::Decided { epoch, certified } = record {
                    decisions.insert(*round, (epoch, certified));
                }
            }
        }
        Ok(decisions)
    }

    /// The set-up of round `round` of `epoch`: epoch 0's committee deals and plays; epoch
    /// `e + 1`'s dealers are committee `e` (holding `previous`'s shares), its players committee
    /// `e + 1`.
    pub(super) fn spec(
        &self,
        epoch: u64,
        round: u64,
        previous: Option<&Completed>,
    ) -> Result<RoundSpec, Error> {
        let committee = |e: u64| {
            self.cfg
                .cluster
                .committee(e)
                .map(|c| Set::from_iter_dedup(c.iter().cloned()))
                .ok_or_else(|| DkgError::Setup(format!("the cluster lists no committee {e}")))
        };
        let players = committee(epoch)?;
        let dealers = match epoch {
            0 => players.clone(),
            e => committee(e - 1)?,
        };
        // The round's participants agree; observers only learn the decision.
        let voters = Set::from_iter_dedup(dealers.iter().chain(players.iter()).cloned())
            .iter()
            .cloned()
            .collect();
        Ok(RoundSpec {
            verifier: self.cfg.verifier.clone(),
            epoch,
            round,
            previous: previous.map(|p| p.output.clone()),
            dealers,
            players,
            voters,
            view_timeout: self.phase_timeout / 2,
            sync_period: self.sync_period,
        })
    }

    pub(super) fn participants(&self) -> NonZeroU32 {
        NonZeroU32::new(self.cfg.cluster.members().len().max(1) as u32).expect("non-zero")
    }

    /// Decoded records of round `round`'s journal section.
    pub(super) fn records(&self, round: u64) -> Result<Vec<Record>, Error> {
        let participants = self.participants();
        self.replayed
            .get(&round)
            .map(|stored| {
                stored
                    .iter()
                    .map(|s| {
                        Record::decode(s.kind, &s.payload, participants).map_err(|e| {
                            DkgError::Recovery(format!("record of round {round}: {e}")).into()
                        })
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// The latest epoch this node finished, from its journal.
    pub fn completed(&self) -> Result<Option<Completed>, Error> {
        for &round in self.replayed.keys().rev() {
            let records = self.records(round)?;
            let mut found = None;
            let mut share = None;
            for record in records {
                match record {
                    Record::Output { epoch, output } => found = Some((epoch, output)),
                    Record::Share(s) => share = Some(s),
                    _ => {}
                }
            }
            if let Some((epoch, output)) = found {
                // Output and share are synced together; should only the output have reached
                // the disk, the round is not finished for a player (finishing again gives the
                // same output from the same synced logs).
                if share.is_none() && output.players().position(&self.me).is_some() {
                    continue;
                }
                return Ok(Some(Completed {
                    epoch,
                    round,
                    output,
                    share,
                }));
            }
        }
        Ok(None)
    }

    /// Runs every epoch the cluster lists to completion, attempt after attempt (loading the
    /// epochs finished before this start): an attempt that misses its deadline is traced
    /// ([`Event::DkgAttemptFailed`]) and the next one starts (see the module docs). Returns the last epoch's result, or a fatal
    /// error.
    pub async fn run(
        mut self,
        barrier: &mut barrier::Mailbox,
    ) -> Result<(Completed, NodeMeta<E>, Server<E, S, R>), Error> {
        let mut last = self.completed()?;
        if let Some(completed) = &last {
            let logs = self.journal_logs(completed.round)?;
            self.finished_logs.insert(completed.round, logs);
            // Finished before this restart: make sure peers see us done (unless we had already
            // moved on to the next epoch's rounds), and publish.
            let done = step_of(completed.round, Phase::Done);
            if self.meta.barrier_step() <= done {
                self.enter(barrier, completed.round, Phase::Done).await?;
            }
            self.complete(completed);
        } else if let Some(start) = self.cfg.start.clone() {
            tracing::info!(
                me = %self.me,
                epoch = start.epoch,
                round = start.round,
                "joining: the reshares start from a fetched output"
            );
            last = Some(start);
        }
        loop {
            let epoch = last.as_ref().map_or(0, |c| c.epoch + 1);
            if epoch > self.cfg.cluster.last_epoch() {
                let completed = last.expect("at least epoch 0 is listed");
                for (kind, frames, bytes) in self.metrics.sent_so_far() {
                    self.cfg.tracer.record(Event::DkgSent {
                        kind,
                        frames,
                        bytes,
                    });
                }
                let server = Server {
                    context: self.context,
                    cluster: self.cfg.cluster,
                    sender: self.sender,
                    receiver: self.receiver,
                    sync_period: self.sync_period,
                    decisions: self.decisions,
                    finished_logs: self.finished_logs,
                };
                return Ok((completed, self.meta, server));
            }
            let completed = self.epoch(barrier, epoch, last.as_ref()).await?;
            last = Some(completed);
        }
    }

    /// The logs of round `round`'s decision, from its journal section, by dealer index.
    fn journal_logs(
        &self,
        round: u64,
    ) -> Result<BTreeMap<u32, SignedDealerLog<Variant, PublicKey>>, Error> {
        use super::agree::Choice;
        let Some((_, decided)) = self.decisions.get(&round) else {
            return Ok(BTreeMap::new());
        };
        let Choice::Logs(chosen) = &decided.choice else {
            return Ok(BTreeMap::new());
        };
        let wanted: BTreeMap<[u8; 32], u32> = chosen.iter().map(|(i, d)| (*d, *i)).collect();
        let mut logs = BTreeMap::new();
        for record in self.records(round)? {
            if let Record::Log(log) = record {
                let digest = {
                    use commonware_cryptography::{Hasher as _, Sha256};
                    let mut out = [0u8; 32];
                    out.copy_from_slice(Sha256::hash(&[&log.encode()]).as_ref());
                    out
                };
                if let Some(index) = wanted.get(&digest) {
                    logs.insert(*index, log);
                }
            }
        }
        Ok(logs)
    }

    /// Persists (and syncs) the output and the sealed share, then prunes older rounds.
    pub(super) async fn persist(&mut self, completed: &Completed) -> Result<(), Error> {
        let round = completed.round;
        let mut records = vec![Record::Output {
            epoch: completed.epoch,
            output: completed.output.clone(),
        }];
        if let Some(share) = &completed.share {
            records.push(Record::Share(share.clone()));
        }
        for record in records {
            self.journal
                .append(round, &stored(&record), record.secret(), &mut self.context)
                .await?;
        }
        self.journal.sync(round).await?;
        self.journal.prune_before(round).await?;
        Ok(())
    }

    pub(super) fn complete(&self, completed: &Completed) {
        self.metrics.epochs_completed.inc();
        self.cfg.tracer.record(Event::DkgComplete {
            epoch: completed.epoch,
            round: completed.round,
            group_key: completed.group_key_hex(),
            share: completed.share.is_some(),
        });
        self.cfg.keys.publish(completed.clone());
    }

    /// Records `phase`'s step durably, then announces it.
    pub(super) async fn enter(
        &mut self,
        barrier: &mut barrier::Mailbox,
        round: u64,
        phase: Phase,
    ) -> Result<(), Error> {
        let step = step_of(round, phase);
        if self.meta.barrier_step() < step {
            self.meta.record_barrier_step(step).await?;
        }
        barrier.set_step(step).await?;
        self.cfg.tracer.record(Event::DkgPhase {
            round,
            phase: phase.name(),
        });
        Ok(())
    }

    /// Carries out `effects` in order (a sync completes before anything after it).
    pub(super) async fn apply(
        &mut self,
        ceremony: &Ceremony,
        effects: Vec<Effect>,
    ) -> Result<(), Error> {
        let round = ceremony.round();
        for effect in effects {
            match effect {
                Effect::Persist(record) => {
                    self.journal
                        .append(round, &stored(&record), record.secret(), &mut self.context)
                        .await?;
                }
                Effect::Sync => {
                    if crate::buggify!(DkgSlowSync) {
                        // Rare path: a slow disk.
                        self.context.sleep(BUGGIFY_SLOW_SYNC).await;
                    }
                    self.journal.sync(round).await?;
                    if self.cfg.tracer.crash_point("dkg-synced") {
                        // Halt here, as if the node crashed right after the sync.
                        futures::future::pending::<()>().await;
                    }
                }
                Effect::Send { to, message } => {
                    let to = match to {
                        To::One(peer) => vec![peer],
                        To::All => others(&self.cfg.cluster, &self.me),
                    };
                    tracing::trace!(me = %self.me, round, kind = super::metrics::kind(&message), "dkg send");
                    #[cfg(feature = "sim")]
                    if let Some(tamper) = &self.cfg.tamper {
                        for (peer, frame) in tamper.outgoing(ceremony.spec(), &to, &message) {
                            self.metrics.sent(&message, 1, frame.len());
                            self.sender.send(Recipients::One(peer), frame, false);
                        }
                        continue;
                    }
                    let frame = match &message {
                        Message::Dealing {
                            round,
                            public,
                            private,
                        } => {
                            let encoded = match &self.dealt {
                                Some((dealt, encoded)) if dealt == public => encoded.clone(),
                                _ => {
                                    let encoded = public.encode();
                                    self.dealt = Some((public.clone(), encoded.clone()));
                                    encoded
                                }
                            };
                            wire::encode_dealing(*round, &encoded, private)
                        }
                        _ => message.encode(),
                    };
                    if matches!(message, Message::Log { .. })
                        && self.handled.len() < super::intake::MAX_HANDLED
                    {
                        // Every peer echoes the logs it accepts, ours too: a log we sent is
                        // known, so its echoes are dropped by digest, never decoded again.
                        self.handled
                            .insert(super::intake::frame_digest(&self.me, &frame));
                    }
                    self.metrics.sent(&message, to.len(), frame.len());
                    self.sender.send(Recipients::Some(to), frame, false);
                }
                Effect::Dealt { commitment } => self.cfg.tracer.record(Event::Dealt {
                    round,
                    commitment: commonware_formatting::hex(&commitment),
                }),
                Effect::View { view, leader } => self.cfg.tracer.record(Event::DkgView {
                    round,
                    view,
                    leader,
                }),
                Effect::Voted {
                    view,
                    stage,
                    choice,
                    justified,
                } => self.cfg.tracer.record(Event::DkgVoted {
                    round,
                    view,
                    stage: stage.name(),
                    choice,
                    justified,
                }),
                Effect::Refused { view, reason } => {
                    self.cfg.tracer.record(Event::DkgProposalRefused {
                        round,
                        view,
                        reason,
                    })
                }
                Effect::Decided { view, choice } => self.cfg.tracer.record(Event::DkgDecided {
                    round,
                    view,
                    choice,
                }),
                Effect::Equivocation { dealer } => self
                    .cfg
                    .tracer
                    .record(Event::DkgEquivocation { round, dealer }),
                Effect::Acked { dealer, digest } => self.cfg.tracer.record(Event::Acked {
                    round,
                    dealer,
                    digest: commonware_formatting::hex(&digest),
                }),
            }
        }
        Ok(())
    }
}

/// Every cluster member but `me`, in key order: observers of an epoch (members in neither of
/// its committees) receive its logs too, and compute its public output.
fn others(cluster: &Cluster, me: &PublicKey) -> Vec<PublicKey> {
    cluster
        .members()
        .iter()
        .filter(|k| *k != me)
        .cloned()
        .collect()
}

pub(super) fn stored(record: &Record) -> Stored {
    Stored {
        kind: record.kind(),
        payload: record.encode().to_vec(),
    }
}
