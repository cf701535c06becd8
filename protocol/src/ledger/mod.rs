//! The replicated ledger (SPEC sections 3 and 4): signed ops ([`op`]) in a DAG ([`dag`]), kept
//! by the ledger actor, which gossips ([`wire`]) and backfills ([`backfill`]).
//!
//! Dependencies point one way: [`op`] and [`dag`] know nothing of the network; [`backfill`]
//! (wire, server, client) builds on them; the actor drives both. The actor reads as:
//!
//! - `actor.rs`: its config, state, loop, own ops and persistence;
//! - `ingress.rs`: the [`Mailbox`] other actors and the admin API use;
//! - `gossip.rs`: received ops and the digest exchange;
//! - `serve.rs`: the backfill channel and the server side;
//! - `sync.rs`: backfill rounds, client side;
//! - `own.rs`: what the op store held at open, and own-chain recovery before authoring;
//! - `metrics.rs`: its metrics.

mod actor;
pub mod backfill;
pub mod dag;
mod gossip;
mod ingress;
mod metrics;
pub mod op;
pub mod own;
mod serve;
mod sync;
pub mod view;
pub mod wire;

pub use actor::{Actor, Config, REQUEST_ATTEMPTS, Settings};
pub use dag::{Ballot, Dag, Outcome, Proposal, Reason};
pub use ingress::{Error, Governance, Inbox, Mailbox, PeerStatus, Status, SubjectView, mailbox};
pub use op::{Op, OpId, OpKind, SignedOp};
