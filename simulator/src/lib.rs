//! Cohort's deterministic simulator.
//!
//! Runs many nodes of the *same* protocol code (`cohort_protocol::Engine`) in one process, on
//! commonware's deterministic runtime and simulated network. Faults are drawn from the seed into a
//! printable [`plan::FaultPlan`]; invariants are checked on the protocol's trace and on each
//! node's outcome; and the run digest (sha256 over the runtime auditor and every trace event)
//! makes any seed replay bit for bit.

pub mod bench;
pub mod byzantine;
pub mod explore;
pub mod ledger_bench;
pub mod ledger_byzantine;
pub mod plan;
pub mod run;
pub mod scenarios;
pub mod trace;

pub use run::{RunOptions, RunReport, run, run_checked};
pub use scenarios::{DEFAULT_SCENARIO, Scenario, Violation};
