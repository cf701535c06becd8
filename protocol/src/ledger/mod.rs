//! The replicated ledger (SPEC section 3): signed ops ([`op`]) in a DAG ([`dag`]), kept by the
//! ledger [`actor`], which gossips ([`wire`]) and backfills ([`crate::backfill`]).

pub mod actor;
pub mod dag;
pub mod op;
pub mod wire;

pub use dag::{Dag, Outcome, Reason};
pub use op::{Op, OpId, OpKind, SignedOp};
