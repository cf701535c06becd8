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
    ceremony::{Ceremony, DkgError, Effect, Record, RoundSpec, To},
    ingress::{Completed, Keys},
    metrics::Metrics,
    phase::{Phase, step_of},
    wire,
};
use crate::{
    barrier::{self, BarrierError},
    channels::Duplex,
    cluster::{Cluster, PublicKey},
    trace::{Event, Tracer},
};
use cohort_storage::{
    dkg::{DkgJournal, Record as Stored, Replayed, SealingKey},
    meta::NodeMeta,
};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner, Storage};
use commonware_utils::ordered::Set;
use rand_core::CryptoRng;
use std::{collections::BTreeSet, num::NonZeroU32, time::Duration};
use thiserror::Error;

/// Purpose string of the journal's sealing key.
const SEALING_PURPOSE: &[u8] = b"dkg-journal";

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
    pub(super) metrics: Metrics,
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
        Ok(Self {
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
            metrics,
        })
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
        Ok(RoundSpec {
            round,
            previous: previous.map(|p| p.output.clone()),
            dealers,
            players,
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
    ) -> Result<(Completed, NodeMeta<E>), Error> {
        let mut last = self.completed()?;
        if let Some(completed) = &last {
            // Finished before this restart: make sure peers see us done (unless we had already
            // moved on to the next epoch's rounds), and publish.
            let done = step_of(completed.round, Phase::Done);
            if self.meta.barrier_step() <= done {
                self.enter(barrier, completed.round, Phase::Done).await?;
            }
            self.complete(completed);
        }
        loop {
            let epoch = last.as_ref().map_or(0, |c| c.epoch + 1);
            if epoch > self.cfg.cluster.last_epoch() {
                let completed = last.expect("at least epoch 0 is listed");
                return Ok((completed, self.meta));
            }
            let completed = self.epoch(barrier, epoch, last.as_ref()).await?;
            last = Some(completed);
        }
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
                    #[cfg(feature = "sim")]
                    if let Some(tamper) = &self.cfg.tamper {
                        for (peer, frame) in tamper.outgoing(ceremony.spec(), &to, &message) {
                            self.sender.send(Recipients::One(peer), frame, false);
                        }
                        continue;
                    }
                    self.sender
                        .send(Recipients::Some(to), message.encode(), false);
                }
                Effect::Dealt { commitment } => self.cfg.tracer.record(Event::Dealt {
                    round,
                    commitment: commonware_formatting::hex(&commitment),
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
