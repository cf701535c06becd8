//! The DKG actor: runs this node's part (dealer, player, or both) of an epoch's ceremony on the
//! DKG channel, gated by the step barrier, and persists through the node's DKG journal.
//!
//! # Phases and barrier steps
//!
//! Round `r` (one attempt of one epoch; see [`step_of`]) owns the barrier steps `4r+1..=4r+4`:
//!
//! | step | phase | entered when | work while the step's barrier wait runs |
//! |---|---|---|---|
//! | `4r+1` | `deal` | every member is connected | deal to every player whose ack is missing; answer dealings with acks |
//! | `4r+2` | `log` | all members are at `deal` and every player acked our dealing (or the deal window, half a phase timeout, passed: the log then reveals the missing players' shares) | keep dealing |
//! | `4r+3` | `finish` | all members are at `log`, our log is signed, persisted, synced and broadcast, and we hold a log of every dealer | resend our log |
//! | `4r+4` | `done` | all members are at `finish`; the output and our share are persisted (share sealed) and synced | |
//!
//! A member finalizes only after every member reached `finish`, and a member reaches `finish`
//! only holding every dealer's log (a dealer proved to have signed two logs counts as held, and is
//! excluded). So every member finalizes over the same log set, and the output is the same for all.
//! The journal is synced before `finish` is announced, so a member that restarts at `finish` still
//! holds that set.
//!
//! Every step is recorded in the node metadata *before* it is announced; a restarted node resumes
//! at its recorded step, rebuilds its [`Ceremony`] from the round's journal section (resending its
//! acks and its signed log), and carries on with the phase it was in. A node that finished before
//! the restart loads its output and share and does not run the ceremony again.
//!
//! # Deadlines and attempts
//!
//! Every barrier wait, and the wait for missing logs, has the cluster's phase timeout as its
//! deadline. The deal gate is also where members connect: a member started early, or a cluster
//! with members down, fails that attempt after the phase timeout. An attempt that misses its
//! deadline fails with [`Error::Deadline`] (naming the phase and the members or dealers it waited
//! for), traced as [`Event::DkgAttemptFailed`], and the ceremony goes on with a new attempt: the
//! next round, whose steps are the next block of the barrier (fresh dealing seed, fresh journal
//! section). It never hangs, and it succeeds once every member is back.
//!
//! Abandoning a round must never split the cluster (some members finalizing it, others not).
//! The rules:
//! - A member abandons on its own deadline only *before* it announced `finish`, by jumping to the
//!   first step of the next block (the barrier admits jumps to block starts; see
//!   `barrier::state`).
//! - A member finalizes only when every member is at `finish` *and*, looked at after the wait,
//!   none is in a later round. A member that jumped never announced `finish`, and steps never
//!   decrease, so if any member jumped nobody finalizes, and if anybody finalizes nobody jumped.
//! - After every gate wait, a member that sees a peer in a later round abandons its own round for
//!   that one (the peer gave this round up, so nobody finalized it). At `finish` that is the only
//!   way out: its own deadline only reports the members it is waiting for
//!   ([`Event::WaitingForPeers`]) and waits on, since a peer may be finalizing.
//! - A member leaves a finished round's block only after finishing it, so a peer in a later block
//!   is never mistaken for one that jumped.
//! - Past `finish`, finalizing itself may fail (too few usable logs: e.g. dealers had to reveal
//!   more shares than the fault bound allows while members were down or lying). That outcome is
//!   a function of the log set, which every member shares, so all of them fail alike and move
//!   on to the next round together: the round is given up, never the node.
//!
//! A restarted member resumes in the round and phase it recorded; if its peers moved on
//! meanwhile, its first gate wait sees them in a later round and it follows.
//!
//! # Bad input
//!
//! Every frame is decoded with bounds from the cluster's size. Undecodable frames and inputs that
//! prove misbehaviour (a dealing from a non-dealer, an invalid dealing, a forged ack or log) are
//! traced as [`Event::InputRejected`] and counted. A non-member is blocked at the transport. A
//! *member* that proves hostile is **muted** on the DKG channel instead (its later DKG frames are
//! dropped unread for the rest of this actor's life, except its logs), not blocked: the step
//! barrier needs every member at every step, so a transport block would let one hostile member
//! stall the ceremony for everyone (it could no longer hear the blocker, nor the blocker it).
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
    ceremony::{Ceremony, DkgError, Effect, Outcome, Record, RoundSpec, To},
    wire::{self, Variant},
};
use crate::{
    barrier::{self, BarrierError},
    cluster::{Cluster, PublicKey},
    trace::{Event, Tracer},
};
use cohort_storage::{
    dkg::{DkgJournal, Record as Stored, Replayed, SealingKey},
    meta::NodeMeta,
};
use commonware_codec::Encode as _;
use commonware_cryptography::{
    Signer as _,
    bls12381::{dkg::feldman_desmedt::Output, primitives::group::Share},
    ed25519,
};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{
    Clock, Metrics, Spawner, Storage,
    telemetry::metrics::{
        Registered,
        raw::{Counter, Gauge},
    },
};
use commonware_utils::ordered::Set;
use futures::channel::oneshot;
use rand_core::CryptoRng;
use std::{
    collections::BTreeSet,
    future::Future,
    num::NonZeroU32,
    pin::pin,
    sync::{Arc, Mutex},
    time::Duration,
};
use thiserror::Error;

