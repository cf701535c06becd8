//! One backfill *run* with one peer, as a pure state machine: the requests to send and the
//! judgement of each reply.
//!
//! A run keeps the `known` and `missing` ids of its first request for every page (so the server
//! pages through one plan), and follows `next_cursor` until the server says `more == false`: a
//! ledger of any size syncs completely, with no silent cap. Every reply is adversarial:
//!
//! - every request (each page, each retry after a lost request) has a fresh id, and a reply with
//!   another id than the last request's is not for this run (late, or forged) and is ignored:
//!   a late reply to a retried request can never be taken for a page that went backwards;
//! - `Busy { retry_after }` with a short `retry_after` ([`MAX_PACED_WAIT`]) makes the run wait
//!   that long and ask again: a client catching up a large ledger paces itself to the server's
//!   rate limit instead of starting over. A longer `retry_after`, a second `Busy` in a row
//!   ([`MAX_BUSY_IN_ROW`]), and `Rejected` end the run as a failure (the scheduler backs off);
//! - a page that claims `more` but holds no op, or does not move the cursor forward, proves the
//!   server hostile (an honest server always makes progress), as does any op the ledger rejects
//!   or any op still waiting for a parent once the page is applied (an honest server sends
//!   parents before children, and leaves out only ancestors of what the client knows);
//! - [`MAX_IDLE_PAGES`] pages in a row that bring nothing new while claiming `more` end the run
//!   as stalled: replayed old ops cannot keep a client busy forever.
//!
//! [`Fetch`] is a run in flight: the run, the deadline of its outstanding request and how often
//! that request was sent. It judges every reply ([`Fetch::on_reply`]) and every expiry
//! ([`Fetch::expired`]), and accounts a page's apply report ([`Fetch::account`]), so the ledger
//! actor only moves frames and ops between it, the DAG and the network.

use super::wire::{MAX_PAGE_OPS, Message, RejectReason};
use crate::ledger::{
    dag::{Dag, Outcome},
    op::{OpId, SignedOp},
};
use std::time::{Duration, SystemTime};

/// Tries of one backfill request (the first and the retries after a deadline) before the run
/// fails: a lost message on a lossy link must not cost the whole run.
pub const REQUEST_ATTEMPTS: u32 = 3;

/// Consecutive pages without a new op after which a run that still claims `more` is abandoned.
pub const MAX_IDLE_PAGES: u32 = 4;

/// Longest `retry_after` a run waits out itself (it paces to the server's rate limit) rather
/// than failing.
pub const MAX_PACED_WAIT: Duration = Duration::from_secs(1);

/// `Busy` answers in a row (with no page between) after which the run fails.
pub const MAX_BUSY_IN_ROW: u32 = 2;

/// How a run ended badly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server is over its rate limit for us.
    Busy { retry_after: Duration },
    /// The server refused the request.
    Rejected(RejectReason),
    /// Pages kept coming without anything new.
    Stalled,
    /// The server did not answer a request, nor its retries.
    Timeout,
    /// The server broke the protocol (the reason says how); it should be blocked.
    Hostile(&'static str),
}

/// What to do after a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ask for the next page ([`Run::request`]).
    Next,
    /// The server has nothing more: caught up with it.
    Done,
    Failed(Failure),
}

/// What applying a page's ops gave (from the ledger's report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageResult {
    /// Ops that were new to the ledger (applied or now waiting).
    pub new_ops: usize,
    /// Ops the ledger rejected.
    pub rejected: usize,
    /// Ops of the page still waiting, after the whole page was applied, for a parent this node
    /// does not hold (an op waiting only for held-but-pending parents, or a checkpoint for the
    /// group key, is in order).
    pub left_pending: usize,
    /// Ops the ledger already held.
    pub duplicates: usize,
    /// Ops of authors this node does not know yet (their admission may still be on its way
    /// here): dropped without blame, served again by a later round.
    pub unknown_authors: usize,
}

/// One run with one peer.
#[derive(Clone, Debug)]
pub struct Run {
    peer: usize,
    id: u64,
    known: Vec<OpId>,
    missing: Vec<OpId>,
    cursor: u64,
    limit: u32,
    pages: u64,
    idle: u32,
    busy_in_row: u32,
    new_ops: u64,
}

impl Run {
    /// A run with `peer` (the caller's index).
    pub fn new(peer: usize, known: Vec<OpId>, missing: Vec<OpId>, limit: u32) -> Self {
        Self {
            peer,
            id: 0,
            known,
            missing,
            cursor: 0,
            limit: limit.clamp(1, MAX_PAGE_OPS as u32),
            pages: 0,
            idle: 0,
            busy_in_row: 0,
            new_ops: 0,
        }
    }

