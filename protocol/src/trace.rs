//! Protocol trace events.
//!
//! Every decision a protocol actor takes that an observer may care about is reported as an
//! [`Event`] to the node's [`Tracer`]. The simulator hashes every event (with its simulated time
//! and node) into the run digest and checks invariants on them; the production node logs them.
//!
//! Events carry only deterministic data (no wall-clock time, no map iteration order), so the same
//! seed yields the same event stream.

use crate::{channels::Channel, cluster::PublicKey};
use std::fmt;

/// One protocol event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The node booted; `boot` counts starts including this one.
    Boot { boot: u64 },
    /// The DKG round `round` of `epoch` finished without this node's share although it is a
    /// player of it: the dealings the share is made of were lost with its DKG journal. The
    /// node holds the output (the group key) and no share until a reshare gives it one.
    ShareLost { epoch: u64, round: u64 },
    /// The node's metadata records barrier step `recorded`, below `journal`, the step its DKG
    /// journal proves it reached (the done step of the last round it holds an output of): the
    /// metadata was lost or damaged. The node resumes at `journal`.
    MetaBehindJournal { recorded: u64, journal: u64 },
    /// This node set its own barrier step.
    StepSet { step: u64 },
    /// A peer's barrier step changed, as observed by this node.
    PeerStep { peer: PublicKey, step: u64 },
    /// Both directions of the barrier session with `peer` are up.
    PeerConnected { peer: PublicKey },
    /// `peer` has not answered `attempts` hellos; still retried at the backoff cap.
    PeerUnresponsive { peer: PublicKey, attempts: u32 },
    /// Still waiting for these members to connect (reported every phase timeout).
    WaitingForPeers { missing: Vec<PublicKey> },
    /// Every member (this one included) reached `step`.
    AllAtStep { step: u64 },
    /// This node announced shutdown to every peer.
    ShutdownAnnounced,
    /// Every peer acknowledged this node's shutdown.
    ShutdownAcknowledged,
    /// Every peer announced its own shutdown.
    AllShutdown,
    /// The barrier recorded an error; every waiter now returns it.
    BarrierFailed { error: String },
    /// A network input was dropped (and `blocked` says whether the peer was blocked).
    InputRejected {
        channel: Channel,
        peer: PublicKey,
        reason: String,
        blocked: bool,
    },
    /// The engine's barrier walk finished every step and the shutdown handshake.
    WalkComplete { steps: u64 },
    /// A restarted node completed its walk but not the shutdown handshake (its peers had left).
    ShutdownIncomplete { error: String },
    /// The barrier recorded its first fault of `peer` (it refused us, broke the rules, or does
    /// not speak the protocol); in quorum mode the peer counts as absent from then on.
    PeerFaulty { peer: PublicKey, error: String },
    /// The fault recorded of `peer` expired (`barrier::state::Config::fault_expiry`): it is
    /// counted again and a new session to it opens (a repaired peer rejoins).
    PeerFaultExpired { peer: PublicKey },
    /// This node, restarted below the step its peers had seen of it (its metadata was lost),
    /// resumed at `step`, the step `vouched` peers (more than the faults tolerated) say they saw.
    StepRecovered { step: u64, vouched: usize },
    /// The DKG entered `phase` of round `round`.
    DkgPhase { round: u64, phase: &'static str },
    /// This node (as a dealer) produced its dealing of `round`; `commitment` is the hex sha256
    /// of the encoded public dealing.
    Dealt { round: u64, commitment: String },
    /// This node (as a player) acked `dealer`'s dealing of `round`; `digest` is the hex sha256
    /// of the encoded ack.
    Acked {
        round: u64,
        dealer: PublicKey,
        digest: String,
    },
    /// This node finished epoch `epoch` (round `round`) holding a share (or as an observer).
    DkgComplete {
        epoch: u64,
        round: u64,
        group_key: String,
        share: bool,
    },
    /// This node holds two different validly signed logs of `dealer` in `round`: proof that the
    /// dealer equivocated.
    DkgEquivocation { round: u64, dealer: PublicKey },
    /// What this node's DKG sent in this life, for one kind of message: `frames` (one per
    /// recipient) and their `bytes`; recorded once the last epoch is done.
    DkgSent {
        kind: &'static str,
        frames: u64,
        bytes: u64,
    },
    /// The agreement of `round` entered `view`, led by `leader`.
    DkgView {
        round: u64,
        view: u64,
        leader: PublicKey,
    },
    /// This node voted in the agreement of `round` (`stage`: prevote or precommit; `choice`:
    /// `abandon`, or `logs` and the dealers' indices; `justified`: behind a certificate).
    DkgVoted {
        round: u64,
        view: u64,
        stage: &'static str,
        choice: String,
        justified: bool,
    },
    /// This node refused the proposal of `view` in the agreement of `round`.
    DkgProposalRefused {
        round: u64,
        view: u64,
        reason: String,
    },
    /// The agreement of `round` decided `choice` (in `view`) at this node.
    DkgDecided {
        round: u64,
        view: u64,
        choice: String,
    },
    /// The DKG failed at this node.
    DkgFailed { error: String },
    /// An attempt (round) of the DKG could not finish; the ceremony goes on with round `next`.
    DkgAttemptFailed {
        round: u64,
        next: u64,
        error: String,
    },
    /// This node appended its op `seq` (`id`: the first 8 bytes of its id, hex).
    OpAppended {
        seq: u64,
        kind: &'static str,
        id: String,
    },
    /// This node caught `author` equivocating (two ops with one seq).
    Equivocation { author: PublicKey },
    /// A backfill run with `peer` completed: `pages` pages brought `ops` new ops.
    BackfillRunDone {
        peer: PublicKey,
        pages: u64,
        ops: u64,
    },
    /// A backfill run with `peer` failed after `pages` pages and `ops` new ops.
    BackfillRunFailed {
        peer: PublicKey,
        pages: u64,
        ops: u64,
        reason: &'static str,
    },
    /// A backfill round ended, caught up with a peer or out of peers; the ledger holds `ops`.
    BackfillRoundEnded { caught_up: bool, ops: u64 },
    /// The first backfill round ended: boot recovery is complete.
    BootRecovered { ops: u64 },
    /// The ledger opened its op store, which held `ops` synced ops, in state `state`
    /// (`ledger::own::StoreState`).
    LedgerOpened { ops: u64, state: &'static str },
    /// The ledger does not author until it recovered its own chain from its peers.
    OwnChainRecovering { state: &'static str },
    /// Own-chain recovery ended: the node holds its chain up to `own_head`, and its peers
    /// held it up to `target`.
    OwnChainRecovered { own_head: u64, target: u64 },
    /// The op store holds `total` ops, all synced (after a sync, or after a compaction
    /// rewrote it with the kept ops only).
    OpsSynced { total: u64 },
    /// Compaction starts rewriting the op store with the `kept` ops only: until the rewrite
    /// commits, a crash leaves the old store (every synced op) or the new one (`kept` ops).
    OpsRewriting { kept: u64 },
    /// This node proposed a checkpoint about itself (`digest`: first 8 bytes, hex).
    CheckpointProposed {
        round: u8,
        as_of_ms: u64,
        digest: String,
    },
    /// This node voted on `subject`'s proposal.
    CheckpointVoted {
        subject: PublicKey,
        round: u8,
        approve: bool,
        /// The proposal's digest (its first 8 bytes, hex).
        digest: String,
    },
    /// This node's proposal was certified by `approvals` approvals and appended.
    CheckpointCertified {
        round: u8,
        as_of_ms: u64,
        approvals: usize,
        digest: String,
    },
    /// This node's round `round` closed without a certificate (`next`: round 2, or none).
    CheckpointRoundFailed { round: u8, next: bool },
    /// This node dropped a checkpoint input of `peer` that proves nothing against it (a late
    /// vote, a stale proposal, a repeat), for `reason`.
    CheckpointIgnored {
        peer: PublicKey,
        reason: &'static str,
    },
    /// This node proposed a committee for `epoch` (`digest`: the proposal's first 8 bytes, hex).
    CommitteeProposed { epoch: u64, digest: String },
    /// This node approved the proposal for `epoch` of digest `digest`.
    CommitteeVoted { epoch: u64, digest: String },
    /// This node appended the certificate of a proposal for `epoch` (`approvals` counted).
    CommitteeCertifying {
        epoch: u64,
        approvals: usize,
        digest: String,
    },
    /// This node's ledger holds a certified committee for `epoch` (`members` keys); `conflict`:
    /// the epoch had one already (beyond the fault bound; the lowest digest wins).
    CommitteeCertified {
        epoch: u64,
        members: usize,
        digest: String,
        conflict: bool,
    },
    /// A joiner learned the group key from an output the votes on the proposal of `epoch`
    /// vouch for (see `engine::join`).
    JoinerKeyLearned { epoch: u64 },
    /// A joiner's chain lists it: it runs the DKG from the epoch before `epoch` on.
    JoinerAdmitted { epoch: u64 },
    /// This node refused a governance input (a proposal it will not approve, a vote that does
    /// not count) of `author`, for `reason`.
    GovernanceRefused {
        author: PublicKey,
        reason: &'static str,
    },
}

impl Event {
    /// A stable short name for the event kind.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Boot { .. } => "boot",
            Event::StepSet { .. } => "step_set",
            Event::ShareLost { .. } => "share_lost",
            Event::MetaBehindJournal { .. } => "meta_behind_journal",
            Event::PeerStep { .. } => "peer_step",
            Event::PeerConnected { .. } => "peer_connected",
            Event::PeerUnresponsive { .. } => "peer_unresponsive",
            Event::WaitingForPeers { .. } => "waiting_for_peers",
            Event::AllAtStep { .. } => "all_at_step",
            Event::ShutdownAnnounced => "shutdown_announced",
            Event::ShutdownAcknowledged => "shutdown_acknowledged",
            Event::AllShutdown => "all_shutdown",
            Event::BarrierFailed { .. } => "barrier_failed",
            Event::InputRejected { .. } => "input_rejected",
            Event::WalkComplete { .. } => "walk_complete",
            Event::ShutdownIncomplete { .. } => "shutdown_incomplete",
            Event::DkgPhase { .. } => "dkg_phase",
            Event::Dealt { .. } => "dealt",
            Event::Acked { .. } => "acked",
            Event::DkgComplete { .. } => "dkg_complete",
            Event::DkgEquivocation { .. } => "dkg_equivocation",
            Event::DkgSent { .. } => "dkg_sent",
            Event::PeerFaulty { .. } => "peer_faulty",
            Event::PeerFaultExpired { .. } => "peer_fault_expired",
            Event::StepRecovered { .. } => "step_recovered",
            Event::DkgView { .. } => "dkg_view",
            Event::DkgVoted { .. } => "dkg_voted",
            Event::DkgProposalRefused { .. } => "dkg_proposal_refused",
            Event::DkgDecided { .. } => "dkg_decided",
            Event::DkgFailed { .. } => "dkg_failed",
            Event::DkgAttemptFailed { .. } => "dkg_attempt_failed",
            Event::OpAppended { .. } => "op_appended",
            Event::Equivocation { .. } => "equivocation",
            Event::BackfillRunDone { .. } => "backfill_run_done",
            Event::BackfillRunFailed { .. } => "backfill_run_failed",
            Event::BackfillRoundEnded { .. } => "backfill_round_ended",
            Event::BootRecovered { .. } => "boot_recovered",
            Event::LedgerOpened { .. } => "ledger_opened",
            Event::OwnChainRecovering { .. } => "own_chain_recovering",
            Event::OwnChainRecovered { .. } => "own_chain_recovered",
            Event::OpsSynced { .. } => "ops_synced",
            Event::OpsRewriting { .. } => "ops_rewriting",
            Event::CheckpointProposed { .. } => "checkpoint_proposed",
            Event::CheckpointVoted { .. } => "checkpoint_voted",
            Event::CheckpointCertified { .. } => "checkpoint_certified",
            Event::CheckpointRoundFailed { .. } => "checkpoint_round_failed",
            Event::CheckpointIgnored { .. } => "checkpoint_ignored",
            Event::CommitteeProposed { .. } => "committee_proposed",
            Event::CommitteeVoted { .. } => "committee_voted",
            Event::CommitteeCertifying { .. } => "committee_certifying",
            Event::CommitteeCertified { .. } => "committee_certified",
            Event::GovernanceRefused { .. } => "governance_refused",
            Event::JoinerKeyLearned { .. } => "joiner_key_learned",
            Event::JoinerAdmitted { .. } => "joiner_admitted",
        }
    }
}

