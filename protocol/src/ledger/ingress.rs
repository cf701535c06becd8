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
    pub evicted: u64,
    pub flagged: Vec<PublicKey>,
    pub boot_recovered: bool,
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
