//! Own-chain recovery: an author never reuses a seq of its own chain, even after its op store
//! lost synced records (SPEC section 3: an honest author never equivocates).
//!
//! At open the ledger judges its op store against what the store says it should hold
//! ([`cohort_storage::ledger::Marks`], written before each own op leaves the node) and this
//! start's boot number ([`StoreState::classify`]):
//!
//! | state        | what the store shows                                   | before authoring  |
//! |--------------|--------------------------------------------------------|-------------------|
//! | `intact`     | at least what it marked                                | nothing           |
//! | `fresh`      | nothing, no marks, first boot                          | lenient recovery  |
//! | `truncated`  | fewer records, or a shorter own chain, than it marked  | strict recovery   |
//! | `lost`       | nothing and no marks, but the node booted before       | strict recovery   |
//! | `unverified` | records but no marks (the marks were lost)             | strict recovery   |
//!
//! A first boot cannot be told from a disk replaced whole (boot counter included): a `fresh`
//! store is why the recovery is *lenient* rather than skipped. A loss of only records appended
//! after the last mark (others' ops synced since this node's last own op, at most a heartbeat
//! period of them) shows as `intact`: it needs no recovery, backfill brings those ops back.
//!
//! **Recovery** ([`Recovery`]): the node asks every peer for the head of its own chain as the
//! peer holds it (`HeadRequest`/`Head` on the backfill channel, asked again every quarter of a
//! request timeout until answered). A *quorum* is `t - 1` peers (with this node, a threshold of the
//! committee). Strict recovery decides once every peer answered, or a quorum did and the
//! *patience* (`Settings::own_chain_patience`) passed; lenient recovery once every peer or a
//! quorum answered, or the patience passed (a first start in a minority partition still
//! authors, after the patience). The target is the
//! highest head any answer named, pending ops included (an own op waiting at a peer for
//! another author's op is a seq taken); the node then backfills (its rounds ask the peers that
//! named a head above its own first), asking the heads again every request timeout (a later
//! answer replaces a peer's earlier one), until its own chain reaches the target, and only
//! then authors its `Boot` op, after the target. Claims not served within
//! [`GIVE_UP_PATIENCES`] patiences of the start are given up, with a warning (a liar cannot
//! stop a node from authoring for good; the cost is stated below). Until then it authors nothing (`Data` submits wait, up to
//! `MAX_HELD_SUBMITS` of them, and are appended in order once it authors; more, and checkpoint
//! or governance appends, fail with [`super::Error::Recovering`]; no heartbeats), says why in its
//! logs, its status and its metrics, and keeps serving and applying everyone's ops.
//!
//! The residual risk, stated plainly: an own op whose only copies sit on peers that stay
//! silent for the whole patience (strict: on peers outside the quorum that answered) is not
//! seen, and the node may author that seq again; so is one that waits at peers, past the give
//! up, for a parent only the lost store held (it can then never be applied anywhere). Ops are sent to every member at once, so
//! that takes a loss of the store together with a partition or crash of every peer that
//! received the op.

use cohort_storage::ledger::Marks;
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

/// Patiences after the start of a recovery at which heads peers claim but do not serve are
/// given up.
pub const GIVE_UP_PATIENCES: u32 = 6;

/// What the op store held at open, judged against its marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreState {
    Fresh,
    Intact,
    Truncated,
    Lost,
    Unverified,
}

impl StoreState {
    /// Judges a store that replayed `records` records and an own chain up to `own_head` (0:
    /// none), with `marks`, at boot number `boot` (1: the first).
    pub fn classify(marks: Marks, records: u64, own_head: u64, boot: u64) -> Self {
        if !marks.created {
            return match (records, boot) {
                (0, 0 | 1) => StoreState::Fresh,
                (0, _) => StoreState::Lost,
                _ => StoreState::Unverified,
            };
        }
        let fewer = marks.records.is_some_and(|marked| records < marked);
        if fewer || own_head < marks.own_head {
            StoreState::Truncated
        } else {
            StoreState::Intact
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StoreState::Fresh => "fresh",
            StoreState::Intact => "intact",
            StoreState::Truncated => "truncated",
            StoreState::Lost => "lost",
            StoreState::Unverified => "unverified",
        }
    }

