//! The ledger's mailbox: how other actors, the admin API and the simulator reach the ledger
//! actor.
//!
//! Every request is answered by the ledger actor's loop, in arrival order, on a oneshot:
//!
//! - [`Mailbox::submit`]: answered once the new `Data` op is synced and broadcast, or at once
//!   with [`Error::PayloadTooLarge`];
//! - [`Mailbox::status`] and [`Mailbox::ops`]: answered at once, from the actor's state;
//! - [`Mailbox::boot_recovered`]: answered when the first backfill round of this start ends (at
//!   once if it has).
//!
//! A full mailbox, a stopped actor or a crashed node drop the request (or its responder): the
//! caller gets [`Error::Closed`], never a hang on a dead actor.

use super::{
    dag::{Proposal, Reason},
    op::{Certified, MAX_DATA_BYTES, OpId, OpKind, SignedOp},
};
use crate::{
    cluster::PublicKey,
    committee::Chain,
    vote::{Observation, wire::Digest},
};
use bytes::Bytes;
use commonware_cryptography::sha256;
use futures::channel::{mpsc, oneshot};
use std::{collections::BTreeSet, time::Duration};
use thiserror::Error;

/// Why the actor stopped, or a request failed.
#[derive(Debug, Error)]
pub enum Error {
    /// Storage failed: fatal for the node, which recovers on restart.
    #[error("storage: {0}")]
    Storage(#[from] cohort_storage::Error),
    /// A stored op does not decode (the store is corrupt).
    #[error("stored op {position} does not decode")]
    CorruptStore { position: u64 },
    /// A `Data` payload is larger than [`MAX_DATA_BYTES`].
    #[error("payload of {0} bytes is larger than {MAX_DATA_BYTES}")]
    PayloadTooLarge(usize),
    /// The actor is not running (stopped, or the node crashed).
    #[error("ledger actor not running")]
    Closed,
    /// A `Certify` of a proposal whose certificate this ledger holds already (another node's
    /// arrived first): nothing to append.
    #[error("the proposal is certified already")]
    AlreadyCertified,
    /// The ledger refused our own op (a checkpoint that no longer chains, say).
    #[error("own op rejected: {}", .0.name())]
    Rejected(Reason),
    /// This node is not an author (yet): it is a joiner whose admission its ledger has not
    /// applied, so it appends nothing.
    #[error("this node is not a member of the ledger yet")]
    NotAdmitted,
    /// This node is recovering its own chain from its peers (its op store lost synced
    /// records, or cannot vouch for them): it authors nothing until it has (see
    /// [`super::own`]).
    #[error("recovering this node's own chain from its peers: not authoring yet")]
    Recovering,
}

/// A subject's presence as this node's ledger holds it (what a checkpoint is judged by).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectView {
    /// The subject's observation at the cutoff (`None`: nothing of it is known yet).
    pub observation: Option<Observation>,
    /// The time of the subject's newest op (what the subject proposes as `as_of`).
    pub newest_ms: Option<u64>,
    /// The subject's latest certified checkpoint: its id and `as_of_ms`.
    pub latest: Option<(Digest, u64)>,
    /// The subject equivocated.
    pub flagged: bool,
    /// This node's first backfill round has ended.
    pub boot_recovered: bool,
    /// Members (this node included) an op was received from within the window asked for.
    pub online: usize,
}

/// A peer as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: PublicKey,
    pub failures: u32,
    /// Milliseconds since the Unix epoch (runtime clock) of the last completed run.
    pub last_success_ms: Option<u64>,
    pub anchor: bool,
}

/// A snapshot of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub me: PublicKey,
    pub digest: sha256::Digest,
    /// Positions used (ops applied since the ledger was created, pruned ones included).
    pub ops: u64,
    /// Ops held in memory.
    pub held: usize,
    /// Ops removed by compaction (this life).
    pub pruned: u64,
    /// Records in the op store, and their bytes.
    pub store_records: u64,
    pub store_bytes: u64,
    /// Rewrites the op store went through: with `pruned`, whether this ledger was ever
    /// compacted (positions then differ between nodes holding the same ledger).
    pub store_generation: u64,
    pub heads: Vec<OpId>,
    pub pending: usize,
    /// The pending ops' ids (at most the buffer's bound).
    pub pending_ids: Vec<OpId>,
    /// What the first few pending ops wait for ([`super::dag::Dag::pending_waits`]).
    pub pending_waits: Vec<String>,
    /// Of `pending`, the ops stranded on a fork of an applied seq ([`super::dag::Dag::stranded_len`]):
    /// an equivocator's other branch not seen yet, or ops an author's storage loss orphaned.
    pub stranded: usize,
    pub evicted: u64,
    pub flagged: Vec<PublicKey>,
    pub boot_recovered: bool,
    /// What the op store held at open: `fresh`, `intact`, `truncated`, `lost` or
    /// `unverified` (see [`super::own`]).
    pub store_state: &'static str,
    /// Whether this node authors ops now, or why not.
    pub authoring: Result<(), String>,
    pub peers: Vec<PeerStatus>,
}

