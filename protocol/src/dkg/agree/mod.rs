//! Agreement on a round's outcome: which dealer logs every member finalizes over, or that the
//! round is given up (a pure state machine, unit-tested without a runtime).
//!
//! # Why
//!
//! `Player::finalize` selects the first usable logs (in dealer order) among those it is given,
//! so two members given different log sets can end with two group keys. Echoing logs does not
//! make the sets equal: a dealer may sign two different logs and send one to each half of the
//! members, or send its log late or to few; an echo may be lost; and with up to `f` members
//! absent no member can wait for everybody. Members must *agree* on the set, and, since a
//! round that cannot produce a key must be retried, on giving a round up too. That is Byzantine
//! agreement on one value per round, which is what this module does.
//!
//! # The protocol
//!
//! The voters (`n`, of which at most `f = (n - 1) / 3` are faulty) need a quorum of
//! `q = n - f`. The value is a [`Choice`]: [`Choice::Logs`] (each listed dealer with
//! the sha256 of the signed log to use) or [`Choice::Abandon`]. The agreement runs in *views*
//! `0, 1, 2, ...`, each with one leader (`voters[(round + view) % n]`) and a deadline that
//! doubles with the view (capped, [`MAX_DOUBLINGS`]); it is a two-phase locking protocol in the
//! style of Tendermint and HotStuff:
//!
//! 1. **New view.** Entering view `v > 0`, a voter sends the leader its highest *prevote
//!    certificate* (`q` signed prevotes for one value in one view), with the value. The leader
//!    waits for `q` of these, then a grace of [`GRACE_PERIODS`] sync periods or all `n`, and
//!    proposes the value of the highest certificate it got, justified by it; with none, a fresh
//!    value (see *Validity*). In view 0 the leader proposes a fresh value at once.
//! 2. **Prevote.** A voter prevotes the leader's first proposal of its current view, at most once
//!    per view, if it is not *locked* on another value by a certificate at least as high as the
//!    proposal's justification, and (for a fresh value) if the value is valid to it.
//! 3. **Precommit.** On a prevote certificate of its current view a voter *locks* on it and
//!    precommits its value, at most once per view.
//! 4. **Decide.** `q` precommits for one value in one view decide it. The decision, with its
//!    certificate, is sent to everybody; a voter that receives a valid decision adopts it,
//!    whatever view or phase it is in. A voter that decided answers later messages of the round
//!    with its decision, so a member that was away catches up.
//!
//! The voters are the round's participants (dealers and players). Other members observe: they
//! never vote, and learn the decision from a precommit quorum or a decision they receive (or
//! ask for, [`AgreeMessage::Ask`]).
//!
//! Views are synchronised two ways: by the deadlines, and by jumping to a later view once `f + 1`
//! voters (one honest at least) announced one. Every message is resent every sync period until
//! the view changes, so lost messages heal.
//!
//! **Safety** (at most one value decided per round, whatever the timing). Two quorums share at
//! least `f + 1` voters, so at least one honest one. In one view, honest voters prevote once, so
//! at most one value has a prevote certificate. If value `x` is decided in view `v`, at least
//! `f + 1` honest voters locked on `(v, x)`. Suppose some view after `v` had a certificate for
//! another value, and take the lowest such view `w`: its `q` prevotes include an honest voter
//! locked on `x` at a view in `[v, w)`, which prevotes another value only when the proposal's
//! justification is at least as high as its lock, i.e. a certificate in `[v, w)` for that value:
//! none exists (every certificate there is for `x`). So every certificate from `v` on is for
//! `x`, and so is every decision.
//!
//! **Liveness** (a decision once the network is timely and `q` honest voters are up). Deadlines
//! double, so eventually a view with an honest leader is long enough for it to hear every
//! honest voter's highest certificate in the grace; it proposes the highest of all, which every
//! honest lock admits, all honest voters prevote and precommit, and the value is decided.
//!
//! **Crash safety.** A voter persists and syncs every vote before sending it, its lock before its
//! precommit, and the decision before acting on it ([`Persisted`]); after a restart it resumes in
//! its last view with those, so it never votes twice in a view and never forgets a lock.
//!
//! # Validity
//!
//! What an honest voter takes as a fresh value, and proposes, is the [`Judge`]'s (the ceremony's)
//! business: it proposes every log it holds, or `Abandon` when it holds fewer than the required
//! count; it prevotes fresh logs only when it holds every listed log with that digest and knows
//! none of their dealers to have signed two logs (a missing log is asked for,
//! [`AgreeMessage::Need`]), and a fresh `Abandon` only when it holds too few logs itself. A value
//! behind a certificate is prevoted whatever it holds (the lock rule decides): `q` voters took it,
//! at least one honest, so its logs exist at an honest member and can be fetched.
//!
//! # Bounds
//!
//! Votes are kept for views from the current one minus one to [`VIEW_WINDOW`] ahead, one per
//! voter, view and stage (the first); proposals of the current view only; new views one per
//! voter. Every message's size is bounded by the voter and dealer counts (see [`Bounds`]).