/// Barrier steps per round.
pub const PHASES: u64 = 4;

/// The highest barrier step the DKG may use.
pub const MAX_STEP: u64 = u32::MAX as u64;

/// A gate waits in slices of this many sync periods (see [`Actor::gate`]).
const GATE_SLICE_PERIODS: u32 = 5;

/// Purpose string of the journal's sealing key.
const SEALING_PURPOSE: &[u8] = b"dkg-journal";

/// A phase of one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Deal = 1,
    Log = 2,
    Finish = 3,
    Done = 4,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Deal => "deal",
            Phase::Log => "log",
            Phase::Finish => "finish",
            Phase::Done => "done",
        }
    }
}

/// The barrier step of `phase` of round `round`.
pub fn step_of(round: u64, phase: Phase) -> u64 {
    round * PHASES + phase as u64
}

/// The round and phase a barrier step belongs to (`None` for step 0: nothing started).
pub fn position(step: u64) -> Option<(u64, Phase)> {
    let index = step.checked_sub(1)?;
    let phase = match index % PHASES {
        0 => Phase::Deal,
        1 => Phase::Log,
        2 => Phase::Finish,
        _ => Phase::Done,
    };
    Some((index / PHASES, phase))
}

/// The result of a finished epoch.
#[derive(Clone, Debug)]
pub struct Completed {
    pub epoch: u64,
    pub round: u64,
    pub output: Output<Variant, PublicKey>,
    /// This node's share (`None` if it is not a player of the epoch).
    pub share: Option<Share>,
}

impl Completed {
    /// The group public key.
    pub fn group_key(
        &self,
    ) -> &<Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Public {
        self.output.public().public()
    }

