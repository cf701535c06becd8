//! The ledger actor's backfill rounds, client side: when to start a round, which peer to ask
//! (the scheduler, [`crate::sync::scheduler`]), the run in flight ([`Fetch`]), and what its end
//! means for the round and for boot recovery.
//!
//! A round ends as soon as a run completes and no *suspect* (a peer whose last digest differed
//! from ours) is left, or when the scheduler has no peer left to ask. Ops waiting for a parent
//! do not hold a round: a parent that some peer has makes that peer's digest differ from ours,
//! and one that nobody has (the lost op of a byzantine author) would hold it forever.
//!
//! A suspect whose run fails is a suspect no more (its next differing digest makes it one
//! again; its own backoff says when it may be asked). So a round is *caught up* when some peer
//! served it in full and no suspect is left, or when it ran out of peers after one did; it
//! fails (the overall backoff) only when nobody answered. One peer that never answers (a
//! crashed member, or a byzantine one every honest node blocks) must not hold every honest
//! node at the overall backoff's cap: that delays each op it relays through honest peers by
//! the cap, for ever, and a cluster that keeps authoring then never holds one ledger at once.

use super::{
    actor::Actor,
    backfill::{
        self,
        client::{Expiry, Failure, Fetch, Reply, Run, Verdict},
    },
    ingress::Error,
    op::OpId,
};
use crate::{
    channels::Channel,
    cluster::PublicKey,
    trace::{Event, Tracer},
};
use commonware_codec::Encode as _;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;
use std::time::{Duration, SystemTime};

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    /// Moves the backfill machinery forward: expires a late request or a stale round, starts a
    /// round when one is wanted and due, and asks the next peer when no run is in flight.
    pub(super) async fn drive(&mut self, now: SystemTime) -> Result<(), Error> {
        match self.fetch.as_ref().and_then(|f| f.expired(now)) {
            Some(Expiry::Resend) => self.send_request(now),
            Some(Expiry::GiveUp) => {
                let fetch = self.fetch.take().expect("checked");
                self.run_failed(fetch.run(), now, Failure::Timeout, "no answer");
            }
            None => {}
        }
        if self.scheduler.expire_stale(now).is_some() {
            self.fetch = None;
        }
        if !self.scheduler.in_round() {
            let wanted = self.want_sync || !self.scheduler.boot_recovered();
            if !wanted || !self.scheduler.due(now) {
                return Ok(());
            }
            self.want_sync = false;
            self.round_served = false;
            self.scheduler.begin_round(now, &mut self.context);
            if self.peers.is_empty() {
                // Alone in the cluster: nothing to recover from.
                self.end_round(now, true);
                return Ok(());
            }
        }
        if self.fetch.is_none() {
            match self.scheduler.choose(now) {
                Some(peer) => {
                    // Everything the peer has that we lack, and by id the ops we know we
                    // lack (see `Dag::wanted`).
                    let run = Run::new(
                        peer,
                        self.dag.known(),
                        self.dag.wanted(backfill::wire::MAX_MISSING),
                        self.cfg.settings.page_limit,
                    );
                    self.fetch = Some(Fetch::new(run, now));
                    self.send_request(now);
                }
                // Every peer was asked or is in its own backoff: caught up with whoever
                // answered, if anyone did (see the module docs).
                None => self.end_round(now, self.round_served),
            }
        }
        Ok(())
    }

    pub(super) fn end_round(&mut self, now: SystemTime, caught_up: bool) {
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

    /// Sends the fetch's request (its next page, or the same page again) under a fresh id.
    fn send_request(&mut self, now: SystemTime) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        // Rare path: the reply timeout fires at once (the fetch fails and is retried).
        let timeout = if crate::buggify!(BackfillTimeout) {
            Duration::ZERO
        } else {
            self.cfg.settings.request_timeout
        };
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        let request = fetch.request(id, now, timeout);
        let peer = self.peers[fetch.peer()].clone();
        self.backfill
            .sender
            .send(Recipients::One(peer), request.encode(), false);
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
            self.reject(
                Channel::Backfill,
                peer_key.clone(),
                reason.to_string(),
                true,
            );
        }
        tracing::debug!(me = %self.me, peer = %peer_key, why, ?failure, "backfill run failed");
        self.cfg.tracer.record(Event::BackfillRunFailed {
            peer: peer_key,
            pages: run.pages(),
            ops: run.new_ops(),
            reason: why,
        });
        self.scheduler.peer_failed(peer, now, retry_after);
        // Nothing more can be learnt from it this round; its next differing digest makes it a
        // suspect again. A round some peer served is caught up once no suspect is left.
        self.suspects.remove(&peer);
        if self.round_served && self.suspects.is_empty() && self.scheduler.in_round() {
            self.end_round(now, true);
        }
    }

    /// A backfill reply (anything but a request) from `peer`: only the fetch in flight's counts.
    pub(super) async fn on_reply(
        &mut self,
        peer: PublicKey,
        message: backfill::Message,
        now: SystemTime,
    ) -> Result<(), Error> {
        let Some(index) = self.peers.iter().position(|p| *p == peer) else {
            return Ok(());
        };
        let Some(fetch) = self.fetch.as_mut() else {
            return Ok(());
        };
        let (ops, next_cursor, more) = match fetch.on_reply(index, message, now) {
            Reply::Ignored | Reply::Paced => return Ok(()),
            Reply::Failed { failure, why } => {
                let fetch = self.fetch.take().expect("checked");
                self.run_failed(fetch.run(), now, failure, why);
                return Ok(());
            }
            Reply::Page {
                ops,
                next_cursor,
                more,
            } => (ops, next_cursor, more),
        };
        let ids: Vec<OpId> = ops.iter().map(|o| o.id()).collect();
        #[cfg(feature = "canary")]
        let report = self.dag.apply_page(ops, &mut self.batch_rng);
        #[cfg(not(feature = "canary"))]
        let report = self.dag.apply(ops, &mut self.batch_rng);
        self.persist(&report).await?;
        self.metrics.pages_fetched.inc();
        let result = Fetch::account(&ids, &report.outcomes, &self.dag);
        if result.rejected > 0 {
            let reasons: Vec<&str> = report
                .outcomes
                .iter()
                .filter_map(|o| match o {
                    super::dag::Outcome::Rejected(r) if r.blames_sender() => Some(r.name()),
                    _ => None,
                })
                .collect();
            tracing::debug!(me = %self.me, %peer, ?reasons, "a backfill page held invalid ops");
        }
        self.metrics.duplicates.inc_by(result.duplicates as u64);
        self.metrics.rejected.inc_by(result.rejected as u64);
        self.scheduler.served(index, now, result.new_ops);
        let fetch = self.fetch.as_mut().expect("checked above");
        match fetch.after_page(next_cursor, more, result) {
            Verdict::Next => self.send_request(now),
            Verdict::Done => {
                let fetch = self.fetch.take().expect("in flight");
                // What it asked for by id and did not bring, this peer does not hold.
                self.dag.asked_without(fetch.run().missing());
                self.scheduler.peer_succeeded(index, now);
                self.suspects.remove(&index);
                self.round_served = true;

                self.cfg.tracer.record(Event::BackfillRunDone {
                    peer: peer.clone(),
                    pages: fetch.run().pages(),
                    ops: fetch.run().new_ops(),
                });
                // Caught up: no peer is known to differ. Otherwise the round goes on with the
                // next peer (see the module docs).
                if self.suspects.is_empty() {
                    self.end_round(now, true);
                }
            }
            Verdict::Failed(failure) => {
                let fetch = self.fetch.take().expect("in flight");
                self.run_failed(fetch.run(), now, failure, "bad page");
            }
        }
        Ok(())
    }
}