/// `name key=value ...`: the canonical text of an event, hashed into run digests.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match self {
            Event::Boot { boot } => write!(f, " boot={boot}"),
            Event::ShareLost { epoch, round } => write!(f, " epoch={epoch} round={round}"),
            Event::MetaBehindJournal { recorded, journal } => {
                write!(f, " recorded={recorded} journal={journal}")
            }
            Event::StepSet { step } | Event::AllAtStep { step } => write!(f, " step={step}"),
            Event::PeerStep { peer, step } => write!(f, " peer={peer} step={step}"),
            Event::PeerConnected { peer } => write!(f, " peer={peer}"),
            Event::PeerUnresponsive { peer, attempts } => {
                write!(f, " peer={peer} attempts={attempts}")
            }
            Event::WaitingForPeers { missing } => {
                let missing: Vec<String> = missing.iter().map(|k| k.to_string()).collect();
                write!(f, " missing={}", missing.join(","))
            }
            Event::ShutdownAnnounced | Event::ShutdownAcknowledged | Event::AllShutdown => Ok(()),
            Event::BarrierFailed { error } => write!(f, " error={error:?}"),
            Event::InputRejected {
                channel,
                peer,
                reason,
                blocked,
            } => write!(
                f,
                " channel={channel} peer={peer} reason={reason:?} blocked={blocked}"
            ),
            Event::WalkComplete { steps } => write!(f, " steps={steps}"),
            Event::ShutdownIncomplete { error } | Event::DkgFailed { error } => {
                write!(f, " error={error:?}")
            }
            Event::DkgPhase { round, phase } => write!(f, " round={round} phase={phase}"),
            Event::DkgAttemptFailed { round, next, error } => {
                write!(f, " round={round} next={next} error={error:?}")
            }
            Event::Dealt { round, commitment } => {
                write!(f, " round={round} commitment={commitment}")
            }
            Event::Acked {
                round,
                dealer,
                digest,
            } => write!(f, " round={round} dealer={dealer} digest={digest}"),
            Event::DkgComplete {
                epoch,
                round,
                group_key,
                share,
            } => write!(
                f,
                " epoch={epoch} round={round} group_key={group_key} share={share}"
            ),
            Event::OpAppended { seq, kind, id } => write!(f, " seq={seq} kind={kind} id={id}"),
            Event::Equivocation { author } => write!(f, " author={author}"),
            Event::DkgEquivocation { round, dealer } => write!(f, " round={round} dealer={dealer}"),
            Event::DkgSent {
                kind,
                frames,
                bytes,
            } => write!(f, " kind={kind} frames={frames} bytes={bytes}"),
            Event::PeerFaulty { peer, error } => write!(f, " peer={peer} error={error:?}"),
            Event::PeerFaultExpired { peer } => write!(f, " peer={peer}"),
            Event::StepRecovered { step, vouched } => write!(f, " step={step} vouched={vouched}"),
            Event::DkgView {
                round,
                view,
                leader,
            } => write!(f, " round={round} view={view} leader={leader}"),
            Event::DkgVoted {
                round,
                view,
                stage,
                choice,
                justified,
            } => write!(
                f,
                " round={round} view={view} stage={stage} choice={choice:?} justified={justified}"
            ),
            Event::DkgProposalRefused {
                round,
                view,
                reason,
            } => write!(f, " round={round} view={view} reason={reason:?}"),
            Event::DkgDecided {
                round,
                view,
                choice,
            } => write!(f, " round={round} view={view} choice={choice:?}"),
            Event::BackfillRunDone { peer, pages, ops } => {
                write!(f, " peer={peer} pages={pages} ops={ops}")
            }
            Event::BackfillRunFailed {
                peer,
                pages,
                ops,
                reason,
            } => write!(f, " peer={peer} pages={pages} ops={ops} reason={reason}"),
            Event::BackfillRoundEnded { caught_up, ops } => {
                write!(f, " caught_up={caught_up} ops={ops}")
            }
            Event::BootRecovered { ops } => write!(f, " ops={ops}"),
            Event::LedgerOpened { ops, state } => write!(f, " ops={ops} state={state}"),
            Event::OwnChainRecovering { state } => write!(f, " state={state}"),
            Event::OwnChainRecovered { own_head, target } => {
                write!(f, " own_head={own_head} target={target}")
            }
            Event::OpsSynced { total } => write!(f, " total={total}"),
            Event::OpsRewriting { kept } => write!(f, " kept={kept}"),
            Event::CheckpointProposed {
                round,
                as_of_ms,
                digest,
            } => write!(f, " round={round} as_of_ms={as_of_ms} digest={digest}"),
            Event::CheckpointVoted {
                subject,
                round,
                approve,
                digest,
            } => write!(
                f,
                " subject={subject} round={round} approve={approve} digest={digest}"
            ),
            Event::CheckpointCertified {
                round,
                as_of_ms,
                approvals,
                digest,
            } => write!(
                f,
                " round={round} as_of_ms={as_of_ms} approvals={approvals} digest={digest}"
            ),
            Event::CheckpointRoundFailed { round, next } => {
                write!(f, " round={round} next={next}")
            }
            Event::CheckpointIgnored { peer, reason } => {
                write!(f, " peer={peer} reason={reason}")
            }
            Event::CommitteeProposed { epoch, digest }
            | Event::CommitteeVoted { epoch, digest } => {
                write!(f, " epoch={epoch} digest={digest}")
            }
            Event::CommitteeCertifying {
                epoch,
                approvals,
                digest,
            } => write!(f, " epoch={epoch} approvals={approvals} digest={digest}"),
            Event::CommitteeCertified {
                epoch,
                members,
                digest,
                conflict,
            } => write!(
                f,
                " epoch={epoch} members={members} digest={digest} conflict={conflict}"
            ),
            Event::GovernanceRefused { author, reason } => {
                write!(f, " author={author} reason={reason}")
            }
            Event::JoinerKeyLearned { epoch } | Event::JoinerAdmitted { epoch } => {
                write!(f, " epoch={epoch}")
            }
        }
    }
}

