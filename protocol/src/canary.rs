//! Canaries: realistic bugs planted in the protocol code, to prove that the simulator's
//! campaigns catch what they are meant to catch (`cohort-sim explore --canary NAME`).
//!
//! A canary site is `if crate::canary!(Name) { ...the bug... }`. Without the `canary` cargo
//! feature (every default build, the node's and the simulator's) the macro is the constant
//! `false`: the planted branch is dead code the compiler drops, nothing can plant a canary
//! ([`plant`] refuses), and the marker a test looks for is not in the binary. With it, a site is taken only on the thread
//! whose run enabled that canary ([`plant`]): the simulator runs each seed on one thread (the
//! deterministic runtime is single-threaded), so parallel runs of one process may plant
//! different canaries, or none.
//!
//! The canaries, each a mistake a protocol engineer could make:
//! - `repeated-vote`: a checkpoint voter's repeated approval is counted again
//!   (`vote::tally`).
//! - `ack-before-sync`: a DKG player sends its ack before the dealing it acknowledges is synced
//!   (the dealing is written, and only synced by whatever sync comes next) (`dkg::ceremony`).
//! - `first-page-only`: a backfill server says every page is the last one
//!   (`ledger::backfill::server`).
//! - `pending-not-drained`: ops waiting in the pending buffer for a parent that a backfill
//!   page brings are not released when it is applied (`ledger::dag`, `ledger::sync`).
//! - `step-after-refusal`: the barrier records a peer's step from a `Sync` it refuses (a
//!   session whose hello failed validation, or a step that breaks the rules) (`barrier::state`).

/// A planted bug (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Canary {
    RepeatedVote,
    AckBeforeSync,
    FirstPageOnly,
    PendingNotDrained,
    StepAfterRefusal,
}

impl Canary {
    /// Every canary.
    pub const ALL: [Canary; 5] = [
        Canary::RepeatedVote,
        Canary::AckBeforeSync,
        Canary::FirstPageOnly,
        Canary::PendingNotDrained,
        Canary::StepAfterRefusal,
    ];

    /// Its name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Canary::RepeatedVote => "repeated-vote",
            Canary::AckBeforeSync => "ack-before-sync",
            Canary::FirstPageOnly => "first-page-only",
            Canary::PendingNotDrained => "pending-not-drained",
            Canary::StepAfterRefusal => "step-after-refusal",
        }
    }

    /// The canary named `name`.
    pub fn from_name(name: &str) -> Option<Canary> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Every name, comma separated.
    pub fn names() -> String {
        Self::ALL.map(Canary::name).join(", ")
    }
}

/// Whether this build has the canaries compiled in (the `canary` feature).
pub const COMPILED: bool = cfg!(feature = "canary");

#[cfg(feature = "canary")]
mod planted {
    use crate::canary::Canary;
    use std::cell::Cell;

    /// Marks a binary built with the canaries (a test looks for it in the default binary and
    /// must not find it).
    pub static MARKER: &str = "cohort-canary-planted-bugs-compiled-in";

    std::thread_local! {
        static ACTIVE: Cell<Option<Canary>> = const { Cell::new(None) };
    }

    pub fn plant(canary: Option<Canary>) {
        std::hint::black_box(MARKER);
        ACTIVE.with(|a| a.set(canary));
    }

    pub fn active(canary: Canary) -> bool {
        ACTIVE.with(|a| a.get()) == Some(canary)
    }
}

/// Plants `canary` (or none) for the runs of this thread. Without the `canary` feature,
/// planting one is an error: the bug is not in this build.
pub fn plant(canary: Option<Canary>) -> Result<(), &'static str> {
    #[cfg(feature = "canary")]
    {
        planted::plant(canary);
        Ok(())
    }
    #[cfg(not(feature = "canary"))]
    match canary {
        None => Ok(()),
        Some(_) => Err("this build has no canaries: build with `--features canary`"),
    }
}

/// Whether `canary` is planted on this thread (always `false` without the `canary` feature).
#[cfg(feature = "canary")]
pub fn active(canary: Canary) -> bool {
    planted::active(canary)
}

/// `canary!(Name)`: whether the planted bug `Name` is to be taken here; the constant `false`
/// without the `canary` feature.
#[macro_export]
macro_rules! canary {
    ($name:ident) => {{
        #[cfg(feature = "canary")]
        let planted = $crate::canary::active($crate::canary::Canary::$name);
        #[cfg(not(feature = "canary"))]
        let planted = false;
        planted
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for canary in Canary::ALL {
            assert_eq!(Canary::from_name(canary.name()), Some(canary));
        }
        assert!(Canary::from_name("nope").is_none());
        assert!(!canary!(RepeatedVote) || COMPILED);
    }
}
