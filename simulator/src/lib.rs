//! Cohort's deterministic simulator.
//!
//! Runs many nodes of the *same* protocol code (`cohort_protocol::Engine`) in one process, on
//! commonware's deterministic runtime and simulated network. Faults are drawn from the seed into a
//! printable fault plan; invariants are checked on the protocol's trace and on each node's
//! outcome; and the run digest (sha256 over the runtime auditor and every trace event) makes any
//! seed replay bit for bit.
//!
//! The parts, each depending only on the ones above it:
//! - [`invariant`]: the invariant catalogue, [`Violation`] and the per-run [`invariant::Checks`];
//! - [`trace`]: the tracer and its sink (run digest, trace file, crash points), and the
//!   [`trace::Observer`] trait every protocol family's observer implements;
//! - [`mod@plan`]: the fault plan's common core and the seeded draws;
//! - [`world`]: identities, cluster, simulated network (cut, heal) and each node's lives;
//! - [`scenarios`]: the catalogue ([`scenarios::SCENARIOS`]) and one folder per protocol family
//!   (`barrier`, `dkg`, `ledger`: plan part, run and checks, observer, byzantine roles);
//! - [`mod@run`]: one seed of one scenario and its report; [`explore`]: a range of seeds in parallel;
//! - [`mod@bench`]: `cohort-sim bench dkg` and `bench ledger`.

pub mod bench;
pub mod canaries;
pub mod crash_points;
pub mod explore;
pub mod invariant;
pub mod plan;
pub mod run;
pub mod scenarios;
pub mod trace;
pub mod world;

pub use invariant::{Invariant, Violation};
pub use run::{RunOptions, RunReport, run, run_checked};
pub use scenarios::{DEFAULT_SCENARIO, FaultPlan, Scenario};
