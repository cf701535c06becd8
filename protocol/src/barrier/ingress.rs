//! The barrier's mailbox: how other actors (and the engine) use the barrier.
//!
//! Every call may be made before the actor runs (requests queue in the channel) and after it
//! stopped (they return [`BarrierError::Stopped`]). Every wait carries a timeout, enforced by the
//! actor with the runtime clock, so no wait can hang; and every wait returns the recorded error
//! as soon as there is one.

use super::state::{BarrierError, Condition, Status};
use futures::{
    SinkExt as _,
    channel::{mpsc, oneshot},
};
use std::time::Duration;

/// A request to the barrier actor.
pub(crate) enum Request {
    SetStep {
        step: u64,
        reply: oneshot::Sender<Result<(), BarrierError>>,
    },
    Await {
        condition: Condition,
        timeout: Duration,
        reply: oneshot::Sender<Result<(), BarrierError>>,
    },
    Shutdown {
        timeout: Duration,
        reply: oneshot::Sender<Result<(), BarrierError>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    AddMembers {
        members: Vec<crate::cluster::PublicKey>,
        reply: oneshot::Sender<()>,
    },
}

/// Handle to a barrier actor.
#[derive(Clone)]
pub struct Mailbox {
    sender: mpsc::Sender<Request>,
}

impl Mailbox {
    pub(crate) fn new(sender: mpsc::Sender<Request>) -> Self {
        Self { sender }
    }

    async fn ask<T>(
        &mut self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, BarrierError> {
        let (reply, response) = oneshot::channel();
        self.sender
            .send(make(reply))
            .await
            .map_err(|_| BarrierError::Stopped)?;
        response.await.map_err(|_| BarrierError::Stopped)
    }

    /// Sets this node's step (never lower than the current one) and tells every peer.
    pub async fn set_step(&mut self, step: u64) -> Result<(), BarrierError> {
        self.ask(|reply| Request::SetStep { step, reply }).await?
    }

    async fn wait(&mut self, condition: Condition, timeout: Duration) -> Result<(), BarrierError> {
        self.ask(|reply| Request::Await {
            condition,
            timeout,
            reply,
        })
        .await?
    }

    /// Waits until both directions of every peer's session are open.
    pub async fn await_all_connected(&mut self, timeout: Duration) -> Result<(), BarrierError> {
        self.wait(Condition::AllConnected, timeout).await
    }

    /// Waits until this node and every peer are at `step` or beyond, and every peer has seen this
    /// node there (so no member can fall more than one step behind another's view).
    pub async fn await_all_at_step(
        &mut self,
        step: u64,
        timeout: Duration,
    ) -> Result<(), BarrierError> {
        self.wait(Condition::AllAtStep(step), timeout).await
    }

    /// Waits until this node and `quorum` members (this node included) are at `step` or
    /// beyond, each having seen this node there; faulty members count as absent (see
    /// [`Condition::QuorumAtStep`]).
    pub async fn await_quorum_at_step(
        &mut self,
        step: u64,
        quorum: usize,
        timeout: Duration,
    ) -> Result<(), BarrierError> {
        self.wait(Condition::QuorumAtStep(step, quorum), timeout)
            .await
    }

    /// Announces shutdown and waits until every peer acknowledged it.
    pub async fn shutdown(&mut self, timeout: Duration) -> Result<(), BarrierError> {
        self.ask(|reply| Request::Shutdown { timeout, reply })
            .await?
    }

    /// Waits until every peer announced its own shutdown.
    pub async fn await_all_shutdown(&mut self, timeout: Duration) -> Result<(), BarrierError> {
        self.wait(Condition::AllShutdown, timeout).await
    }

    /// A snapshot of the barrier.
    /// Makes every key of `members` a member, if it is not one yet (a committee certified at
    /// runtime admitted it); sessions to the new ones open at once.
    pub async fn add_members(
        &mut self,
        members: Vec<crate::cluster::PublicKey>,
    ) -> Result<(), BarrierError> {
        self.ask(|reply| Request::AddMembers { members, reply })
            .await
    }

    pub async fn status(&mut self) -> Result<Status, BarrierError> {
        self.ask(|reply| Request::Status { reply }).await
    }
}