mod wire;

pub use wire::{
    AgreeMessage, Bounds, Certificate, Certified, Choice, Digest, Stage, TAG_ASK, TAG_DECIDED,
    TAG_NEED, Vote,
};

use crate::cluster::PublicKey;
use commonware_cryptography::{Signer as _, ed25519};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};
use wire::vote_payload;

/// Namespace of every agreement vote of Cohort.
pub const NAMESPACE: &[u8] = b"_COHORT_DKG_AGREE";

/// View deadlines double at most this many times.
pub const MAX_DOUBLINGS: u32 = 4;

/// Sync periods a leader waits, after the `q`-th new view, for the others.
pub const GRACE_PERIODS: u32 = 2;

/// Views beyond the current one whose votes are kept.
pub const VIEW_WINDOW: u64 = 16;

/// What the agreement persists (the ceremony's journal holds it, see `ceremony::Record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persisted {
    /// One of our own votes (synced before it is sent).
    Vote(Vote),
    /// Our lock (synced before our precommit is sent).
    Lock(Certified),
    /// The decision (synced before it is acted on).
    Decided(Certified),
}

/// What a fresh value is worth to this voter (see the module docs on validity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Acceptable once these dealers' logs are here.
    Wait(Vec<u32>),
    Refuse(String),
}

/// The ceremony's side of validity.
pub trait Judge {
    /// Whether this voter would prevote `choice` proposed fresh.
    fn fresh(&self, choice: &Choice) -> Verdict;
    /// The dealers of `choice` whose logs this voter lacks.
    fn missing(&self, choice: &Choice) -> Vec<u32>;
    /// The fresh value this voter proposes as a leader.
    fn propose(&self) -> Choice;
}

/// Who a message goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    One(PublicKey),
    All,
}

/// What the agreement asks of the ceremony, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Persist(Persisted),
    /// Make everything persisted so far durable before anything that follows.
    Sync,
    Send {
        to: Recipient,
        message: AgreeMessage,
    },
    /// We voted (traced).
    Voted {
        view: u64,
        stage: Stage,
        choice: Choice,
        justified: bool,
    },
    /// We refused the current view's proposal (traced once per view).
    Refused {
        view: u64,
        reason: String,
    },
    /// We entered a view (traced).
    View {
        view: u64,
        leader: PublicKey,
    },
    /// The round's outcome: act on it (persisted and synced before this).
    Decided(Certified),
}

/// Why a message was dropped; `misbehaviour` proves the sender hostile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub misbehaviour: bool,
}

impl Refusal {
    fn hostile(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            misbehaviour: true,
        }
    }

    fn benign(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            misbehaviour: false,
        }
    }
}

/// The fixed parameters of one round's agreement.
#[derive(Clone, Debug)]
pub struct Setup {
    pub epoch: u64,
    pub round: u64,
    /// Every voter, in canonical order (the cluster's members).
    pub voters: Vec<PublicKey>,
    /// The round's dealer count (bounds choices).
    pub dealers: u32,
    /// Logs a `Logs` choice must list at least.
    pub required: usize,
    /// Deadline of view 0 (doubling with every view, [`MAX_DOUBLINGS`] times at most).
    pub view_timeout: Duration,
    /// The resend period; also the unit of the leader's grace.
    pub sync_period: Duration,
    /// Checks votes' signatures ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
}

impl Setup {
    /// `f`: the most faulty voters tolerated.
    pub fn faults(&self) -> usize {
        (self.voters.len().saturating_sub(1)) / 3
    }

    /// `q = n - f`.
    pub fn quorum(&self) -> usize {
        self.voters.len() - self.faults()
    }

