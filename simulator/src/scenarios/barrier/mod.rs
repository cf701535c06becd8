//! The barrier scenarios (`barrier`, `barrier-crash`, `barrier-mismatch`, `barrier-byzantine`): the step barrier on a
//! lossy, jittery simulated network.
//!
//! `barrier`: every node (2..=10 drawn unless `--nodes`) walks steps `1..=S` (S = 3..=8 drawn)
//! under latency, jitter and loss, then all shut down together. Invariants:
//! - `walk-completes`: every node's engine ends `Ok` (no barrier error, no timeout);
//! - `every-node-reaches-every-step`: every node set every step and saw all members at `S`;
//! - `step-never-regresses` (online, [`observer`]): no node's own or observed peer step ever goes
//!   down;
//! - `shutdown-completes`: every node finished the shutdown handshake;
//! - `no-hang`: every engine ends before [`run::SCENARIO_DEADLINE`].
//!
//! `barrier-crash`: as `barrier`, while nodes crash at drawn times and restart from their own
//! storage after a drawn downtime. A crash stops all of the node's tasks and loses its unsynced
//! writes. Invariants: `walk-completes`, `every-node-reaches-every-step`,
//! `step-never-regresses` (across restarts) and `no-hang`. Shutdown completion is not required
//! when nodes crash: a handshake that outlives its timeout because peers keep crashing is
//! reported (`shutdown_incomplete`), which the spec allows.
//!
//! `barrier-mismatch`: one node (drawn) has another protocol version or cluster hash.
//! Invariants: `mismatch-reported` (every honest node's waits return an error naming the odd
//! node, within [`run::REPORT_DEADLINE`] of simulated time), `odd-node-refused` (the odd node
//! fails too), `honest-not-blocked` (no honest node blocks another), and `no-hang`.
//!
//! `barrier-byzantine`: one member (drawn) is a liar playing the barrier's wire itself
//! ([`liar`]): steps that jump, steps that go back, or hellos for another cluster.
//! Invariants: `barrier-liar-reported` (every honest node's waits return an error naming the
//! liar within [`run::REPORT_DEADLINE`], and a liar that broke a step rule is blocked by every
//! honest node), `step-never-regresses` (no honest node's view of the liar goes down either),
//! `honest-not-blocked` and `no-hang`.
//!
//! Parts: [`mod@plan`] (the family's part of the fault plan and its draw), [`mod@run`] (the run and its
//! checks), [`observer`] (what the checks need from the trace).

pub mod liar;
pub mod observer;
pub mod plan;
pub mod run;

pub use observer::{BarrierObserver, observers};
pub use plan::{BarrierPlan, Kind, Mismatch, plan};
pub use run::run;
