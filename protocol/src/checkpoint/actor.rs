//! The checkpoint actor: one task per node that proposes checkpoints about the node, votes on
//! the other members' proposals, and appends its own certified checkpoints to the ledger.
//!
//! **Proposing** (the subject's side). Every [`Settings::check`] the actor asks the ledger for
//! its own view ([`crate::ledger::Mailbox::view`]). A proposal is due an
//! [`Settings::interval`] after the node's latest certified checkpoint's `as_of`, or, with none,
//! after its first op (so a first boot waits a full interval, and a restart does not reset the
//! wait); after a failed round 2 it is due a full interval later. It is made only once the
//! ledger's boot recovery is complete, the DKG gave this node the group's sharing, and at
//! least `t` members (this node included) were heard from within [`Settings::online_within`].
//! The proposal `{subject, round 1, as_of: the time of the node's newest op, observation: its
//! view at that instant, previous: latest checkpoint id}` is signed and sent to every player of the epoch; the subject approves it
//! itself with its own partial. It is sent again every [`Settings::resend`] to the players
//! whose vote is missing.
//!
//! **Counting** ([`super::tally`]): one vote per voter; a vote names the DKG epoch of the
//! voter's share, and one of another epoch than the proposal's (cast across a reshare, by a
//! voter or a subject that is behind) is refused without blame; a refused vote is counted by reason,
//! and a voter whose vote proves it hostile (conflicting votes, an invalid partial, a partial
//! under another index) is blocked. The moment `t` approvals are in, the certificate is
//! recovered and the checkpoint appended to the ledger. When the window
//! ([`Settings::window`]) closes first, round 2 proposes the trimmed mean of round 1's
//! observations ([`super::trimmed_mean`] without the `f = (players - 1) / 3` highest and lowest
//! values; each approval stands for the proposed value, each disagreement for the voter's own)
//! with the same `as_of` and `previous`, provided the mean is within tolerance of the
//! subject's own view (its round 1 value: a subject never signs what it would not approve);
//! otherwise, or if round 2's window closes too, the next proposal waits a full interval.
//!
//! **Voting** (every other member). A proposal must come from its subject (a proposal about
//! another member proves the sender hostile), carry the subject's signature, have an `as_of`
//! within [`Settings::max_skew`] of the voter's clock and after the subject's latest
//! checkpoint, and name that checkpoint as `previous`. The voter derives its own view of the
//! subject at `min(as_of, its clock)` ([`super::view`]) and approves (a partial signature over
//! the proposal's digest with its share) when the proposal is within [`Settings::tolerance`],
//! else disagrees with its view. The vote is signed and sent after a delay drawn from the
//! runtime's RNG in `[0, jitter]`. The voter keeps its vote per `(subject, round)`: a proposal
//! sent again gets the same vote again (never a second, different one), and a newer proposal
//! replaces it. Refusals that do not prove hostility (a stale or future `as_of`, a previous
//! checkpoint this node does not know yet, a subject it has not seen, its own boot recovery
//! still running) are counted by reason and dropped.
//!
//! Everything is bounded: one proposal of our own at a time, one kept vote per
//! `(member, round)`, and an outbox of at most [`MAX_OUTBOX`] delayed frames.

use super::{
    ingress::{Inbox, Request, Status},
    metrics::Metrics,
};
use crate::vote::{
    Observation, Settings,
    tally::{Counted, Tally, Vote},
    trimmed_mean,
    wire::{
        CERTIFICATE_NAMESPACE, Digest, KeyBytes, Message, Proposal, SignedProposal, SignedVote,
    },
};
use crate::{
    channels::Channel,
    cluster::{Cluster, PublicKey},
    dkg::{self, Completed},
    ledger::{self, op::Certified},
    refusal,
    trace::{Event, Tracer},
};
use bytes::Bytes;
use commonware_cryptography::{Signer as _, bls12381::primitives::ops, ed25519};
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner};
use futures::StreamExt as _;
use rand::RngExt as _;
use rand_core::CryptoRng;
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

/// Most delayed frames waiting in the outbox; beyond it the newest is dropped (and counted).
pub const MAX_OUTBOX: usize = 1024;

