//! The scenario catalogue: one table ([`SCENARIOS`]) of every scenario's name, one-line
//! description, node range, plan, run, observers and invariants. `cohort-sim list`, the help of
//! `--scenario`, the errors for unknown names and the README's tables all come from it.
//!
//! A scenario is a named, seeded world. Each protocol family keeps its scenarios in its own
//! folder ([`barrier`], [`dkg`], [`ledger`]): the family's part of the fault plan and its draw,
//! the run and its checks, its trace observer and, for the DKG and the ledger, its byzantine
//! roles (one file each). The long description of each scenario is in its family's docs.

pub mod barrier;
pub mod checkpoint;
pub mod dkg;
pub mod ledger;
pub mod plan;
pub mod plan_file;
pub mod spec;

pub use plan::{FamilyPlan, FaultPlan};
pub use plan_file::PlanFile;
pub use spec::{Scenario, ScenarioSpec};

use crate::invariant::Invariant::{self, *};

/// Invariants every scenario checks: the barrier runs under every task.
const ALWAYS: Invariant = StepNeverRegresses;

/// The DKG invariants every DKG scenario checks.
macro_rules! dkg_invariants {
    ($($extra:ident),*) => {
        &[
            DkgCompletes, SameGroupKey, SameLogSet, ShareConsistent, ThresholdRecovers,
            FewerThanTFail, OnePolynomialPerDealer, OneAckPerDealer, ALWAYS, NoHang, $($extra),*
        ]
    };
}

/// The ledger invariants every ledger scenario checks.
macro_rules! ledger_invariants {
    ($($extra:ident),*) => {
        &[
            LedgerConverges, NoAckedOpLost, HonestNeverRejected, HonestNeverEquivocates,
            PendingBounded, NoSyncedOpLost, ALWAYS, $($extra),*
        ]
    };
}

/// The invariants of every checkpoint scenario (the ledger's but the acked-op one: checkpoint
/// runs append no workload), plus `extra`.
macro_rules! checkpoint_invariants {
    ($($extra:ident),*) => {
        &[
            LedgerConverges, HonestNeverRejected, HonestNeverEquivocates, PendingBounded,
            NoSyncedOpLost, ALWAYS, CheckpointsVerify, OneCheckpointPerPosition,
            CertifiedWithinTolerance, ObservationsAgree, CompactionSound, CheckpointLiveness,
            NoVoterCountedTwice, $($extra),*
        ]
    };
}

