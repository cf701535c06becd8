//! The ledger as a pure state machine: a DAG of signed ops (SPEC section 3).
//!
//! [`Dag::apply`] takes decoded ops, from gossip or a backfill page, and answers each with an
//! [`Outcome`]:
//!
//! - `Duplicate`: the id is already applied or already waiting (apply is idempotent by id).
//! - `Rejected(reason)`: a non-member author, a bad signature, or a broken author chain (see
//!   below). Nothing of a rejected op is kept.
//! - `Pending`: a parent is unknown. The op waits in a bounded buffer ([`Config::max_pending`];
//!   the oldest waiting op is evicted on overflow and counted) and is applied as soon as its last
//!   missing parent is applied, whichever path that parent came by. Ops cannot wait on each other
//!   in a cycle: an id is a hash over the parents' ids, so a cycle would need a hash collision.
//! - `Applied`: the op is in the DAG. Applied ops get consecutive *positions* (the local log,
//!   parents always before children), which the op store persists in that order and the
//!   backfill server pages through.
//!
//! **Author chains.** An op `(author, seq > 1)` must have exactly one parent by its author, with
//! `seq - 1`; an op with `seq = 1` has none (checked when all parents are known; see
//! [`crate::ledger::op`]). So an author's ops form a hash chain, and a second op with a known
//! `(author, seq)` but another id is a fork: **equivocation**. Both ops are applied (every honest
//! node then holds the same DAG whatever order the forks arrived in), the pair is kept as
//! [`Evidence`], and the author is flagged. Nothing is silently resolved.
//!
//! **Heads and digest.** Heads are the applied ops no applied op lists as a parent. Since an id
//! commits to its parents, the heads determine the whole DAG, and the state digest
//! ([`Dag::digest`]) is sha256 over the sorted head ids: equal digests mean equal ledgers.
//!
//! **Checkpoints** ([`super::op::Certified`]) are checked twice more. On arrival, their
//! threshold signature must verify under the group key over the digest of the proposal they
//! certify ([`Reason::BadCertificate`]); a node that does not know the group key yet (its DKG
//! has not finished) parks the op in the pending buffer as if a parent were missing, and
//! checks it when [`Dag::set_group_key`] gives the key. When their parents are known, their
//! `previous` must name the author's latest certified checkpoint in the author's chain (none
//! for a first), with an earlier `as_of` ([`Reason::BadCheckpointChain`]). Both checks depend
//! only on the op and its ancestors, so every node decides alike whatever the arrival order.
//! The group key never changes across reshares, so every old certificate keeps verifying.
//!
//! **Compaction** (SPEC section 5). A certified checkpoint of S at seq `c` is S's *floor*:
//! the view of S starts there ([`super::view`]), so S's presence ops (`Boot`, `Heartbeat`)
//! below `c` are read by nothing any more. [`Dag::compact`] removes them from memory (the
//! ledger actor then rewrites the op store without them), with one exception that keeps the
//! DAG sound: an op that a kept op (or a pending one) lists as a parent stays, as part of the
//! *frontier*. Data ops and checkpoint ops are never pruned (the chain of certificates grows
//! with the number of checkpoints, which is what the state may grow with). So every held op
//! has all its parents held, except frontier ops, whose own parents may be gone. A frontier
//! op is accepted parentless by every node by one rule, which depends only on certified
//! facts:
//!
//! - a presence op of S below a *claim* of S (a checkpoint op of S with a higher seq whose
//!   certificate verified, applied or still waiting for its parents) applies without its
//!   parents: the certificate vouches for S's history below it. Its author chain is checked
//!   when its own parent is held, and it is `rootless` otherwise (as is an op whose own parent
//!   is rootless): a rootless op's latest checkpoint is its author's highest applied checkpoint
//!   below it, which is what a later checkpoint's `previous` is checked against;
//! - ops below their author's floor are never heads (the floor checkpoint descends from them,
//!   and a fork below it is superseded by the certificate), so pruning never changes the heads
//!   or the digest, and a node that holds the frontier reaches the same digest as one that
//!   holds everything. Nor is an op held without its parents (covered by a claim whose
//!   checkpoint is not applied here yet): that checkpoint puts it below the floor once it
//!   applies, and until then a claim others cannot check yet does not move this digest. An
//!   old certificate wrapped in a new op is refused when the subject already has a newer one
//!   below it, so a claim never rolls a subject back.
//!
//! How the frontier reaches a late joiner in order: a backfill server sends, ahead of any op
//! it holds without some of its parents, the checkpoint that covers it ([`Dag::cover`]), and
//! the node's own store is rewritten in [`Dag::replay_order`] (floors first); replaying it,
//! a presence op whose missing parents the store never held applies as it did when it came
//! (it was covered then). A checkpoint waiting for parents, or for the group key, is never
//! blamed on the server, nor are the presence ops it covers ([`Dag::waits_for_unknown`]).
//!
//! A server infers that its peer knows every ancestor of the ops the peer lists as known,
//! which is wrong for an op held without its parents. So a backfill request also names, by
//! id, what the node knows it lacks ([`Dag::wanted`]: the parents its pending ops wait for,
//! and those of its parentless ops above their floor), and the server sends those whatever
//! `known` implies ([`Dag::unknown_to`]). The inference also makes a server leave out a parent
//! that an op held here without its parents lacks (even below its floor: it is an ancestor of
//! what the node listed as known); an op naming such a parent waits for it without blaming the
//! server, and the next request asks for it by id.
//!
//! What compaction gives up: equivocation below a floor is no longer detected (the
//! `(author, seq)` index of pruned ops is gone), and an op that arrives naming a pruned op
//! (its author had not seen the checkpoint yet) waits until a peer that still holds that op
//! serves it by id; the node remembers the [`MAX_RECENTLY_PRUNED`] ids it pruned last, so
//! such an op does not count against the peer that sent it. Both are bounded by the
//! certificate: the history below a floor is what `t` members approved.
//!
//! Signatures are checked in batches ([`Dag::apply`] verifies every new op of a call with one
//! batch equation, falling back to one check per op only when the batch fails), so a backfilled
//! page costs about one batch verification per op.
//!
//! Everything here is deterministic: maps are ordered, and the only randomness (the batch
//! verifier's) comes from the caller's RNG and never reaches a decision.

use super::op::{AuthorKey, Certified, MAX_PARENTS, OpId, OpKind, SignedOp};
use crate::{
    cluster::PublicKey,
    committee::{self, CommitteeProposal},
    dkg::wire::Variant,
    verify::Verifier,
    vote::{tally, wire::CERTIFICATE_NAMESPACE},
};
use commonware_cryptography::{
    BatchEntry, BatchVerifier as _, Hasher as _, Sha256,
    bls12381::primitives::variant::PartialSignature, sha256,
};
use commonware_parallel::Sequential;
use rand_core::CryptoRng;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

/// Default bound of the pending buffer, in ops.
pub const DEFAULT_MAX_PENDING: usize = 16_384;

/// Most ids a node lists as what it knows in a backfill request ([`Dag::known`]).
pub const MAX_KNOWN: usize = 512;

/// How many ids of ops refused for an unknown author a ledger remembers (32 bytes each).
pub const MAX_RECENT_STRANGERS: usize = 4096;

/// How many of the ids compaction removed most recently a ledger remembers (32 bytes each):
/// an op that arrives naming one of them waits for it without blame (its sender may not have
/// pruned it yet), and the node asks for it by id.
pub const MAX_RECENTLY_PRUNED: usize = 1 << 16;

/// Most ids [`Dag::wanted`] keeps asking for because an op applied without its parents named
/// them ([`Dag::asked_without`]); beyond it, new ones are not recorded.
pub const MAX_UNRESOLVED: usize = 1 << 12;

/// Complete backfill runs that asked for an unresolved id without bringing it, after which the
/// id is taken for a parent every peer pruned.
pub const MAX_UNRESOLVED_ASKS: u8 = 8;

/// Configuration of a [`Dag`].
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Most ops waiting for a parent; the oldest is evicted beyond it.
    pub max_pending: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Why an op was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The author is not a known member: not in the genesis definition, and admitted by no
    /// certified committee this node holds. Never blamed on the sender (it may hold an
    /// admission this node does not have yet); counted.
    UnknownAuthor,
    /// The signature does not verify under the author's key.
    BadSignature,
    /// The bytes do not decode (malformed, oversized): set by the decoding caller.
    Malformed,
    /// The parents break the author chain (no parent `seq - 1` by the author, or another one).
    BadChain,
    /// A parent was rejected, so the op can never apply.
    RejectedParent,
    /// A checkpoint whose threshold signature does not verify under the group key.
    BadCertificate,
    /// A checkpoint whose `previous` is not the author's latest certified checkpoint, or whose
    /// `as_of` is not after it.
    BadCheckpointChain,
    /// A `Vote` or `Certify` whose `Propose` op is not among its parents, or is no proposal.
    BadGovernance,
    /// The first op of an author admitted by a certified committee that does not name that
    /// committee's `Certify` op as a parent.
    NotAdmitted,
}

