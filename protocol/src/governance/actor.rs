//! The governance actor: one task per node, beside the ledger, that proposes committees for an
//! operator, approves the proposals it holds, and appends the certificate of a proposal `t`
//! members approved. It has no channel of its own: proposals, votes and certificates are ledger
//! ops (see [`crate::committee`]'s design), so the actor reads the ledger
//! ([`ledger::Mailbox::governance`]) every [`Settings::check`] and appends to it
//! ([`ledger::Mailbox::append_governance`]).
//!
//! It acts only on the epoch at hand: when the node's latest DKG output is the chain's last
//! epoch `e` (a certified committee whose reshare has not completed yet makes it wait), once
//! the ledger's boot recovery is complete. Everything it does concerns epoch `e + 1`:
//!
//! - **Proposing** ([`super::Mailbox::propose`]): the operator's [`super::Change`] applied to
//!   committee `e`, with the DKG's threshold, naming the digest of this node's epoch `e` output
//!   (`previous`) and an address for each key that was never a member. Refused with a reason
//!   ([`super::Error`]) when this node is not a member of committee `e`, when the proposal
//!   breaks a rule ([`CommitteeProposal::check`]: too small a committee, no live quorum, ...),
//!   or when a valid proposal for `e + 1` is already open (one of this node's own included:
//!   an author that proposes twice for an epoch disqualifies both proposals).
//! - **Voting**: a player of epoch `e` approves at most one proposal for `e + 1`, the one
//!   [`ballot::choose`] picks (the lowest valid digest), once [`Settings::settle`] has passed
//!   since this node first saw a proposal for `e + 1`; the approval is a `Vote` op (a partial
//!   signature over the proposal's digest from its epoch `e` share). The `Vote` op is the
//!   durable record that it voted: after a restart the actor finds it in the ledger and never
//!   approves a second proposal of the epoch. A proposal it does not approve is counted and
//!   traced once, with its reason; a refusal is not final (liveness changes), an approval is.
//! - **Certifying**: every node holding epoch `e`'s output counts each proposal's votes
//!   ([`super::count`]); the first time a proposal has `t` valid approvals its author appends
//!   the `Certify` op at once, any other node after [`Settings::certify_after`] plus a random
//!   delay of at most as much (so a dead author does not stall the epoch, and not every node
//!   steps in at once). Votes that do not count (another epoch's share, a non-player, a
//!   repeat) are counted and traced once, by reason. When more than one proposal of the epoch
//!   is certifiable (beyond the fault bound), only the lowest digest is certified, the one
//!   every chain would pick.
//!
//! Carrying out a certified committee (the reshare) is the engine's; the actor waits for it.
//!
//! **Known limit.** Voters who first see two racing valid proposals in different orders more
//! than [`Settings::settle`] apart may split their approvals so that neither reaches `t`; the
//! epoch then stays open (approvals are final: changing one could certify two committees).
//! An honest operator's proposal is refused while a valid one is open, so a split needs two
//! operators proposing at once on a slow network; the settle delay is sized to make it rare.

use super::{
    count::{Count, count},
    ingress::{Change, Error, Inbox, Open, Proposed, Request, Status},
    metrics::Metrics,
};
use crate::{
    cluster::PublicKey,
    committee::{
        CERTIFICATE_NAMESPACE, Candidate, CommitteeProposal, Current, Joining, Settings,
        ballot::{Skip, choose},
        output_digest,
    },
    dkg::{self, Completed, wire::Variant},
    ledger::{self, Governance, OpId, OpKind},
    trace::{Event, Tracer},
};
use commonware_cryptography::{Signer as _, bls12381::primitives::ops, ed25519};
use commonware_macros::select;
use commonware_runtime::{Clock, Spawner};
use futures::StreamExt as _;
use rand::RngExt as _;
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

/// Configuration of the actor.
#[derive(Clone)]
pub struct Config<T: Tracer> {
    pub signer: ed25519::PrivateKey,
    pub tracer: T,
    pub settings: Settings,
    /// Where the DKG publishes this node's share and the epoch's output.
    pub keys: dkg::Keys,
    /// The node's ledger: the chain, the proposals and their votes; where governance ops go.
    pub ledger: ledger::Mailbox,
}