/// Configuration of the actor.
#[derive(Clone)]
pub struct Config<T: Tracer> {
    pub signer: ed25519::PrivateKey,
    pub cluster: Cluster,
    pub tracer: T,
    pub settings: Settings,
    /// Where the DKG publishes this node's share and the epoch's sharing.
    pub keys: dkg::Keys,
    /// The node's ledger: views of subjects, and where certified checkpoints go.
    pub ledger: ledger::Mailbox,
    /// With governance: the members are the chain's (the genesis definition extended with the
    /// certified committees, refreshed every check), and a frame from a key that is not a
    /// member here yet is dropped without a block (it may have been admitted by a certificate
    /// this node has not applied yet).
    pub follow_chain: bool,
}

/// This node's proposal being voted on.
struct Own {
    proposal: Proposal,
    frame: Bytes,
    digest: Digest,
    tally: Tally,
    /// The epoch's players, in share order (voter indices), and the epoch.
    players: Vec<PublicKey>,
    epoch: u64,
    deadline: SystemTime,
    next_resend: SystemTime,
}

/// The vote this node gave on one `(subject, round)`, with a share of `epoch`.
struct Ballot {
    as_of_ms: u64,
    epoch: u64,
    digest: Digest,
    frame: Bytes,
    last_sent: SystemTime,
}

/// The checkpoint actor of one node.
pub struct Actor<E, T, S, R, B>
where
    E: Clock + Spawner + commonware_runtime::Metrics + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    me: PublicKey,
    me_raw: KeyBytes,
    sender: S,
    receiver: R,
    blocker: B,
    inbox: Inbox,
    metrics: Metrics,
    own: Option<Own>,
    /// No proposal before this (ms, own clock): set by a failed round 2 or a refused append.
    retry_after_ms: u64,
    /// When the last check found the next proposal due (for the status).
    next_due_ms: Option<u64>,
    ballots: BTreeMap<(KeyBytes, u8), Ballot>,
    outbox: BTreeMap<(SystemTime, u64), (PublicKey, Bytes)>,
    outbox_seq: u64,
    certified: u64,
    rounds_failed: u64,
}