impl Reason {
    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Reason::UnknownAuthor => "unknown_author",
            Reason::BadSignature => "bad_signature",
            Reason::Malformed => "malformed",
            Reason::BadChain => "bad_chain",
            Reason::RejectedParent => "rejected_parent",
            Reason::BadCertificate => "bad_certificate",
            Reason::BadCheckpointChain => "bad_checkpoint_chain",
            Reason::BadGovernance => "bad_governance",
            Reason::NotAdmitted => "not_admitted",
        }
    }

    /// Whether the rejection proves the sender hostile: every reason but an unknown author
    /// (see [`Reason::UnknownAuthor`]).
    pub fn blames_sender(self) -> bool {
        self != Reason::UnknownAuthor
    }
}

/// What applying one op did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Pending,
    Rejected(Reason),
}

/// Two ops of one author with one seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    pub seq: u64,
    /// The op applied first at that seq.
    pub first: OpId,
    /// The conflicting op.
    pub second: OpId,
}

/// What one [`Dag::apply`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One outcome per input op, in input order.
    pub outcomes: Vec<Outcome>,
    /// Every op applied by this call (inputs and drained pending ops), in position order.
    pub applied: Vec<OpId>,
    /// Ops that had been pending and were rejected now (their parents proved them invalid).
    pub rejected_later: Vec<(OpId, Reason)>,
    /// Pending ops evicted by this call to keep the buffer bounded.
    pub evicted: usize,
    /// Authors flagged for equivocation by this call.
    pub flagged: Vec<PublicKey>,
    /// Whether an applied checkpoint raised its author's floor (see the module docs on
    /// compaction): the caller may compact.
    pub floors_raised: bool,
    /// `Propose` op ids whose proposals a `Certify` applied by this call certified.
    pub certified: Vec<OpId>,
}

/// An applied op.
#[derive(Clone, Debug)]
struct Entry {
    op: SignedOp,
    position: u64,
    author: u16,
    /// The latest checkpoint op in the author's chain up to this op (this op included).
    checkpoint: Option<OpId>,
    /// Applied without some of its ancestors: a presence op below a certified checkpoint of its
    /// author whose parents were pruned, or an op whose own-chain parent is such an op.
    rootless: bool,
    /// Applied without some of its parents (the first kind of `rootless` op).
    parentless: bool,
}

/// An op waiting for parents.
#[derive(Clone, Debug)]
struct Waiting {
    op: SignedOp,
    author: u16,
    /// Missing parents, plus one while a checkpoint waits for the group key.
    missing: usize,
    /// A checkpoint whose certificate is still to be checked (the group key is unknown).
    needs_key: bool,
    arrival: u64,
}

/// The group public key checkpoints are certified under.
pub type GroupKey =
    <Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Public;

/// The ledger DAG of one node.
#[derive(Clone, Debug)]
pub struct Dag {
    cfg: Config,
    keys: Vec<PublicKey>,
    index: BTreeMap<AuthorKey, u16>,
    ops: BTreeMap<OpId, Entry>,
    /// Held ops by position (pruned positions are gone).
    log: BTreeMap<u64, OpId>,
    /// The position the next applied op gets.
    next_position: u64,
    heads: BTreeSet<OpId>,
    /// The first op applied at each `(author, seq)`.
    chains: BTreeMap<(u16, u64), OpId>,
    /// Highest applied seq of each author (0: none).
    tips: Vec<u64>,
    evidence: BTreeMap<u16, Vec<Evidence>>,
    pending: BTreeMap<OpId, Waiting>,
    waiters: BTreeMap<OpId, Vec<OpId>>,
    pending_order: VecDeque<(u64, OpId)>,
    arrivals: u64,
    evicted_total: u64,
    group_key: Option<GroupKey>,
    /// Checks signatures (directly, or through the simulator's memo).
    verifier: Verifier,
    /// Applied checkpoint ops by `(author, seq)`.
    certs: BTreeMap<(u16, u64), OpId>,
    /// Per author, the seq of its highest applied checkpoint op (0: none): its *floor*.
    floors: Vec<u64>,
    /// Per author, the seq of its highest checkpoint op whose certificate verified, applied or
    /// still waiting for parents (0: none): presence ops below it need no parents.
    claims: Vec<u64>,
    /// Ops removed by compaction since this ledger was created.
    pruned_total: u64,
    /// The ids compaction removed most recently (at most [`MAX_RECENTLY_PRUNED`]), and their
    /// order of removal.
    recently_pruned: BTreeSet<OpId>,
    pruned_order: VecDeque<OpId>,
    /// Set while [`Dag::apply_trusted`] replays the node's own store: every op there was
    /// applied before, so a presence op held without its parents was covered when it was
    /// applied, whatever claim vouched for it then (a checkpoint still pending is not stored).
    replaying: bool,
    /// Canary `pending-not-drained`: set while a backfill page is applied.
    #[cfg(feature = "canary")]
    applying_page: bool,
    /// Pending checkpoint ops waiting for the group key, counted by `(author, seq)`: the
    /// presence ops of their author below them may be frontier ops their server sent
    /// parentless (see [`Dag::waits_for_unknown`]).
    keyless: BTreeMap<(u16, u64), u32>,
    /// Ids that held ops at or above their floor name but this ledger does not hold (a
    /// covered op applied before its parent): such an id is no head when it arrives.
    dangling: BTreeMap<OpId, u32>,
    /// Parents that ops applied without them (covered) name, which this ledger did not prune
    /// itself, and how many complete backfill runs asked for each without bringing it. Most
    /// are presence ops a peer pruned; but one may be a Data or checkpoint op (never pruned)
    /// that this node never received before a checkpoint covered its child, which nothing
    /// else would make it ask for (the child is below its floor, and a server takes an
    /// ancestor of what the node lists as known for known).
    unresolved: BTreeMap<OpId, u8>,
    /// Authors `0..genesis` are the genesis members; the others were admitted by a certified
    /// committee.
    genesis: usize,
    /// Ids of the ops most recently refused for an unknown author ([`MAX_RECENT_STRANGERS`]):
    /// an op that waits for one is not the sender's fault (its author may have been admitted
    /// by a certificate this node cannot check yet, a joiner's case).
    strangers: BTreeSet<OpId>,
    strangers_order: VecDeque<OpId>,
    /// Certified proposals, by the id of their `Propose` op.
    committees: BTreeMap<OpId, CommitteeProposal>,
    /// The `Certify` op that first admitted each author after the genesis ones.
    admitted_by: BTreeMap<u16, OpId>,
    /// Held `Propose` ops, each with the `Vote` ops naming it (by voter) and whether a
    /// `Certify` naming it is held.
    proposals: BTreeMap<OpId, Proposed>,
}

/// A held `Propose` op's votes and certificate.
#[derive(Clone, Debug, Default)]
struct Proposed {
    votes: BTreeMap<u16, Vec<OpId>>,
    certified: bool,
}

/// A held proposal, its votes and whether it is certified (see [`Dag::proposals`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The `Propose` op.
    pub op: OpId,
    pub author: PublicKey,
    pub proposal: CommitteeProposal,
    /// Every `Vote` op naming it: its voter, its id and its partial signature.
    pub votes: Vec<Ballot>,
    /// A `Certify` naming it is held (its certificate verified).
    pub certified: bool,
}

/// One `Vote` op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ballot {
    pub voter: PublicKey,
    pub op: OpId,
    pub partial: PartialSignature<Variant>,
}

/// Whether an op is presence history (what compaction may prune).
fn presence(kind: &OpKind) -> bool {
    matches!(kind, OpKind::Boot { .. } | OpKind::Heartbeat { .. })
}

/// Whether a checkpoint's certificate verifies under `key`.
fn certified(key: &GroupKey, author: &AuthorKey, checkpoint: &Certified) -> bool {
    tally::verify(
        key,
        CERTIFICATE_NAMESPACE,
        &checkpoint.id(*author),
        &checkpoint.signature,
    )
}