    pub fn bounds(&self) -> Bounds {
        Bounds {
            voters: self.voters.len() as u32,
            dealers: self.dealers,
        }
    }

    /// The leader of `view`.
    pub fn leader(&self, view: u64) -> u32 {
        ((self.round.wrapping_add(view)) % self.voters.len() as u64) as u32
    }

    /// The deadline of `view`, counted from its start.
    pub fn timeout(&self, view: u64) -> Duration {
        let doublings = view.min(MAX_DOUBLINGS as u64) as u32;
        self.view_timeout.saturating_mul(1 << doublings)
    }

    /// Checks `certificate` (of `stage`, for `digest` when given): `q` distinct voters in
    /// increasing order, each signature valid.
    pub fn verify(&self, certificate: &Certificate, stage: Stage) -> Result<(), String> {
        self.verify_known(certificate, stage, |_| None)
    }

    /// As [`Setup::verify`], except that a voter's signature equal to `known(voter)` (the
    /// signature of a vote for the same view, stage and digest that this voter already
    /// verified) is not verified again.
    pub fn verify_known<'a>(
        &self,
        certificate: &Certificate,
        stage: Stage,
        known: impl Fn(u32) -> Option<&'a ed25519::Signature>,
    ) -> Result<(), String> {
        if certificate.stage != stage {
            return Err(format!("a {} certificate", certificate.stage.name()));
        }
        if certificate.votes.len() < self.quorum() {
            return Err(format!(
                "{} votes, a quorum is {}",
                certificate.votes.len(),
                self.quorum()
            ));
        }
        if !certificate.votes.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err("voters not in increasing order".into());
        }
        let payload = vote_payload(
            self.epoch,
            self.round,
            certificate.view,
            certificate.stage,
            &certificate.digest,
        );
        for (voter, signature) in &certificate.votes {
            let Some(key) = self.voters.get(*voter as usize) else {
                return Err(format!("voter {voter} out of range"));
            };
            if known(*voter) != Some(signature)
                && !self.verifier.verify(key, NAMESPACE, &payload, signature)
            {
                return Err(format!("bad signature of voter {voter}"));
            }
        }
        Ok(())
    }
}

impl Setup {
    /// Checks a certified choice of `stage`: a well-formed choice, and a certificate of its
    /// digest.
    pub fn check_certified(&self, certified: &Certified, stage: Stage) -> Result<(), String> {
        if !certified.choice.well_formed(self.dealers, self.required)
            || certified.certificate.digest != certified.choice.digest()
        {
            return Err("a malformed or other choice".into());
        }
        self.verify(&certified.certificate, stage)
    }
}

/// One round's agreement at one voter.
pub struct Agreement {
    setup: Setup,
    me: ed25519::PrivateKey,
    /// Our index among the voters (`None`: an observer, which only learns the decision).
    me_index: Option<u32>,
    /// Whether this voter takes part yet (it entered the agreement phase).
    started: bool,
    view: u64,
    deadline: Option<SystemTime>,
    /// Our own votes, by (view, stage).
    own: BTreeMap<(u64, Stage), Vote>,
    lock: Option<Certified>,
    /// The highest prevote certificate seen.
    high: Option<Certified>,
    /// Votes received, by (view, stage, digest): voter -> signature.
    votes: BTreeMap<(u64, Stage, Digest), BTreeMap<u32, ed25519::Signature>>,
    /// Who voted what in (view, stage): only the first vote counts.
    voted: BTreeSet<(u64, Stage, u32)>,
    /// Values known by digest (from proposals and certificates; bounded by the views kept).
    choices: BTreeMap<Digest, (u64, Choice)>,
    /// The current view's proposal (the leader's first).
    proposal: Option<(Choice, Option<Certificate>)>,
    /// Reported a refusal of the current view's proposal.
    refused: bool,
    /// As leader of the current view: the new views received (voter -> its highest certificate).
    new_views: BTreeMap<u32, Option<Certified>>,
    /// When the `q`-th new view arrived.
    quorum_at: Option<SystemTime>,
    /// As leader of the current view: what we proposed.
    proposed: Option<(Choice, Option<Certificate>)>,
    /// The latest view each voter announced (to follow a later view).
    announced: BTreeMap<u32, u64>,
    /// The latest new view of each voter, whatever its view (a leader that enters that view
    /// later counts it: a repeated frame is not delivered twice).
    latest_new_views: BTreeMap<u32, (u64, Option<Certified>)>,
    /// Proposals of the next views (within [`VIEW_WINDOW`]), the leader's first of each.
    future_proposals: BTreeMap<u64, (Choice, Option<Certificate>)>,
    decided: Option<Certified>,
}

