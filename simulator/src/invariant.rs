//! The invariant catalogue and the [`Violation`] a failed check reports.
//!
//! Every invariant any scenario checks has one name and one line saying what it means here
//! ([`Invariant::ALL`]); the README's invariant table is rendered from it. A scenario reports
//! violations through [`Checks`], built from the invariants its catalogue entry lists, so a check
//! it does not declare cannot be reported silently (a debug assertion catches it).
//!
//! This module depends on nothing else in the crate: the tracer, the observers and the scenarios
//! all take their names from here.

/// Declares the catalogue: one variant, name and meaning per invariant.
macro_rules! catalogue {
    ($($variant:ident = $name:literal: $meaning:literal,)*) => {
        /// An invariant some scenario checks.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Invariant {
            $($variant,)*
        }

        impl Invariant {
            /// Every invariant, in catalogue order.
            pub const ALL: &'static [Invariant] = &[$(Invariant::$variant,)*];

            /// Its name, as reports and the README print it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Invariant::$variant => $name,)*
                }
            }

            /// What it means, in one line.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Invariant::$variant => $meaning,)*
                }
            }
        }
    };
}

catalogue! {
    // Every scenario (the barrier runs under every task).
    StepNeverRegresses = "step-never-regresses":
        "no node's own step, nor its view of a peer's step, ever goes down, across restarts (online, from the trace); a node whose metadata was lost is judged from its next life on, and a new life of an observer may first see such a node lower",
    NoHang = "no-hang":
        "every engine ends before the scenario's deadline of simulated time",
    // Barrier.
    WalkCompletes = "walk-completes":
        "every node's engine ends `Ok`: no barrier error, no timeout",
    EveryNodeReachesEveryStep = "every-node-reaches-every-step":
        "every node set every step of the walk and saw all members at the last one",
    ShutdownCompletes = "shutdown-completes":
        "every node finished the shutdown handshake",
    MismatchReported = "mismatch-reported":
        "every honest node's engine fails with an error naming the odd node, within 10 s of simulated time",
    OddNodeRefused = "odd-node-refused":
        "the misconfigured node does not complete its walk either",
    BarrierLiarReported = "barrier-liar-reported":
        "every honest node's engine fails with an error naming the barrier liar within 10 s of simulated time, and blocks it when it broke a step rule",
    HonestNotBlocked = "honest-not-blocked":
        "no honest node blocks another (in the DKG family: nor records it as faulty)",
    NoPermanentBlock = "no-permanent-block":
        "a misconfigured member its operator repaired is admitted again by every honest peer still running: each saw its step since the repair and it theirs, and every fault recorded of it expired, within the block expiry and 10 s of the repair (or of its last fault)",
    // DKG.
    DkgCompletes = "dkg-completes":
        "every node's engine ends `Ok` with a result for the last epoch, restarted nodes too",
    SameGroupKey = "same-group-key":
        "every node holds the same public polynomial, and traced that group key on finishing",
    ShareConsistent = "share-consistent":
        "every share matches the public polynomial (DKG family: and every player of the last epoch holds one)",
    ThresholdRecovers = "threshold-recovers":
        "random quorums of t partial signatures recover a signature that verifies under the group key",
    FewerThanTFail = "fewer-than-t-fail":
        "fewer than t partial signatures do not recover a signature",
    SameLogSet = "same-log-set":
        "in every round every honest member's agreement decided the same, and those that finished it finalized over the same dealers",
    EquivocatingDealerExcluded = "equivocating-dealer-excluded":
        "no honest member votes for a fresh log set with a dealer it proved to sign two logs; one every honest member proved so before the round's first vote is in no decided set",
    OnePolynomialPerDealer = "one-polynomial-per-dealer":
        "no dealer deals two different commitments in one round (online, across restarts)",
    OneAckPerDealer = "one-ack-per-dealer":
        "no player sends one dealer two different acks in one round (online, across restarts)",
    AbsentReported = "absent-reported":
        "while fewer than a quorum are up, every live member reports a late member missing within a phase timeout and a margin of the start",
    AbsentWaitedFor = "absent-waited-for":
        "nobody finishes a round before the late members are back: the ceremony waits for a quorum rather than failing",
    KeyUnchangedByReshare = "key-unchanged-by-reshare":
        "every node finishes every epoch, each with epoch 0's group key",
    SharesFollowCommittee = "shares-follow-committee":
        "after a reshare exactly the new committee's members hold shares (with governance: and no DKG journal keeps an older round's share)",
    KeyRecovered = "key-recovered":
        "a member whose DKG journal was lost finishes the epoch it held without a share (traced, not an error), and the reshare of the unchanged committee gives it a share of the same group key",
    MisbehaviourDetected = "misbehaviour-detected":
        "every victim refused the byzantine member's input for what it is",
    HonestNeverMuted = "honest-never-muted":
        "no honest member muted another",
    // Ledger.
    LedgerConverges = "ledger-converges":
        "after the heal and quiesce every (honest) member reports one state digest and op count, boot recovery done, nothing pending (after a storage loss: but ops the lost life appended that no member applied, which may descend from an op lost with every copy)",
    NoAckedOpLost = "no-acked-op-lost":
        "every op a member acknowledged is in every member's ledger",
    HonestNeverRejected = "honest-never-rejected":
        "no member refused a ledger input of an honest member, and no honest member was flagged",
    HonestNeverEquivocates = "honest-never-equivocates":
        "no member appended two different ops with one seq (online, across restarts)",
    PendingBounded = "pending-bounded":
        "no member's pending buffer holds more than its bound",
    NoSyncedOpLost = "no-synced-op-lost":
        "a restarted member's op store holds every op it had synced before the crash, unless the harness damaged it (online)",
    HonestNeverFlagged = "honest-never-flagged":
        "no member flagged an honest one as an equivocator, storage losses included (trace and final ledgers)",
    RecoveredNodeRejoins = "recovered-node-rejoins":
        "a member whose storage was damaged reported its op store damaged (lost when deleted), recovered its own chain, authors again and converges",
    EquivocationDetected = "equivocation-detected":
        "every honest member flagged the equivocator",
    ForgeriesRejected = "forgeries-rejected":
        "no honest ledger holds a forged op, and every honest member refused the forger",
    ReplaysAreDuplicates = "replays-are-duplicates":
        "no honest member refused the replayer: old ops are duplicates, not misbehaviour",
    FlooderGetsBusy = "flooder-gets-busy":
        "every honest member answered the backfill flooder `Busy`",
    LateJoinerPages = "late-joiner-pages":
        "the late member fetched the preloaded ledger through more than one backfill page",
    // Checkpoints.
    CheckpointsVerify = "checkpoints-verify":
        "every checkpoint in every ledger has a certificate that verifies under the group key, names the subject's previous checkpoint and a later as_of",
    OneCheckpointPerPosition = "one-checkpoint-per-position":
        "every ledger holds the same checkpoints at each position of each subject's chain",
    CertifiedWithinTolerance = "certified-within-tolerance":
        "every certified value is within tolerance of the honest view at its as_of; a round 1 value of an honest subject is that view exactly",
    ObservationsAgree = "observations-agree":
        "every member's ledger, compacted, gives the same view of every subject, the one its whole history gives",
    CompactionSound = "compaction-sound":
        "in every ledger each op has its parents or is a presence op below a held checkpoint of its author, and no checkpoint or data op is ever pruned",
    CheckpointLiveness = "checkpoint-liveness":
        "no honest subject goes longer than an interval (plus the protocol's slack and the outages within) without a certified checkpoint",
    NoVoterCountedTwice = "no-voter-counted-twice":
        "every certificate's approvals come from distinct voters that approved its proposal before it was certified, at least t of them",
    CheckpointLiarBlocked = "checkpoint-liar-blocked":
        "a checkpoint liar whose inputs prove it hostile is blocked (by every honest member if it sends to all, by one at least if it answers proposals); a repeater or an inflater by none",
    CheckpointLateJoinerCaughtUp = "checkpoint-late-joiner-caught-up":
        "the late member holds every certified checkpoint (each verified on apply) and less than half of the presence history authored before it started: it caught up from compacted peers",
    // Governance.
    OneCommitteePerEpoch = "one-committee-per-epoch":
        "every ledger holds at most one certified committee per epoch, each certificate verifying under the group key, the same chain in every ledger, and no honest member approved two proposals of one epoch",
    CommitteeChangeCertified = "committee-change-certified":
        "every change the operator asked for is certified, exactly as asked, in every honest ledger by the end",
    GovernanceLiarRefused = "governance-liar-refused":
        "the governance liar's hostile ops (two proposals for one epoch, a proposal breaking the rules, invalid partials) are refused by an honest member with the reason they prove, never approved or counted",
    RemovedMemberCannotSign = "removed-member-cannot-sign":
        "a member a reshare removed holds no share after it (in memory nor in its DKG journal), and its old partial signature does not combine with t-1 new-epoch partials into a valid signature",
    JoinerCatchesUp = "joiner-catches-up":
        "a node started with only the genesis definition, its key and reachable peers, once a certified committee admits it, ends with the honest members' ledger, the group key and a share of the last epoch (it was never blocked)",
    // The harness.
    StorageErrorsFatal = "storage-errors-fatal":
        "a write or sync error injected into a node's storage ends its engine within 2 s of simulated time (it stops, restarts from its storage and recovers), never ignored (every scenario with storage faults; read errors may be retried, and what they lose the invariants on synced data catch)",
    Determinism = "determinism":
        "with `--check-determinism`, a second run of the seed, with the verification memo turned the other way, has the same digest (every scenario)",
}