impl Dag {
    /// The same ledger, checking signatures through `verifier` ([`crate::verify`]).
    pub fn with_verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// An empty ledger of the cluster whose members are `members` (at most `u16::MAX`).
    pub fn new(members: &[PublicKey], cfg: Config) -> Self {
        let keys: Vec<PublicKey> = members.iter().take(u16::MAX as usize).cloned().collect();
        let index = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let mut raw = [0u8; 32];
                raw.copy_from_slice(k.as_ref());
                (raw, i as u16)
            })
            .collect();
        Self {
            cfg,
            genesis: keys.len(),
            strangers: BTreeSet::new(),
            strangers_order: VecDeque::new(),
            committees: BTreeMap::new(),
            admitted_by: BTreeMap::new(),
            proposals: BTreeMap::new(),
            tips: vec![0; keys.len()],
            floors: vec![0; keys.len()],
            claims: vec![0; keys.len()],
            certs: BTreeMap::new(),
            pruned_total: 0,
            dangling: BTreeMap::new(),
            keyless: BTreeMap::new(),
            recently_pruned: BTreeSet::new(),
            unresolved: BTreeMap::new(),
            pruned_order: VecDeque::new(),
            replaying: false,
            #[cfg(feature = "canary")]
            applying_page: false,
            next_position: 0,
            keys,
            index,
            ops: BTreeMap::new(),
            log: BTreeMap::new(),
            heads: BTreeSet::new(),
            chains: BTreeMap::new(),
            evidence: BTreeMap::new(),
            pending: BTreeMap::new(),
            waiters: BTreeMap::new(),
            pending_order: VecDeque::new(),
            arrivals: 0,
            evicted_total: 0,
            group_key: None,
            verifier: Verifier::direct(),
        }
    }

    /// The group key checkpoints are verified under, once known.
    pub fn group_key(&self) -> Option<&GroupKey> {
        self.group_key.as_ref()
    }

    /// Sets the group key (once the DKG finished) and checks every checkpoint that waited for
    /// it: a valid one waits for its parents no more (and applies if it has them all), an
    /// invalid one is rejected with its waiters.
    pub fn set_group_key(&mut self, key: GroupKey) -> Report {
        let mut report = Report::default();
        self.group_key = Some(key);
        let waiting: Vec<OpId> = self
            .pending
            .iter()
            .filter(|(_, w)| w.needs_key)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            // A waiter of a checkpoint rejected earlier in this loop is gone already.
            let Some(w) = self.pending.get_mut(&id) else {
                continue;
            };
            let ok = match &w.op.op().kind {
                OpKind::Checkpoint(c) => certified(
                    self.group_key.as_ref().expect("just set"),
                    &w.op.op().author,
                    c,
                ),
                _ => true,
            };
            w.needs_key = false;
            let checkpoint = matches!(w.op.op().kind, OpKind::Checkpoint(_));
            let (author, seq) = (w.author, w.op.op().seq);
            if checkpoint {
                self.unkeyed(author, seq);
            }
            if ok && checkpoint {
                self.claim(author, seq, &mut report);
            }
            let Some(w) = self.pending.get_mut(&id) else {
                // Not reachable: the key's share of `missing` keeps it pending through the claim.
                continue;
            };
            if !ok {
                self.unpark(&id);
                report.rejected_later.push((id, Reason::BadCertificate));
                self.reject_waiters(id, &mut report);
                continue;
            }
            w.missing -= 1;
            if w.missing == 0 {
                let w = self.unpark(&id).expect("pending");
                if let Err(reason) = self.insert(w.op, w.author, &mut report) {
                    report.rejected_later.push((id, reason));
                }
            }
        }
        report
    }

    /// The member index of an author key, if it is a member.
    pub fn member(&self, author: &AuthorKey) -> Option<usize> {
        self.index.get(author).map(|i| *i as usize)
    }

    /// Applies `ops` in order (see the module docs). `rng` only randomizes batch verification.
    pub fn apply(&mut self, ops: Vec<SignedOp>, rng: &mut impl CryptoRng) -> Report {
        self.apply_inner(ops, Some(rng))
    }

    /// Canary `pending-not-drained`: applies a backfill page (see [`crate::canary`]).
    #[cfg(feature = "canary")]
    pub fn apply_page(&mut self, ops: Vec<SignedOp>, rng: &mut impl CryptoRng) -> Report {
        self.applying_page = true;
        let report = self.apply(ops, rng);
        self.applying_page = false;
        report
    }

    /// Applies ops whose signatures were verified before (the node's own op store, which only
    /// ever holds ops this ledger applied): everything as [`Dag::apply`] but the signature check.
    pub fn apply_trusted(&mut self, ops: Vec<SignedOp>) -> Report {
        self.apply_inner(ops, None::<&mut rand_chacha::ChaCha8Rng>)
    }

    fn apply_inner<G: CryptoRng>(
        &mut self,
        ops: Vec<SignedOp>,
        mut verify: Option<&mut G>,
    ) -> Report {
        let trusted = verify.is_none();
        self.replaying = trusted;
        let mut report = Report {
            outcomes: vec![Outcome::Duplicate; ops.len()],
            ..Report::default()
        };
        // Ops are applied in order, in runs of ops by known authors. An op by an unknown author
        // ends a run: a certificate in the run may admit it (a backfill page, or a replayed
        // store, holds a certificate before its newcomers' ops), so it is screened again after
        // the run; an op still unknown then waits, and is screened again after every run that
        // admits someone. Ops after it that name it then wait for it as for any missing parent
        // (never applied around it: a replayed op would otherwise apply without it).
        let mut unknown: Vec<(usize, SignedOp)> = Vec::new();
        let mut run: Vec<(usize, SignedOp)> = Vec::new();
        let mut ops = ops.into_iter().enumerate().peekable();
        loop {
            let next_unknown = ops
                .peek()
                .is_some_and(|(_, op)| !self.index.contains_key(&op.op().author));
            if ops.peek().is_none() || (next_unknown && !run.is_empty()) {
                let admitted = self.apply_positioned(
                    std::mem::take(&mut run),
                    &mut verify,
                    &mut report,
                    &mut unknown,
                );
                let mut admitted = admitted;
                while admitted && !unknown.is_empty() {
                    admitted = self.apply_positioned(
                        std::mem::take(&mut unknown),
                        &mut verify,
                        &mut report,
                        &mut unknown,
                    );
                }
                if ops.peek().is_none() {
                    break;
                }
                continue;
            }
            let (i, op) = ops.next().expect("peeked");
            if next_unknown {
                unknown.push((i, op));
            } else {
                run.push((i, op));
            }
        }
        // Still unknown at the end: refused (their authors were never admitted here).
        for (i, op) in unknown {
            report.outcomes[i] = Outcome::Rejected(Reason::UnknownAuthor);
            let id = op.id();
            if self.strangers.insert(id) {
                self.strangers_order.push_back(id);
                if self.strangers_order.len() > MAX_RECENT_STRANGERS
                    && let Some(old) = self.strangers_order.pop_front()
                {
                    self.strangers.remove(&old);
                }
            }
        }
        self.replaying = false;
        report
    }

    /// Applies positioned ops (their index in the caller's batch) into `report`; the ops whose
    /// author is unknown go to `unknown`. Whether a certificate was applied (it may admit).
    fn apply_positioned<G: CryptoRng>(
        &mut self,
        ops: Vec<(usize, SignedOp)>,
        verify: &mut Option<&mut G>,
        report: &mut Report,
        unknown: &mut Vec<(usize, SignedOp)>,
    ) -> bool {
        if ops.is_empty() {
            return false;
        }
        let (positions, ops): (Vec<usize>, Vec<SignedOp>) = ops.into_iter().unzip();
        let (again, rest) = self.apply_screened(ops, verify.as_deref_mut());
        for (position, outcome) in positions.iter().zip(again.outcomes) {
            report.outcomes[*position] = outcome;
        }
        report.applied.extend(again.applied);
        report.rejected_later.extend(again.rejected_later);
        report.evicted += again.evicted;
        report.flagged.extend(again.flagged);
        report.floors_raised |= again.floors_raised;
        let admitted = !again.certified.is_empty();
        report.certified.extend(again.certified);
        unknown.extend(rest.into_iter().map(|(i, op)| (positions[i], op)));
        admitted
    }

    /// Applies `ops`; also returns the ops refused for an unknown author, with their index.
    fn apply_screened<G: CryptoRng>(
        &mut self,
        ops: Vec<SignedOp>,
        verify: Option<&mut G>,
    ) -> (Report, Vec<(usize, SignedOp)>) {
        let mut unknown = Vec::new();
        let trusted = verify.is_none();
        let mut report = Report {
            outcomes: Vec::with_capacity(ops.len()),
            ..Report::default()
        };
        // Screen out duplicates and strangers before paying for signatures.
        let mut screened: Vec<Option<(SignedOp, u16)>> = Vec::with_capacity(ops.len());
        let mut seen = BTreeSet::new();
        for op in ops {
            let id = op.id();
            if self.ops.contains_key(&id) || self.pending.contains_key(&id) || !seen.insert(id) {
                report.outcomes.push(Outcome::Duplicate);
                screened.push(None);
                continue;
            }
            match self.index.get(&op.op().author) {
                None => {
                    unknown.push((report.outcomes.len(), op));
                    report
                        .outcomes
                        .push(Outcome::Rejected(Reason::UnknownAuthor));
                    screened.push(None);
                }
                Some(&author) => {
                    // Filled in below.
                    report.outcomes.push(Outcome::Pending);
                    screened.push(Some((op, author)));
                }
            }
        }
        let valid = match verify {
            Some(rng) => self.verify(&screened, rng),
            None => vec![true; screened.len()],
        };
        for (i, (entry, ok)) in screened.into_iter().zip(valid).enumerate() {
            let Some((op, author)) = entry else { continue };
            if !ok {
                report.outcomes[i] = Outcome::Rejected(Reason::BadSignature);
                continue;
            }
            // A checkpoint's certificate is checked now if the group key is known.
            let needs_key = match (&op.op().kind, &self.group_key) {
                (OpKind::Checkpoint(_), _) if trusted => false,
                (OpKind::Checkpoint(c), Some(key)) => {
                    if !certified(key, &op.op().author, c) {
                        report.outcomes[i] = Outcome::Rejected(Reason::BadCertificate);
                        continue;
                    }
                    false
                }
                (OpKind::Checkpoint(_), None) => true,
                // A committee certificate is checked once its proposal (a parent) is here.
                (OpKind::Certify { .. }, None) => !trusted,
                _ => false,
            };
            if matches!(op.op().kind, OpKind::Checkpoint(_)) && !needs_key {
                self.claim(author, op.op().seq, &mut report);
            }
            report.outcomes[i] = self.admit(op, author, needs_key, &mut report);
        }
        (report, unknown)
    }

    /// Which screened ops carry a valid signature: one batch check, then single checks only if
    /// the batch fails (it is all-or-nothing). Signatures the verifier's memo knows valid are
    /// left out of the batch (never without a memo).
    fn verify(&self, screened: &[Option<(SignedOp, u16)>], rng: &mut impl CryptoRng) -> Vec<bool> {
        let known = |op: &SignedOp, key: &PublicKey| {
            self.verifier
                .known_valid(key, super::op::NAMESPACE, op.message(), op.signature())
        };
        let candidates: Vec<(&SignedOp, &PublicKey)> = screened
            .iter()
            .flatten()
            .map(|(op, author)| (op, &self.keys[*author as usize]))
            .filter(|(op, key)| !known(op, key))
            .collect();
        let all_ok = match candidates.len() {
            0 => true,
            1 => self.verifier.verify(
                candidates[0].1,
                super::op::NAMESPACE,
                candidates[0].0.message(),
                candidates[0].0.signature(),
            ),
            _ => PublicKey::verify_batch(
                rng,
                &candidates,
                |_, (op, key)| BatchEntry {
                    namespace: super::op::NAMESPACE,
                    message: op.message(),
                    public_key: key,
                    signature: op.signature(),
                },
                &Sequential,
            ),
        };
        if all_ok && candidates.len() > 1 {
            for (op, key) in &candidates {
                self.verifier
                    .record_valid(key, super::op::NAMESPACE, op.message(), op.signature());
            }
        }
        screened
            .iter()
            .map(|entry| match entry {
                None => false,
                Some(_) if all_ok => true,
                Some((op, author)) => self.verifier.verify(
                    &self.keys[*author as usize],
                    super::op::NAMESPACE,
                    op.message(),
                    op.signature(),
                ),
            })
            .collect()
    }

    /// Records a checkpoint of `author` at `seq` whose certificate verified (or that came from
    /// the node's own store), and applies every pending presence op of the author below it:
    /// they need their parents no more (see the module docs on compaction).
    fn claim(&mut self, author: u16, seq: u64, report: &mut Report) {
        let Some(claim) = self.claims.get_mut(author as usize) else {
            return;
        };
        if seq <= *claim {
            return;
        }
        *claim = seq;
        let released: Vec<OpId> = self
            .pending
            .iter()
            .filter(|(_, w)| w.author == author && w.op.op().seq < seq && presence(&w.op.op().kind))
            .map(|(id, _)| *id)
            .collect();
        for id in released {
            let Some(w) = self.unpark(&id) else { continue };
            if let Err(reason) = self.insert(w.op, w.author, report) {
                report.rejected_later.push((id, reason));
            }
        }
    }

    /// Whether `op` by `author` is a presence op below a certified checkpoint of its author:
    /// it applies without its parents. So does a presence op replayed from this node's own
    /// store that lacks a parent the store does not hold at all (it was applied covered), but
    /// not one whose parent is a floor checkpoint replayed first and still waiting for its
    /// own parents (see [`Dag::replay_order`]): that one waits as it did when it came.
    fn covered(&self, op: &SignedOp, author: u16) -> bool {
        presence(&op.op().kind)
            && (op.op().seq < self.claims[author as usize]
                || (self.replaying
                    && !op.op().parents.iter().any(|p| self.pending.contains_key(p))))
    }

    /// An op with a valid signature: applies it, or parks it until its parents are known.
    fn admit(
        &mut self,
        op: SignedOp,
        author: u16,
        needs_key: bool,
        report: &mut Report,
    ) -> Outcome {
        if self.covered(&op, author) {
            return match self.insert(op, author, report) {
                Ok(()) => Outcome::Applied,
                Err(reason) => Outcome::Rejected(reason),
            };
        }
        // What the op waits for: its parents not held, and the proposal a `Vote` or `Certify`
        // names when it is its author's own one (an ancestor, not a parent) not held yet: a
        // node holding frontier ops may get an author's certificate before its proposal.
        let mut waits: Vec<OpId> = op
            .op()
            .parents
            .iter()
            .filter(|p| !self.ops.contains_key(*p))
            .copied()
            .collect();
        if let OpKind::Vote { proposal, .. } | OpKind::Certify { proposal, .. } = &op.op().kind
            && !self.ops.contains_key(proposal)
            && !waits.contains(proposal)
        {
            waits.push(*proposal);
        }
        let missing = waits.len() + usize::from(needs_key);
        if missing == 0 {
            return match self.insert(op, author, report) {
                Ok(()) => Outcome::Applied,
                Err(reason) => Outcome::Rejected(reason),
            };
        }
        let id = op.id();
        for parent in waits {
            self.waiters.entry(parent).or_default().push(id);
        }
        if needs_key && matches!(op.op().kind, OpKind::Checkpoint(_)) {
            *self.keyless.entry((author, op.op().seq)).or_default() += 1;
        }
        self.arrivals += 1;
        self.pending_order.push_back((self.arrivals, id));
        self.pending.insert(
            id,
            Waiting {
                op,
                author,
                missing,
                needs_key,
                arrival: self.arrivals,
            },
        );
        while self.pending.len() > self.cfg.max_pending {
            let Some((arrival, oldest)) = self.pending_order.pop_front() else {
                break;
            };
            if self
                .pending
                .get(&oldest)
                .is_some_and(|w| w.arrival == arrival)
            {
                self.unpark(&oldest);
                self.evicted_total += 1;
                report.evicted += 1;
            }
        }
        Outcome::Pending
    }

    /// Removes a pending op and its waiter registrations.
    fn unpark(&mut self, id: &OpId) -> Option<Waiting> {
        let waiting = self.pending.remove(id)?;
        if waiting.needs_key && matches!(waiting.op.op().kind, OpKind::Checkpoint(_)) {
            self.unkeyed(waiting.author, waiting.op.op().seq);
        }
        let proposal = match &waiting.op.op().kind {
            OpKind::Vote { proposal, .. } | OpKind::Certify { proposal, .. } => Some(proposal),
            _ => None,
        };
        for parent in waiting.op.op().parents.iter().chain(proposal) {
            if let Some(list) = self.waiters.get_mut(parent) {
                list.retain(|w| w != id);
                if list.is_empty() {
                    self.waiters.remove(parent);
                }
            }
        }
        Some(waiting)
    }

    /// A checkpoint of `author` at `seq` waits for the group key no more.
    fn unkeyed(&mut self, author: u16, seq: u64) {
        if let Some(count) = self.keyless.get_mut(&(author, seq)) {
            *count -= 1;
            if *count == 0 {
                self.keyless.remove(&(author, seq));
            }
        }
    }

    /// Inserts an op whose parents are all applied, then drains every pending op it unblocks.
    fn insert(&mut self, op: SignedOp, author: u16, report: &mut Report) -> Result<(), Reason> {
        let mut work = vec![(op, author)];
        let mut first = None;
        while let Some((op, author)) = work.pop() {
            let id = op.id();
            let result = self.insert_one(op, author, report);
            if first.is_none() {
                first = Some(result);
            } else if let Err(reason) = result {
                report.rejected_later.push((id, reason));
            }
            #[cfg(feature = "canary")]
            if crate::canary!(PendingNotDrained) && self.applying_page {
                // Canary: what waited for this op stays pending.
                continue;
            }
            match result {
                Ok(()) => {
                    for waiter in self.waiters.remove(&id).unwrap_or_default() {
                        let ready = match self.pending.get_mut(&waiter) {
                            Some(w) => {
                                w.missing -= 1;
                                w.missing == 0
                            }
                            None => false,
                        };
                        if ready && let Some(w) = self.unpark(&waiter) {
                            work.push((w.op, w.author));
                        }
                    }
                }
                Err(_) => self.reject_waiters(id, report),
            }
        }
        first.expect("at least one op")
    }

    /// Drops every pending op that (transitively) waits on a rejected op.
    fn reject_waiters(&mut self, rejected: OpId, report: &mut Report) {
        let mut work = vec![rejected];
        while let Some(id) = work.pop() {
            for waiter in self.waiters.remove(&id).unwrap_or_default() {
                if self.unpark(&waiter).is_some() {
                    report.rejected_later.push((waiter, Reason::RejectedParent));
                    work.push(waiter);
                }
            }
        }
    }

    fn insert_one(&mut self, op: SignedOp, author: u16, report: &mut Report) -> Result<(), Reason> {
        let id = op.id();
        let seq = op.op().seq;
        // Parents pruned by compaction: only a covered presence op may lack any.
        let complete = op.op().parents.iter().all(|p| self.ops.contains_key(p));
        if !complete && !self.covered(&op, author) {
            return Err(Reason::BadChain);
        }
        if author as usize >= self.genesis && seq == 1 && !self.admits(&op) {
            return Err(Reason::NotAdmitted);
        }
        let certified = self.governance(&op, author)?;
        // A proposal (`Some(None)`) or a vote on one (`Some(Some(proposal))`), indexed below.
        let governance = match &op.op().kind {
            OpKind::Propose(_) => Some(None),
            OpKind::Vote { proposal, .. } => Some(Some(*proposal)),
            _ => None,
        };
        // The author chain: exactly one parent by the author, at seq - 1 (none for seq 1). A
        // covered op whose own parent was pruned has none held: its chain is the certificate's.
        let mut own = op
            .op()
            .parents
            .iter()
            .filter_map(|p| self.ops.get(p))
            .filter(|e| e.author == author);
        let own_parent = own.next();
        let chained = match (seq, own_parent, own.next()) {
            (1, None, _) => true,
            (s, Some(prev), None) => s > 1 && prev.op.op().seq == s - 1,
            (_, None, _) => !complete,
            _ => false,
        };
        if !chained {
            return Err(Reason::BadChain);
        }
        let rootless = !complete || own_parent.is_some_and(|e| e.rootless);
        // The latest checkpoint in the author's chain before this op: the own parent's, or,
        // when the chain below is pruned, the author's highest applied checkpoint below `seq`.
        let before = match own_parent {
            Some(e) if !e.rootless => e.checkpoint,
            _ if seq == 1 => None,
            _ => self
                .certs
                .range((author, 0)..(author, seq))
                .next_back()
                .map(|(_, id)| *id),
        };
        let checkpoint = match &op.op().kind {
            // A checkpoint whose chain below is pruned: its certificate vouches for `previous`
            // (the voters approved a proposal naming it), as it vouches for the history; its
            // previous checkpoint may not be here yet. It must still be newer than every
            // checkpoint of its author held below it: an old certificate wrapped in a new op
            // never rolls a subject back.
            OpKind::Checkpoint(c) if rootless => {
                let newer =
                    self.certs
                        .range((author, 0)..(author, seq))
                        .all(|(_, held)| match &self.ops[held].op.op().kind {
                            OpKind::Checkpoint(p) => c.as_of_ms > p.as_of_ms,
                            _ => false,
                        });
                if !newer {
                    return Err(Reason::BadCheckpointChain);
                }
                Some(id)
            }
            OpKind::Checkpoint(c) => {
                let previous = before.map(|id| match &self.ops[&id].op.op().kind {
                    OpKind::Checkpoint(p) => (p.id(op.op().author), p.as_of_ms),
                    _ => unreachable!("entries name checkpoint ops only"),
                });
                let chains = match previous {
                    None => c.previous.is_none(),
                    Some((id, as_of)) => c.previous == Some(id) && c.as_of_ms > as_of,
                };
                if !chains {
                    return Err(Reason::BadCheckpointChain);
                }
                Some(id)
            }
            _ => before,
        };
        // Heads: ops at or above their author's floor, held with all their parents, that no
        // such op names (see the module docs on compaction). An op applied without its
        // parents (covered by a checkpoint still pending here) is never a head: that
        // checkpoint will put it below its author's floor, and a claim nobody else can
        // check yet must not make this node's digest differ.
        let mut raised = false;
        if seq >= self.floors[author as usize] && complete {
            for parent in &op.op().parents {
                if !self.heads.remove(parent) && !self.ops.contains_key(parent) {
                    *self.dangling.entry(*parent).or_default() += 1;
                }
            }
            if self.dangling.remove(&id).is_none() {
                self.heads.insert(id);
            }
        }
        if checkpoint == Some(id) {
            self.certs.insert((author, seq), id);
            if seq > self.floors[author as usize] {
                self.floors[author as usize] = seq;
                report.floors_raised = true;
                raised = true;
            }
        }
        match self.chains.get(&(author, seq)) {
            None => {
                self.chains.insert((author, seq), id);
            }
            Some(first) => {
                let evidence = self.evidence.entry(author).or_default();
                if evidence.is_empty() {
                    report.flagged.push(self.keys[author as usize].clone());
                }
                evidence.push(Evidence {
                    seq,
                    first: *first,
                    second: id,
                });
            }
        }
        let tip = &mut self.tips[author as usize];
        *tip = (*tip).max(seq);
        let position = self.next_position;
        self.next_position += 1;
        self.log.insert(position, id);
        self.unresolved.remove(&id);
        if !complete {
            for p in op.op().parents.iter() {
                if self.unresolved.len() < MAX_UNRESOLVED
                    && !self.ops.contains_key(p)
                    && !self.recently_pruned.contains(p)
                {
                    self.unresolved.entry(*p).or_insert(0);
                }
            }
        }
        self.ops.insert(
            id,
            Entry {
                op,
                position,
                author,
                checkpoint,
                rootless,
                parentless: !complete,
            },
        );
        if raised {
            self.recompute_heads();
        }
        match governance {
            Some(None) => {
                self.proposals.entry(id).or_default();
            }
            Some(Some(proposal)) => {
                if let Some(p) = self.proposals.get_mut(&proposal) {
                    p.votes.entry(author).or_default().push(id);
                }
            }
            None => {}
        }
        if let Some((proposal, proposed)) = certified {
            if let Some(p) = self.proposals.get_mut(&proposal) {
                p.certified = true;
            }
            for key in &proposed.members {
                self.admit_author(key.clone(), id);
            }
            self.committees.insert(proposal, proposed);
            report.certified.push(proposal);
        }
        report.applied.push(id);
        Ok(())
    }

    /// Whether the first op of an author admitted after the genesis names, among its parents,
    /// a `Certify` op whose committee includes the author.
    fn admits(&self, op: &SignedOp) -> bool {
        op.op().parents.iter().any(|p| {
            let Some(OpKind::Certify { proposal, .. }) = self.ops.get(p).map(|e| &e.op.op().kind)
            else {
                return false;
            };
            self.committees
                .get(proposal)
                .is_some_and(|c| c.members.iter().any(|k| k.as_ref() == op.op().author))
        })
    }

    /// The governance checks of an op whose parents are all held: a `Vote` or `Certify` must
    /// name a `Propose` parent, unless the proposal is its author's own (an ancestor through
    /// the author chain, which allows one parent of the author's only); a `Certify`'s threshold signature must verify under the group
    /// key over the proposal's digest (unless it is replayed from this node's own store). For
    /// a valid `Certify`, the `Propose` op id and the members it admits.
    fn governance(
        &self,
        op: &SignedOp,
        author: u16,
    ) -> Result<Option<(OpId, CommitteeProposal)>, Reason> {
        let (proposal, signature) = match &op.op().kind {
            OpKind::Vote { proposal, .. } => (proposal, None),
            OpKind::Certify {
                proposal,
                signature,
            } => (proposal, Some(signature)),
            _ => return Ok(None),
        };
        let Some(held) = self.ops.get(proposal) else {
            return Err(Reason::BadGovernance);
        };
        let own = held.author == author && held.op.op().seq < op.op().seq;
        if !own && !op.op().parents.contains(proposal) {
            return Err(Reason::BadGovernance);
        }
        let OpKind::Propose(proposed) = &held.op.op().kind else {
            return Err(Reason::BadGovernance);
        };
        let Some(signature) = signature else {
            return Ok(None);
        };
        if !self.replaying {
            let valid = self.group_key.as_ref().is_some_and(|key| {
                tally::verify(
                    key,
                    committee::CERTIFICATE_NAMESPACE,
                    &proposed.digest(),
                    signature,
                )
            });
            if !valid {
                return Err(Reason::BadCertificate);
            }
        }
        Ok(Some((*proposal, (**proposed).clone())))
    }

    /// Makes `key` a known author (admitted by the `Certify` op `by`), if it is not one yet.
    fn admit_author(&mut self, key: PublicKey, by: OpId) {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(key.as_ref());
        if self.index.contains_key(&raw) || self.keys.len() >= u16::MAX as usize {
            return;
        }
        let index = self.keys.len() as u16;
        self.index.insert(raw, index);
        self.keys.push(key);
        self.tips.push(0);
        self.floors.push(0);
        self.claims.push(0);
        self.admitted_by.insert(index, by);
    }

    /// Every held proposal for an epoch after `after`, in op id order, with its votes.
    pub fn proposals(&self, after: u64) -> Vec<Proposal> {
        self.proposals
            .iter()
            .filter_map(|(id, p)| {
                let e = self.ops.get(id)?;
                let OpKind::Propose(proposal) = &e.op.op().kind else {
                    return None;
                };
                if proposal.epoch <= after {
                    return None;
                }
                let votes = p
                    .votes
                    .iter()
                    .flat_map(|(voter, ops)| ops.iter().map(move |op| (*voter, op)))
                    .filter_map(|(voter, op)| match &self.ops.get(op)?.op.op().kind {
                        OpKind::Vote { partial, .. } => Some(Ballot {
                            voter: self.keys[voter as usize].clone(),
                            op: *op,
                            partial: (**partial).clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                Some(Proposal {
                    op: *id,
                    author: self.keys[e.author as usize].clone(),
                    proposal: (**proposal).clone(),
                    votes,
                    certified: p.certified,
                })
            })
            .collect()
    }

    /// Every `Propose` op for an epoch after `after`, applied *or still pending*, with every
    /// `Vote` op naming it, applied or pending (signatures verified, nothing else: no author
    /// chain, no certificate). What a joiner without the group key judges an output by (see
    /// `engine::join`): its ledger parks checkpoints until it has the key, and the governance
    /// ops it needs may descend from them.
    pub fn unverified_proposals(&self, after: u64) -> Vec<Proposal> {
        let all = || {
            self.ops
                .values()
                .map(|e| (&e.op, e.author))
                .chain(self.pending.values().map(|w| (&w.op, w.author)))
        };
        let mut proposals: BTreeMap<OpId, Proposal> = BTreeMap::new();
        for (op, author) in all() {
            if let OpKind::Propose(proposal) = &op.op().kind
                && proposal.epoch > after
            {
                proposals.insert(
                    op.id(),
                    Proposal {
                        op: op.id(),
                        author: self.keys[author as usize].clone(),
                        proposal: (**proposal).clone(),
                        votes: Vec::new(),
                        certified: false,
                    },
                );
            }
        }
        for (op, author) in all() {
            if let OpKind::Vote { proposal, partial } = &op.op().kind
                && let Some(p) = proposals.get_mut(proposal)
            {
                p.votes.push(Ballot {
                    voter: self.keys[author as usize].clone(),
                    op: op.id(),
                    partial: (**partial).clone(),
                });
            }
        }
        proposals.into_values().collect()
    }

    /// Every certified proposal held, by the id of its `Propose` op.
    pub fn committees(&self) -> &BTreeMap<OpId, CommitteeProposal> {
        &self.committees
    }

    /// Every known author: the genesis members first, then the admitted ones in order of
    /// admission (an author's index is its position here).
    pub fn authors(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Whether a held op counts for the heads: at or above its author's floor, and held with
    /// its parents.
    fn above_floor(floors: &[u64], e: &Entry) -> bool {
        e.op.op().seq >= floors[e.author as usize] && !e.parentless
    }

    /// Rebuilds the heads (and the ids named but not held) after a floor rose: ops below the
    /// new floor stop counting, as heads and as namers.
    fn recompute_heads(&mut self) {
        let floors = &self.floors;
        let mut named: BTreeSet<OpId> = BTreeSet::new();
        self.dangling.clear();
        for e in self.ops.values().filter(|e| Self::above_floor(floors, e)) {
            for parent in &e.op.op().parents {
                if self.ops.contains_key(parent) {
                    named.insert(*parent);
                } else {
                    *self.dangling.entry(*parent).or_default() += 1;
                }
            }
        }
        self.heads = self
            .ops
            .iter()
            .filter(|(id, e)| Self::above_floor(floors, e) && !named.contains(*id))
            .map(|(id, _)| *id)
            .collect();
    }

    /// The applied op with this id.
    pub fn get(&self, id: &OpId) -> Option<&SignedOp> {
        self.ops.get(id).map(|e| &e.op)
    }

    /// Whether the id waits in the pending buffer.
    pub fn is_pending(&self, id: &OpId) -> bool {
        self.pending.contains_key(id)
    }

    /// Whether the pending op `id` waits for a parent this node does not hold at all (neither
    /// applied nor pending). An op that waits only for pending parents, or for the group key
    /// (a checkpoint before this node's DKG finished), or for a parent that does, is in order:
    /// a page that serves it after its parents is not to blame.
    pub fn waits_for_unknown(&self, id: &OpId) -> bool {
        self.pending.get(id).is_some_and(|w| {
            // A certified checkpoint may come ahead of its parents: a backfill server sends it
            // first to cover the presence ops it made prunable (see the module docs). Those
            // presence ops wait for their pruned parents until this node can check the
            // checkpoint's certificate (its DKG has not given it the group key yet).
            let (author, seq) = (w.author, w.op.op().seq);
            let covered_later = presence(&w.op.op().kind)
                && self
                    .keyless
                    .range((author, seq.saturating_add(1))..=(author, u64::MAX))
                    .next()
                    .is_some();
            // A parent this node pruned was not pruned by the sender yet: no blame. Nor for a
            // parent that an op held here without its parents names: the sender took it for
            // known (it is an ancestor of what we listed as known), and we ask for it by id.
            !matches!(w.op.op().kind, OpKind::Checkpoint(_))
                && !covered_later
                && w.op.op().parents.iter().any(|p| {
                    !self.ops.contains_key(p)
                        && !self.pending.contains_key(p)
                        && !self.recently_pruned.contains(p)
                        && !self.strangers.contains(p)
                        && !self.lacked_below(p)
                })
        })
    }

    /// Whether `id` is a parent that an op held without its parents lacks.
    fn lacked_below(&self, id: &OpId) -> bool {
        self.ops
            .values()
            .any(|e| e.parentless && e.op.op().parents.contains(id))
    }

    /// Whether the id is applied.
    pub fn contains(&self, id: &OpId) -> bool {
        self.ops.contains_key(id)
    }

    /// The position of an applied op.
    pub fn position(&self, id: &OpId) -> Option<u64> {
        self.ops.get(id).map(|e| e.position)
    }

    /// The applied op at `position`.
    pub fn at(&self, position: u64) -> Option<&SignedOp> {
        self.get(self.log.get(&position)?)
    }

    /// Up to `limit` held ops at positions `from` and later, in position order, and the
    /// position after the last one returned (`from` when none is left). Positions compaction
    /// freed are skipped, so a page is never empty while held ops remain past `from`.
    pub fn held_from(&self, from: u64, limit: usize) -> (Vec<(u64, &SignedOp)>, u64) {
        let mut next = from;
        let ops = self
            .log
            .range(from..)
            .take(limit)
            .map(|(position, id)| {
                next = position + 1;
                (*position, &self.ops[id].op)
            })
            .collect();
        (ops, next)
    }

    /// Positions used: ops applied since this ledger was created, pruned ones included.
    pub fn len(&self) -> u64 {
        self.next_position
    }

    pub fn is_empty(&self) -> bool {
        self.next_position == 0
    }

    /// Ops held in memory (applied and not pruned).
    pub fn held(&self) -> usize {
        self.ops.len()
    }

    /// Ops removed by compaction since this ledger was created.
    pub fn pruned_total(&self) -> u64 {
        self.pruned_total
    }

    /// The current heads, ascending.
    pub fn heads(&self) -> impl Iterator<Item = &OpId> {
        self.heads.iter()
    }

    /// Number of heads.
    pub fn head_count(&self) -> usize {
        self.heads.len()
    }

    /// The state digest: sha256 over the sorted head ids.
    pub fn digest(&self) -> sha256::Digest {
        let mut hasher = Sha256::default();
        for head in &self.heads {
            hasher.update(head.as_ref());
        }
        hasher.finalize().1
    }

    /// The highest seq of `author`'s ops this ledger holds, applied or pending (0: none): how
    /// far its chain reached, as far as this node knows (an author's own-chain recovery asks).
    pub fn highest_seq(&self, author: usize) -> u64 {
        let applied = self.tips.get(author).copied().unwrap_or(0);
        self.pending
            .values()
            .filter(|w| w.author as usize == author)
            .map(|w| w.op.op().seq)
            .fold(applied, u64::max)
    }

    /// Ops waiting for a parent.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The ids of the ops waiting for a parent (ascending).
    pub fn pending_ids(&self) -> Vec<OpId> {
        self.pending.keys().copied().collect()
    }

    /// What the first `limit` pending ops (ascending ids) wait for, one line each: the op
    /// (short id, author index, seq, kind, its author's floor) and the parents this ledger
    /// does not hold, each marked if it is pending itself, if this node pruned it recently, or
    /// if it is asked for by id (unresolved). For reports.
    pub fn pending_waits(&self, limit: usize) -> Vec<String> {
        let short = |id: &OpId| commonware_formatting::hex(&id.as_ref()[..4]);
        self.pending
            .iter()
            .take(limit)
            .map(|(id, waiting)| {
                let op = waiting.op.op();
                let missing: Vec<String> = op
                    .parents
                    .iter()
                    .filter(|p| !self.ops.contains_key(*p))
                    .map(|p| {
                        let mut line = short(p);
                        if self.pending.contains_key(p) {
                            line.push_str("(pending)");
                        }
                        if self.recently_pruned.contains(p) {
                            line.push_str("(pruned here)");
                        }
                        if self.unresolved.contains_key(p) {
                            line.push_str("(unresolved)");
                        }
                        line
                    })
                    .collect();
                format!(
                    "{} author={} seq={} kind={} floor={} missing=[{}]{}",
                    short(id),
                    waiting.author,
                    op.seq,
                    op.kind.name(),
                    self.floors
                        .get(waiting.author as usize)
                        .copied()
                        .unwrap_or(0),
                    missing.join(","),
                    if waiting.needs_key { " needs_key" } else { "" }
                )
            })
            .collect()
    }

    /// Pending ops stranded on a fork: an op of author `a` at seq `s` that names none of the
    /// ops applied at `(a, s - 1)` while one is applied there waits for another op at that seq,
    /// and so does every op that waits on it. They apply if that fork arrives (an
    /// equivocator's other branch, served by a peer that applied it first), so they are kept
    /// (bounded by `max_pending` like any pending op); for an author whose storage loss took
    /// the op they name with every copy (see [`super::own`]), it never does. Counted here, not
    /// dropped: dropping one early would make the ops that name it, served later by a peer
    /// holding the whole fork, wait for an id nobody sends again.
    pub fn stranded_len(&self) -> usize {
        let mut work: Vec<OpId> = self
            .pending
            .iter()
            .filter(|(_, w)| {
                let seq = w.op.op().seq;
                seq > 1
                    && self.chains.contains_key(&(w.author, seq - 1))
                    && !w.op.op().parents.iter().any(|p| {
                        self.ops
                            .get(p)
                            .is_some_and(|e| e.author == w.author && e.op.op().seq == seq - 1)
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        let mut stranded = BTreeSet::new();
        while let Some(id) = work.pop() {
            if stranded.insert(id)
                && let Some(waiters) = self.waiters.get(&id)
            {
                work.extend(waiters.iter().filter(|w| self.pending.contains_key(*w)));
            }
        }
        stranded.len()
    }

    /// Parents some pending op waits for that are not pending themselves (ascending, at most
    /// `limit`): what to ask a peer for.
    pub fn missing(&self, limit: usize) -> Vec<OpId> {
        self.waiters
            .keys()
            .filter(|id| !self.pending.contains_key(*id))
            .take(limit)
            .copied()
            .collect()
    }

    /// Pending ops evicted since this ledger was created.
    pub fn evicted_total(&self) -> u64 {
        self.evicted_total
    }

    /// The next seq of `author`'s chain.
    pub fn next_seq(&self, author: usize) -> u64 {
        self.tips.get(author).copied().unwrap_or(0) + 1
    }

    /// `author`'s next op on top of this ledger (its next seq, on [`Dag::parents_for`]), ready
    /// to be signed by the author ([`SignedOp::sign`] fills in the author's key).
    /// A `Vote` or `Certify` also names its `Propose` op (in place of the oldest other head
    /// when the parents are full), unless that is the author's own (an ancestor already).
    pub fn next_op(&self, author: usize, kind: super::op::OpKind, time_ms: u64) -> super::op::Op {
        let mut parents = self.parents_for(author);
        if let OpKind::Vote { proposal, .. } | OpKind::Certify { proposal, .. } = &kind
            && !parents.contains(proposal)
            && self
                .ops
                .get(proposal)
                .is_none_or(|e| e.author as usize != author)
        {
            if parents.len() >= MAX_PARENTS {
                let own = self.own_tip(author);
                let oldest = parents
                    .iter()
                    .filter(|p| Some(**p) != own)
                    .min_by_key(|p| self.ops.get(*p).map_or(0, |e| e.position))
                    .copied();
                parents.retain(|p| Some(*p) != oldest);
            }
            parents.push(*proposal);
            parents.sort_unstable();
        }
        super::op::Op {
            author: [0; 32],
            seq: self.next_seq(author),
            parents,
            kind,
            time_ms,
        }
    }

    /// The id of `author`'s newest op.
    fn own_tip(&self, author: usize) -> Option<OpId> {
        let tip = self.tips.get(author).copied().unwrap_or(0);
        (tip > 0)
            .then(|| self.chains.get(&(author as u16, tip)).copied())
            .flatten()
    }

    /// The parents of `author`'s next op: its previous op (if any) and the newest other heads,
    /// at most [`MAX_PARENTS`] in all, ascending.
    pub fn parents_for(&self, author: usize) -> Vec<OpId> {
        let tip = self.tips.get(author).copied().unwrap_or(0);
        let own = (tip > 0)
            .then(|| self.chains.get(&(author as u16, tip)).copied())
            .flatten();
        let mut heads: Vec<(u64, OpId)> = self
            .heads
            .iter()
            .filter(|h| Some(**h) != own)
            .map(|h| (self.ops[h].position, *h))
            .collect();
        heads.sort_unstable_by(|a, b| b.cmp(a));
        let mut parents: Vec<OpId> = own.into_iter().collect();
        // An admitted author's first op names the certificate that admitted it.
        if tip == 0
            && let Some(by) = u16::try_from(author)
                .ok()
                .and_then(|a| self.admitted_by.get(&a))
        {
            heads.retain(|(_, h)| h != by);
            parents.push(*by);
        }
        parents.extend(
            heads
                .into_iter()
                .take(MAX_PARENTS - parents.len())
                .map(|(_, id)| id),
        );
        parents.sort_unstable();
        parents
    }

    /// `author`'s chain from its latest certified checkpoint (that op first) or, with none, from
    /// its first op, in seq order (the first op applied at each seq), and that checkpoint.
    pub fn history(&self, author: usize) -> (Option<&Certified>, impl Iterator<Item = &SignedOp>) {
        let a = u16::try_from(author).unwrap_or(u16::MAX);
        let tip = self.tips.get(author).copied().unwrap_or(0);
        let latest = self
            .chains
            .get(&(a, tip))
            .and_then(|id| self.ops[id].checkpoint)
            .map(|id| &self.ops[&id]);
        let from = latest.map_or(1, |e| e.op.op().seq);
        let certified = latest.and_then(|e| match &e.op.op().kind {
            OpKind::Checkpoint(c) => Some(&**c),
            _ => None,
        });
        let ops = self
            .chains
            .range((a, from)..(a, tip.saturating_add(1).max(from)))
            .map(|(_, id)| &self.ops[id].op);
        (certified, ops)
    }

    /// `author`'s newest op (the first applied at its highest seq).
    pub fn newest(&self, author: usize) -> Option<&SignedOp> {
        let a = u16::try_from(author).ok()?;
        let tip = *self.tips.get(author)?;
        self.chains.get(&(a, tip)).map(|id| &self.ops[id].op)
    }

    /// `author`'s latest certified checkpoint in its chain, and its id.
    pub fn latest_checkpoint(
        &self,
        author: usize,
    ) -> Option<(crate::vote::wire::Digest, &Certified)> {
        let (certified, _) = self.history(author);
        let key = self.keys.get(author)?;
        let mut raw = [0u8; 32];
        raw.copy_from_slice(key.as_ref());
        certified.map(|c| (c.id(raw), c))
    }

    /// Compacts the ledger (see the module docs): removes from memory every presence op below
    /// its author's floor that no other held op (nor a pending one) lists as a parent, and
    /// returns how many it removed. Observations, heads and the digest are unchanged.
    pub fn compact(&mut self) -> usize {
        let floors = &self.floors;
        let prunable =
            |e: &Entry| presence(&e.op.op().kind) && e.op.op().seq < floors[e.author as usize];
        let mut referenced: BTreeSet<OpId> = BTreeSet::new();
        for e in self.ops.values().filter(|e| !prunable(e)) {
            referenced.extend(e.op.op().parents.iter().copied());
        }
        for w in self.pending.values() {
            referenced.extend(w.op.op().parents.iter().copied());
        }
        let doomed: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(id, e)| prunable(e) && !referenced.contains(*id))
            .map(|(id, _)| *id)
            .collect();
        for id in &doomed {
            if self.recently_pruned.insert(*id) {
                self.pruned_order.push_back(*id);
            }
            while self.pruned_order.len() > MAX_RECENTLY_PRUNED {
                if let Some(old) = self.pruned_order.pop_front() {
                    self.recently_pruned.remove(&old);
                }
            }
            let e = self.ops.remove(id).expect("listed above");
            self.log.remove(&e.position);
            let key = (e.author, e.op.op().seq);
            if self.chains.get(&key) == Some(id) {
                self.chains.remove(&key);
            }
        }
        self.pruned_total += doomed.len() as u64;
        doomed.len()
    }

    /// The checkpoint a peer needs before `op` when `op` is held without some of its parents
    /// (they were pruned here): its author's first applied checkpoint above it, which lets the
    /// peer apply it parentless. `None` for an op whose parents are all held.
    pub fn cover(&self, id: &OpId) -> Option<&SignedOp> {
        let e = self.ops.get(id)?;
        let pruned = e.rootless || e.op.op().parents.iter().any(|p| !self.ops.contains_key(p));
        if !pruned {
            return None;
        }
        let (_, cover) = self
            .certs
            .range((e.author, e.op.op().seq.saturating_add(1))..=(e.author, u64::MAX))
            .next()?;
        self.get(cover)
    }

    /// Every held op, in an order that replays through [`Dag::apply_trusted`] into this same
    /// ledger with a pending buffer of at most one op per author beyond the usual: each
    /// author's floor checkpoint first (it covers the presence ops whose parents were pruned),
    /// then the rest in position order.
    pub fn replay_order(&self) -> Vec<&SignedOp> {
        let floors: BTreeSet<OpId> = self
            .floors
            .iter()
            .enumerate()
            .filter(|(_, seq)| **seq > 0)
            .filter_map(|(a, seq)| self.certs.get(&(a as u16, *seq)).copied())
            .collect();
        let mut out: Vec<&SignedOp> = self
            .log
            .values()
            .filter(|id| floors.contains(*id))
            .map(|id| &self.ops[id].op)
            .collect();
        out.extend(
            self.log
                .values()
                .filter(|id| !floors.contains(*id))
                .map(|id| &self.ops[id].op),
        );
        out
    }

    /// Authors flagged for equivocation, with their evidence.
    pub fn equivocations(&self) -> impl Iterator<Item = (&PublicKey, &[Evidence])> {
        self.evidence
            .iter()
            .map(|(a, e)| (&self.keys[*a as usize], e.as_slice()))
    }

    /// Whether `author` (a member index) is flagged.
    pub fn is_flagged(&self, author: usize) -> bool {
        u16::try_from(author).is_ok_and(|a| self.evidence.contains_key(&a))
    }

    /// What this node knows, for a backfill request: its heads and each author's newest op
    /// (the newest ids first when there are more than [`MAX_KNOWN`]), then, as room allows,
    /// each author's ops it holds at exponentially spaced seqs below its newest (`tip - 1`,
    /// `tip - 2`, `tip - 4`, ...), ascending. The samples let a server that lags this node
    /// (it holds none of its newest ops) still tell how far this node's chain of each author
    /// reaches ([`Dag::unknown_to`]) instead of sending it everything.
    pub fn known(&self) -> Vec<OpId> {
        let newest_first = |mut ids: Vec<(u64, OpId)>| {
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids
        };
        let must = newest_first(
            self.heads
                .iter()
                .copied()
                .chain(
                    self.tips
                        .iter()
                        .enumerate()
                        .filter(|(_, tip)| **tip > 0)
                        .map(|(a, &tip)| self.chains[&(a as u16, tip)]),
                )
                .map(|id| (self.ops[&id].position, id))
                .collect(),
        );
        let samples = newest_first(
            self.tips
                .iter()
                .enumerate()
                .flat_map(|(a, &tip)| {
                    (0..64)
                        .map_while(move |k| tip.checked_sub(1u64 << k).filter(|s| *s >= 1))
                        .filter_map(move |seq| self.chains.get(&(a as u16, seq)))
                })
                .filter_map(|id| self.ops.get(id).map(|e| (e.position, *id)))
                .collect(),
        );
        let mut seen = BTreeSet::new();
        let mut ids: Vec<OpId> = must
            .into_iter()
            .chain(samples)
            .map(|(_, id)| id)
            .filter(|id| seen.insert(*id))
            .take(MAX_KNOWN)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Ids this node lacks that it knows of, for a backfill request's `missing` list (at most
    /// `max`, ascending): first the parents pending ops wait for, then the parents of ops
    /// held without them (covered by a checkpoint not applied yet) at or above their author's
    /// floor. A server infers that a peer knows every ancestor of the ops it lists as known;
    /// for the second kind that is wrong, so they are asked for by id.
    pub fn wanted(&self, max: usize) -> Vec<OpId> {
        let unknown = |p: &OpId| !self.ops.contains_key(p) && !self.pending.contains_key(p);
        let mut out: BTreeSet<OpId> = self
            .waiters
            .keys()
            .filter(|p| unknown(p))
            .take(max)
            .copied()
            .collect();
        for e in self.ops.values().filter(|e| e.parentless) {
            if out.len() >= max {
                break;
            }
            if e.op.op().seq < self.floors[e.author as usize] {
                continue;
            }
            for p in e.op.op().parents.iter().filter(|p| unknown(p)) {
                if out.len() < max {
                    out.insert(*p);
                }
            }
        }
        for p in self.unresolved.keys().filter(|p| unknown(p)) {
            if out.len() >= max {
                break;
            }
            out.insert(*p);
        }
        out.into_iter().collect()
    }

    /// A complete backfill run asked for `missing` (ids from [`Dag::wanted`]): each unresolved
    /// one it did not bring has been asked for once more, and after [`MAX_UNRESOLVED_ASKS`]
    /// it is taken for pruned by every peer and no longer asked for.
    pub fn asked_without(&mut self, missing: &[OpId]) {
        for id in missing {
            if let Some(asks) = self.unresolved.get_mut(id) {
                *asks += 1;
                if *asks >= MAX_UNRESOLVED_ASKS {
                    self.unresolved.remove(id);
                }
            }
        }
    }

    /// Positions (ascending) of the applied ops a peer that knows `known` lacks: the ancestors
    /// of the heads it does not know, and the ops `roots` names (ids it says it lacks) with
    /// their ancestors it does not know.
    ///
    /// Walks back from the roots in descending position, marking the ancestors of known ops as
    /// known; since a parent's position is below its children's, an op's mark is final when it
    /// is reached. The walk stops as soon as nothing unknown is left to visit, so it costs about
    /// the size of the answer plus the frontier, not the size of the ledger. Ids the peer knows
    /// but we do not are ignored (we may then send some ops it has: they are duplicates to it).
    pub fn unknown_to(&self, known: &[OpId], roots: &[OpId]) -> Vec<u64> {
        if roots.is_empty() && !known.iter().any(|k| self.ops.contains_key(k)) {
            // The peer knows nothing we have: it lacks everything.
            return self.log.keys().copied().collect();
        }
        let mut marks: BTreeMap<u64, bool> = BTreeMap::new();
        let mut heap = BinaryHeap::new();
        let mut unknown = 0usize;
        for id in known {
            if let Some(e) = self.ops.get(id)
                && marks.insert(e.position, true).is_none()
            {
                heap.push(e.position);
            }
        }
        // Ids the peer says it lacks are sent whatever the walk from `known` infers: a peer
        // may hold an op without some of its parents (covered by a checkpoint it could not
        // apply yet), so an ancestor of a known op is not always known.
        let mut forced: BTreeSet<u64> = BTreeSet::new();
        // (Even one it also lists as known: it asks for it.)
        for id in roots {
            if let Some(e) = self.ops.get(id) {
                match marks.insert(e.position, false) {
                    Some(false) => continue,
                    Some(true) => {}
                    None => heap.push(e.position),
                }
                forced.insert(e.position);
                unknown += 1;
            }
        }
        // How far the peer's chain of each author reaches: the highest seq of the author's ops
        // it lists. A peer applies an author's ops in seq order, so it holds each one up to
        // there (or it is covered by a checkpoint it applied, or it names it in `roots`).
        let mut reach = vec![0u64; self.keys.len()];
        for id in known {
            if let Some(e) = self.ops.get(id) {
                let r = &mut reach[e.author as usize];
                *r = (*r).max(e.op.op().seq);
            }
        }
        let roots: Vec<&OpId> = {
            // The heads, plus the data and checkpoint ops below a floor that the peer's chain
            // of their author does not reach: compaction may have pruned every op that named
            // them, so no walk from the heads finds them.
            let mut roots: Vec<&OpId> = self.heads.iter().collect();
            for (a, floor) in self.floors.iter().enumerate() {
                let from = reach[a].saturating_add(1);
                if *floor > from {
                    roots.extend(
                        self.chains
                            .range((a as u16, from)..(a as u16, *floor))
                            .filter(|(_, id)| !presence(&self.ops[*id].op.op().kind))
                            .map(|(_, id)| id),
                    );
                }
            }
            roots
        };
        for id in roots {
            if let Some(e) = self.ops.get(id)
                && !marks.contains_key(&e.position)
            {
                marks.insert(e.position, false);
                heap.push(e.position);
                unknown += 1;
            }
        }
        let mut out = Vec::new();
        // Positions follow apply order, where parents come first, except where a rewritten
        // store replayed a floor checkpoint ahead of its parents: a parent may then be reached
        // after its position was handled. It is not handled (nor counted) twice.
        let mut done: BTreeSet<u64> = BTreeSet::new();
        while unknown > 0 {
            let Some(position) = heap.pop() else { break };
            if !done.insert(position) {
                continue;
            }
            let entry = &self.ops[&self.log[&position]];
            let is_known = marks[&position];
            if !is_known {
                out.push(position);
            }
            if !marks[&position] {
                unknown -= 1;
            }
            for parent in &entry.op.op().parents {
                // A parent pruned by compaction: nothing to send (the op is covered).
                let Some(p) = self.ops.get(parent).map(|e| e.position) else {
                    continue;
                };
                if done.contains(&p) {
                    continue;
                }
                match marks.get(&p) {
                    None => {
                        marks.insert(p, is_known);
                        heap.push(p);
                        if !is_known {
                            unknown += 1;
                        }
                    }
                    Some(false) if is_known && !forced.contains(&p) => {
                        marks.insert(p, true);
                        unknown -= 1;
                    }
                    Some(_) => {}
                }
            }
        }
        // Ascending whatever the order they were reached in (a parent applied after its child,
        // the covered child first, is reached after it): the server pages by position.
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests;
