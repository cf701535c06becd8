//! The DKG actor's rounds: one epoch attempt after attempt, each through its phases, every
//! phase behind a barrier gate with the phase timeout as its deadline (see the "Deadlines and
//! attempts" section of `actor` for the rules that keep abandoning a round safe).

use super::{
    actor::{Actor, Error},
    ceremony::{Ceremony, DkgError, Effect, Outcome},
    ingress::Completed,
    phase::{MAX_STEP, Phase, position, step_of},
};
use crate::{
    barrier::{self, BarrierError},
    cluster::PublicKey,
    trace::{Event, Tracer},
};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;
use std::{future::Future, pin::pin};

/// A gate waits in slices of this many sync periods (see [`Actor::gate`]).
const GATE_SLICE_PERIODS: u32 = 5;

/// How one attempt ended (fatal errors aside).
enum Attempt {
    Finished(Completed),
    /// Given up (the error says why): the ceremony goes on with round `next`.
    Abandoned {
        next: u64,
        error: Error,
    },
}

impl<E, S, R, B, T> Actor<E, S, R, B, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    T: Tracer,
{
    /// Runs `epoch` (after `previous`) to completion, attempt after attempt.
    pub(super) async fn epoch(
        &mut self,
        barrier: &mut barrier::Mailbox,
        epoch: u64,
        previous: Option<&Completed>,
    ) -> Result<Completed, Error> {
        let resume = self.meta.barrier_step();
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
        retransmit: fn(&Ceremony) -> Vec<Effect>,
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
}
