//! The barrier walk ([`super::Task::Walk`]) and the cluster-wide shutdown handshake every
//! ceremony ends with.
//!
//! Crash safety: each step is recorded durably before it is announced, and completion (all
//! members at the last step) is recorded before the shutdown handshake. A restarted node resumes
//! the walk at its recorded step (the barrier then accepts peers around that step). One that had
//! completed only rejoins the shutdown handshake (its peers may be waiting for its announcement
//! or acknowledgement), bounded by the shutdown timeout. Once every member reached the last step
//! the walk is complete; a shutdown handshake that cannot finish after that (peers crashed or
//! left) is reported as [`Event::ShutdownIncomplete`] rather than failing the completed walk.
//!
//! Connecting a walk has no overall deadline: a node started before its peers waits for them,
//! reporting the members still missing (an [`Event::WaitingForPeers`]) every phase timeout. Each
//! single wait is still bounded, and any barrier error (a refused hello, a broken rule) ends the
//! wait at once. The steps after connecting each have the phase timeout as their deadline.

use super::error::EngineError;
use crate::{
    barrier::{self, BarrierError},
    cluster::Timing,
    trace::{Event, Tracer},
};
use cohort_storage::meta::NodeMeta;

/// Waits until every member is connected (see the module docs).
async fn connect<T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    timing: &Timing,
    tracer: &T,
) -> Result<(), EngineError> {
    loop {
        match mailbox.await_all_connected(timing.phase_timeout).await {
            Ok(()) => return Ok(()),
            Err(BarrierError::Timeout { missing, .. }) => {
                tracer.record(Event::WaitingForPeers { missing })
            }
            Err(error) => return Err(EngineError::from(error)),
        }
    }
}

/// The barrier walk: steps `resume_step.max(1)..=steps`, each recorded before it is announced,
/// then completion recorded, then the shutdown handshake (whose result it returns). A node that
/// had completed before this start only rejoins the handshake.
pub(super) async fn walk<E: cohort_storage::Context, T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    mut meta: NodeMeta<E>,
    resume_step: u64,
    steps: u64,
    timing: &Timing,
    tracer: &T,
) -> Result<bool, EngineError> {
    if meta.done() {
        // Completed before this restart. Peers still in the shutdown handshake may be waiting
        // for our announcement or acknowledgement: rejoin it at once (peers that already left
        // cannot be waited for).
        return Ok(shutdown_handshake(mailbox, timing, tracer).await);
    }
    connect(mailbox, timing, tracer).await?;
    for step in resume_step.max(1)..=steps {
        if step > meta.barrier_step() {
            meta.record_barrier_step(step).await?;
        }
        mailbox.set_step(step).await?;
        mailbox
            .await_all_at_step(step, timing.phase_timeout)
            .await?;
    }
    meta.record_done().await?;
    // Every member reached the last step: the walk is complete, whatever happens to the
    // handshake that follows.
    Ok(shutdown_handshake(mailbox, timing, tracer).await)
}

/// Announces shutdown and waits (bounded) for every peer's acknowledgement and announcement.
/// Returns whether it completed; when it cannot (peers crashed or left), that is reported as
/// [`Event::ShutdownIncomplete`] rather than failing the ceremony that preceded it.
pub(super) async fn shutdown_handshake<T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    timing: &Timing,
    tracer: &T,
) -> bool {
    let handshake = async {
        mailbox.shutdown(timing.shutdown_timeout).await?;
        mailbox.await_all_shutdown(timing.shutdown_timeout).await
    };
    match handshake.await {
        Ok(()) => true,
        Err(error) => {
            tracer.record(Event::ShutdownIncomplete {
                error: error.to_string(),
            });
            false
        }
    }
}
