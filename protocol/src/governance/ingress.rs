//! The governance actor's mailbox: what an operator asks for (through the admin API) and what
//! the actor answers. Every request gets an answer, or [`Error::Closed`] when the actor is not
//! running (a full mailbox included), never a hang.

use crate::{
    cluster::PublicKey,
    committee::{Committee, CommitteeProposal, Digest, Refusal},
    ledger::{self, OpId},
};
use futures::channel::{mpsc, oneshot};
use thiserror::Error;

/// A change of the current committee an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add `key`; a key that was never a member needs the address the others reach it at.
    Add {
        key: PublicKey,
        address: Option<String>,
    },
    /// Remove `key`.
    Remove { key: PublicKey },
    /// Replace `old` (a member, typically one whose machine is gone) with `new`.
    Replace {
        old: PublicKey,
        new: PublicKey,
        address: Option<String>,
    },
    /// Keep the committee: its reshare gives every member a fresh share of the same key, so a
    /// member that lost its share (its DKG journal) gets one back.
    Reshare,
}

/// Why a proposal was not made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    /// The actor is not running.
    #[error("governance actor not running")]
    Closed,
    /// This node cannot propose yet (no DKG output, boot recovery running, a reshare pending).
    #[error("not ready to propose: {0}")]
    NotReady(&'static str),
    /// Only a member of the current committee may propose.
    #[error("this node is not a member of the committee of epoch {epoch}")]
    NotAMember { epoch: u64 },
    /// The change names a key that is not (or is already) in the committee.
    #[error("{key} is {why} the committee of epoch {epoch}")]
    BadChange {
        key: PublicKey,
        why: &'static str,
        epoch: u64,
    },
    /// A valid proposal for the next epoch is already open: vote on it, or wait for it.
    #[error("proposal {op} for epoch {epoch} is already open (a second one would race it)")]
    Open { epoch: u64, op: OpId },
    /// The proposal breaks a rule.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The ledger did not take the op.
    #[error("ledger: {0}")]
    Ledger(String),
}

impl From<ledger::Error> for Error {
    fn from(error: ledger::Error) -> Self {
        match error {
            ledger::Error::Closed => Error::Closed,
            // Passing states of the ledger: the node cannot propose yet; asked again, it will.
            ledger::Error::Recovering => {
                Error::NotReady("recovering this node's own chain from its peers")
            }
            ledger::Error::NotAdmitted => Error::NotReady("not admitted to the committee yet"),
            other => Error::Ledger(other.to_string()),
        }
    }
}

/// A proposal this node made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposed {
    /// Its `Propose` op.
    pub op: OpId,
    pub digest: Digest,
    pub proposal: CommitteeProposal,
}

/// An open (or certified, not yet carried out) proposal, as this node counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub op: OpId,
    pub author: PublicKey,
    pub digest: Digest,
    pub proposal: CommitteeProposal,
    /// Approvals that count (valid partials of the current epoch's players, one per voter).
    pub approvals: usize,
    pub required: usize,
    /// Votes that do not count (an old epoch's share, a non-player, a repeat).
    pub refused: usize,
    /// A certificate is held.
    pub certified: bool,
}

/// What governance looks like from this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The epoch of this node's latest DKG output (`None` before the first one).
    pub epoch: Option<u64>,
    /// Every committee of the chain, epoch 0 first: genesis, then certified.
    pub committees: Vec<Committee>,
    /// The last epoch the chain defines; when it is beyond `epoch`, its reshare is pending.
    pub last_epoch: u64,
    /// Proposals held for epochs after the chain's last.
    pub proposals: Vec<Open>,
    /// Epochs with more than one certificate (beyond the fault bound).
    pub conflicts: Vec<u64>,
    /// Votes this node appended, certificates it appended.
    pub voted: u64,
    pub certified: u64,
}

pub(super) enum Request {
    Propose {
        change: Box<Change>,
        reason: String,
        reply: oneshot::Sender<Result<Proposed, Error>>,
    },
    Status {
        reply: oneshot::Sender<Result<Status, Error>>,
    },
}

/// How the node and the admin API reach the governance actor.
#[derive(Clone)]
pub struct Mailbox {
    sender: mpsc::Sender<Request>,
}

/// The receiving end of a [`Mailbox`].
pub struct Inbox {
    pub(super) receiver: mpsc::Receiver<Request>,
}

/// A mailbox and its inbox.
pub fn mailbox(size: usize) -> (Mailbox, Inbox) {
    let (sender, receiver) = mpsc::channel(size);
    (Mailbox { sender }, Inbox { receiver })
}

impl Mailbox {
    /// Proposes `change` of the current committee for the next epoch (see the actor's docs);
    /// resolves once the `Propose` op is durable and broadcast.
    pub async fn propose(&mut self, change: Change, reason: String) -> Result<Proposed, Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Propose {
                change: Box::new(change),
                reason,
                reply,
            })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }

    /// The committees, the open proposals and their counts.
    pub async fn status(&mut self) -> Result<Status, Error> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Status { reply })
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node recovering its own chain, or not admitted yet, is not ready (the node's admin API
    /// answers 503: ask again), not failing.
    #[test]
    fn passing_ledger_states_are_not_ready() {
        for passing in [ledger::Error::Recovering, ledger::Error::NotAdmitted] {
            assert!(matches!(Error::from(passing), Error::NotReady(_)));
        }
        assert!(matches!(Error::from(ledger::Error::Closed), Error::Closed));
        assert!(matches!(
            Error::from(ledger::Error::AlreadyCertified),
            Error::Ledger(_)
        ));
    }
}
