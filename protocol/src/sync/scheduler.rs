//! The sync scheduler (SPEC section 4) as a pure state machine: when to run anti-entropy, which
//! peer to backfill from next, and how long to back off after failures.
//!
//! - **Rounds.** A round starts when the overall schedule is due ([`Scheduler::due`]). Within a
//!   round the node asks peers one at a time ([`Scheduler::choose`]); a peer that failed or
//!   rejected is skipped for the rest of the round. The round ends as soon as the node is caught
//!   up ([`Scheduler::end_round`] with `caught_up`), or when no peer is left to ask.
//! - **Peer choice.** Anchors first (peers that served valid ops within [`Config::anchor_window`]),
//!   then the most recent success, then the fewest consecutive failures; remaining ties go to the
//!   lowest rank drawn for the round from the caller's RNG, so load spreads over equal peers and
//!   the choice is still a function of the seed.
//! - **Backoff.** After a success the next run is due after the interval. After the k-th
//!   consecutive failure it is due after `max(min(base * 2^(k-1), cap), retry_after)`, with the
//!   peer's `retry_after` clamped to [`MAX_RETRY_AFTER`] and the exponent to [`MAX_EXPONENT`]
//!   ([`failure_delay`]). The rule holds per peer (a peer in backoff is not chosen) and overall
//!   (a round that ends without catching up counts as an overall failure).
//! - **Stale runs.** A round or a peer run still in progress after [`Config::stale_after`] counts
//!   as failed ([`Scheduler::expire_stale`]): a lost response never wedges the scheduler.
//! - **Boot recovery.** It completes when the first round ends, caught up or with every peer
//!   tried. (A node whose peers are all unreachable must still come up; it is then as recovered
//!   as anyone can be.) The checkpoint protocol waits for it.

use rand::RngExt as _;
use rand_core::CryptoRng;
use std::{
    collections::BTreeSet,
    time::{Duration, SystemTime},
};

/// Longest `retry_after` a peer can impose.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

pub use crate::backoff::MAX_EXPONENT;

/// Timing of the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Delay to the next round (or next run with a peer) after a success.
    pub interval: Duration,
    /// Backoff after the first consecutive failure.
    pub base: Duration,
    /// Longest backoff (before `retry_after`).
    pub cap: Duration,
    /// A run in progress for longer than this counts as failed.
    pub stale_after: Duration,
    /// A peer that served valid ops within this window is an anchor.
    pub anchor_window: Duration,
}

/// The delay after the `k`-th consecutive failure (`k >= 1`):
/// `max(min(base * 2^(k-1), cap), min(retry_after, MAX_RETRY_AFTER))`.
pub fn failure_delay(cfg: &Config, k: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = crate::backoff::exponential(cfg.base, k, cfg.cap);
    let retry_after = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
    backoff.max(retry_after)
}

/// One timer: when the next run is due, and whether one is in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    due: SystemTime,
    running_since: Option<SystemTime>,
    failures: u32,
}

impl Schedule {
    /// Due at once.
    pub fn new(now: SystemTime) -> Self {
        Self {
            due: now,
            running_since: None,
            failures: 0,
        }
    }

    /// Whether a run may start now.
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.running_since.is_none() && now >= self.due
    }

    /// When the next run is due.
    pub fn due_at(&self) -> SystemTime {
        self.due
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn start(&mut self, now: SystemTime) {
        self.running_since = Some(now);
    }

    pub fn succeed(&mut self, cfg: &Config, now: SystemTime) {
        self.running_since = None;
        self.failures = 0;
        self.due = now + cfg.interval;
    }

    pub fn fail(&mut self, cfg: &Config, now: SystemTime, retry_after: Option<Duration>) {
        self.running_since = None;
        self.failures = self.failures.saturating_add(1);
        self.due = now + failure_delay(cfg, self.failures, retry_after);
    }

    /// Counts a run in progress for longer than the stale limit as failed; returns whether it did.
    pub fn expire_stale(&mut self, cfg: &Config, now: SystemTime) -> bool {
        match self.running_since {
            Some(since) if now.duration_since(since).unwrap_or_default() > cfg.stale_after => {
                self.fail(cfg, now, None);
                true
            }
            _ => false,
        }
    }
}

