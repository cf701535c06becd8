//! The DKG actor's rounds: one epoch attempt after attempt, each through its phases (see the
//! "Phases", "Agreement" and "Deadlines and attempts" sections of `actor` for the rules).

use super::{
    actor::{Actor, Error},
    agree::Choice,
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
use std::{future::Future, pin::pin, time::SystemTime};

/// The log window: the share of a phase timeout after which the log phase ends with the logs
/// held, if they are enough (before it, a missing log is waited for).
const LOG_WINDOW_DIVISOR: u32 = 4;

/// How one attempt ended (fatal errors aside).
enum Attempt {
    Finished(Completed),
    /// Given up (the error says why): the ceremony goes on with round `next`.
    Abandoned {
        next: u64,
        error: Error,
    },
}

/// What the periodic work of a wait is.
type Tick = fn(&mut Ceremony, SystemTime) -> Vec<Effect>;

/// The deal phase's periodic work: deal to every player whose ack we lack.
fn deal_tick(ceremony: &mut Ceremony, _: SystemTime) -> Vec<Effect> {
    ceremony.deal()
}

/// The log phase's: our log again, and now and then a request for the decision.
fn log_tick(ceremony: &mut Ceremony, _: SystemTime) -> Vec<Effect> {
    ceremony.log_tick()
}

/// The agreement's: its timers and resends, our log, and requests for decided logs we lack.
fn agree_tick(ceremony: &mut Ceremony, now: SystemTime) -> Vec<Effect> {
    ceremony.agree_tick(now)
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
            // Every member finished the previous epoch in the same (agreed) round.
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

    /// Whether the attempt is over before its phases are: its outcome is decided, or a decision
    /// of a later round arrived.
    fn settled(&self, ceremony: &Ceremony) -> bool {
        ceremony.decided().is_some() || self.jump.is_some()
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
        self.jump = None;
        self.apply(&ceremony, effects).await?;

        if phase <= Phase::Deal && !self.settled(&ceremony) {
            self.enter(barrier, round, Phase::Deal).await?;
            self.gate(&mut ceremony, barrier, Phase::Deal, deal_tick)
                .await?;
            // The deal window: until every player acked our dealing, or half a phase timeout
            // passed (a player down or silent that long gets its share revealed in our log).
            if !self.settled(&ceremony) {
                // Rare path: the window is cut to a quarter (the log reveals more shares).
                let window = if crate::buggify!(DkgShortDealWindow) {
                    self.phase_timeout / 8
                } else {
                    self.phase_timeout / 2
                };
                let sleep = self.context.sleep(window);
                self.pump(
                    &mut ceremony,
                    sleep,
                    |c, _| c.all_acked() || c.decided().is_some(),
                    deal_tick,
                )
                .await?;
            }
            if !self.settled(&ceremony) {
                self.enter(barrier, round, Phase::Log).await?;
            }
        }
        if phase <= Phase::Log && !self.settled(&ceremony) {
            self.gate(&mut ceremony, barrier, Phase::Log, deal_tick)
                .await?;
            if !self.settled(&ceremony) {
                self.log_phase(&mut ceremony).await?;
                // Everything held so far is durable before we take part in the agreement.
                self.journal.sync(round).await?;
                self.enter(barrier, round, Phase::Agree).await?;
            }
        }
        if !self.settled(&ceremony) {
            // Past this point the round ends only by the agreement's decision (or one of a
            // later round): every view has its deadline, and the wait goes on as long as it
            // takes a quorum to be there.
            let effects = ceremony.start_agreement(self.context.current());
            self.apply(&ceremony, effects).await?;
            self.pump(
                &mut ceremony,
                futures::future::pending::<()>(),
                |c, _| c.decided().is_some(),
                agree_tick,
            )
            .await?;
        }
        if let Some(next) = self.jump.take() {
            return Ok(Attempt::Abandoned {
                next,
                error: Error::Overtaken { round, next },
            });
        }
        let decided = ceremony
            .decided()
            .cloned()
            .expect("a settled attempt without a jump is decided");
        self.decisions.insert(round, (epoch, decided.clone()));
        if decided.choice == Choice::Abandon {
            return Ok(Attempt::Abandoned {
                next: round + 1,
                error: Error::GivenUp {
                    round,
                    view: decided.certificate.view,
                },
            });
        }
        if !ceremony.missing_decided().is_empty() {
            // Logs the decision names that never reached us: at least one honest voter took
            // each of them, so asking everybody finds it.
            self.pump(
                &mut ceremony,
                futures::future::pending::<()>(),
                |c, _| c.missing_decided().is_empty(),
                agree_tick,
            )
            .await?;
        }
        self.finished_logs.insert(round, ceremony.decided_logs());
        let Outcome {
            output,
            share,
            share_lost,
        } = match ceremony.finish(&mut self.context) {
            Ok(outcome) => outcome,
            // Too few usable logs among the decided ones (e.g. a dealer had to reveal more
            // shares than the fault bound allows while members were down or lying). Every
            // member finalizes over the same decided logs, so every one of them fails alike:
            // the round is given up, not the node.
            Err(DkgError::Finalize(reason)) => {
                return Ok(Attempt::Abandoned {
                    next: round + 1,
                    error: DkgError::Finalize(reason).into(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        if share_lost {
            tracing::warn!(
                me = %self.me,
                epoch,
                round,
                "the round finished without our share: the dealings it is made of were lost \
                 with our DKG journal; a reshare of the committee gives us a new one"
            );
            self.cfg.tracer.record(Event::ShareLost { epoch, round });
        }
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

    /// The log phase: sign, persist and broadcast our log, then take logs until every dealer's
    /// is here, or the log window passed with enough of them, or the phase timeout passed (the
    /// dealers still missing are reported; the agreement decides what the round does).
    async fn log_phase(&mut self, ceremony: &mut Ceremony) -> Result<(), Error> {
        let effects = ceremony.finalize_log();
        self.apply(ceremony, effects).await?;
        let start = self.context.current();
        let window = start + self.phase_timeout / LOG_WINDOW_DIVISOR;
        let required = ceremony.spec().required();
        let deadline = self.context.sleep(self.phase_timeout);
        let waited = self
            .pump(
                ceremony,
                deadline,
                // A decision (the others finished the round while we were down) ends it too.
                move |c, now| {
                    c.decided().is_some()
                        || c.logs_complete()
                        || (now >= window && c.logs_held() >= required)
                },
                log_tick,
            )
            .await?;
        if waited.is_some() {
            self.cfg.tracer.record(Event::WaitingForPeers {
                missing: ceremony.missing_logs(),
            });
        }
        Ok(())
    }

    /// Keeps the ceremony going until a quorum of members is at `phase`'s step (or the attempt
    /// is settled), reporting the members missing every phase timeout. A member that broke the
    /// barrier's rules counts as absent (quorum mode): only a barrier that cannot make a quorum
    /// any more fails the node.
    async fn gate(
        &mut self,
        ceremony: &mut Ceremony,
        barrier: &mut barrier::Mailbox,
        phase: Phase,
        tick: Tick,
    ) -> Result<(), Error> {
        let step = step_of(ceremony.round(), phase);
        // A quorum of the round's participants (observers at the step count too: the gate only
        // paces the phases, the agreement is what decides).
        let quorum = ceremony.spec().agreement().quorum();
        loop {
            let wait = barrier.await_quorum_at_step(step, quorum, self.phase_timeout);
            let result = self
                .pump(ceremony, wait, |c, _| c.decided().is_some(), tick)
                .await?;
            match result {
                None | Some(Ok(())) => return Ok(()),
                Some(Err(BarrierError::Timeout { missing, .. })) => {
                    self.cfg.tracer.record(Event::WaitingForPeers { missing });
                }
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Handles DKG traffic and does `tick`'s work every sync period until `stop` holds or a
    /// decision of a later round arrived (`None`), or `wait` resolves (`Some`).
    async fn pump<O>(
        &mut self,
        ceremony: &mut Ceremony,
        wait: impl Future<Output = O>,
        stop: impl Fn(&Ceremony, SystemTime) -> bool,
        tick: Tick,
    ) -> Result<Option<O>, Error> {
        let mut wait = pin!(wait);
        let mut next = self.context.current();
        loop {
            if self.jump.is_some() || stop(ceremony, self.context.current()) {
                return Ok(None);
            }
            select! {
                out = &mut wait => return Ok(Some(out)),
                _ = self.context.sleep_until(next) => {
                    let effects = tick(ceremony, self.context.current());
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