/// The governance actor of one node.
pub struct Actor<E, T>
where
    E: Clock + Spawner + commonware_runtime::Metrics + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    me: PublicKey,
    inbox: Inbox,
    metrics: Metrics,
    /// When this node first saw a proposal for an epoch (the settle delay counts from it).
    first_seen: BTreeMap<u64, SystemTime>,
    /// When this node appends the certificate of a certifiable proposal of another author.
    certify_at: BTreeMap<OpId, SystemTime>,
    /// Each proposal's last count, with the number of votes it counted.
    counts: BTreeMap<OpId, (usize, Count)>,
    /// Proposals and votes already refused (each is counted and traced once), by epoch.
    reported: BTreeSet<(u64, OpId)>,
    voted: u64,
    certified: u64,
}

/// What appending one of this node's governance ops did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Appended {
    Yes,
    /// A `Certify` of a proposal another node certified first.
    AlreadyCertified,
    /// The ledger refused it (logged and counted).
    Refused,
}

/// Every held proposal as a voter sees it.
fn candidates(gov: &Governance) -> Vec<Candidate<'_>> {
    gov.proposals
        .iter()
        .map(|p| Candidate {
            op: p.op,
            author: &p.author,
            proposal: &p.proposal,
        })
        .collect()
}

fn short(digest: &[u8; 32]) -> String {
    commonware_formatting::hex(&digest[..8])
}

