//! The DKG scenarios (`dkg`, `dkg-crash`, `dkg-absent`, `dkg-byzantine`, `dkg-log-liars`,
//! `reshare`, the reshare variants, `barrier-meta-loss`, `barrier-repair`) on a lossy, jittery
//! simulated network.
//!
//! `dkg`: n members (4..=16 drawn unless `--nodes`), threshold `t = N3f1::quorum(n)`, run the
//! ceremony and the shutdown handshake. `dkg-crash`: the same while members crash at drawn times
//! and at drawn crash points (right after a journal sync, e.g. between persisting a dealing and
//! sending its ack) and restart from their own storage, with a phase timeout
//! ([`plan::CRASH_PHASE_TIMEOUT`]) about as long as an outage. `dkg-absent` draws one of three
//! worlds (a shorter phase timeout, [`plan::ABSENT_PHASE_TIMEOUT`], keeps it short): `f + 1`
//! members (so fewer than a quorum are live) start only after 2.5 to 4 phase timeouts, and the
//! others must wait for them rather than fail; or `f` members never start, and the others must
//! finish without them; or `f` members start after 1 to 2 phase timeouts, mostly once the others
//! finished without them, and must finish the round from the others' decision and decided logs
//! (what a member down across the end of a round needs). `dkg-byzantine`: as `dkg`, with one member lying on the DKG channel (see
//! [`byzantine`]; the misbehaviour, the liar and its victims are drawn: bad shares to some
//! players, a second polynomial's dealing to some players, acks validly signed for another
//! dealing, or junk frames next to its real ones) while members crash and restart as in
//! `dkg-crash`, so a lie and an outage can hit one round together. `dkg-log-liars`: the same,
//! the liar lying about its own log (two validly signed logs to two halves, its log only at the
//! end of the log phase, or to at most `f` members). A member that proves hostile is muted on the
//! DKG channel (its logs and decisions still count), not blocked. `reshare`: nodes `0..k`
//! (k = 4..=14) run epoch 0 while nodes `k` and `k + 1` observe it; epoch 1 reshares the key to a
//! committee where node `k` replaces a drawn member and node `k + 1` is added; members crash and
//! restart as in `dkg-crash`. `reshare-byzantine`: the same with a liar of epoch 0's committee
//! (any lie of `dkg-byzantine`); `reshare-dead-member`: the member being replaced never starts
//! (down for good), and both epochs finish without it. `barrier-repair`: `f` members never
//! start and one of the others starts misconfigured (another minor protocol version or another
//! cluster hash, drawn), so its peers refuse it and record it faulty; its operator repairs it at
//! a drawn time (0.5 to 8 s: the process is stopped, or has already failed, and starts again
//! with the right definition from its own storage). Blocks last a drawn 1 to 15 s: the faults
//! recorded of it expire, its peers open sessions to it again, and the ceremony, which cannot
//! finish without it, completes with it.
//!
//! Invariants:
//! - `dkg-completes`: every (honest, started) node's engine ends `Ok` with a result for the last
//!   epoch: restarted nodes too;
//! - `same-group-key`: every node holds the same public polynomial (and so group key), and the
//!   group key every node traced on finishing is that one;
//! - `same-log-set`: in every round, every honest member's agreement decided the same, and the
//!   members that finished a round finalized over the same dealers;
//! - `share-consistent`, `threshold-recovers`, `fewer-than-t-fail`: see
//!   `cohort_protocol::dkg::check::threshold`, over a message drawn from the seed, over the
//!   honest members' shares once every honest member finished;
//! - `one-polynomial-per-dealer`, `one-ack-per-dealer` (online, from the trace, across restarts);
//! - `step-never-regresses` (online): the barrier the phases run on, as in the barrier scenarios;
//! - `no-hang`: every engine ends before [`run::SCENARIO_DEADLINE`].
//! - `misbehaviour-detected` (`dkg-byzantine`, `dkg-log-liars`): every victim refused the liar's
//!   input for what it is (an invalid dealing, an invalid ack, an undecodable frame; two dealings
//!   and the log lies are each valid alone, so there only the outcome is checked);
//!   `honest-never-muted`: no honest member muted another; and every invariant above holds over
//!   the honest members (the liar is left out);
//! - `equivocating-dealer-excluded` (`dkg-log-liars`): no honest member voted for a fresh log
//!   set with a dealer it had proved to sign two logs, and a dealer every honest member had
//!   proved so before the round's first honest vote is in no decided set;
//! - `key-unchanged-by-reshare` (`reshare`): every node finishes every epoch, and the group key
//!   it reports for each is epoch 0's; `shares-follow-committee`: after the reshare exactly the
//!   new committee's members hold shares (the replaced member holds none, the newcomers do), and
//!   the threshold checks run over the new committee's shares;
//! - `absent-reported` (`dkg-absent`, the world of `f + 1` late members): while the late members are away, every live
//!   member reports one of them missing within a phase timeout and a margin of the start (no
//!   hang); `absent-waited-for`: nobody finishes a round before the first late member started
//!   (no quorum without them), and the ceremony then finishes (`dkg-completes`).
//! - `no-permanent-block` (`barrier-repair`): every honest peer still running by then saw the
//!   repaired member's step after the repair, was seen by it, and had every fault it recorded of
//!   it expired, within the block expiry and [`checks::ADMIT_SLACK`] of the repair or of its last
//!   fault; `honest-not-blocked` there excuses the faults of the member's misconfigured life
//!   (recorded by it before the repair, or of it until a second after).
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