/// What kind of property an invariant is.
///
/// Every scenario's faults end before its end (crashed nodes restart, partitions heal, the
/// ledger and checkpoint families heal every link and leave the cluster alone for a quiesce
/// period; the barrier and DKG families wait for completion up to a deadline far beyond their
/// last fault). *Safety* invariants say nothing bad ever happens: they are judged on everything
/// the run did, throughout (online from the trace where they can be). *Liveness* invariants say
/// something good happens eventually (convergence, completion, certification, detection): they
/// are judged only after the heal and quiesce, on the state the run ends in. A report names the
/// kind of each violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Safety,
    Liveness,
}

impl Kind {
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Safety => "safety",
            Kind::Liveness => "liveness",
        }
    }
}

impl Invariant {
    /// Whether it is a safety or a liveness invariant (see [`Kind`]).
    pub const fn kind(self) -> Kind {
        use Invariant::*;
        match self {
            NoHang
            | WalkCompletes
            | EveryNodeReachesEveryStep
            | ShutdownCompletes
            | MismatchReported
            | BarrierLiarReported
            | NoPermanentBlock
            | DkgCompletes
            | AbsentReported
            | AbsentWaitedFor
            | KeyRecovered
            | MisbehaviourDetected
            | LedgerConverges
            | RecoveredNodeRejoins
            | EquivocationDetected
            | FlooderGetsBusy
            | LateJoinerPages
            | ObservationsAgree
            | CheckpointLiveness
            | CheckpointLiarBlocked
            | CheckpointLateJoinerCaughtUp
            | CommitteeChangeCertified
            | GovernanceLiarRefused
            | JoinerCatchesUp => Kind::Liveness,
            StepNeverRegresses
            | OddNodeRefused
            | HonestNotBlocked
            | SameGroupKey
            | ShareConsistent
            | ThresholdRecovers
            | FewerThanTFail
            | SameLogSet
            | EquivocatingDealerExcluded
            | OnePolynomialPerDealer
            | OneAckPerDealer
            | KeyUnchangedByReshare
            | SharesFollowCommittee
            | HonestNeverMuted
            | NoAckedOpLost
            | HonestNeverRejected
            | HonestNeverEquivocates
            | PendingBounded
            | NoSyncedOpLost
            | HonestNeverFlagged
            | ForgeriesRejected
            | ReplaysAreDuplicates
            | CheckpointsVerify
            | OneCheckpointPerPosition
            | CertifiedWithinTolerance
            | CompactionSound
            | NoVoterCountedTwice
            | OneCommitteePerEpoch
            | RemovedMemberCannotSign
            | StorageErrorsFatal
            | Determinism => Kind::Safety,
        }
    }