/// A request to the actor.
pub(super) enum Request {
    Submit {
        payload: Bytes,
        reply: oneshot::Sender<Result<OpId, Error>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    Ops {
        after: u64,
        limit: usize,
        reply: oneshot::Sender<(Vec<(u64, SignedOp)>, u64)>,
    },
    BootRecovered {
        reply: oneshot::Sender<()>,
    },
    View {
        subject: PublicKey,
        cutoff_ms: u64,
        online_within: Duration,
        reply: oneshot::Sender<Option<SubjectView>>,
    },
    AppendCheckpoint {
        certified: Box<Certified>,
        reply: oneshot::Sender<Result<OpId, Error>>,
    },
    Governance {
        online_within: Duration,
        reply: oneshot::Sender<Governance>,
    },
    AppendGovernance {
        kind: OpKind,
        reply: oneshot::Sender<Result<OpId, Error>>,
    },
    FetchOutput {
        digest: [u8; 32],
        reply: oneshot::Sender<Option<(u64, Bytes)>>,
    },
    SetGroupKey {
        key: Box<crate::ledger::dag::GroupKey>,
        reply: oneshot::Sender<()>,
    },
}

/// What governance needs of the ledger (see [`Mailbox::governance`]).
#[derive(Clone, Debug)]
pub struct Governance {
    /// The genesis definition and the certified committees.
    pub chain: Chain,
    /// Held proposals for epochs after the chain's last, with their votes.
    pub proposals: Vec<Proposal>,
    /// Members an op was applied from within the window asked for (this node included).
    pub live: BTreeSet<PublicKey>,
    /// This node's first backfill round has ended.
    pub boot_recovered: bool,
    /// The ledger knows the group key (certificates are verified; a joiner's ledger learns it
    /// through [`Mailbox::set_group_key`]).
    pub group_key: bool,
    /// This node is an author of the ledger (a joiner becomes one once its admission applied).
    pub admitted: bool,
    /// For a joiner without the group key only (empty otherwise): every proposal its ledger
    /// holds or has pending, with every vote on it, unverified beyond the ops' signatures
    /// ([`crate::ledger::Dag::unverified_proposals`]).
    pub unverified: Vec<Proposal>,
}

/// How other actors (and the admin API) reach the ledger.
#[derive(Clone)]
pub struct Mailbox {
    sender: mpsc::Sender<Request>,
}

/// The receiving end of a [`Mailbox`], handed to the actor.
pub struct Inbox {
    pub(super) receiver: mpsc::Receiver<Request>,
}

/// A mailbox and its inbox; `size` requests may wait before new ones are refused.
pub fn mailbox(size: usize) -> (Mailbox, Inbox) {
    let (sender, receiver) = mpsc::channel(size);
    (Mailbox { sender }, Inbox { receiver })
}

impl Mailbox {
    /// Sends `request` (built around a fresh responder) and waits for the answer.
    async fn ask<A>(
        &mut self,
        request: impl FnOnce(oneshot::Sender<A>) -> Request,
    ) -> Result<A, Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(request(reply))
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)
    }

    /// Appends a `Data` op; resolves with its id once it is durable and broadcast.
    pub async fn submit(&mut self, payload: Bytes) -> Result<OpId, Error> {
        self.ask(|reply| Request::Submit { payload, reply }).await?
    }

    /// A snapshot of the ledger.
    pub async fn status(&mut self) -> Result<Status, Error> {
        self.ask(|reply| Request::Status { reply }).await
    }

    /// Resolves once boot recovery is complete (the first backfill round of this start ended):
    /// what the checkpoint protocol waits for before it proposes or votes.
    pub async fn boot_recovered(&mut self) -> Result<(), Error> {
        self.ask(|reply| Request::BootRecovered { reply }).await
    }

    /// `subject`'s presence at `cutoff_ms` (its clock), and how many members were heard from
    /// within `online_within`; `None` if `subject` is not a member.
    pub async fn view(
        &mut self,
        subject: PublicKey,
        cutoff_ms: u64,
        online_within: Duration,
    ) -> Result<Option<SubjectView>, Error> {
        self.ask(|reply| Request::View {
            subject,
            cutoff_ms,
            online_within,
            reply,
        })
        .await
    }

    /// Appends this node's certified checkpoint; resolves with its op id once it is durable
    /// and broadcast.
    pub async fn append_checkpoint(&mut self, certified: Certified) -> Result<OpId, Error> {
        self.ask(|reply| Request::AppendCheckpoint {
            certified: Box::new(certified),
            reply,
        })
        .await?
    }

    /// The committee chain, the open proposals and who is live (heard from within
    /// `online_within`).
    pub async fn governance(&mut self, online_within: Duration) -> Result<Governance, Error> {
        self.ask(|reply| Request::Governance {
            online_within,
            reply,
        })
        .await
    }

    /// Appends this node's `Propose`, `Vote` or `Certify` op (a `Vote` or `Certify` names its
    /// proposal among its parents); resolves with its id once it is durable and broadcast.
    /// Any other kind is refused ([`Reason::Malformed`]).
    pub async fn append_governance(&mut self, kind: OpKind) -> Result<OpId, Error> {
        self.ask(|reply| Request::AppendGovernance { kind, reply })
            .await?
    }

    /// Asks every peer for the DKG output whose [`crate::committee::output_digest`] is
    /// `digest`; resolves with the first answer that matches (the round and the encoded
    /// output, to be decoded by the caller), or `None` once a request timeout passed.
    pub async fn fetch_output(&mut self, digest: [u8; 32]) -> Result<Option<(u64, Bytes)>, Error> {
        self.ask(|reply| Request::FetchOutput { digest, reply })
            .await
    }

    /// Gives the ledger the group key before the DKG publishes it here: a joiner learns it
    /// from an output vouched for by its certificate's voters (see `engine::join`), so that
    /// its ledger can verify the certificates that admit it.
    pub async fn set_group_key(&mut self, key: crate::ledger::dag::GroupKey) -> Result<(), Error> {
        self.ask(|reply| Request::SetGroupKey {
            key: Box::new(key),
            reply,
        })
        .await
    }

    /// Up to `limit` held ops from position `after` on, each with its position, and the
    /// position after the last (an empty page: none left; positions compaction freed are
    /// skipped).
    pub async fn ops(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<(u64, SignedOp)>, u64), Error> {
        self.ask(|reply| Request::Ops {
            after,
            limit,
            reply,
        })
        .await
    }
}