fn raw(key: &PublicKey) -> KeyBytes {
    let mut out = [0u8; 32];
    out.copy_from_slice(key.as_ref());
    out
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn short(digest: &Digest) -> String {
    commonware_formatting::hex(&digest[..8])
}

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + commonware_runtime::Metrics + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    pub fn new(
        context: E,
        cfg: Config<T>,
        inbox: Inbox,
        channel: crate::channels::Duplex<S, R>,
        blocker: B,
    ) -> Self {
        let me = cfg.signer.public_key();
        let metrics = Metrics::init(&context);
        Self {
            me_raw: raw(&me),
            me,
            sender: channel.sender,
            receiver: channel.receiver,
            blocker,
            inbox,
            metrics,
            own: None,
            retry_after_ms: 0,
            next_due_ms: None,
            ballots: BTreeMap::new(),
            outbox: BTreeMap::new(),
            outbox_seq: 0,
            certified: 0,
            rounds_failed: 0,
            context,
            cfg,
        }
    }

    /// Runs for as long as the node does (every mailbox may be dropped: the actor goes on);
    /// stops when the ledger does, with the ledger's error if it failed.
    pub async fn run(mut self) -> Result<(), ledger::Error> {
        let mut next_check = self.context.current();
        let mut inbox_open = true;
        loop {
            let mut wake = next_check;
            if let Some(own) = &self.own {
                wake = wake.min(own.deadline).min(own.next_resend);
            }
            if let Some(((at, _), _)) = self.outbox.first_key_value() {
                wake = wake.min(*at);
            }
            let request = async {
                match inbox_open {
                    true => self.inbox.receiver.next().await,
                    false => futures::future::pending().await,
                }
            };
            select! {
                request = request => {
                    let Some(request) = request else {
                        inbox_open = false;
                        continue;
                    };
                    match request {
                        Request::Status { reply } => {
                            let _ = reply.send(self.status());
                        }
                    }
                },
                frame = self.receiver.recv() => {
                    let Ok((peer, frame)) = frame else { return Ok(()) };
                    self.follow_epoch().await?;
                    self.on_frame(peer, frame).await?;
                },
                _ = self.context.sleep_until(wake) => {
                    self.follow_epoch().await?;
                    let now = self.context.current();
                    if now >= next_check {
                        next_check = now + self.cfg.settings.check;
                        if self.cfg.follow_chain {
                            let within = self.cfg.settings.online_within;
                            self.cfg.cluster = self.cfg.ledger.governance(within).await?.chain.cluster();
                        }
                        self.maybe_propose().await?;
                    }
                    if self.own.as_ref().is_some_and(|o| now >= o.deadline) {
                        self.close_round().await?;
                    }
                    if self.own.as_ref().is_some_and(|o| now >= o.next_resend) {
                        self.resend(now);
                    }
                    self.flush(now);
                },
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            ready: self.cfg.keys.current().is_some_and(|c| c.share.is_some()),
            voting: self
                .own
                .as_ref()
                .map(|o| (o.proposal.round, o.tally.approvals())),
            next_due_ms: self.next_due_ms,
            certified: self.certified,
            rounds_failed: self.rounds_failed,
        }
    }

    fn send(&mut self, to: Vec<PublicKey>, frame: Bytes) {
        if to.is_empty() {
            return;
        }
        self.metrics.frames_sent.inc_by(to.len() as u64);
        self.metrics
            .bytes_sent
            .inc_by((to.len() * frame.len()) as u64);
        self.sender.send(Recipients::Some(to), frame, false);
    }

    /// Sends every delayed frame that is due.
    fn flush(&mut self, now: SystemTime) {
        while let Some(entry) = self.outbox.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (peer, frame) = entry.remove();
            self.send(vec![peer], frame);
        }
    }

    /// Queues `frame` for `peer` after a delay drawn in `[0, jitter]`.
    fn send_later(&mut self, peer: PublicKey, frame: Bytes) {
        if self.outbox.len() >= MAX_OUTBOX {
            self.metrics.refuse("outbox_full");
            return;
        }
        let jitter = u64::try_from(self.cfg.settings.jitter.as_millis()).unwrap_or(u64::MAX);
        let mut delay = Duration::from_millis(self.context.random_range(0..=jitter));
        if crate::buggify!(CheckpointLateVote) {
            // Rare path: the whole jitter, near the end of the vote window.
            delay = Duration::from_millis(jitter);
        }
        self.outbox_seq += 1;
        self.outbox.insert(
            (self.context.current() + delay, self.outbox_seq),
            (peer, frame),
        );
    }

    /// Proposes round 1 about this node if one is due and the node is ready.
    async fn maybe_propose(&mut self) -> Result<(), ledger::Error> {
        if self.own.is_some() {
            return Ok(());
        }
        let Some(completed) = self.cfg.keys.current() else {
            return Ok(());
        };
        let now_ms = millis(self.context.current());
        let within = self.cfg.settings.online_within;
        // Our whole history: its newest op is the `as_of` we would propose.
        let Some(view) = self
            .cfg
            .ledger
            .view(self.me.clone(), u64::MAX, within)
            .await?
        else {
            return Ok(());
        };
        let (Some(observation), Some(as_of_ms), true, false) = (
            view.observation,
            view.newest_ms,
            view.boot_recovered,
            view.flagged,
        ) else {
            return Ok(());
        };
        let interval = u64::try_from(self.cfg.settings.interval.as_millis()).unwrap_or(u64::MAX);
        let due = view
            .latest
            .map_or(observation.first_seen_ms, |(_, as_of)| as_of)
            .saturating_add(interval)
            .max(self.retry_after_ms);
        self.next_due_ms = Some(due);
        let required = completed.output.public().required() as usize;
        if now_ms < due || view.online < required {
            return Ok(());
        }
        let proposal = Proposal {
            subject: self.me_raw,
            round: 1,
            as_of_ms,
            observation,
            previous: view.latest.map(|(id, _)| id),
        };
        self.propose(proposal, &completed).await
    }

    /// Sends `proposal` to the epoch's players and opens its window.
    async fn propose(
        &mut self,
        proposal: Proposal,
        completed: &Completed,
    ) -> Result<(), ledger::Error> {
        let signed = SignedProposal::sign(&self.cfg.signer, proposal);
        let digest = signed.proposal.digest();
        let frame = Message::Proposal(signed.clone()).encode();
        let players: Vec<PublicKey> = completed.output.players().iter().cloned().collect();
        let mut tally = Tally::new(
            CERTIFICATE_NAMESPACE,
            &digest,
            completed.output.public().clone(),
        );
        if let (Some(share), Some(index)) =
            (&completed.share, players.iter().position(|p| *p == self.me))
        {
            let partial = ops::threshold::sign_message::<dkg::wire::Variant>(
                share,
                CERTIFICATE_NAMESPACE,
                &digest,
            );
            let _ = tally.add(Some(index as u32), Vote::Approve(Box::new(partial)));
        }
        let now = self.context.current();
        self.metrics.proposed.inc();
        self.metrics.voting.set(1);
        self.cfg.tracer.record(Event::CheckpointProposed {
            round: signed.proposal.round,
            as_of_ms: signed.proposal.as_of_ms,
            digest: short(&digest),
        });
        let others: Vec<PublicKey> = players.iter().filter(|p| **p != self.me).cloned().collect();
        self.send(others, frame.clone());
        self.own = Some(Own {
            proposal: signed.proposal,
            frame,
            digest,
            tally,
            players,
            epoch: completed.epoch,
            deadline: now + self.cfg.settings.window,
            next_resend: now + self.cfg.settings.resend,
        });
        self.finalize_if_certified().await
    }

    /// The DKG finished a new epoch (a reshare) while this node's proposal is open: its votes
    /// so far are of the old epoch's shares, which cannot combine with the new ones, so the
    /// same proposal (same round, same digest) is opened again under the new epoch's sharing
    /// and players, with a fresh window. Voters answer it with a partial of their new share
    /// (each epoch's votes are counted apart).
    async fn follow_epoch(&mut self) -> Result<(), ledger::Error> {
        let Some(open) = self.own.as_ref().map(|o| o.epoch) else {
            return Ok(());
        };
        if self.cfg.keys.epoch().is_none_or(|e| e == open) {
            return Ok(());
        }
        let (Some(own), Some(completed)) = (self.own.take(), self.cfg.keys.current()) else {
            return Ok(());
        };
        self.propose(own.proposal, &completed).await
    }

    /// Sends the open proposal again to the players whose vote is missing.
    fn resend(&mut self, now: SystemTime) {
        let Some(own) = &mut self.own else { return };
        own.next_resend = now + self.cfg.settings.resend;
        let missing: Vec<PublicKey> = own
            .players
            .iter()
            .enumerate()
            .filter(|(i, p)| **p != self.me && !own.tally.has_voted(*i as u32))
            .map(|(_, p)| p.clone())
            .collect();
        let frame = own.frame.clone();
        self.send(missing, frame);
    }

    /// Appends the certified checkpoint once `t` approvals are in.
    async fn finalize_if_certified(&mut self) -> Result<(), ledger::Error> {
        let Some(signature) = self.own.as_ref().and_then(|o| o.tally.certificate()) else {
            return Ok(());
        };
        let own = self.own.take().expect("checked above");
        self.metrics.voting.set(0);
        let certified = Certified {
            round: own.proposal.round,
            as_of_ms: own.proposal.as_of_ms,
            observation: own.proposal.observation,
            previous: own.proposal.previous,
            signature,
        };
        match self.cfg.ledger.append_checkpoint(certified).await {
            Ok(_) => {
                self.certified += 1;
                self.metrics.certified.inc();
                self.cfg.tracer.record(Event::CheckpointCertified {
                    round: own.proposal.round,
                    as_of_ms: own.proposal.as_of_ms,
                    approvals: own.tally.approvals(),
                    digest: short(&own.digest),
                });
                Ok(())
            }
            Err(ledger::Error::Rejected(reason)) => {
                // Our chain moved on meanwhile (cannot happen with one proposal at a time, but
                // the ledger has the last word): propose again at the next check.
                tracing::warn!(me = %self.me, reason = reason.name(), "own checkpoint refused");
                Ok(())
            }
            Err(ledger::Error::Recovering) => {
                // The ledger authors nothing until it recovered its own chain (its store lost
                // records): the next check proposes again.
                tracing::info!(me = %self.me, "own checkpoint not appended: the ledger is recovering its own chain");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The window of the open proposal closed without a certificate.
    async fn close_round(&mut self) -> Result<(), ledger::Error> {
        let Some(own) = self.own.take() else {
            return Ok(());
        };
        self.metrics.voting.set(0);
        self.metrics.rounds_failed.inc();
        self.rounds_failed += 1;
        let completed = self.cfg.keys.current();
        let mean = match (own.proposal.round, &completed) {
            (1, Some(_)) => {
                // Round 1's observations: an approval stands for the proposed value, a
                // disagreement for the voter's own.
                let mut values: Vec<Observation> =
                    vec![own.proposal.observation; own.tally.approvals().max(1)];
                values.extend(own.tally.disagreements());
                let f = own.players.len().saturating_sub(1) / 3;
                // The subject's round 1 value is its exact view at `as_of`: it never asks for
                // (nor signs) a mean it would not approve itself.
                trimmed_mean(&values, f).filter(|mean| {
                    self.cfg
                        .settings
                        .tolerance
                        .admits(mean, &own.proposal.observation)
                })
            }
            _ => None,
        };
        self.cfg.tracer.record(Event::CheckpointRoundFailed {
            round: own.proposal.round,
            next: mean.is_some(),
        });
        match (mean, completed) {
            (Some(observation), Some(completed)) => {
                let proposal = Proposal {
                    round: 2,
                    observation,
                    ..own.proposal
                };
                self.propose(proposal, &completed).await
            }
            _ => {
                let interval =
                    u64::try_from(self.cfg.settings.interval.as_millis()).unwrap_or(u64::MAX);
                self.retry_after_ms = millis(self.context.current()).saturating_add(interval);
                Ok(())
            }
        }
    }

    /// Refuses an input: counted by reason; a hostile sender is blocked (and the refusal traced
    /// as a rejected input); an input that proves nothing (a late vote, a stale proposal) is
    /// traced as ignored.
    fn refuse(&mut self, peer: PublicKey, reason: &'static str, block: bool) {
        self.metrics.refuse(reason);
        if !block {
            tracing::debug!(me = %self.me, %peer, reason, "checkpoint input ignored");
            self.cfg
                .tracer
                .record(Event::CheckpointIgnored { peer, reason });
            return;
        }
        refusal::refuse(
            &self.cfg.tracer,
            &self.metrics.inputs_rejected,
            &mut self.blocker,
            Channel::Checkpoint,
            peer,
            reason.to_string(),
            block,
        );
    }

    async fn on_frame(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), ledger::Error> {
        if !self.cfg.cluster.is_member(&peer) {
            let block = !self.cfg.follow_chain;
            self.refuse(peer, "non_member", block);
            return Ok(());
        }
        let bytes = frame.copy_to_bytes(frame.remaining());
        match Message::decode(bytes) {
            Err(_) => {
                self.refuse(peer, "undecodable", true);
                Ok(())
            }
            Ok(Message::Proposal(proposal)) => self.on_proposal(peer, proposal).await,
            Ok(Message::Vote(vote)) => self.on_vote(peer, vote).await,
        }
    }

    async fn on_proposal(
        &mut self,
        peer: PublicKey,
        signed: SignedProposal,
    ) -> Result<(), ledger::Error> {
        let proposal = &signed.proposal;
        if proposal.subject != raw(&peer) {
            self.refuse(peer, "proposal_about_another_member", true);
            return Ok(());
        }
        if !signed.verify(&peer) {
            self.refuse(peer, "bad_proposal_signature", true);
            return Ok(());
        }
        if !self.cfg.cluster.is_member(&peer) {
            return Ok(());
        }
        // By key: with governance the member list grows at runtime, so indices may shift.
        let subject = raw(&peer);
        let Some((epoch, share)) = self
            .cfg
            .keys
            .current()
            .and_then(|c| c.share.map(|s| (c.epoch, s)))
        else {
            self.refuse(peer, "no_share_yet", false);
            return Ok(());
        };
        let now = self.context.current();
        let now_ms = millis(now);
        let skew = u64::try_from(self.cfg.settings.max_skew.as_millis()).unwrap_or(u64::MAX);
        if proposal.as_of_ms > now_ms.saturating_add(skew) {
            self.refuse(peer, "future_as_of", false);
            return Ok(());
        }
        if proposal.as_of_ms.saturating_add(skew) < now_ms {
            self.refuse(peer, "stale_as_of", false);
            return Ok(());
        }
        let digest = proposal.digest();
        let key = (subject, proposal.round);
        if let Some(ballot) = self.ballots.get_mut(&key) {
            if ballot.digest == digest && ballot.epoch == epoch {
                // Sent again: the same vote again, at most once per resend period.
                if now.duration_since(ballot.last_sent).unwrap_or_default()
                    >= self.cfg.settings.resend / 2
                {
                    ballot.last_sent = now;
                    let frame = ballot.frame.clone();
                    self.send_later(peer, frame);
                }
                return Ok(());
            }
            if ballot.digest == digest {
                // Voted with the share of an epoch since reshared: vote again with the new one
                // (each epoch's votes are counted apart).
            } else if proposal.as_of_ms == ballot.as_of_ms {
                // Two proposals of one round and instant: an honest subject makes one.
                self.refuse(peer, "conflicting_proposal", true);
                return Ok(());
            }
            if proposal.as_of_ms < ballot.as_of_ms {
                self.refuse(peer, "stale_as_of", false);
                return Ok(());
            }
        }
        let cutoff = proposal.as_of_ms.min(now_ms);
        let within = self.cfg.settings.online_within;
        let Some(view) = self.cfg.ledger.view(peer.clone(), cutoff, within).await? else {
            return Ok(());
        };
        if !view.boot_recovered {
            self.refuse(peer, "not_recovered", false);
            return Ok(());
        }
        if view.flagged {
            self.refuse(peer, "flagged_subject", false);
            return Ok(());
        }
        if view.latest.map(|(id, _)| id) != proposal.previous {
            self.refuse(peer, "unknown_previous", false);
            return Ok(());
        }
        if view
            .latest
            .is_some_and(|(_, as_of)| proposal.as_of_ms <= as_of)
        {
            self.refuse(peer, "stale_as_of", false);
            return Ok(());
        }
        let Some(seen) = view.observation else {
            self.refuse(peer, "unseen_subject", false);
            return Ok(());
        };
        let approve = self
            .cfg
            .settings
            .tolerance
            .admits(&proposal.observation, &seen);
        let vote = if approve {
            Vote::Approve(Box::new(
                ops::threshold::sign_message::<dkg::wire::Variant>(
                    &share,
                    CERTIFICATE_NAMESPACE,
                    &digest,
                ),
            ))
        } else {
            Vote::Disagree(seen)
        };
        let frame = Message::Vote(SignedVote::sign(&self.cfg.signer, digest, epoch, vote)).encode();
        self.ballots.insert(
            key,
            Ballot {
                as_of_ms: proposal.as_of_ms,
                epoch,
                digest,
                frame: frame.clone(),
                last_sent: now,
            },
        );
        self.metrics.votes_sent.inc();
        self.cfg.tracer.record(Event::CheckpointVoted {
            subject: peer.clone(),
            round: proposal.round,
            approve,
            digest: short(&digest),
        });
        self.send_later(peer, frame);
        Ok(())
    }

    async fn on_vote(&mut self, peer: PublicKey, vote: SignedVote) -> Result<(), ledger::Error> {
        if vote.voter != raw(&peer) {
            self.refuse(peer, "vote_for_another_member", true);
            return Ok(());
        }
        if !vote.verify(&peer) {
            self.refuse(peer, "bad_vote_signature", true);
            return Ok(());
        }
        let Some(own) = self.own.as_mut().filter(|o| o.digest == vote.digest) else {
            // A late vote on a closed round, or on nothing we proposed.
            self.refuse(peer, "unknown_proposal", false);
            return Ok(());
        };
        if vote.epoch != own.epoch {
            // Cast across a reshare (the voter or this node is behind): it cannot count, and
            // proves nothing.
            self.refuse(peer, "other_epoch", false);
            return Ok(());
        }
        let index = own
            .players
            .iter()
            .position(|p| *p == peer)
            .map(|i| i as u32);
        match own.tally.add(index, vote.vote) {
            Ok(Counted::Approval { .. }) | Ok(Counted::Disagreement { .. }) => {
                self.metrics.votes_counted.inc();
                self.finalize_if_certified().await
            }
            Err(refusal) => {
                let block = refusal.proves_hostile();
                self.refuse(peer, refusal.name(), block);
                Ok(())
            }
        }
    }
}