/// What the scheduler knows of one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerState {
    pub schedule: Schedule,
    /// When the peer last completed a run for us.
    pub last_success: Option<SystemTime>,
    /// When the peer last served us valid ops.
    pub last_served: Option<SystemTime>,
}

/// The round in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Round {
    /// Peers that failed or rejected in this round, or were asked already.
    skipped: BTreeSet<usize>,
    /// The peer being asked.
    current: Option<usize>,
    /// Tie-break rank of each peer in this round.
    ranks: Vec<u64>,
}

/// The scheduler of one node, over peers `0..n` (indices into the caller's peer list).
#[derive(Clone, Debug)]
pub struct Scheduler {
    cfg: Config,
    overall: Schedule,
    peers: Vec<PeerState>,
    round: Option<Round>,
    rounds_ended: u64,
    boot_recovered: bool,
}

impl Scheduler {
    /// A scheduler over `peers` peers whose first round is due at once.
    pub fn new(cfg: Config, peers: usize, now: SystemTime) -> Self {
        Self {
            cfg,
            overall: Schedule::new(now),
            peers: vec![
                PeerState {
                    schedule: Schedule::new(now),
                    last_success: None,
                    last_served: None,
                };
                peers
            ],
            round: None,
            rounds_ended: 0,
            boot_recovered: false,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Adds a peer (index `n`, after every existing one), due at once; in a round in
    /// progress it ranks after the others.
    pub fn add_peer(&mut self, now: SystemTime) {
        self.peers.push(PeerState {
            schedule: Schedule::new(now),
            last_success: None,
            last_served: None,
        });
        if let Some(round) = &mut self.round {
            round.ranks.push(u64::MAX);
        }
    }

    /// Whether a round may start now.
    pub fn due(&self, now: SystemTime) -> bool {
        self.round.is_none() && self.overall.is_due(now)
    }

    /// When the next round is due (meaningless while one runs).
    pub fn next_round_at(&self) -> SystemTime {
        self.overall.due_at()
    }

    /// Whether a round is in progress.
    pub fn in_round(&self) -> bool {
        self.round.is_some()
    }

    /// Starts a round; `rng` draws the round's tie-break ranks.
    pub fn begin_round(&mut self, now: SystemTime, rng: &mut impl CryptoRng) {
        self.overall.start(now);
        self.round = Some(Round {
            skipped: BTreeSet::new(),
            current: None,
            ranks: (0..self.peers.len()).map(|_| rng.random()).collect(),
        });
    }

    /// The next peer to ask in this round, marked as being asked; `None` when no peer is left
    /// (every peer was skipped or is backing off) or no round runs.
    pub fn choose(&mut self, now: SystemTime) -> Option<usize> {
        let round = self.round.as_ref()?;
        let anchor = |p: &PeerState| {
            p.last_served.is_some_and(|t| {
                now.duration_since(t).unwrap_or_default() <= self.cfg.anchor_window
            })
        };
        let best = (0..self.peers.len())
            .filter(|i| !round.skipped.contains(i) && self.peers[*i].schedule.is_due(now))
            .min_by_key(|i| {
                let p = &self.peers[*i];
                (
                    !anchor(p),
                    std::cmp::Reverse(p.last_success),
                    p.schedule.failures(),
                    round.ranks[*i],
                )
            })?;
        let round = self.round.as_mut().expect("checked");
        round.skipped.insert(best);
        round.current = Some(best);
        self.peers[best].schedule.start(now);
        Some(best)
    }

    /// The peer served a page of `ops` valid new ops (it stays the current peer).
    pub fn served(&mut self, peer: usize, now: SystemTime, ops: usize) {
        if ops > 0
            && let Some(p) = self.peers.get_mut(peer)
        {
            p.last_served = Some(now);
        }
    }

    /// The peer finished its run (its last page said `more == false`).
    pub fn peer_succeeded(&mut self, peer: usize, now: SystemTime) {
        let cfg = self.cfg;
        if let Some(p) = self.peers.get_mut(peer) {
            p.schedule.succeed(&cfg, now);
            p.last_success = Some(now);
        }
        self.clear_current(peer);
    }

    /// The peer failed (no answer, a bad answer, `Busy`, `Rejected`): it backs off and is
    /// skipped for the rest of the round.
    pub fn peer_failed(&mut self, peer: usize, now: SystemTime, retry_after: Option<Duration>) {
        let cfg = self.cfg;
        if let Some(p) = self.peers.get_mut(peer) {
            p.schedule.fail(&cfg, now, retry_after);
        }
        self.clear_current(peer);
    }

    fn clear_current(&mut self, peer: usize) {
        if let Some(round) = self.round.as_mut()
            && round.current == Some(peer)
        {
            round.current = None;
        }
    }

    /// Ends the round: caught up (a success) or out of peers (a failure, unless `caught_up`).
    pub fn end_round(&mut self, now: SystemTime, caught_up: bool) {
        if self.round.take().is_none() {
            return;
        }
        if caught_up {
            self.overall.succeed(&self.cfg, now);
        } else {
            self.overall.fail(&self.cfg, now, None);
        }
        self.rounds_ended += 1;
        self.boot_recovered = true;
    }

    /// Counts a round or a peer run in progress for longer than the stale limit as failed.
    /// Returns the peer whose run expired, if any (the round itself ends only via `end_round`
    /// or its own expiry).
    pub fn expire_stale(&mut self, now: SystemTime) -> Option<usize> {
        let cfg = self.cfg;
        let mut expired = None;
        if let Some(current) = self.round.as_ref().and_then(|r| r.current)
            && self.peers[current].schedule.expire_stale(&cfg, now)
        {
            self.clear_current(current);
            expired = Some(current);
        }
        if self.round.is_some() && self.overall.expire_stale(&cfg, now) {
            self.round = None;
            self.rounds_ended += 1;
        }
        expired
    }

    /// Whether the first round has ended ("boot recovery complete").
    pub fn boot_recovered(&self) -> bool {
        self.boot_recovered
    }

    /// Rounds ended so far.
    pub fn rounds_ended(&self) -> u64 {
        self.rounds_ended
    }

    /// What the scheduler knows of `peer`.
    pub fn peer(&self, peer: usize) -> Option<&PeerState> {
        self.peers.get(peer)
    }

    /// The overall schedule.
    pub fn overall(&self) -> &Schedule {
        &self.overall
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng as _;

    fn cfg() -> Config {
        Config {
            interval: Duration::from_secs(10),
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            stale_after: Duration::from_secs(30),
            anchor_window: Duration::from_secs(120),
        }
    }

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(9)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = cfg();
        let delays: Vec<u64> = (1..=8)
            .map(|k| failure_delay(&c, k, None).as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_clamped_to_an_hour() {
        let c = cfg();
        assert_eq!(
            failure_delay(&c, 1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            failure_delay(&c, 7, Some(Duration::from_secs(5))),
            Duration::from_secs(60)
        );
        assert_eq!(
            failure_delay(&c, 1, Some(Duration::from_secs(10 * 60 * 60))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn the_exponent_cannot_overflow() {
        let c = Config {
            cap: Duration::MAX,
            ..cfg()
        };
        for k in [33, 64, 1000, u32::MAX] {
            let d = failure_delay(&c, k, None);
            assert_eq!(d, Duration::from_secs(1 << 32), "k={k}");
        }
        // A base so large that doubling overflows a Duration saturates at the cap.
        let c = Config {
            base: Duration::MAX,
            cap: Duration::from_secs(60),
            ..cfg()
        };
        assert_eq!(failure_delay(&c, 5, None), Duration::from_secs(60));
    }

    #[test]
    fn a_schedule_follows_success_and_failure() {
        let c = cfg();
        let mut s = Schedule::new(t(0));
        assert!(s.is_due(t(0)));
        s.start(t(0));
        assert!(!s.is_due(t(0)));
        s.fail(&c, t(1), None);
        assert_eq!(s.due_at(), t(2));
        s.start(t(2));
        s.fail(&c, t(2), None);
        assert_eq!(s.due_at(), t(4));
        s.start(t(4));
        s.succeed(&c, t(5));
        assert_eq!((s.due_at(), s.failures()), (t(15), 0));
    }

    #[test]
    fn a_stale_run_counts_as_failed() {
        let c = cfg();
        let mut s = Schedule::new(t(0));
        s.start(t(0));
        assert!(!s.expire_stale(&c, t(30)));
        assert!(s.expire_stale(&c, t(31)));
        assert_eq!((s.failures(), s.is_running()), (1, false));
        assert_eq!(s.due_at(), t(32));
    }

    #[test]
    fn peers_are_chosen_anchor_then_recent_success_then_fewest_failures() {
        let mut s = Scheduler::new(cfg(), 4, t(0));
        // Peer 2 served ops long ago, peer 3 succeeded recently, peer 1 has failed once.
        s.peers[2].last_served = Some(t(0));
        s.peers[2].last_success = Some(t(0));
        s.peers[3].last_success = Some(t(100));
        s.peers[1].schedule.failures = 1;
        s.begin_round(t(130), &mut rng());
        // Peer 2's service is 130 s old: no longer an anchor.
        assert_eq!(s.choose(t(130)), Some(3));
        s.peer_failed(3, t(130), None);
        assert_eq!(s.choose(t(130)), Some(2));
        s.peer_failed(2, t(130), None);
        assert_eq!(s.choose(t(130)), Some(0));
        s.peer_failed(0, t(130), None);
        assert_eq!(s.choose(t(130)), Some(1));
        s.peer_failed(1, t(130), None);
        assert_eq!(s.choose(t(130)), None);
        s.end_round(t(130), false);
        assert!(s.boot_recovered());
        // Next round: peer 2 becomes an anchor by serving ops.
        s.peers[2].last_served = Some(t(200));
        let due = s.next_round_at();
        assert_eq!(due, t(131));
        s.begin_round(t(200), &mut rng());
        assert_eq!(s.choose(t(200)), Some(2));
    }

    #[test]
    fn a_failed_peer_is_skipped_for_the_round_and_backs_off() {
        let mut s = Scheduler::new(cfg(), 2, t(0));
        s.begin_round(t(0), &mut rng());
        let first = s.choose(t(0)).unwrap();
        s.peer_failed(first, t(0), Some(Duration::from_secs(20)));
        let second = s.choose(t(0)).unwrap();
        assert_ne!(first, second);
        s.peer_succeeded(second, t(1));
        s.end_round(t(1), true);
        assert_eq!(s.next_round_at(), t(11));
        // At t(11) the failed peer still backs off (retry_after 20 s), the other is due.
        s.begin_round(t(11), &mut rng());
        assert_eq!(s.choose(t(11)), Some(second));
        s.peer_failed(second, t(11), None);
        assert_eq!(s.choose(t(11)), None);
        s.end_round(t(11), false);
        assert_eq!(s.overall().failures(), 1);
        assert_eq!(s.next_round_at(), t(12));
    }

    #[test]
    fn ties_are_broken_by_the_round_rank() {
        let mut firsts = BTreeSet::new();
        let mut r = rng();
        for _ in 0..20 {
            let mut s = Scheduler::new(cfg(), 5, t(0));
            s.begin_round(t(0), &mut r);
            firsts.insert(s.choose(t(0)).unwrap());
        }
        assert!(
            firsts.len() > 1,
            "equal peers always got the same first pick"
        );
    }

    #[test]
    fn a_stuck_round_and_a_stuck_peer_expire() {
        let mut s = Scheduler::new(cfg(), 2, t(0));
        s.begin_round(t(0), &mut rng());
        let peer = s.choose(t(0)).unwrap();
        assert_eq!(s.expire_stale(t(10)), None);
        assert_eq!(s.expire_stale(t(31)), Some(peer));
        assert!(!s.in_round());
        assert_eq!(s.peer(peer).unwrap().schedule.failures(), 1);
        assert_eq!(s.overall().failures(), 1);
        assert!(!s.boot_recovered());
    }

    #[test]
    fn boot_recovery_waits_for_the_first_round() {
        let mut s = Scheduler::new(cfg(), 1, t(0));
        assert!(!s.boot_recovered());
        assert!(s.due(t(0)));
        s.begin_round(t(0), &mut rng());
        assert!(!s.due(t(0)));
        let p = s.choose(t(0)).unwrap();
        s.served(p, t(0), 10);
        assert!(!s.boot_recovered());
        s.peer_succeeded(p, t(1));
        s.end_round(t(1), true);
        assert!(s.boot_recovered());
        assert_eq!(s.rounds_ended(), 1);
    }
}
