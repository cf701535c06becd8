//! The checkpoint actor's mailbox: [`Mailbox::status`] is answered from the actor's state (a
//! full mailbox or a stopped actor give [`Closed`], never a hang). Its settings are
//! [`crate::vote::Settings`].

use futures::channel::{mpsc, oneshot};
use thiserror::Error;

/// The actor is not running.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("checkpoint actor not running")]
pub struct Closed;

/// What the checkpoint actor is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node holds a share and can vote.
    pub ready: bool,
    /// The round of this node's proposal open for votes, and its approvals so far.
    pub voting: Option<(u8, usize)>,
    /// When this node's next proposal is due (ms since the Unix epoch, its clock).
    pub next_due_ms: Option<u64>,
    pub certified: u64,
    pub rounds_failed: u64,
}

pub(super) enum Request {
    Status { reply: oneshot::Sender<Status> },
}

/// How the node and the admin API reach the checkpoint actor.
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
    /// What the actor is doing.
    pub async fn status(&mut self) -> Result<Status, Closed> {
        let (reply, response) = oneshot::channel();
        self.sender
            .try_send(Request::Status { reply })
            .map_err(|_| Closed)?;
        response.await.map_err(|_| Closed)
    }
}