impl<E, T> Actor<E, T>
where
    E: Clock + Spawner + commonware_runtime::Metrics + CryptoRng,
    T: Tracer,
{
    pub fn new(context: E, cfg: Config<T>, inbox: Inbox) -> Self {
        let me = cfg.signer.public_key();
        let metrics = Metrics::init(&context);
        Self {
            me,
            inbox,
            metrics,
            first_seen: BTreeMap::new(),
            certify_at: BTreeMap::new(),
            counts: BTreeMap::new(),
            reported: BTreeSet::new(),
            voted: 0,
            certified: 0,
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
                        Request::Propose { change, reason, reply } => {
                            let result = self.propose(*change, reason).await;
                            if let Err(Error::Closed) = result {
                                return Ok(());
                            }
                            let _ = reply.send(result);
                        }
                        Request::Status { reply } => {
                            let status = self.status().await?;
                            let _ = reply.send(Ok(status));
                        }
                    }
                },
                _ = self.context.sleep_until(next_check) => {
                    next_check = self.context.current() + self.cfg.settings.check;
                    self.step().await?;
                },
            }
        }
    }

    /// The epoch at hand: this node's latest DKG output, when it is the chain's last epoch and
    /// boot recovery is complete.
    fn at_hand(&self, gov: &Governance) -> Result<Completed, &'static str> {
        if !gov.boot_recovered {
            return Err("boot recovery is running");
        }
        let completed = self.cfg.keys.current().ok_or("no DKG output yet")?;
        match gov.chain.last_epoch().cmp(&completed.epoch) {
            std::cmp::Ordering::Equal => Ok(completed),
            std::cmp::Ordering::Greater => Err("the reshare to a certified committee is pending"),
            std::cmp::Ordering::Less => Err("the DKG output is ahead of the committee chain"),
        }
    }

    /// The state proposals for the next epoch are checked against.
    fn current<'a>(
        completed: &Completed,
        committee: &'a [PublicKey],
        known: &'a BTreeSet<PublicKey>,
        gov: &'a Governance,
    ) -> Current<'a> {
        Current {
            epoch: completed.epoch,
            committee,
            output: output_digest(completed.round, &completed.output),
            known,
            live: &gov.live,
        }
    }

    /// One look at the ledger: count, certify, vote.
    async fn step(&mut self) -> Result<(), ledger::Error> {
        let gov = self
            .cfg
            .ledger
            .governance(self.cfg.settings.online_within)
            .await?;
        self.metrics.last_epoch.set(gov.chain.last_epoch() as i64);
        self.metrics.open.set(gov.proposals.len() as i64);
        let Ok(completed) = self.at_hand(&gov) else {
            return Ok(());
        };
        let next = completed.epoch + 1;
        // Forget what concerns decided epochs and proposals no longer open.
        self.first_seen.retain(|e, _| *e >= next);
        self.reported.retain(|(e, _)| *e >= next);
        let open: BTreeSet<OpId> = gov
            .proposals
            .iter()
            .filter(|p| !p.certified)
            .map(|p| p.op)
            .collect();
        self.certify_at.retain(|op, _| open.contains(op));
        self.counts.retain(|op, _| open.contains(op));
        if self.certify(&gov, &completed, next).await? {
            // The epoch is decided: nothing left to vote on.
            return Ok(());
        }
        self.vote(&gov, &completed, next).await
    }

    /// Counts `proposal`'s votes (again only when new ones arrived).
    fn count(&mut self, proposal: &ledger::Proposal, completed: &Completed) -> Count {
        if let Some((n, count)) = self.counts.get(&proposal.op)
            && *n == proposal.votes.len()
        {
            return count.clone();
        }
        let players: Vec<PublicKey> = completed.output.players().iter().cloned().collect();
        let counted = count(proposal, completed.output.public(), &players);
        self.counts
            .insert(proposal.op, (proposal.votes.len(), counted.clone()));
        counted
    }

    /// Appends the certificate of the lowest-digest proposal for `next` that `t` approved, when
    /// it is this node's turn; whether a certificate for `next` is held (or now appended).
    async fn certify(
        &mut self,
        gov: &Governance,
        completed: &Completed,
        next: u64,
    ) -> Result<bool, ledger::Error> {
        let mut certifiable = Vec::new();
        for p in gov.proposals.iter().filter(|p| p.proposal.epoch == next) {
            let counted = self.count(p, completed);
            for (voter, op, reason) in &counted.refused {
                if self.reported.insert((next, *op)) {
                    self.refuse(voter.clone(), reason.name());
                }
            }
            if p.certified {
                // Certified already: the chain takes it from here.
                return Ok(true);
            }
            if let Some(signature) = counted.certificate {
                certifiable.push((p.proposal.digest(), p, signature, counted.approvals));
            }
        }
        let Some((digest, p, signature, approvals)) = certifiable.into_iter().min_by_key(|c| c.0)
        else {
            return Ok(false);
        };
        let now = self.context.current();
        if p.author != self.me {
            let wait = u64::try_from(self.cfg.settings.certify_after.as_millis()).unwrap_or(0);
            let jitter = Duration::from_millis(self.context.random_range(0..=wait));
            let at = *self
                .certify_at
                .entry(p.op)
                .or_insert(now + self.cfg.settings.certify_after + jitter);
            if now < at {
                return Ok(false);
            }
        }
        let kind = OpKind::Certify {
            proposal: p.op,
            signature: Box::new(signature),
        };
        match self.append(kind, "certificate").await? {
            Appended::Yes => {
                self.certified += 1;
                self.metrics.certified.inc();
                self.cfg.tracer.record(Event::CommitteeCertifying {
                    epoch: next,
                    approvals,
                    digest: short(&digest),
                });
                Ok(true)
            }
            Appended::AlreadyCertified => Ok(true),
            Appended::Refused => Ok(false),
        }
    }

    /// Approves the proposal for `next` that [`choose`] picks, once the settle delay passed,
    /// if this node is a player of the epoch at hand and has not voted for `next` yet.
    async fn vote(
        &mut self,
        gov: &Governance,
        completed: &Completed,
        next: u64,
    ) -> Result<(), ledger::Error> {
        let Some(share) = &completed.share else {
            return Ok(());
        };
        let Some(committee) = gov.chain.committee(completed.epoch) else {
            return Ok(());
        };
        if !committee.members.contains(&self.me) {
            return Ok(());
        }
        let for_next: Vec<&ledger::Proposal> = gov
            .proposals
            .iter()
            .filter(|p| p.proposal.epoch == next)
            .collect();
        if for_next.is_empty() {
            return Ok(());
        }
        let now = self.context.current();
        let seen = *self.first_seen.entry(next).or_insert(now);
        if for_next
            .iter()
            .any(|p| p.votes.iter().any(|b| b.voter == self.me))
        {
            // Voted already (this life or an earlier one): approvals are final.
            return Ok(());
        }
        if now < seen + self.cfg.settings.settle {
            return Ok(());
        }
        let known = gov.chain.known();
        let current = Self::current(completed, &committee.members, &known, gov);
        let candidates = candidates(gov);
        let decision = choose(&candidates, &current);
        for (op, skip) in &decision.skipped {
            if matches!(skip, Skip::Outranked | Skip::OtherEpoch) {
                continue;
            }
            if self.reported.insert((next, *op))
                && let Some(p) = for_next.iter().find(|p| p.op == *op)
            {
                self.refuse(p.author.clone(), skip.name());
            }
        }
        let Some(p) = decision
            .approve
            .and_then(|op| for_next.iter().find(|p| p.op == op))
        else {
            return Ok(());
        };
        let digest = p.proposal.digest();
        let partial =
            ops::threshold::sign_message::<Variant>(share, CERTIFICATE_NAMESPACE, &digest);
        let kind = OpKind::Vote {
            proposal: p.op,
            partial: Box::new(partial),
        };
        if self.append(kind, "vote").await? == Appended::Yes {
            self.voted += 1;
            self.metrics.voted.inc();
            self.cfg.tracer.record(Event::CommitteeVoted {
                epoch: next,
                digest: short(&digest),
            });
        }
        Ok(())
    }

    /// Appends this node's `Vote` or `Certify` op (`what`, for the log): a refusal by the
    /// ledger is logged and counted, a storage error returned.
    async fn append(&mut self, kind: OpKind, what: &str) -> Result<Appended, ledger::Error> {
        match self.cfg.ledger.append_governance(kind).await {
            Ok(_) => Ok(Appended::Yes),
            Err(ledger::Error::AlreadyCertified) => Ok(Appended::AlreadyCertified),
            Err(ledger::Error::Rejected(reason)) => {
                tracing::warn!(me = %self.me, reason = reason.name(), what, "own governance op refused");
                self.metrics.refuse(reason.name());
                Ok(Appended::Refused)
            }
            Err(ledger::Error::Recovering) => {
                // Nothing is authored until the ledger recovered its own chain: tried again at
                // the next check.
                tracing::info!(me = %self.me, what, "own governance op not appended: the ledger is recovering its own chain");
                Ok(Appended::Refused)
            }
            Err(error) => Err(error),
        }
    }

    /// Counts and traces a proposal not approved or a vote not counted.
    fn refuse(&mut self, author: PublicKey, reason: &'static str) {
        tracing::debug!(me = %self.me, %author, reason, "governance input refused");
        self.metrics.refuse(reason);
        self.cfg
            .tracer
            .record(Event::GovernanceRefused { author, reason });
    }

    /// Builds, checks and appends the proposal of `change` for the next epoch.
    async fn propose(&mut self, change: Change, reason: String) -> Result<Proposed, Error> {
        let gov = self
            .cfg
            .ledger
            .governance(self.cfg.settings.online_within)
            .await?;
        let completed = self.at_hand(&gov).map_err(Error::NotReady)?;
        let epoch = completed.epoch;
        let next = epoch + 1;
        let committee = gov.chain.committee(epoch).ok_or(Error::NotReady(
            "the chain does not define the epoch at hand",
        ))?;
        if !committee.members.contains(&self.me) {
            return Err(Error::NotAMember { epoch });
        }
        let known = gov.chain.known();
        let proposal = Self::build(
            &committee.members,
            &known,
            epoch,
            change,
            reason,
            &completed,
        )?;
        let current = Self::current(&completed, &committee.members, &known, &gov);
        proposal.check(&current)?;
        if let Some(mine) = gov
            .proposals
            .iter()
            .find(|p| p.proposal.epoch == next && p.author == self.me)
        {
            return Err(Error::Open {
                epoch: next,
                op: mine.op,
            });
        }
        let candidates = candidates(&gov);
        if let Some(op) = choose(&candidates, &current).approve {
            return Err(Error::Open { epoch: next, op });
        }
        let digest = proposal.digest();
        let op = self
            .cfg
            .ledger
            .append_governance(OpKind::Propose(Box::new(proposal.clone())))
            .await?;
        self.metrics.proposed.inc();
        self.cfg.tracer.record(Event::CommitteeProposed {
            epoch: next,
            digest: short(&digest),
        });
        tracing::info!(me = %self.me, epoch = next, digest = short(&digest), "committee proposed");
        Ok(Proposed {
            op,
            digest,
            proposal,
        })
    }

    /// The proposal of `change` applied to `committee` (of `epoch`).
    fn build(
        committee: &[PublicKey],
        known: &BTreeSet<PublicKey>,
        epoch: u64,
        change: Change,
        reason: String,
        completed: &Completed,
    ) -> Result<CommitteeProposal, Error> {
        let mut members = committee.to_vec();
        let mut joining = Vec::new();
        let bad = |key: &PublicKey, why| Error::BadChange {
            key: key.clone(),
            why,
            epoch,
        };
        // A key that was ever a member needs no address (its old one is in the chain).
        let mut add = |key: PublicKey, address: Option<String>, members: &mut Vec<PublicKey>| {
            if members.contains(&key) {
                return Err(bad(&key, "already in"));
            }
            if let (false, Some(address)) = (known.contains(&key), address) {
                joining.push(Joining {
                    key: key.clone(),
                    address,
                });
            }
            members.push(key);
            Ok(())
        };
        let remove = |key: &PublicKey, members: &mut Vec<PublicKey>| {
            let before = members.len();
            members.retain(|k| k != key);
            if members.len() == before {
                return Err(bad(key, "not in"));
            }
            Ok(())
        };
        match change {
            Change::Add { key, address } => add(key, address, &mut members)?,
            Change::Remove { key } => remove(&key, &mut members)?,
            Change::Replace { old, new, address } => {
                remove(&old, &mut members)?;
                add(new, address, &mut members)?;
            }
            Change::Reshare => {}
        }
        Ok(CommitteeProposal::new(
            epoch + 1,
            members,
            joining,
            reason,
            output_digest(completed.round, &completed.output),
        )?)
    }

    /// What governance looks like from this node.
    async fn status(&mut self) -> Result<Status, ledger::Error> {
        let gov = self
            .cfg
            .ledger
            .governance(self.cfg.settings.online_within)
            .await?;
        let completed = self.cfg.keys.current();
        let last_epoch = gov.chain.last_epoch();
        let committees = (0..=last_epoch)
            .filter_map(|e| gov.chain.committee(e))
            .collect();
        let mut proposals = Vec::with_capacity(gov.proposals.len());
        for p in &gov.proposals {
            // Counted against the epoch the proposal follows, when this node holds its output.
            let counted = completed
                .as_ref()
                .filter(|c| c.epoch + 1 == p.proposal.epoch)
                .map(|c| self.count(p, c));
            proposals.push(Open {
                op: p.op,
                author: p.author.clone(),
                digest: p.proposal.digest(),
                proposal: p.proposal.clone(),
                approvals: counted.as_ref().map_or(0, |c| c.approvals),
                required: counted.as_ref().map_or_else(
                    || {
                        gov.chain
                            .committee(p.proposal.epoch.saturating_sub(1))
                            .map_or(0, |c| c.threshold as usize)
                    },
                    |c| c.required,
                ),
                refused: counted.as_ref().map_or(0, |c| c.refused.len()),
                certified: p.certified,
            });
        }
        Ok(Status {
            epoch: completed.map(|c| c.epoch),
            committees,
            last_epoch,
            proposals,
            conflicts: gov.chain.conflicts(),
            voted: self.voted,
            certified: self.certified,
        })
    }
}
