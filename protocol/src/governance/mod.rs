//! Governance (issue 13), above the ledger: the actor that proposes committees for an
//! operator, votes on the proposals it holds ([`crate::committee::ballot`]) and certifies the
//! ones `t` members approved; all three are ledger ops (see [`crate::committee`]'s design).
//!
//! - `actor.rs`: the actor (its docs say when it proposes, votes and certifies);
//! - `ingress.rs`: its mailbox ([`Mailbox::propose`], [`Mailbox::status`]);
//! - [`count`]: the count of one proposal's `Vote` ops with the checkpoint vote machinery
//!   ([`crate::vote::Tally`]), and its certificate once `t` approvals are in;
//! - `metrics.rs`.
//!
//! Its settings are [`crate::committee::Settings`] (the ledger's settings carry them).

mod actor;
pub mod count;
mod ingress;
mod metrics;

pub use actor::{Actor, Config};
pub use count::{Count, count};
pub use ingress::{Change, Error, Inbox, Mailbox, Open, Proposed, Status, mailbox};
