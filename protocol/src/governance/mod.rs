//! The governance actor's parts (issue 13), above the ledger: it proposes committees, votes on
//! the proposals it holds ([`crate::committee::ballot`]) and certifies the ones `t` members
//! approved.
//!
//! - [`count`]: the count of one proposal's `Vote` ops with the checkpoint vote machinery
//!   ([`crate::vote::Tally`]), and its certificate once `t` approvals are in.
//!
//! The actor itself (proposing from the admin API, voting after a settle delay, appending the
//! `Certify` op) is the next step of issue 13.

pub mod count;

pub use count::{Count, count};
