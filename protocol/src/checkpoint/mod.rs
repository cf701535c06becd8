//! Checkpoints (`../shared/SPEC.md` section 5): a member's presence history, proposed by that
//! member, voted on by the others within a tolerance, and certified by one threshold signature
//! of the cluster's group key.
//!
//! The actor (`actor.rs`: proposing, voting, counting, finalizing; `ingress.rs`: its mailbox;
//! `metrics.rs`) is built on pure parts, each unit-tested on its own. They live in
//! [`crate::vote`] and [`crate::ledger::view`], below the ledger, because the ledger stores
//! and verifies certified checkpoints (re-exported here):
//!
//! - [`observation`]: what a checkpoint says about its subject (restarts, total uptime, first
//!   seen), the tolerance a voter judges a proposal by, and the trimmed mean round 2 proposes;
//! - [`tally`]: the count of one proposal's votes: one vote per voter whatever a hostile voter
//!   sends, every approving partial signature checked on arrival, and the certificate (one
//!   96-byte threshold signature) recovered the moment `t` approvals are in;
//! - `view`: a member's view of a subject, derived from the ledger (the subject's latest
//!   certified checkpoint and its ops after it), which is what a voter compares a proposal with;
//! - [`wire`]: the subject's signed proposal (whose digest the partials sign) and a member's
//!   signed vote, with bounded codecs.
//!
//! # Why not `commonware-consensus`'s `aggregation`
//!
//! `aggregation` certifies one dense sequence of heights whose digest every validator computes
//! by itself, and counts only identical digests. A checkpoint vote is different in kind: one
//! member proposes, the others compare the proposal with their own view and either approve
//! (a partial signature over the proposal's digest) or disagree (their own observation, which
//! round 2's trimmed mean is drawn from); proposals are sparse (one per subject per interval)
//! and a certificate must end up in the ledger, not in a second journal. So the votes are
//! counted here, with commonware-cryptography's threshold operations
//! (`ops::threshold::{sign_message, verify_message, recover}`, `ops::verify_message`), which are
//! what `aggregation`'s threshold scheme is built on.

mod actor;
mod ingress;
mod metrics;

pub use crate::ledger::view;
pub use crate::vote::{
    Counted, Observation, Refusal, Settings, SettingsError, Tally, Tolerance, Vote, observation,
    settings, tally, trimmed_mean, wire,
};
pub use actor::{Actor, Config, MAX_OUTBOX};
pub use ingress::{Closed, Inbox, Mailbox, Status, mailbox};
