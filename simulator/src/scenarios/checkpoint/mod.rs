//! The checkpoint scenarios (`checkpoint`).
//!
//! `checkpoint`: n members (4..=10 drawn unless `--nodes`) run the epoch 0 DKG, the ledger
//! (heartbeats every [`run::HEARTBEAT`]) and the checkpoint protocol over lossy, jittery links
//! for 3 or 4 simulated "days" after the first, with a day scaled to
//! [`plan::INTERVAL_MS`] (the vote window to [`plan::WINDOW_MS`], the proposal check to
//! [`plan::CHECK_MS`]), while members crash at drawn times (unsynced writes lost, as in
//! `ledger-crash`) and restart from their storage. Then every link heals and the cluster
//! quiesces for two windows and a check, and the invariants are judged on every member's
//! final ledger.
//!
//! Invariants (besides the ledger's):
//! - `checkpoints-verify`: every checkpoint op in every ledger carries a certificate that
//!   verifies under the group key over its proposal's digest, names the subject's previous
//!   checkpoint and has a later `as_of`;
//! - `one-checkpoint-per-position`: every ledger holds the same checkpoints at each position of
//!   each subject's chain;
//! - `certified-within-tolerance`: every certified value is within tolerance of the honest
//!   members' view at its `as_of` (derived from the final ledger from the previous
//!   checkpoint, independently of the protocol code), and a round 1 value is that view exactly;
//! - `observations-agree`: every member's ledger gives the same view of every subject at the
//!   end, equal to the one derived from the subject's history here;
//! - `checkpoint-liveness`: no subject goes longer than an interval (plus the check period,
//!   two windows, 20 s, and each outage within the gap with a window and a check; plus 60 s
//!   for the DKG on the first day) between its first op, its checkpoints and the end.
//!
//! Parts: [`mod@plan`], [`mod@run`], [`checks`], [`observer`].

pub mod checks;
pub mod observer;
pub mod plan;
pub mod run;

pub use observer::{CheckpointObserver, observers};
pub use plan::{CheckpointPlan, Kind, plan};
pub use run::{run, settings};