    pub fn peer(&self) -> usize {
        self.peer
    }

    /// The ids the run asked for by id (its first request's `missing`).
    pub fn missing(&self) -> &[OpId] {
        &self.missing
    }

    /// The id of the last request.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Pages received so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// New ops received so far.
    pub fn new_ops(&self) -> u64 {
        self.new_ops
    }

    /// The request for the next page (or the same page again, after a lost request), under the
    /// fresh request id `id`.
    pub fn request(&mut self, id: u64) -> Message {
        self.id = id;
        Message::Request {
            id: self.id,
            known: self.known.clone(),
            missing: self.missing.clone(),
            cursor: self.cursor,
            limit: self.limit,
        }
    }

    /// Whether `reply` (from `peer`) belongs to this run.
    pub fn is_reply(&self, peer: usize, reply: &Message) -> bool {
        peer == self.peer && reply.id() == self.id && !matches!(reply, Message::Request { .. })
    }

    /// Judges a page's shape before its ops are applied: `Some` ends the run.
    pub fn check_page(&self, ops: usize, next_cursor: u64, more: bool) -> Option<Verdict> {
        if more && (ops == 0 || next_cursor <= self.cursor) {
            return Some(Verdict::Failed(Failure::Hostile("page makes no progress")));
        }
        if ops > 0 && next_cursor <= self.cursor {
            return Some(Verdict::Failed(Failure::Hostile("cursor moved backwards")));
        }
        None
    }

    /// How long to wait before asking again after a `Busy` reply, if the run paces itself
    /// rather than failing (see the module docs).
    pub fn pace(&mut self, reply: &Message) -> Option<Duration> {
        let Message::Busy { retry_after_ms, .. } = reply else {
            return None;
        };
        let wait = Duration::from_millis(*retry_after_ms);
        if wait > MAX_PACED_WAIT || self.busy_in_row + 1 >= MAX_BUSY_IN_ROW {
            return None;
        }
        self.busy_in_row += 1;
        Some(wait)
    }

    /// Judges a page once its ops are applied.
    pub fn after_page(&mut self, next_cursor: u64, more: bool, result: PageResult) -> Verdict {
        self.pages += 1;
        self.busy_in_row = 0;
        if result.rejected > 0 {
            return Verdict::Failed(Failure::Hostile("served an invalid op"));
        }
        if result.left_pending > 0 {
            return Verdict::Failed(Failure::Hostile("served ops out of order"));
        }
        self.new_ops += result.new_ops as u64;
        if !more {
            return Verdict::Done;
        }
        if result.new_ops == 0 {
            self.idle += 1;
            if self.idle >= MAX_IDLE_PAGES {
                return Verdict::Failed(Failure::Stalled);
            }
        } else {
            self.idle = 0;
        }
        self.cursor = next_cursor;
        Verdict::Next
    }

    /// Judges a `Busy` or `Rejected` reply.
    pub fn refused(&self, reply: &Message) -> Option<Verdict> {
        match reply {
            Message::Busy { retry_after_ms, .. } => Some(Verdict::Failed(Failure::Busy {
                retry_after: Duration::from_millis(*retry_after_ms),
            })),
            Message::Rejected { reason, .. } => Some(Verdict::Failed(Failure::Rejected(*reason))),
            _ => None,
        }
    }
}

/// What to do about a fetch whose request deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Send the request again, under a fresh id ([`Fetch::request`]).
    Resend,
    /// Every attempt went unanswered: the run failed with [`Failure::Timeout`].
    GiveUp,
}

/// What a reply means for the fetch in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Not for this run (another peer, an older request, or a request): dropped.
    Ignored,
    /// A short `Busy`: ask again at [`Fetch::deadline`].
    Paced,
    /// The run failed; `why` names the step that failed it (for logs).
    Failed { failure: Failure, why: &'static str },
    /// A well-shaped page: apply its ops, account them ([`Fetch::account`]) and judge the
    /// result ([`Fetch::after_page`]).
    Page {
        ops: Vec<SignedOp>,
        next_cursor: u64,
        more: bool,
    },
}

/// A run in flight with one peer: the run, its outstanding request's deadline, and how often
/// that request was sent.
#[derive(Clone, Debug)]
pub struct Fetch {
    run: Run,
    deadline: SystemTime,
    attempts: u32,
}

