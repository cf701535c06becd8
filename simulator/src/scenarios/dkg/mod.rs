//! The DKG scenarios (`dkg`, `dkg-crash`, `dkg-absent`, `dkg-byzantine`, `reshare`) on a lossy,
//! jittery simulated network.
//!
//! `dkg`: n members (4..=16 drawn unless `--nodes`), threshold `t = N3f1::quorum(n)`, run the
//! ceremony and the shutdown handshake. `dkg-crash`: the same while members crash at drawn times
//! and at drawn crash points (right after a journal sync, e.g. between persisting a dealing and
//! sending its ack) and restart from their own storage, with a phase timeout
//! ([`plan::CRASH_PHASE_TIMEOUT`]) about as long as an outage, so attempts also fail and are retried
//! around the crashes. `dkg-absent`: `f + 1` members (so fewer
//! than `t` are live) start only after 2.5 to 4 phase timeouts (a shorter phase timeout,
//! [`plan::ABSENT_PHASE_TIMEOUT`], keeps the run short). `dkg-byzantine`: as `dkg`, with one member
//! lying on the DKG channel (see [`byzantine`]; the misbehaviour, the liar and its victims
//! are drawn: bad shares to some players, a second polynomial's dealing to some players, acks
//! validly signed for another dealing, or junk frames next to its real ones) while members crash
//! and restart as in `dkg-crash`, so a lie and an outage can hit one round together (more faults
//! than it tolerates: the round fails alike everywhere and the next attempt finishes). A member
//! that proves hostile is muted on the DKG channel (its logs still count), not blocked, so the
//! barrier keeps every member. `reshare`: nodes `0..k` (k = 4..=14) run
//! epoch 0 while nodes `k` and `k + 1` observe it; epoch 1 reshares the key to a committee where
//! node `k` replaces a drawn member and node `k + 1` is added; members crash and restart as in
//! `dkg-crash` (so some restart between the epochs, or in epoch 1 with epoch 0 loaded).
//!
//! Invariants:
//! - `dkg-completes`: every node's engine ends `Ok` with an epoch 0 result: restarted nodes too;
//! - `same-group-key`: every node holds the same public polynomial (and so group key), and the
//!   group key every node traced on finishing is that one;
//! - `share-consistent`, `threshold-recovers`, `fewer-than-t-fail`: see
//!   `cohort_protocol::dkg::check::threshold`, over a message drawn from the seed;
//! - `one-polynomial-per-dealer`, `one-ack-per-dealer` (online, from the trace, across restarts);
//! - `step-never-regresses` (online): the barrier the phases run on, as in the barrier scenarios;
//! - `no-hang`: every engine ends before [`run::SCENARIO_DEADLINE`].
//! - `misbehaviour-detected` (`dkg-byzantine`): every victim refused the liar's input for what it
//!   is (an invalid dealing, an invalid ack, an undecodable frame; two dealings are each valid
//!   alone, so there only the outcome is checked); `honest-never-muted`: no honest member muted
//!   another; and every invariant above holds over the honest members (the liar is left out);
//! - `key-unchanged-by-reshare` (`reshare`): every node finishes every epoch, and the group key
//!   it reports for each is epoch 0's; `shares-follow-committee`: after the reshare exactly the
//!   new committee's members hold shares (the replaced member holds none, the newcomers do), and
//!   the threshold checks run over the new committee's shares;
//! - `absent-attempt-fails` (`dkg-absent`): while the late members are away, every live member's
//!   first attempt (round 0) fails within a phase timeout and a margin of the start (no hang), at
//!   least one of them with a deadline error naming a late member (the others may follow it to
//!   the next round before their own deadline); and `absent-later-attempt-succeeds`: once they
//!   come, the ceremony finishes in a later round (with `dkg-completes` and the key checks
//!   above).
//!
//! Parts: [`mod@plan`] (the family's part of the fault plan, its draw and each scenario's timing),
//! [`mod@run`] (the run and the checks of every DKG scenario), [`checks`] (the longer checks of
//! `dkg-absent`, `reshare` and `dkg-byzantine`), [`observer`] (what the checks need from the
//! trace), [`byzantine`] (the liars, one file per misbehaviour).

pub mod byzantine;
pub mod checks;
pub mod observer;
pub mod plan;
pub mod run;

pub use observer::{DkgObserver, observers};
pub use plan::{DkgPlan, Kind, plan};
pub use run::run;