/// Receives a node's protocol events.
pub trait Tracer: Clone + Send + Sync + 'static {
    /// Records one event. Must not block.
    fn record(&self, event: Event);

    /// Asked at each named crash point (e.g. right after a DKG record is synced, before the
    /// message it protects leaves the node). `true` makes the node halt right there, as if it
    /// crashed: the simulator uses it to draw crash points that wall-clock times cannot hit.
    /// Production tracers keep the default (never).
    fn crash_point(&self, _point: &'static str) -> bool {
        false
    }

    /// Called with each op this node authored (its signed encoding) once it is durable, before
    /// it is gossiped. Every op of the ledger is authored by exactly one node, so the simulator
    /// keeps the whole history with it, to check what compaction pruned everywhere. Production
    /// tracers keep the default (nothing). Bytes, not the op type, so tracing stays below the
    /// ledger.
    fn archive(&self, _op: &bytes::Bytes) {}
}

/// A tracer that logs every event through `tracing` (the production node's choice).
#[derive(Clone, Debug, Default)]
pub struct LogTracer;

impl Tracer for LogTracer {
    fn record(&self, event: Event) {
        match &event {
            Event::BarrierFailed { .. }
            | Event::MetaBehindJournal { .. }
            | Event::ShareLost { .. }
            | Event::InputRejected { .. }
            | Event::WaitingForPeers { .. }
            | Event::ShutdownIncomplete { .. }
            | Event::DkgFailed { .. }
            | Event::DkgAttemptFailed { .. }
            | Event::Equivocation { .. }
            | Event::DkgEquivocation { .. }
            | Event::DkgProposalRefused { .. }
            | Event::PeerFaulty { .. }
            | Event::PeerUnresponsive { .. } => {
                tracing::warn!(event = event.name(), "{event}")
            }
            Event::PeerStep { .. }
            | Event::Dealt { .. }
            | Event::Acked { .. }
            | Event::DkgVoted { .. }
            | Event::OpAppended { .. }
            | Event::OpsSynced { .. }
            | Event::OpsRewriting { .. }
            | Event::BackfillRunDone { .. }
            | Event::BackfillRunFailed { .. }
            | Event::BackfillRoundEnded { .. } => {
                tracing::debug!(event = event.name(), "{event}")
            }
            _ => tracing::info!(event = event.name(), "{event}"),
        }
    }
}