impl Fetch {
    /// A fetch of `run` whose first request is due at `now`.
    pub fn new(run: Run, now: SystemTime) -> Self {
        Self {
            run,
            deadline: now,
            attempts: 0,
        }
    }

    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The peer asked (the caller's index).
    pub fn peer(&self) -> usize {
        self.run.peer()
    }

    /// When the outstanding request expires (or the paced wait ends).
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// `None` while the outstanding request may still be answered at `now`.
    pub fn expired(&self, now: SystemTime) -> Option<Expiry> {
        if now < self.deadline {
            return None;
        }
        Some(if self.attempts < REQUEST_ATTEMPTS {
            Expiry::Resend
        } else {
            Expiry::GiveUp
        })
    }

    /// The request to send now under the fresh id `id`, answered by `now + timeout`.
    pub fn request(&mut self, id: u64, now: SystemTime, timeout: Duration) -> Message {
        self.attempts += 1;
        self.deadline = now + timeout;
        self.run.request(id)
    }

    /// Judges `reply` from `peer` at `now`: pacing and refusals first, then the page's shape.
    pub fn on_reply(&mut self, peer: usize, reply: Message, now: SystemTime) -> Reply {
        if !self.run.is_reply(peer, &reply) {
            return Reply::Ignored;
        }
        if let Some(wait) = self.run.pace(&reply) {
            // Paced to the server's rate limit: ask again once it has a token for us.
            self.attempts = 0;
            self.deadline = now + wait;
            return Reply::Paced;
        }
        if let Some(Verdict::Failed(failure)) = self.run.refused(&reply) {
            return Reply::Failed {
                failure,
                why: "refused",
            };
        }
        let Message::Response {
            ops,
            next_cursor,
            more,
            ..
        } = reply
        else {
            return Reply::Ignored;
        };
        if let Some(Verdict::Failed(failure)) = self.run.check_page(ops.len(), next_cursor, more) {
            return Reply::Failed {
                failure,
                why: "bad page",
            };
        }
        Reply::Page {
            ops,
            next_cursor,
            more,
        }
    }

    /// What applying a page gave: `ids` are the page's op ids, `outcomes` the DAG's outcome of
    /// each, `dag` the ledger after the whole page was applied.
    pub fn account(ids: &[OpId], outcomes: &[Outcome], dag: &Dag) -> PageResult {
        let mut result = PageResult::default();
        for (id, outcome) in ids.iter().zip(outcomes) {
            match outcome {
                Outcome::Applied => result.new_ops += 1,
                Outcome::Pending => {
                    result.new_ops += 1;
                    if !dag.contains(id) && dag.waits_for_unknown(id) {
                        result.left_pending += 1;
                    }
                }
                Outcome::Duplicate => result.duplicates += 1,
                Outcome::Rejected(reason) if reason.blames_sender() => result.rejected += 1,
                Outcome::Rejected(_) => result.unknown_authors += 1,
            }
        }
        result
    }

    /// Judges an applied page (see [`Run::after_page`]); the next request starts a fresh count
    /// of attempts.
    pub fn after_page(&mut self, next_cursor: u64, more: bool, result: PageResult) -> Verdict {
        let verdict = self.run.after_page(next_cursor, more, result);
        if verdict == Verdict::Next {
            self.attempts = 0;
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(new_ops: usize) -> PageResult {
        PageResult {
            new_ops,
            ..PageResult::default()
        }
    }

    #[test]
    fn a_run_follows_the_cursor_until_no_more() {
        let mut run = Run::new(2, vec![], vec![], 100);
        let Message::Request { cursor, id, .. } = run.request(9) else {
            panic!()
        };
        assert_eq!((cursor, id), (0, 9));
        assert_eq!(run.check_page(100, 100, true), None);
        assert_eq!(run.after_page(100, true, page(100)), Verdict::Next);
        let Message::Request { cursor, id, .. } = run.request(10) else {
            panic!()
        };
        assert_eq!((cursor, id), (100, 10));
        assert_eq!(run.after_page(150, false, page(50)), Verdict::Done);
        assert_eq!((run.pages(), run.new_ops()), (2, 150));
    }

    #[test]
    fn replies_of_other_runs_are_not_ours() {
        let mut run = Run::new(2, vec![], vec![], 100);
        let request = run.request(9);
        let busy = Message::Busy {
            id: 9,
            retry_after_ms: 5,
        };
        assert!(run.is_reply(2, &busy));
        assert!(!run.is_reply(3, &busy));
        assert!(!run.is_reply(
            2,
            &Message::Busy {
                id: 8,
                retry_after_ms: 5
            }
        ));
        assert!(!run.is_reply(2, &request));
        // After a retry under a new id, the late reply to the first request is not ours.
        run.request(10);
        assert!(!run.is_reply(2, &busy));
        assert_eq!(
            run.refused(&busy),
            Some(Verdict::Failed(Failure::Busy {
                retry_after: Duration::from_millis(5)
            }))
        );
    }

    #[test]
    fn a_run_paces_itself_to_a_short_busy_but_not_forever() {
        let mut run = Run::new(0, vec![], vec![], 100);
        run.request(1);
        let busy = |ms| Message::Busy {
            id: 1,
            retry_after_ms: ms,
        };
        assert_eq!(run.pace(&busy(20)), Some(Duration::from_millis(20)));
        // A second Busy with no page between: fail (the caller then uses `refused`).
        assert_eq!(run.pace(&busy(20)), None);
        // A page resets the count.
        assert_eq!(run.after_page(10, true, page(10)), Verdict::Next);
        assert_eq!(run.pace(&busy(20)), Some(Duration::from_millis(20)));
        // A long retry_after is not waited out.
        let mut run = Run::new(0, vec![], vec![], 100);
        assert_eq!(run.pace(&busy(5_000)), None);
    }

    #[test]
    fn a_server_that_claims_more_forever_is_caught() {
        let mut run = Run::new(0, vec![], vec![], 100);
        // No op but `more`: hostile at once.
        assert!(matches!(
            run.check_page(0, 10, true),
            Some(Verdict::Failed(Failure::Hostile(_)))
        ));
        // Old ops with `more`, again and again: stalled after MAX_IDLE_PAGES.
        let mut cursor = 0;
        for i in 1..=MAX_IDLE_PAGES {
            cursor += 10;
            assert_eq!(run.check_page(10, cursor, true), None);
            let verdict = run.after_page(cursor, true, page(0));
            if i < MAX_IDLE_PAGES {
                assert_eq!(verdict, Verdict::Next);
            } else {
                assert_eq!(verdict, Verdict::Failed(Failure::Stalled));
            }
        }
        // A cursor that does not move forward.
        let run = Run::new(0, vec![], vec![], 100);
        assert!(run.check_page(5, 0, false).is_some());
    }

    #[test]
    fn invalid_or_out_of_order_ops_prove_the_server_hostile() {
        let mut run = Run::new(0, vec![], vec![], 100);
        let bad = PageResult {
            new_ops: 3,
            rejected: 1,
            ..PageResult::default()
        };
        assert_eq!(
            run.after_page(3, true, bad),
            Verdict::Failed(Failure::Hostile("served an invalid op"))
        );
        let mut run = Run::new(0, vec![], vec![], 100);
        let unordered = PageResult {
            new_ops: 3,
            left_pending: 2,
            ..PageResult::default()
        };
        assert_eq!(
            run.after_page(3, false, unordered),
            Verdict::Failed(Failure::Hostile("served ops out of order"))
        );
    }

    #[test]
    fn a_fetch_retries_a_lost_request_then_gives_up() {
        let t0 = SystemTime::UNIX_EPOCH;
        let timeout = Duration::from_secs(2);
        let mut fetch = Fetch::new(Run::new(1, vec![], vec![], 10), t0);
        assert_eq!(fetch.expired(t0), Some(Expiry::Resend));
        let mut now = t0;
        for id in 1..=REQUEST_ATTEMPTS as u64 {
            fetch.request(id, now, timeout);
            assert_eq!(fetch.expired(now), None);
            now += timeout;
        }
        assert_eq!(fetch.expired(now), Some(Expiry::GiveUp));
    }

    #[test]
    fn a_fetch_judges_replies_in_order() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut fetch = Fetch::new(Run::new(1, vec![], vec![], 10), t0);
        fetch.request(7, t0, Duration::from_secs(2));
        let busy = Message::Busy {
            id: 7,
            retry_after_ms: 30,
        };
        // Another peer's, or an older request's, reply is ignored.
        assert_eq!(fetch.on_reply(2, busy.clone(), t0), Reply::Ignored);
        assert_eq!(fetch.on_reply(1, busy.clone(), t0), Reply::Paced);
        assert_eq!(fetch.deadline(), t0 + Duration::from_millis(30));
        // A second Busy in a row fails the run.
        assert!(matches!(
            fetch.on_reply(1, busy, t0),
            Reply::Failed {
                failure: Failure::Busy { .. },
                why: "refused"
            }
        ));
        // A page that claims more with no op proves the server hostile.
        let empty = Message::Response {
            id: 7,
            ops: vec![],
            next_cursor: 5,
            more: true,
        };
        assert!(matches!(
            fetch.on_reply(1, empty, t0),
            Reply::Failed {
                failure: Failure::Hostile(_),
                why: "bad page"
            }
        ));
        let last = Message::Response {
            id: 7,
            ops: vec![],
            next_cursor: 0,
            more: false,
        };
        assert!(matches!(
            fetch.on_reply(1, last, t0),
            Reply::Page { more: false, .. }
        ));
        assert_eq!(
            fetch.after_page(0, false, PageResult::default()),
            Verdict::Done
        );
    }
}