    /// The value of the `ledger_store_state` metric.
    pub fn code(self) -> i64 {
        match self {
            StoreState::Fresh => 0,
            StoreState::Intact => 1,
            StoreState::Truncated => 2,
            StoreState::Lost => 3,
            StoreState::Unverified => 4,
        }
    }

    /// Whether the node must recover its own chain from peers before it authors, and how
    /// (`Some(true)`: strict).
    pub fn recovery(self) -> Option<bool> {
        match self {
            StoreState::Intact => None,
            StoreState::Fresh => Some(false),
            StoreState::Truncated | StoreState::Lost | StoreState::Unverified => Some(true),
        }
    }
}

/// The answers to this node's head requests, and the rule that decides from them.
#[derive(Clone, Debug)]
pub struct Recovery {
    strict: bool,
    started: SystemTime,
    patience: Duration,
    /// Answers needed after the patience when strict.
    quorum: usize,
    /// Peers asked (by peer index).
    peers: usize,
    /// Each answering peer's head of our chain.
    answers: BTreeMap<usize, u64>,
    /// When the heads are asked again.
    pub next_ask: SystemTime,
    /// The highest head named so far, once the rule decided.
    target: Option<u64>,
}

impl Recovery {
    /// Starts asking `peers` peers at `now`; `threshold` is the committee's.
    pub fn new(
        strict: bool,
        now: SystemTime,
        patience: Duration,
        peers: usize,
        threshold: u32,
    ) -> Self {
        let quorum = (threshold as usize).saturating_sub(1).min(peers);
        Self {
            strict,
            started: now,
            patience,
            quorum,
            peers,
            answers: BTreeMap::new(),
            next_ask: now,
            target: None,
        }
    }

    /// More peers became authors (a certificate admitted them): they are asked too.
    pub fn set_peers(&mut self, peers: usize) {
        self.peers = self.peers.max(peers);
    }

    /// Peer `peer` holds our chain up to `head` (applied or pending). A later answer of the
    /// same peer replaces its earlier one (a pending op it held may have been evicted); after
    /// the decision the target follows the answers.
    pub fn answer(&mut self, peer: usize, head: u64) {
        if peer >= self.peers {
            return;
        }
        self.answers.insert(peer, head);
        if self.target.is_some() {
            self.target = self.answers.values().copied().max();
        }
    }

    /// Gives up on the heads named above `own_head` (the target becomes `own_head`): peers
    /// claimed them for longer than a recovery may wait without serving them (a liar's
    /// claim, or ops of ours pending at peers for parents lost with our store).
    pub fn give_up(&mut self, own_head: u64) {
        for head in self.answers.values_mut() {
            *head = (*head).min(own_head);
        }
        self.target = Some(own_head);
    }

    /// When the recovery started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Whether `peer` answered.
    pub fn answered(&self, peer: usize) -> bool {
        self.answers.contains_key(&peer)
    }

