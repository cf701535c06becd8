//! Buggify points: rare paths the simulator makes common.
//!
//! `if crate::buggify!(Point) { ...take the rare path... }` marks a place where the world may
//! legitimately do something unusual: a peer answers `Busy`, a page comes short, a frame is
//! lost, a timeout fires early, a sync is slow. The rare path must be one the protocol already
//! has to survive; buggify only makes a campaign walk it often.
//!
//! - In a production build (without the `sim` feature, as `cargo build -p cohort-node` builds
//!   the node) the macro is the constant `false`: the branch is dead code.
//! - In the simulator, a run *arms* the points its fault plan enabled, each with a firing
//!   probability drawn from the seed (`cohort-sim plan` prints them), on the thread that runs it
//!   (the deterministic runtime is single-threaded). Whether a point fires is drawn from a ChaCha
//!   RNG seeded from the plan, consumed only when an enabled point is reached, so a run with no
//!   point enabled draws nothing and keeps its digest, and a seed replays bit for bit.
//! - A thread that armed nothing (the node on tokio, unit tests) never fires a point.

/// A rare path (see the module docs). Names are what plans print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    /// A backfill server answers `Busy` although it has tokens left.
    BackfillBusy,
    /// A backfill server sends a page of one op (the client pages on).
    BackfillShortPage,
    /// A gossip frame is lost before it leaves (backfill must recover the ops).
    GossipDrop,
    /// A backfill request's reply timeout fires at once (the fetch fails; the scheduler backs
    /// off and retries).
    BackfillTimeout,
    /// The DKG's deal window is cut to a quarter of its length (missing acks go to the log as
    /// revealed shares).
    DkgShortDealWindow,
    /// A DKG journal sync is delayed before it completes.
    DkgSlowSync,
    /// A checkpoint voter holds its vote to the end of the jitter it may wait.
    CheckpointLateVote,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 7] = [
        Point::BackfillBusy,
        Point::BackfillShortPage,
        Point::GossipDrop,
        Point::BackfillTimeout,
        Point::DkgShortDealWindow,
        Point::DkgSlowSync,
        Point::CheckpointLateVote,
    ];

    /// Its name in plans.
    pub const fn name(self) -> &'static str {
        match self {
            Point::BackfillBusy => "backfill_busy",
            Point::BackfillShortPage => "backfill_short_page",
            Point::GossipDrop => "gossip_drop",
            Point::BackfillTimeout => "backfill_timeout",
            Point::DkgShortDealWindow => "dkg_short_deal_window",
            Point::DkgSlowSync => "dkg_slow_sync",
            Point::CheckpointLateVote => "checkpoint_late_vote",
        }
    }

    /// The point named `name`.
    pub fn from_name(name: &str) -> Option<Point> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    #[cfg(feature = "sim")]
    fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).expect("listed")
    }
}

#[cfg(feature = "sim")]
mod armed {
    use crate::buggify::Point;
    use rand::{RngExt as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;
    use std::cell::RefCell;

    pub struct State {
        pub per_mille: [u32; Point::ALL.len()],
        pub fired: [u64; Point::ALL.len()],
        rng: ChaCha8Rng,
    }

    std::thread_local! {
        pub static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    }

    pub fn arm(points: &[(Point, u32)], seed: u64) {
        let mut per_mille = [0; Point::ALL.len()];
        for (point, p) in points {
            per_mille[point.index()] = (*p).min(1000);
        }
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                per_mille,
                fired: [0; Point::ALL.len()],
                rng: ChaCha8Rng::seed_from_u64(seed),
            })
        });
    }

    pub fn disarm() -> Vec<(Point, u64)> {
        STATE.with(|s| {
            s.borrow_mut()
                .take()
                .map(|state| {
                    Point::ALL
                        .into_iter()
                        .zip(state.fired)
                        .filter(|(_, n)| *n > 0)
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    pub fn fire(point: Point) -> bool {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            let Some(state) = s.as_mut() else {
                return false;
            };
            let p = state.per_mille[point.index()];
            if p == 0 {
                return false;
            }
            let fired = state.rng.random_range(0..1000) < p;
            if fired {
                state.fired[point.index()] += 1;
            }
            fired
        })
    }
}

/// Arms `points` (each with its firing probability in per-mille) for the runs of this thread,
/// firing from an RNG seeded with `seed` (simulator only).
#[cfg(feature = "sim")]
pub fn arm(points: &[(Point, u32)], seed: u64) {
    armed::arm(points, seed)
}

/// Disarms this thread's points; returns how often each fired (those that did), in point
/// order.
#[cfg(feature = "sim")]
pub fn disarm() -> Vec<(Point, u64)> {
    armed::disarm()
}

/// Whether `point` fires here (draws only when it is armed and enabled).
#[cfg(feature = "sim")]
pub fn fire(point: Point) -> bool {
    armed::fire(point)
}

/// `buggify!(Point)`: whether to take the rare path `Point` here; the constant `false` in a
/// production build (see the module docs).
#[macro_export]
macro_rules! buggify {
    ($point:ident) => {{
        #[cfg(feature = "sim")]
        let fired = $crate::buggify::fire($crate::buggify::Point::$point);
        #[cfg(not(feature = "sim"))]
        let fired = false;
        fired
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sim")]
    #[test]
    fn unarmed_never_fires_and_armed_fires_at_its_rate() {
        assert!(!buggify!(BackfillBusy));
        arm(&[(Point::BackfillBusy, 500), (Point::GossipDrop, 1000)], 7);
        let fired = (0..1000).filter(|_| buggify!(BackfillBusy)).count();
        assert!((400..600).contains(&fired), "{fired}");
        assert!(buggify!(GossipDrop));
        assert!(!buggify!(DkgSlowSync));
        let counts = disarm();
        assert_eq!(counts[0], (Point::BackfillBusy, fired as u64));
        assert_eq!(counts[1], (Point::GossipDrop, 1));
        assert!(!buggify!(GossipDrop));
        for point in Point::ALL {
            assert_eq!(Point::from_name(point.name()), Some(point));
        }
    }
}
