//! The replicated ledger (SPEC section 3): signed ops ([`op`]) in a DAG ([`dag`]).

pub mod dag;
pub mod op;

pub use dag::{Dag, Outcome, Reason};
pub use op::{Op, OpId, OpKind, SignedOp};