    /// The peers whose answer named a head above `own_head`.
    pub fn ahead_of(&self, own_head: u64) -> impl Iterator<Item = usize> + '_ {
        self.answers
            .iter()
            .filter(move |(_, head)| **head > own_head)
            .map(|(peer, _)| *peer)
    }

    /// The target, once the rule decided (then for good). Strict: every peer answered, or a
    /// quorum did and the patience passed. Lenient: every peer or a quorum answered, or the
    /// patience passed.
    pub fn decide(&mut self, now: SystemTime) -> Option<u64> {
        if self.target.is_none() {
            let all = self.answers.len() >= self.peers;
            let quorum = self.answers.len() >= self.quorum;
            let patient = now >= self.started + self.patience;
            let decided = if self.strict {
                all || (quorum && patient)
            } else {
                all || quorum || patient
            };
            if decided {
                self.target = Some(self.answers.values().copied().max().unwrap_or(0));
            }
        }
        self.target
    }

    /// When waiting might end without an answer (the patience's end).
    pub fn patience_ends(&self) -> SystemTime {
        self.started + self.patience
    }

    /// Why the node does not author yet, for logs and status.
    pub fn why(&self, own_head: u64) -> String {
        match self.target {
            Some(target) => {
                format!("recovering its own chain: holds seq {own_head}, peers hold up to {target}")
            }
            None if self.strict => format!(
                "asking peers for its own chain: {}/{} answered, {} needed after {:?}",
                self.answers.len(),
                self.peers,
                self.quorum,
                self.patience
            ),
            None => format!(
                "asking peers for its own chain: {}/{} answered (waits at most {:?})",
                self.answers.len(),
                self.peers,
                self.patience
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(own_head: u64, records: u64) -> Marks {
        Marks {
            created: true,
            own_head,
            records: Some(records),
        }
    }

    #[test]
    fn classification() {
        use StoreState::*;
        assert_eq!(StoreState::classify(Marks::default(), 0, 0, 1), Fresh);
        assert_eq!(StoreState::classify(Marks::default(), 0, 0, 3), Lost);
        assert_eq!(StoreState::classify(Marks::default(), 10, 2, 3), Unverified);
        assert_eq!(StoreState::classify(marks(5, 100), 100, 5, 3), Intact);
        assert_eq!(StoreState::classify(marks(5, 100), 120, 6, 3), Intact);
        assert_eq!(StoreState::classify(marks(5, 100), 99, 5, 3), Truncated);
        assert_eq!(StoreState::classify(marks(5, 100), 100, 4, 3), Truncated);
        let forgotten = Marks {
            records: None,
            ..marks(5, 100)
        };
        assert_eq!(StoreState::classify(forgotten, 40, 5, 3), Intact);
        assert_eq!(Fresh.recovery(), Some(false));
        assert_eq!(Intact.recovery(), None);
        assert_eq!(Lost.recovery(), Some(true));
    }

    #[test]
    fn the_rule_waits_for_everyone_or_the_patience_and_a_quorum() {
        let t0 = SystemTime::UNIX_EPOCH;
        let patience = Duration::from_secs(3);
        // Strict, 4 peers, threshold 4: a quorum is 3 peers.
        let mut r = Recovery::new(true, t0, patience, 4, 4);
        r.answer(0, 7);
        r.answer(2, 9);
        assert_eq!(r.decide(t0 + Duration::from_secs(1)), None);
        assert_eq!(r.decide(t0 + Duration::from_secs(5)), None);
        r.answer(9, 100); // not a peer
        r.answer(3, 2);
        assert_eq!(r.decide(t0 + Duration::from_secs(5)), Some(9));
        // A late answer raises the target; a later answer of the same peer replaces its own.
        r.answer(1, 12);
        assert_eq!(r.decide(t0 + Duration::from_secs(6)), Some(12));
        assert_eq!(r.ahead_of(9).collect::<Vec<_>>(), vec![1]);
        r.answer(1, 10);
        assert_eq!(r.decide(t0 + Duration::from_secs(6)), Some(10));
        r.give_up(9);
        assert_eq!(r.decide(t0 + Duration::from_secs(7)), Some(9));
        // Everyone answered: no wait.
        let mut r = Recovery::new(true, t0, patience, 2, 3);
        r.answer(0, 0);
        r.answer(1, 0);
        assert_eq!(r.decide(t0), Some(0));
        // Lenient: a quorum, or the patience alone, decides.
        let mut r = Recovery::new(false, t0, patience, 3, 3);
        assert_eq!(r.decide(t0), None);
        assert_eq!(r.decide(t0 + patience), Some(0));
        let mut r = Recovery::new(false, t0, patience, 3, 3);
        r.answer(2, 4);
        assert_eq!(r.decide(t0), None);
        r.answer(0, 5);
        assert_eq!(r.decide(t0), Some(5));
        assert!(r.why(0).contains("peers hold up to 5"));
    }
}