impl Agreement {
    /// A voter's (or an observer's) agreement, from what it persisted (nothing on a fresh
    /// round).
    pub fn new(
        setup: Setup,
        me: ed25519::PrivateKey,
        persisted: Vec<Persisted>,
    ) -> Result<Self, String> {
        let me_pk = me.public_key();
        let me_index = setup
            .voters
            .iter()
            .position(|k| *k == me_pk)
            .map(|i| i as u32);
        let mut agreement = Self {
            setup,
            me,
            me_index,
            started: false,
            view: 0,
            deadline: None,
            own: BTreeMap::new(),
            lock: None,
            high: None,
            votes: BTreeMap::new(),
            voted: BTreeSet::new(),
            choices: BTreeMap::new(),
            proposal: None,
            refused: false,
            new_views: BTreeMap::new(),
            quorum_at: None,
            proposed: None,
            announced: BTreeMap::new(),
            latest_new_views: BTreeMap::new(),
            future_proposals: BTreeMap::new(),
            decided: None,
        };
        for record in persisted {
            match record {
                Persisted::Vote(vote) => {
                    agreement.view = agreement.view.max(vote.view);
                    let Some(me) = agreement.me_index else {
                        return Err("votes persisted by a node that is not a voter".into());
                    };
                    agreement.record_vote(me, vote.clone());
                    agreement.own.insert((vote.view, vote.stage), vote);
                }
                Persisted::Lock(lock) => {
                    agreement.view = agreement.view.max(lock.certificate.view);
                    agreement.learn(&lock);
                    if agreement
                        .lock
                        .as_ref()
                        .is_none_or(|l| l.certificate.view < lock.certificate.view)
                    {
                        agreement.lock = Some(lock);
                    }
                }
                Persisted::Decided(decided) => agreement.decided = Some(decided),
            }
        }
        Ok(agreement)
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    pub fn view(&self) -> u64 {
        self.view
    }

    pub fn decided(&self) -> Option<&Certified> {
        self.decided.as_ref()
    }

    pub fn lock(&self) -> Option<&Certified> {
        self.lock.as_ref()
    }

    /// Whether this voter takes part yet.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether this node votes (else it observes: it only learns the decision).
    pub fn is_voter(&self) -> bool {
        self.me_index.is_some()
    }

    /// The values whose logs this voter may need: the decision, the current proposal, its lock
    /// and its highest certificate.
    pub fn wanted(&self) -> Vec<&Choice> {
        [
            self.decided.as_ref().map(|c| &c.choice),
            self.proposal.as_ref().map(|(c, _)| c),
            self.lock.as_ref().map(|c| &c.choice),
            self.high.as_ref().map(|c| &c.choice),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn leader_key(&self, view: u64) -> PublicKey {
        self.setup.voters[self.setup.leader(view) as usize].clone()
    }

    fn is_leader(&self) -> bool {
        Some(self.setup.leader(self.view)) == self.me_index
    }

    /// Takes part from now on (this voter entered the agreement phase). An observer never
    /// takes part: it only learns the decision (from a precommit quorum or a decision).
    pub fn start(&mut self, now: SystemTime, judge: &dyn Judge) -> Vec<Output> {
        let mut out = Vec::new();
        if self.started || self.decided.is_some() || self.me_index.is_none() {
            return out;
        }
        self.started = true;
        self.enter(self.view, now, judge, &mut out);
        out
    }

    /// Enters `view` (the current one again on start, else a later one).
    fn enter(&mut self, view: u64, now: SystemTime, judge: &dyn Judge, out: &mut Vec<Output>) {
        if view != self.view {
            self.view = view;
            self.proposal = None;
            self.refused = false;
            self.new_views.clear();
            self.quorum_at = None;
            self.proposed = None;
            self.prune();
        }
        // What arrived for this view before we were in it.
        self.future_proposals.retain(|v, _| *v >= view);
        if self.proposal.is_none()
            && let Some(proposal) = self.future_proposals.remove(&view)
        {
            self.choices
                .insert(proposal.0.digest(), (view, proposal.0.clone()));
            self.proposal = Some(proposal);
        }
        if self.is_leader() {
            for (voter, (at, high)) in &self.latest_new_views {
                if *at == view {
                    self.new_views.entry(*voter).or_insert_with(|| high.clone());
                }
            }
        }
        self.deadline = Some(now + self.setup.timeout(view));
        out.push(Output::View {
            view,
            leader: self.leader_key(view),
        });
        if let Some(me) = self.me_index.filter(|_| self.is_leader()) {
            self.new_views.insert(me, self.high.clone());
            self.note_quorum(now);
        } else if view > 0 {
            out.push(Output::Send {
                to: Recipient::One(self.leader_key(view)),
                message: AgreeMessage::NewView {
                    view,
                    high: self.high.clone(),
                },
            });
        }
        self.maybe_propose(now, judge, out);
        self.try_prevote(judge, out);
        self.check_certificates(now, judge, out);
    }

    /// Drops what belongs to views before the one before the current.
    fn prune(&mut self) {
        let lowest = self.view.saturating_sub(1);
        self.votes.retain(|(view, _, _), _| *view >= lowest);
        self.voted.retain(|(view, _, _)| *view >= lowest);
        let keep: BTreeSet<Digest> = [self.lock.as_ref(), self.high.as_ref()]
            .into_iter()
            .flatten()
            .map(|c| c.certificate.digest)
            .collect();
        self.choices
            .retain(|digest, (view, _)| *view >= lowest || keep.contains(digest));
    }

    fn note_quorum(&mut self, now: SystemTime) {
        if self.quorum_at.is_none() && self.new_views.len() >= self.setup.quorum() {
            self.quorum_at = Some(now);
        }
    }

    /// As leader: propose once the new views allow it (view 0: at once).
    fn maybe_propose(&mut self, now: SystemTime, judge: &dyn Judge, out: &mut Vec<Output>) {
        if !self.started || !self.is_leader() || self.proposed.is_some() || self.decided.is_some() {
            return;
        }
        if self.view > 0 {
            let Some(at) = self.quorum_at else {
                return;
            };
            let grace = self.setup.sync_period.saturating_mul(GRACE_PERIODS);
            if self.new_views.len() < self.setup.voters.len() && now < at + grace {
                return;
            }
        }
        // Certificates of earlier views only: a proposal's justification is below its view.
        let view = self.view;
        let best = self
            .new_views
            .values()
            .flatten()
            .chain(self.high.as_ref())
            .filter(|c| c.certificate.view < view)
            .max_by_key(|c| c.certificate.view)
            .cloned();
        let (choice, justify) = match best {
            Some(certified) => (certified.choice, Some(certified.certificate)),
            None => (judge.propose(), None),
        };
        self.choices
            .insert(choice.digest(), (self.view, choice.clone()));
        self.proposed = Some((choice.clone(), justify.clone()));
        self.proposal = Some((choice.clone(), justify.clone()));
        out.push(Output::Send {
            to: Recipient::All,
            message: AgreeMessage::Propose {
                view: self.view,
                choice,
                justify,
            },
        });
    }

    /// Prevotes the current proposal if the rules allow.
    fn try_prevote(&mut self, judge: &dyn Judge, out: &mut Vec<Output>) {
        if !self.started || self.decided.is_some() {
            return;
        }
        if self.own.contains_key(&(self.view, Stage::Prevote)) {
            return;
        }
        let Some((choice, justify)) = self.proposal.clone() else {
            return;
        };
        let admitted = match &self.lock {
            None => true,
            Some(lock) => {
                lock.choice == choice
                    || justify
                        .as_ref()
                        .is_some_and(|j| j.view >= lock.certificate.view)
            }
        };
        if !admitted {
            self.refuse("locked on another value by a higher certificate", out);
            return;
        }
        if justify.is_none() {
            match judge.fresh(&choice) {
                Verdict::Accept => {}
                Verdict::Wait(dealers) => {
                    out.push(Output::Send {
                        to: Recipient::One(self.leader_key(self.view)),
                        message: AgreeMessage::Need { dealers },
                    });
                    return;
                }
                Verdict::Refuse(reason) => {
                    self.refuse(&reason, out);
                    return;
                }
            }
        } else {
            let missing = judge.missing(&choice);
            if !missing.is_empty() {
                out.push(Output::Send {
                    to: Recipient::All,
                    message: AgreeMessage::Need { dealers: missing },
                });
            }
        }
        self.vote(Stage::Prevote, choice, justify.is_some(), out);
    }

    fn refuse(&mut self, reason: &str, out: &mut Vec<Output>) {
        if !self.refused {
            self.refused = true;
            out.push(Output::Refused {
                view: self.view,
                reason: reason.to_string(),
            });
        }
    }

    /// Signs, persists (synced) and sends our vote of `stage` in the current view.
    fn vote(&mut self, stage: Stage, choice: Choice, justified: bool, out: &mut Vec<Output>) {
        let digest = choice.digest();
        let payload = vote_payload(
            self.setup.epoch,
            self.setup.round,
            self.view,
            stage,
            &digest,
        );
        let vote = Vote {
            view: self.view,
            stage,
            digest,
            signature: self.me.sign(NAMESPACE, &payload),
        };
        self.own.insert((self.view, stage), vote.clone());
        let me = self
            .me_index
            .expect("only a voter takes part, and so votes");
        self.record_vote(me, vote.clone());
        out.push(Output::Persist(Persisted::Vote(vote.clone())));
        out.push(Output::Sync);
        out.push(Output::Voted {
            view: self.view,
            stage,
            choice,
            justified,
        });
        out.push(Output::Send {
            to: Recipient::All,
            message: AgreeMessage::Vote(vote),
        });
    }

    /// Counts a vote (the first of each voter per view and stage); `false` when dropped.
    fn record_vote(&mut self, voter: u32, vote: Vote) -> bool {
        let lowest = self.view.saturating_sub(1);
        if vote.view < lowest || vote.view > self.view + VIEW_WINDOW {
            return false;
        }
        if !self.voted.insert((vote.view, vote.stage, voter)) {
            return false;
        }
        self.votes
            .entry((vote.view, vote.stage, vote.digest))
            .or_default()
            .insert(voter, vote.signature);
        true
    }

    /// Turns complete vote sets into certificates: a prevote certificate is learned (and locked
    /// on, in the current view), a precommit certificate decides.
    fn check_certificates(&mut self, now: SystemTime, judge: &dyn Judge, out: &mut Vec<Output>) {
        let quorum = self.setup.quorum();
        let complete: Vec<(u64, Stage, Digest)> = self
            .votes
            .iter()
            .filter(|(_, voters)| voters.len() >= quorum)
            .map(|(key, _)| *key)
            .collect();
        for (view, stage, digest) in complete {
            let Some((_, choice)) = self.choices.get(&digest).cloned() else {
                continue;
            };
            // An earlier certificate may have moved us to a later view, pruning this one.
            let Some(voters) = self.votes.get(&(view, stage, digest)) else {
                continue;
            };
            let votes = voters.iter().map(|(v, s)| (*v, s.clone())).collect();
            let certified = Certified {
                choice,
                certificate: Certificate {
                    view,
                    stage,
                    digest,
                    votes,
                },
            };
            match stage {
                Stage::Prevote => self.on_prevote_certificate(certified, now, judge, out),
                Stage::Precommit => self.decide(certified, out),
            }
            if self.decided.is_some() {
                return;
            }
        }
    }

    /// Keeps `certified` (a verified prevote certificate) if it is the highest seen.
    fn learn(&mut self, certified: &Certified) {
        self.choices.insert(
            certified.certificate.digest,
            (certified.certificate.view, certified.choice.clone()),
        );
        if self
            .high
            .as_ref()
            .is_none_or(|h| h.certificate.view < certified.certificate.view)
        {
            self.high = Some(certified.clone());
        }
    }

    fn on_prevote_certificate(
        &mut self,
        certified: Certified,
        now: SystemTime,
        judge: &dyn Judge,
        out: &mut Vec<Output>,
    ) {
        self.learn(&certified);
        if !self.started || self.decided.is_some() {
            return;
        }
        let view = certified.certificate.view;
        if view > self.view {
            // A certificate of a later view: at least f + 1 honest voters are there.
            self.enter(view, now, judge, out);
        }
        if view != self.view || self.own.contains_key(&(view, Stage::Precommit)) {
            return;
        }
        if self.lock.as_ref().is_none_or(|l| l.certificate.view < view) {
            self.lock = Some(certified.clone());
            out.push(Output::Persist(Persisted::Lock(certified.clone())));
        }
        self.vote(Stage::Precommit, certified.choice, true, out);
    }

    fn decide(&mut self, certified: Certified, out: &mut Vec<Output>) {
        if self.decided.is_some() {
            return;
        }
        self.decided = Some(certified.clone());
        out.push(Output::Persist(Persisted::Decided(certified.clone())));
        out.push(Output::Sync);
        out.push(Output::Send {
            to: Recipient::All,
            message: AgreeMessage::Decided(certified.clone()),
        });
        out.push(Output::Decided(certified));
    }

    /// Periodic work: the leader's proposal once its grace is over, the view deadline, and a
    /// new try at a proposal that waited for logs.
    pub fn on_tick(&mut self, now: SystemTime, judge: &dyn Judge) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.started || self.decided.is_some() {
            return out;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.enter(self.view + 1, now, judge, &mut out);
            return out;
        }
        self.maybe_propose(now, judge, &mut out);
        self.try_prevote(judge, &mut out);
        self.check_certificates(now, judge, &mut out);
        out
    }

    /// What to resend every sync period: the decision, or this view's new view, proposal and
    /// votes.
    pub fn resend(&self) -> Vec<Output> {
        if let Some(decided) = &self.decided {
            return vec![Output::Send {
                to: Recipient::All,
                message: AgreeMessage::Decided(decided.clone()),
            }];
        }
        if !self.started {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.is_leader() && self.view > 0 {
            out.push(Output::Send {
                to: Recipient::One(self.leader_key(self.view)),
                message: AgreeMessage::NewView {
                    view: self.view,
                    high: self.high.clone(),
                },
            });
        }
        if let Some((choice, justify)) = &self.proposed {
            out.push(Output::Send {
                to: Recipient::All,
                message: AgreeMessage::Propose {
                    view: self.view,
                    choice: choice.clone(),
                    justify: justify.clone(),
                },
            });
        }
        for stage in [Stage::Prevote, Stage::Precommit] {
            if let Some(vote) = self.own.get(&(self.view, stage)) {
                out.push(Output::Send {
                    to: Recipient::All,
                    message: AgreeMessage::Vote(vote.clone()),
                });
            }
        }
        out
    }

    /// Handles one message from `from`.
    pub fn on_message(
        &mut self,
        from: &PublicKey,
        message: AgreeMessage,
        now: SystemTime,
        judge: &dyn Judge,
    ) -> Result<Vec<Output>, Refusal> {
        let sender = self.setup.voters.iter().position(|k| k == from);
        // A decision proves itself, whoever relays it (observers learn and repeat them too),
        // and anybody may ask for it.
        if sender.is_none() && !matches!(message, AgreeMessage::Decided(_) | AgreeMessage::Ask) {
            return Err(Refusal::hostile("agreement message from a non-voter"));
        }
        let sender = sender.unwrap_or(u32::MAX as usize) as u32;
        let mut out = Vec::new();
        if let Some(decided) = &self.decided {
            // Whoever still talks about this round gets the decision.
            if !matches!(
                message,
                AgreeMessage::Decided(_) | AgreeMessage::Need { .. }
            ) {
                out.push(Output::Send {
                    to: Recipient::One(from.clone()),
                    message: AgreeMessage::Decided(decided.clone()),
                });
            }
            return Ok(out);
        }
        let bounds = self.setup.bounds();
        match message {
            AgreeMessage::Decided(certified) => {
                self.check_certified(&certified, Stage::Precommit)?;
                self.decide(certified, &mut out);
            }
            AgreeMessage::NewView { view, high } => {
                if let Some(high) = &high {
                    self.check_certified(high, Stage::Prevote)?;
                    if high.certificate.view > view {
                        return Err(Refusal::hostile("new view with a certificate above it"));
                    }
                    self.learn(high);
                }
                let latest = self.latest_new_views.entry(sender).or_insert((0, None));
                if view >= latest.0 {
                    *latest = (view, high.clone());
                }
                self.follow(sender, view, now, judge, &mut out);
                if view == self.view && self.is_leader() && !self.new_views.contains_key(&sender) {
                    self.new_views.insert(sender, high);
                    self.note_quorum(now);
                    self.maybe_propose(now, judge, &mut out);
                }
            }
            AgreeMessage::Propose {
                view,
                choice,
                justify,
            } => {
                if self.setup.leader(view) != sender {
                    return Err(Refusal::hostile(format!(
                        "proposal for view {view} from a voter that does not lead it"
                    )));
                }
                if !choice.well_formed(bounds.dealers, self.setup.required) {
                    return Err(Refusal::hostile("proposal of a malformed choice"));
                }
                if let Some(justify) = &justify {
                    self.setup
                        .verify_known(justify, Stage::Prevote, |voter| {
                            self.known_vote(justify, voter)
                        })
                        .map_err(|e| Refusal::hostile(format!("proposal justified by {e}")))?;
                    if justify.view >= view || justify.digest != choice.digest() {
                        return Err(Refusal::hostile(
                            "proposal justified by a certificate of another value or view",
                        ));
                    }
                    self.learn(&Certified {
                        choice: choice.clone(),
                        certificate: justify.clone(),
                    });
                }
                if view > self.view && view <= self.view + VIEW_WINDOW {
                    // Kept for when we get there (its repeats will not be delivered again).
                    self.future_proposals
                        .entry(view)
                        .or_insert((choice, justify));
                    return Ok(out);
                }
                if view != self.view {
                    return Err(Refusal::benign(format!(
                        "proposal for view {view}, ours is {}",
                        self.view
                    )));
                }
                if self.proposal.is_none() {
                    self.choices.insert(choice.digest(), (view, choice.clone()));
                    self.proposal = Some((choice, justify));
                    self.try_prevote(judge, &mut out);
                }
            }
            AgreeMessage::Vote(vote) => {
                let payload = vote_payload(
                    self.setup.epoch,
                    self.setup.round,
                    vote.view,
                    vote.stage,
                    &vote.digest,
                );
                if !self
                    .setup
                    .verifier
                    .verify(from, NAMESPACE, &payload, &vote.signature)
                {
                    return Err(Refusal::hostile("vote with a bad signature"));
                }
                self.follow(sender, vote.view, now, judge, &mut out);
                self.record_vote(sender, vote);
            }
            AgreeMessage::Need { .. } | AgreeMessage::Ask => {
                // Logs are the ceremony's to answer; an undecided round has nothing to tell.
            }
        }
        self.check_certificates(now, judge, &mut out);
        Ok(out)
    }

    /// Verifies a certified choice of `stage` (signatures of votes this voter already verified
    /// are not verified again).
    fn check_certified(&self, certified: &Certified, stage: Stage) -> Result<(), Refusal> {
        let certificate = &certified.certificate;
        if !certified
            .choice
            .well_formed(self.setup.dealers, self.setup.required)
            || certificate.digest != certified.choice.digest()
        {
            return Err(Refusal::hostile(
                "certificate with a malformed or other choice",
            ));
        }
        self.setup
            .verify_known(certificate, stage, |voter| {
                self.known_vote(certificate, voter)
            })
            .map_err(|e| Refusal::hostile(format!("certificate with {e}")))
    }

    /// The signature of `voter`'s vote for `certificate`'s view, stage and digest, if this
    /// voter received and verified it (every peer's vote is verified before it is recorded;
    /// our own, restored from the journal, is not taken as known).
    fn known_vote(&self, certificate: &Certificate, voter: u32) -> Option<&ed25519::Signature> {
        if Some(voter) == self.me_index {
            return None;
        }
        self.votes
            .get(&(certificate.view, certificate.stage, certificate.digest))
            .and_then(|voters| voters.get(&voter))
    }

    /// Notes that `voter` is at `view`; once `f + 1` voters are at a later view than ours, goes
    /// there (at least one of them is honest).
    fn follow(
        &mut self,
        voter: u32,
        view: u64,
        now: SystemTime,
        judge: &dyn Judge,
        out: &mut Vec<Output>,
    ) {
        let entry = self.announced.entry(voter).or_insert(0);
        *entry = (*entry).max(view);
        if !self.started {
            return;
        }
        let mut views: Vec<u64> = self.announced.values().copied().collect();
        views.sort_unstable_by(|a, b| b.cmp(a));
        let faults = self.setup.faults();
        if let Some(&target) = views.get(faults)
            && target > self.view
        {
            self.enter(target, now, judge, out);
        }
    }
}

#[cfg(test)]
mod tests;