/// Every scenario, in the order `cohort-sim list` prints them; the first (`all`) is the default.
pub static SCENARIOS: [ScenarioSpec; 32] = [
    ScenarioSpec {
        name: "all",
        description: "everything at once: the DKG, a reshare to a new committee (one member replaced; one newcomer that starts after the first day, a second after three certified days), a Data workload, checkpoints over four to five simulated days; lossy links, partition windows (one-way and both ways), crashes, storage faults, mild clock skew, buggify points; half the seeds a checkpoint liar, and with eight nodes or more the other half a member lying in the DKG and the reshare",
        // The epoch 0 committee is every node but the two newcomers.
        nodes: 6..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::All, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(CheckpointLiarBlocked, CheckpointLateJoinerCaughtUp),
    },
    ScenarioSpec {
        name: "barrier",
        description: "all nodes walk barrier steps 1..S under latency, jitter and loss, then shut down together",
        nodes: 1..=64,
        plan: |seed, nodes| barrier::plan(barrier::Kind::Walk, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_barrier();
            Box::pin(barrier::run(context, seed, core, part, sink, checks))
        },
        observers: barrier::observers,
        invariants: &[
            WalkCompletes,
            EveryNodeReachesEveryStep,
            ALWAYS,
            ShutdownCompletes,
            NoHang,
        ],
    },
    ScenarioSpec {
        name: "barrier-crash",
        description: "as barrier, while nodes crash (unsynced writes lost) and restart from their storage",
        nodes: 1..=64,
        plan: |seed, nodes| barrier::plan(barrier::Kind::Crash, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_barrier();
            Box::pin(barrier::run(context, seed, core, part, sink, checks))
        },
        observers: barrier::observers,
        invariants: &[WalkCompletes, EveryNodeReachesEveryStep, ALWAYS, NoHang],
    },
    ScenarioSpec {
        name: "barrier-mismatch",
        description: "one node has another cluster hash or version; every honest node must report it, none may hang",
        nodes: 2..=64,
        plan: |seed, nodes| barrier::plan(barrier::Kind::Mismatch, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_barrier();
            Box::pin(barrier::run(context, seed, core, part, sink, checks))
        },
        observers: barrier::observers,
        invariants: &[
            MismatchReported,
            OddNodeRefused,
            HonestNotBlocked,
            ALWAYS,
            NoHang,
        ],
    },
    ScenarioSpec {
        name: "barrier-byzantine",
        description: "one member lies on the barrier's wire (steps that jump, steps that go back, hellos for another cluster): every honest node reports it, blocks a rule breaker, never sees its step go down",
        nodes: 2..=64,
        plan: |seed, nodes| barrier::plan(barrier::Kind::Byzantine, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_barrier();
            Box::pin(barrier::run(context, seed, core, part, sink, checks))
        },
        observers: barrier::observers,
        invariants: &[BarrierLiarReported, HonestNotBlocked, ALWAYS, NoHang],
    },
    ScenarioSpec {
        name: "dkg",
        description: "epoch 0 DKG of 4..16 members under latency, jitter and loss: one group key, t partials recover",
        nodes: 1..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Dkg, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Dkg,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(),
    },
    ScenarioSpec {
        name: "dkg-crash",
        description: "as dkg, while members crash at drawn times and crash points (e.g. between persisting a dealing and acking) and restart",
        nodes: 1..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Crash, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Crash,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(),
    },
    ScenarioSpec {
        name: "barrier-meta-loss",
        description: "as dkg-crash, every timed crash losing the node's metadata (barrier step, boot counter, ceremony flag): it resumes from its DKG journal or the step its peers vouch for, and nobody blocks it",
        nodes: 1..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::MetaLoss, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::MetaLoss,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(HonestNotBlocked),
    },
    ScenarioSpec {
        name: "barrier-repair",
        description: "a member starts misconfigured (another protocol version or cluster hash) and is recorded faulty by its peers; its operator repairs it at a drawn time; the faults expire (drawn expiry, 1-15 s) and it is admitted again to a ceremony that cannot finish without it (f members never start)",
        nodes: 1..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Repair, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Repair,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(HonestNotBlocked, NoPermanentBlock),
    },
    ScenarioSpec {
        name: "dkg-absent",
        description: "f+1 members start late (the live ones report them missing and wait, then finish once they come), or f never start (the others finish without them), or f start after the others finished (they finish from the decision)",
        nodes: 1..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Absent, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Absent,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(AbsentReported, AbsentWaitedFor),
    },
    ScenarioSpec {
        name: "reshare",
        description: "epoch 0 DKG, then a reshare to a committee with one member replaced and one added: same group key",
        // The epoch 0 committee is every node but the two newcomers.
        nodes: 4..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Reshare, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Reshare,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(KeyUnchangedByReshare, SharesFollowCommittee),
    },
    ScenarioSpec {
        name: "dkg-byzantine",
        description: "one member lies (bad shares, two dealings, forged acks, garbage, two logs, a late or partial log, refused hellos): the honest ones agree on one key",
        // One byzantine member needs f >= 1.
        nodes: 4..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::Byzantine, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::Byzantine,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(
            MisbehaviourDetected,
            HonestNeverMuted,
            EquivocatingDealerExcluded
        ),
    },
    ScenarioSpec {
        name: "dkg-log-liars",
        description: "as dkg-byzantine, the liar lying about its own log (two signed logs, a late log, a log to few): the honest ones finalize over one log set",
        nodes: 4..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::LogLiars, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::LogLiars,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(
            MisbehaviourDetected,
            HonestNeverMuted,
            EquivocatingDealerExcluded
        ),
    },
    ScenarioSpec {
        name: "reshare-byzantine",
        description: "as reshare, one member of the first committee lying (any dkg-byzantine or dkg-log-liars lie): the honest ones keep one key",
        nodes: 6..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::ReshareByzantine, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::ReshareByzantine,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            MisbehaviourDetected,
            HonestNeverMuted,
            EquivocatingDealerExcluded
        ),
    },
    ScenarioSpec {
        name: "reshare-dead-member",
        description: "as reshare, the member being replaced is down for good (it never starts): epoch 0 and the reshare finish without it",
        nodes: 6..=64,
        plan: |seed, nodes| dkg::plan(dkg::Kind::ReshareDead, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_dkg();
            Box::pin(dkg::run(
                dkg::Kind::ReshareDead,
                context,
                seed,
                core,
                part,
                sink,
                checks,
            ))
        },
        observers: dkg::observers,
        invariants: dkg_invariants!(KeyUnchangedByReshare, SharesFollowCommittee),
    },
    ScenarioSpec {
        name: "ledger",
        description: "members append signed ops under latency and loss; after a heal and quiesce every ledger is equal",
        nodes: 1..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::Ledger, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(),
    },
    ScenarioSpec {
        name: "ledger-crash",
        description: "as ledger, while members crash (unsynced ops lost) and restart: no synced op is lost",
        nodes: 1..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::Crash, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(),
    },
    ScenarioSpec {
        name: "ledger-disk-loss",
        description: "as ledger-crash, where a crash may take the disk, the op store or its synced tail: the member recovers its own chain from its peers before it authors, never equivocates",
        nodes: 1..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::DiskLoss, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(HonestNeverFlagged, RecoveredNodeRejoins),
    },
    ScenarioSpec {
        name: "ledger-partition",
        description: "two halves append independently, then heal and converge",
        nodes: 2..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::Partition, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(),
    },
    ScenarioSpec {
        name: "late-joiner",
        description: "a member starts after 20,000 ops exist and catches up through many backfill pages",
        nodes: 1..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::LateJoiner, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(LateJoinerPages),
    },
    ScenarioSpec {
        name: "ledger-byzantine",
        description: "a member equivocates, forges, replays or floods backfill: flagged, rejected, duplicates, Busy; honest ones converge",
        // A liar and at least two honest members (one fork each).
        nodes: 3..=64,
        plan: |seed, nodes| ledger::plan(ledger::Kind::Byzantine, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_ledger();
            Box::pin(ledger::run(context, seed, core, part, sink, checks))
        },
        observers: ledger::observers,
        invariants: ledger_invariants!(
            EquivocationDetected,
            ForgeriesRejected,
            ReplaysAreDuplicates,
            FlooderGetsBusy
        ),
    },
    ScenarioSpec {
        name: "checkpoint",
        description: "4..10 members run the DKG, the ledger and 3-4 scaled days of checkpoints while they crash and restart: every certificate verifies, chains, lies within tolerance; every member is certified each day",
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Checkpoint, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(),
    },
    ScenarioSpec {
        name: "checkpoint-byzantine",
        description: "as checkpoint, with one liar: a member that repeats or contradicts its votes, forges partials, inflates its own uptime or proposes about others, or an outsider: blocked, never counted twice, honest members still certified",
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Byzantine, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(CheckpointLiarBlocked),
    },
    ScenarioSpec {
        name: "checkpoint-reshare",
        description: "as checkpoint, with a second committee (one member replaced, one added) that the genesis definition lists: it is reshared right after the DKG while the two newcomers are still down; they start after the first day and take their shares from the decision: one group key, every certificate verifies under it (a reshare in the middle of certified days is governance's, join's and remove's)",
        // The epoch 0 committee is every node but the two newcomers.
        nodes: 6..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Reshare, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(),
    },
    ScenarioSpec {
        name: "checkpoint-skew",
        description: "as checkpoint, with clocks offset and drifting per node (all but f+1 run 70-90 s ahead): the behind voters' views disagree, round 2's trimmed mean certifies what round 1 could not",
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Skew, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(),
    },
    ScenarioSpec {
        name: "checkpoint-late-joiner",
        description: "as checkpoint, with one member starting after three certified days: it backfills its compacted peers' certified checkpoints and the tail, verifies every certificate and derives the same observations",
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::LateJoiner, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(CheckpointLateJoinerCaughtUp),
    },
    ScenarioSpec {
        name: "governance",
        description: "as checkpoint, with an operator asking a member to add, remove or replace a member (retried while it cannot yet): the members vote with ledger ops, every ledger certifies the one committee asked for, and the reshare to it follows under the same group key",
        // A removal keeps at least four members.
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Governance, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            RemovedMemberCannotSign
        ),
    },
    ScenarioSpec {
        name: "membership-byzantine",
        description: "as governance, with a member lying in governance ops (two proposals for one epoch, a proposal breaking the rules, votes with invalid partials): refused with a reason, never approved or counted; the operator's change is still certified and carried out",
        nodes: 4..=64,
        plan: |seed, nodes| {
            checkpoint::plan(checkpoint::Kind::MembershipByzantine, seed, nodes).into()
        },
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            RemovedMemberCannotSign,
            GovernanceLiarRefused
        ),
    },
    ScenarioSpec {
        name: "join",
        description: "as governance, with the operator adding a node that runs with only the genesis definition (from the start, or started after the change; half the time a second one after it): it catches up the ledger, learns the group key from an output its admission's voters vouch for, and plays the reshare; the key is unchanged",
        nodes: 4..=63,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Join, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            JoinerCatchesUp
        ),
    },
    ScenarioSpec {
        name: "replace-dead",
        description: "as join, with a member going down for good first: the operator replaces it with the joiner, and the reshare runs among the live members",
        nodes: 4..=63,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::ReplaceDead, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            RemovedMemberCannotSign,
            JoinerCatchesUp
        ),
    },
    ScenarioSpec {
        name: "remove",
        description: "as governance, with the operator removing a member: after the reshare the honest members erased their old shares, the removed one holds none, and its old partial does not combine with new ones",
        nodes: 5..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::Remove, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            RemovedMemberCannotSign
        ),
    },
    ScenarioSpec {
        name: "dkg-disk-loss",
        description: "as governance, with a member's crash taking its DKG journal after the DKG: it finishes that epoch without a share (share missing), the operator proposes the unchanged committee, and its reshare gives the member a new share of the same key",
        nodes: 4..=64,
        plan: |seed, nodes| checkpoint::plan(checkpoint::Kind::KeyLoss, seed, nodes).into(),
        run: |context, seed, plan, sink, checks| {
            let (core, part) = plan.into_checkpoint();
            Box::pin(checkpoint::run(context, seed, core, part, sink, checks))
        },
        observers: checkpoint::observers,
        invariants: checkpoint_invariants!(
            OneCommitteePerEpoch,
            CommitteeChangeCertified,
            DkgCompletes,
            KeyUnchangedByReshare,
            SharesFollowCommittee,
            KeyRecovered
        ),
    },
];

/// The scenario `cohort-sim run` uses when none is named.
pub const DEFAULT_SCENARIO: Scenario = Scenario::of(&SCENARIOS[0]);

impl Scenario {
    /// Every scenario, in catalogue order.
    pub fn all() -> impl Iterator<Item = Scenario> + Clone {
        SCENARIOS.iter().map(Scenario::of)
    }

    /// The scenario named `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Self::all().find(|s| s.name() == name)
    }

    /// The scenario named `name`, which must exist (tests, benches).
    pub fn named(name: &str) -> Scenario {
        Self::from_name(name).unwrap_or_else(|| panic!("no scenario {name:?}"))
    }

    /// Every scenario's name, comma separated.
    pub fn names() -> String {
        Self::all().map(|s| s.name()).collect::<Vec<_>>().join(", ")
    }
}

/// The README's scenario table.
pub fn scenario_table() -> String {
    spec::scenario_table(Scenario::all())
}

/// The README's invariant table.
pub fn invariant_table() -> String {
    spec::invariant_table(Scenario::all())
}

#[cfg(test)]
mod tests;