    /// The invariant named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|i| i.name() == name)
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A violated invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    /// What was observed.
    pub detail: String,
}

impl Violation {
    pub fn new(invariant: Invariant, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {} ({}) violated: {}",
            self.invariant,
            self.invariant.kind().name(),
            self.detail
        )
    }
}

/// The violations of one run, limited to the invariants its scenario lists.
#[derive(Debug)]
pub struct Checks {
    listed: &'static [Invariant],
    violations: Vec<Violation>,
}

impl Checks {
    pub fn new(listed: &'static [Invariant]) -> Self {
        Self {
            listed,
            violations: Vec::new(),
        }
    }

    /// Whether the scenario checks `invariant`.
    pub fn covers(&self, invariant: Invariant) -> bool {
        matches!(
            invariant,
            Invariant::Determinism | Invariant::StorageErrorsFatal
        ) || self.listed.contains(&invariant)
    }

    /// Reports a violation of `invariant`, which the scenario must list.
    pub fn fail(&mut self, invariant: Invariant, detail: impl Into<String>) {
        self.push(Violation::new(invariant, detail));
    }

    /// Reports `violation` (its invariant must be listed).
    pub fn push(&mut self, violation: Violation) {
        debug_assert!(
            self.covers(violation.invariant),
            "{violation} is not an invariant the scenario lists"
        );
        self.violations.push(violation);
    }

    /// Reports every one of `violations`.
    pub fn extend(&mut self, violations: impl IntoIterator<Item = Violation>) {
        for violation in violations {
            self.push(violation);
        }
    }

    /// Whether nothing was reported yet.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let names: std::collections::BTreeSet<_> =
            Invariant::ALL.iter().map(|i| i.name()).collect();
        assert_eq!(names.len(), Invariant::ALL.len());
        for invariant in Invariant::ALL {
            assert_eq!(Invariant::from_name(invariant.name()), Some(*invariant));
            assert!(!invariant.meaning().is_empty());
        }
        assert_eq!(Invariant::from_name("nonsense"), None);
    }

    #[test]
    fn threshold_check_names_are_in_the_catalogue() {
        // `cohort_protocol::dkg::check::threshold` names its failures with these strings.
        for name in [
            "share-consistent",
            "threshold-recovers",
            "fewer-than-t-fail",
        ] {
            assert!(Invariant::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn checks_cover_only_what_is_listed() {
        let checks = Checks::new(&[Invariant::NoHang]);
        assert!(checks.covers(Invariant::NoHang));
        assert!(checks.covers(Invariant::Determinism));
        assert!(!checks.covers(Invariant::WalkCompletes));
    }
}