    /// The group public key, hex encoded.
    pub fn group_key_hex(&self) -> String {
        hex(&self.group_key().encode())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where other actors find the DKG result (checkpoints sign with the share). Cheap to clone.
#[derive(Clone, Default)]
pub struct Keys {
    inner: Arc<Mutex<KeysInner>>,
}

#[derive(Default)]
struct KeysInner {
    completed: Option<Completed>,
    waiters: Vec<oneshot::Sender<Completed>>,
}

impl Keys {
    /// The latest completed epoch, if any.
    pub fn current(&self) -> Option<Completed> {
        self.inner.lock().expect("keys lock").completed.clone()
    }

    /// Resolves with the first completed epoch (at once if there is one).
    pub fn subscribe(&self) -> oneshot::Receiver<Completed> {
        let (sender, receiver) = oneshot::channel();
        let mut inner = self.inner.lock().expect("keys lock");
        match &inner.completed {
            Some(completed) => {
                let _ = sender.send(completed.clone());
            }
            None => inner.waiters.push(sender),
        }
        receiver
    }

    fn publish(&self, completed: Completed) {
        let mut inner = self.inner.lock().expect("keys lock");
        for waiter in inner.waiters.drain(..) {
            let _ = waiter.send(completed.clone());
        }
        inner.completed = Some(completed);
    }
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
    #[error("round {round} missed its deadline in phase {phase}: {detail}")]
    Deadline {
        round: u64,
        phase: &'static str,
        detail: String,
    },
    #[error("round {round} abandoned in phase {phase}: a member moved on to round {next}")]
    Overtaken {
        round: u64,
        phase: &'static str,
        next: u64,
    },
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
    /// Rewrites what this node sends (the simulator's byzantine members); `None` everywhere else.
    pub tamper: Option<Arc<dyn Tamper>>,
}

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

/// One node's DKG actor.
pub struct Actor<E, S, R, B, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    me: PublicKey,
    journal: DkgJournal<E>,
    replayed: Replayed,
    sender: S,
    receiver: R,
    blocker: B,
    sync_period: Duration,
    phase_timeout: Duration,
    /// Digests ([`frame_digest`]) of this round's frames already accepted.
    handled: BTreeSet<[u8; 32]>,
    /// The node metadata (held while [`Actor::run`] runs; records every step).
    meta: Option<NodeMeta<E>>,
    /// Members muted on the DKG channel for proved misbehaviour (for this actor's life).
    muted: BTreeSet<PublicKey>,
    metrics: DkgMetrics,
}

/// The DKG's metrics (under the actor's context: `..._dkg_*`).
struct DkgMetrics {
    rejected: Registered<Counter>,
    muted: Registered<Counter>,
    attempts_failed: Registered<Counter>,
    round: Registered<Gauge>,
    epochs_completed: Registered<Counter>,
}

impl DkgMetrics {
    fn new(context: &impl Metrics) -> Self {
        Self {
            rejected: context.register(
                "inputs_rejected",
                "dkg frames refused: undecodable, another round, a non-member, an invalid dealing, ack or log",
                Counter::default(),
            ),
            muted: context.register(
                "members_muted",
                "members muted on the dkg channel after proving hostile",
                Counter::default(),
            ),
            attempts_failed: context.register(
                "attempts_failed",
                "dkg attempts that missed their deadline or were abandoned",
                Counter::default(),
            ),
            round: context.register("round", "the dkg round (attempt) this node is in", Gauge::default()),
            epochs_completed: context.register(
                "epochs_completed",
                "dkg epochs finished (or loaded) by this node",
                Counter::default(),
            ),
        }
    }
}

/// How one attempt ended (fatal errors aside).
enum Attempt {
    Finished(Completed),
    /// Given up (the error says why): the ceremony goes on with round `next`.
    Abandoned {
        next: u64,
        error: Error,
    },
}

/// Most accepted frames remembered per round (a bound; honest traffic of 256 members stays far
/// below it).
const MAX_HANDLED: usize = 1 << 16;

/// What identifies a repeat: a log is the same whoever relays it (echoes), a dealing or an ack
/// only from the same sender.
fn frame_digest(peer: &PublicKey, frame: &[u8]) -> [u8; 32] {
    use commonware_cryptography::{Hasher as _, Sha256};
    let digest = if frame.first() == Some(&wire::TAG_LOG) {
        Sha256::hash(&[frame])
    } else {
        Sha256::hash(&[peer.as_ref(), frame])
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl<E, S, R, B, T> Actor<E, S, R, B, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    T: Tracer,
{
    /// Opens the node's DKG journal (replaying it) on the DKG channel.
    pub async fn open(
        context: E,
        cfg: Config<T>,
        (sender, receiver): (S, R),
        blocker: B,
    ) -> Result<Self, Error> {
        let key = SealingKey::derive(&cfg.signer.encode(), SEALING_PURPOSE);
        let (journal, replayed) =
            DkgJournal::open(context.child("journal"), &cfg.partition_prefix, key).await?;
        let timing = *cfg.cluster.timing();
        let metrics = DkgMetrics::new(&context);
        Ok(Self {
            me: cfg.signer.public_key(),
            context,
            cfg,
            journal,
            replayed,
            sender,
            receiver,
            blocker,
            sync_period: timing.sync_period,
            phase_timeout: timing.phase_timeout,
            handled: BTreeSet::new(),
            meta: None,
            muted: BTreeSet::new(),
            metrics,
        })
    }

    /// The set-up of round `round` of `epoch`: epoch 0's committee deals and plays; epoch
    /// `e + 1`'s dealers are committee `e` (holding `previous`'s shares), its players committee
    /// `e + 1`.
    fn spec(
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
        Ok(RoundSpec {
            round,
            previous: previous.map(|p| p.output.clone()),
            dealers,
            players,
        })
    }

    fn participants(&self) -> NonZeroU32 {
        NonZeroU32::new(self.cfg.cluster.members().len().max(1) as u32).expect("non-zero")
    }

    /// Decoded records of round `round`'s journal section.
    fn records(&self, round: u64) -> Result<Vec<Record>, Error> {
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
    /// ([`Event::DkgAttemptFailed`]) and the next one starts (see the module docs). `meta`
    /// records every step before it is announced. Returns the last epoch's result, or a fatal
    /// error.
    pub async fn run(
        mut self,
        barrier: &mut barrier::Mailbox,
        meta: NodeMeta<E>,
    ) -> Result<(Completed, NodeMeta<E>), Error> {
        self.meta = Some(meta);
        let mut last = self.completed()?;
        if let Some(completed) = &last {
            // Finished before this restart: make sure peers see us done (unless we had already
            // moved on to the next epoch's rounds), and publish.
            let done = step_of(completed.round, Phase::Done);
            if self.meta.as_ref().expect("meta is held").barrier_step() <= done {
                self.enter(barrier, completed.round, Phase::Done).await?;
            }
            self.complete(completed);
        }
        loop {
            let epoch = last.as_ref().map_or(0, |c| c.epoch + 1);
            if epoch > self.cfg.cluster.last_epoch() {
                let completed = last.expect("at least epoch 0 is listed");
                return Ok((completed, self.meta.take().expect("meta is held")));
            }
            let completed = self.epoch(barrier, epoch, last.as_ref()).await?;
            last = Some(completed);
        }
    }

    /// Runs `epoch` (after `previous`) to completion, attempt after attempt.
    async fn epoch(
        &mut self,
        barrier: &mut barrier::Mailbox,
        epoch: u64,
        previous: Option<&Completed>,
    ) -> Result<Completed, Error> {
        let resume = self.meta.as_ref().expect("meta is held").barrier_step();
        let (mut round, mut phase) = position(resume).unwrap_or((0, Phase::Deal));
        if let Some(previous) = previous {
            // Leave the previous epoch's block only once every member finished it: a member
            // seen in a later block must mean one that gave its round up (module docs).
            self.await_all_done(barrier, previous.round).await?;
            if round <= previous.round {
                (round, phase) = (previous.round + 1, Phase::Deal);
            }
        }
        loop {
            match self.attempt(barrier, epoch, round, phase, previous).await? {
                Attempt::Finished(completed) => return Ok(completed),
                Attempt::Abandoned { next, error } => {
                    if step_of(next, Phase::Done) > MAX_STEP {
                        return Err(error);
                    }
                    self.metrics.attempts_failed.inc();
                    self.cfg.tracer.record(Event::DkgAttemptFailed {
                        round,
                        next,
                        error: error.to_string(),
                    });
                    round = next;
                    phase = Phase::Deal;
                }
            }
        }
    }

    /// Waits (reporting who is missing every phase timeout) until every member is done with
    /// round `round`.
    async fn await_all_done(
        &mut self,
        barrier: &mut barrier::Mailbox,
        round: u64,
    ) -> Result<(), Error> {
        loop {
            match barrier
                .await_all_at_step(step_of(round, Phase::Done), self.phase_timeout)
                .await
            {
                Ok(()) => return Ok(()),
                Err(BarrierError::Timeout { missing, .. }) => {
                    self.cfg.tracer.record(Event::WaitingForPeers { missing });
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Runs round `round` from `phase` (where a restart left it, or `deal`).
    async fn attempt(
        &mut self,
        barrier: &mut barrier::Mailbox,
        epoch: u64,
        round: u64,
        phase: Phase,
        previous: Option<&Completed>,
    ) -> Result<Attempt, Error> {
        self.metrics.round.set(round as i64);
        let records = self.records(round)?;
        let mut seed = [0u8; 32];
        self.context.fill_bytes(&mut seed);
        let (mut ceremony, effects) = Ceremony::recover(
            self.spec(epoch, round, previous)?,
            self.cfg.signer.clone(),
            previous.and_then(|p| p.share.clone()),
            records,
            seed,
        )?;
        self.handled.clear();
        self.apply(&ceremony, effects).await?;

        if phase <= Phase::Deal {
            self.enter(barrier, round, Phase::Deal).await?;
            if let Some(stop) = self
                .gate(&mut ceremony, barrier, Phase::Deal, Ceremony::deal)
                .await?
            {
                return Ok(stop);
            }
            // The deal window: until every player acked our dealing, or half a phase timeout
            // passed (a player down or silent that long gets its share revealed in our log).
            let sleep = self.context.sleep(self.phase_timeout / 2);
            self.pump(&mut ceremony, sleep, Ceremony::all_acked, Ceremony::deal)
                .await?;
            self.enter(barrier, round, Phase::Log).await?;
        }
        if phase <= Phase::Log {
            if let Some(stop) = self
                .gate(&mut ceremony, barrier, Phase::Log, Ceremony::deal)
                .await?
            {
                return Ok(stop);
            }
            let effects = ceremony.finalize_log();
            self.apply(&ceremony, effects).await?;
            let deadline = self.context.sleep(self.phase_timeout);
            let waited = self
                .pump(
                    &mut ceremony,
                    deadline,
                    Ceremony::logs_complete,
                    Ceremony::resend_log,
                )
                .await?;
            if waited.is_some() {
                let missing: Vec<String> = ceremony
                    .missing_logs()
                    .iter()
                    .map(|k| k.to_string())
                    .collect();
                let error = Error::Deadline {
                    round,
                    phase: Phase::Log.name(),
                    detail: format!("no log from dealers {}", missing.join(", ")),
                };
                // We never announced `finish`, so nobody can finalize this round: move on.
                let later = self.later_round(barrier, round).await?;
                return Ok(Attempt::Abandoned {
                    next: later.unwrap_or(round + 1),
                    error,
                });
            }
            // Everything held so far is durable before anyone may finalize.
            self.journal.sync(round).await?;
            self.enter(barrier, round, Phase::Finish).await?;
        }
        // Phase finish (a node resumed at `done` always found its output in `run`).
        if let Some(stop) = self
            .gate(&mut ceremony, barrier, Phase::Finish, Ceremony::resend_log)
            .await?
        {
            return Ok(stop);
        }
        let Outcome { output, share } = match ceremony.finish(&mut self.context) {
            Ok(outcome) => outcome,
            // Too few usable logs (e.g. a dealer had to reveal more shares than the fault bound
            // allows while members were down or lying). Every member finalizes over the same
            // log set, so every one of them fails alike: the round is given up, not the node.
            Err(DkgError::Finalize(reason)) => {
                return Ok(Attempt::Abandoned {
                    next: round + 1,
                    error: DkgError::Finalize(reason).into(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        let completed = Completed {
            epoch,
            round,
            output,
            share,
        };
        self.persist(&completed).await?;
        self.enter(barrier, round, Phase::Done).await?;
        self.complete(&completed);
        Ok(Attempt::Finished(completed))
    }

    /// The highest round a peer is in beyond `round`, if any (from the barrier's view).
    async fn later_round(
        &mut self,
        barrier: &mut barrier::Mailbox,
        round: u64,
    ) -> Result<Option<u64>, Error> {
        let status = barrier.status().await?;
        Ok(status
            .peers
            .iter()
            .filter_map(|peer| peer.step.and_then(position))
            .map(|(r, _)| r)
            .filter(|r| *r > round)
            .max())
    }

    /// Persists (and syncs) the output and the sealed share, then prunes older rounds.
    async fn persist(&mut self, completed: &Completed) -> Result<(), Error> {
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

    fn complete(&self, completed: &Completed) {
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
    async fn enter(
        &mut self,
        barrier: &mut barrier::Mailbox,
        round: u64,
        phase: Phase,
    ) -> Result<(), Error> {
        let step = step_of(round, phase);
        let meta = self.meta.take().expect("meta is held");
        let meta = if meta.barrier_step() < step {
            meta.record_barrier_step(step).await?
        } else {
            meta
        };
        self.meta = Some(meta);
        barrier.set_step(step).await?;
        self.cfg.tracer.record(Event::DkgPhase {
            round,
            phase: phase.name(),
        });
        Ok(())
    }

    /// Keeps the ceremony going until every member is at `phase`'s step, each wait bounded by
    /// the phase timeout. `Some` when the attempt must be abandoned: a peer is in a later round
    /// (it gave this one up before `finish`, so nobody can finalize it), or the deadline passed
    /// before we announced `finish`. At `finish` our own deadline never abandons the round (a
    /// peer may already be finalizing it): we report the members missing and wait on.
    async fn gate(
        &mut self,
        ceremony: &mut Ceremony,
        barrier: &mut barrier::Mailbox,
        phase: Phase,
        retransmit: fn(&Ceremony) -> Vec<super::Effect>,
    ) -> Result<Option<Attempt>, Error> {
        let round = ceremony.round();
        let step = step_of(round, phase);
        loop {
            // Waited in slices, so a peer that moved on to a later round is followed within a
            // slice rather than at the deadline.
            let deadline = self.context.current() + self.phase_timeout;
            let (result, later) = loop {
                let now = self.context.current();
                let slice = deadline
                    .duration_since(now)
                    .unwrap_or_default()
                    .min(self.sync_period.saturating_mul(GATE_SLICE_PERIODS));
                let wait = barrier.await_all_at_step(step, slice);
                let result = self
                    .pump(ceremony, wait, |_| false, retransmit)
                    .await?
                    .unwrap_or(Ok(()));
                // After the wait, never before: a peer counted "at step" because it is in a
                // later round shows up here (steps never decrease).
                let later = self.later_round(barrier, round).await?;
                let timed_out = matches!(result, Err(BarrierError::Timeout { .. }));
                if !timed_out || later.is_some() || self.context.current() >= deadline {
                    break (result, later);
                }
            };
            let missing = match result {
                Ok(()) => None,
                Err(BarrierError::Timeout { missing, .. }) => Some(missing),
                Err(error) => return Err(error.into()),
            };
            if let Some(next) = later {
                return Ok(Some(Attempt::Abandoned {
                    next,
                    error: Error::Overtaken {
                        round,
                        phase: phase.name(),
                        next,
                    },
                }));
            }
            let Some(missing) = missing else {
                return Ok(None);
            };
            if phase < Phase::Finish {
                let names: Vec<String> = missing.iter().map(|k| k.to_string()).collect();
                return Ok(Some(Attempt::Abandoned {
                    next: round + 1,
                    error: Error::Deadline {
                        round,
                        phase: phase.name(),
                        detail: format!("members not there: {}", names.join(", ")),
                    },
                }));
            }
            self.cfg.tracer.record(Event::WaitingForPeers { missing });
        }
    }

    /// Handles DKG traffic and retransmits every sync period until `stop` holds (`None`) or
    /// `wait` resolves (`Some`).
    async fn pump<O>(
        &mut self,
        ceremony: &mut Ceremony,
        wait: impl Future<Output = O>,
        stop: impl Fn(&Ceremony) -> bool,
        retransmit: fn(&Ceremony) -> Vec<Effect>,
    ) -> Result<Option<O>, Error> {
        let mut wait = pin!(wait);
        let mut next = self.context.current();
        loop {
            if stop(ceremony) {
                return Ok(None);
            }
            select! {
                out = &mut wait => return Ok(Some(out)),
                _ = self.context.sleep_until(next) => {
                    let effects = retransmit(ceremony);
                    self.apply(ceremony, effects).await?;
                    next = self.context.current() + self.sync_period;
                },
                frame = self.receiver.recv() => {
                    let Ok((peer, frame)) = frame else {
                        return Err(Error::Closed);
                    };
                    self.on_frame(ceremony, peer, frame).await?;
                },
            }
        }
    }

    async fn on_frame(
        &mut self,
        ceremony: &mut Ceremony,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        if !self.cfg.cluster.is_member(&peer) {
            self.reject(peer, "frame from a non-member".into(), true);
            return Ok(());
        }
        // Repeats (retransmitted dealings, echoed logs) are recognised by digest before any
        // decoding: decoding checks every curve point, which would otherwise dominate the cost.
        let bytes = frame.copy_to_bytes(frame.remaining());
        // A muted member's logs still count (signed, so checkable from anyone): every member
        // must end with the same log set, whoever muted whom.
        if self.muted.contains(&peer) && bytes.first() != Some(&wire::TAG_LOG) {
            return Ok(());
        }
        let digest = frame_digest(&peer, &bytes);
        if self.handled.contains(&digest) {
            let effects = match bytes.first() {
                Some(&wire::TAG_DEALING) => ceremony.resend_ack(&peer),
                _ => Vec::new(),
            };
            return self.apply(ceremony, effects).await;
        }
        // Bounded by the cluster, not this round: a frame of another epoch (more participants)
        // must decode, then be refused as another round's, not taken for garbage.
        let message = match wire::decode(bytes, self.participants()) {
            Ok(message) => message,
            Err(error) => {
                self.reject(peer, format!("undecodable frame: {error}"), true);
                return Ok(());
            }
        };
        let round = message.round();
        match ceremony.on_message(&peer, message) {
            Ok(effects) => {
                if round == ceremony.round() && self.handled.len() < MAX_HANDLED {
                    self.handled.insert(digest);
                }
                self.apply(ceremony, effects).await
            }
            Err(rejection) => {
                self.reject(peer, rejection.reason, rejection.misbehaviour);
                Ok(())
            }
        }
    }

    /// Drops an input with its reason. A non-member that proved misbehaviour is blocked at the
    /// transport; a member is muted on this channel instead (see the module docs).
    fn reject(&mut self, peer: PublicKey, reason: String, misbehaviour: bool) {
        let member = self.cfg.cluster.is_member(&peer);
        let block = misbehaviour && !member;
        let mute = misbehaviour && member;
        tracing::debug!(me = %self.me, %peer, %reason, block, mute, "dkg input rejected");
        if block {
            commonware_p2p::block!(self.blocker, peer.clone(), "dkg: peer proved misbehaviour");
        }
        self.metrics.rejected.inc();
        let reason = if mute && self.muted.insert(peer.clone()) {
            self.metrics.muted.inc();
            format!("{reason} (member muted on the dkg channel)")
        } else {
            reason
        };
        self.cfg.tracer.record(Event::InputRejected {
            channel: "dkg",
            peer,
            reason,
            blocked: block,
        });
    }

    /// Carries out `effects` in order (a sync completes before anything after it).
    async fn apply(&mut self, ceremony: &Ceremony, effects: Vec<Effect>) -> Result<(), Error> {
        let round = ceremony.round();
        for effect in effects {
            match effect {
                Effect::Persist(record) => {
                    self.journal
                        .append(round, &stored(&record), record.secret(), &mut self.context)
                        .await?;
                }
                Effect::Sync => {
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
                    tracing::trace!(me = %self.me, round, kind = message_kind(&message), "dkg send");
                    match &self.cfg.tamper {
                        None => {
                            self.sender
                                .send(Recipients::Some(to), message.encode(), false);
                        }
                        Some(tamper) => {
                            for (peer, frame) in tamper.outgoing(ceremony.spec(), &to, &message) {
                                self.sender.send(Recipients::One(peer), frame, false);
                            }
                        }
                    }
                }
                Effect::Dealt { commitment } => self.cfg.tracer.record(Event::Dealt {
                    round,
                    commitment: hex(&commitment),
                }),
                Effect::Acked { dealer, digest } => self.cfg.tracer.record(Event::Acked {
                    round,
                    dealer,
                    digest: hex(&digest),
                }),
            }
        }
        Ok(())
    }
}

fn message_kind(message: &wire::Message) -> &'static str {
    match message {
        wire::Message::Dealing { .. } => "dealing",
        wire::Message::Ack { .. } => "ack",
        wire::Message::Log { .. } => "log",
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

fn stored(record: &Record) -> Stored {
    Stored {
        kind: record.kind(),
        payload: record.encode().to_vec(),
    }
}
