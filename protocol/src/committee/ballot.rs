//! What a voter approves among the proposals it holds for the next epoch: a pure function, so
//! every honest voter holding the same proposals picks the same one.
//!
//! A voter approves at most one proposal per epoch (its `Vote` op is the durable record). Among
//! the proposals for epoch `current + 1` it keeps those whose author is a member of the current
//! committee and proposed only once for that epoch, and that pass [`CommitteeProposal::check`];
//! it approves the one with the lowest digest. Every other proposal is refused with a named
//! reason (counted and traced by the caller; a refused proposal is not blamed on the peer that
//! relayed it). The settle delay (how long a voter waits after first seeing a proposal of an
//! epoch, so that racing proposals reach it first) is the caller's.

use super::proposal::{CommitteeProposal, Current, Digest, Refusal};
use crate::cluster::PublicKey;
use commonware_cryptography::sha256;
use std::collections::BTreeMap;

/// A held proposal as the voter sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its `Propose` op.
    pub op: sha256::Digest,
    pub author: &'a PublicKey,
    pub proposal: &'a CommitteeProposal,
}

/// Why a proposal is not approved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// For another epoch than the next one (an old one, or one beyond).
    OtherEpoch,
    /// Its author is not a member of the current committee.
    NotAMember,
    /// Its author proposed more than once for the epoch.
    AuthorEquivocated,
    /// It breaks a rule ([`CommitteeProposal::check`]).
    Refused(Refusal),
    /// Valid, but another valid proposal has a lower digest.
    Outranked,
}

impl Skip {
    /// The reason's name (metrics, traces).
    pub fn name(&self) -> &'static str {
        match self {
            Skip::OtherEpoch => "other_epoch",
            Skip::NotAMember => "not_a_member",
            Skip::AuthorEquivocated => "author_equivocated",
            Skip::Refused(r) => r.name(),
            Skip::Outranked => "outranked",
        }
    }
}

/// The voter's decision: the proposal to approve (if any), and why each other one is not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub approve: Option<sha256::Digest>,
    pub skipped: Vec<(sha256::Digest, Skip)>,
}

/// Decides among `candidates` (see the module docs).
pub fn choose(candidates: &[Candidate<'_>], current: &Current<'_>) -> Decision {
    let next = current.epoch.saturating_add(1);
    let mut per_author: BTreeMap<&PublicKey, usize> = BTreeMap::new();
    for c in candidates.iter().filter(|c| c.proposal.epoch == next) {
        *per_author.entry(c.author).or_default() += 1;
    }
    let mut decision = Decision::default();
    let mut best: Option<(Digest, sha256::Digest)> = None;
    for c in candidates {
        let skip = if c.proposal.epoch != next {
            Some(Skip::OtherEpoch)
        } else if current.committee.binary_search(c.author).is_err() {
            Some(Skip::NotAMember)
        } else if per_author.get(c.author).copied().unwrap_or(0) > 1 {
            Some(Skip::AuthorEquivocated)
        } else {
            c.proposal.check(current).err().map(Skip::Refused)
        };
        match skip {
            Some(skip) => decision.skipped.push((c.op, skip)),
            None => {
                let digest = c.proposal.digest();
                if let Some((lowest, op)) = best {
                    if digest < lowest {
                        decision.skipped.push((op, Skip::Outranked));
                        best = Some((digest, c.op));
                    } else {
                        decision.skipped.push((c.op, Skip::Outranked));
                    }
                } else {
                    best = Some((digest, c.op));
                }
            }
        }
    }
    decision.approve = best.map(|(_, op)| op);
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::proposal::Joining;
    use crate::committee::testing::{keys, op};
    use std::collections::BTreeSet;

    #[test]
    fn every_voter_picks_the_lowest_valid_digest_whatever_the_order() {
        let k = keys(8);
        let committee = k[..4].to_vec();
        let known: BTreeSet<PublicKey> = committee.iter().cloned().collect();
        let live = known.clone();
        let current = Current {
            epoch: 0,
            committee: &committee,
            output: [1; 32],
            known: &known,
            live: &live,
        };
        let add = |key: &PublicKey, reason: &str| {
            let mut members = committee.clone();
            members.push(key.clone());
            CommitteeProposal::new(
                1,
                members,
                vec![Joining {
                    key: key.clone(),
                    address: "10.0.0.9:1".into(),
                }],
                reason.into(),
                [1; 32],
            )
            .unwrap()
        };
        let a = add(&k[4], "a");
        let b = add(&k[5], "b");
        let twice_1 = add(&k[6], "c");
        let twice_2 = add(&k[7], "d");
        let outsider = add(&k[6], "e");
        let mut stale = add(&k[4], "f");
        stale.epoch = 3;
        let broken =
            CommitteeProposal::new(1, committee[..3].to_vec(), vec![], "g".into(), [1; 32])
                .unwrap();
        let candidates = vec![
            Candidate {
                op: op(1),
                author: &k[0],
                proposal: &a,
            },
            Candidate {
                op: op(2),
                author: &k[1],
                proposal: &b,
            },
            Candidate {
                op: op(3),
                author: &k[2],
                proposal: &twice_1,
            },
            Candidate {
                op: op(4),
                author: &k[2],
                proposal: &twice_2,
            },
            Candidate {
                op: op(5),
                author: &k[6],
                proposal: &outsider,
            },
            Candidate {
                op: op(6),
                author: &k[3],
                proposal: &stale,
            },
            Candidate {
                op: op(7),
                author: &k[3],
                proposal: &broken,
            },
        ];
        let decision = choose(&candidates, &current);
        let winner = if a.digest() < b.digest() {
            op(1)
        } else {
            op(2)
        };
        assert_eq!(decision.approve, Some(winner));
        let skipped: BTreeMap<sha256::Digest, &'static str> = decision
            .skipped
            .iter()
            .map(|(o, s)| (*o, s.name()))
            .collect();
        let loser = if winner == op(1) { op(2) } else { op(1) };
        assert_eq!(skipped[&loser], "outranked");
        assert_eq!(skipped[&op(3)], "author_equivocated");
        assert_eq!(skipped[&op(4)], "author_equivocated");
        assert_eq!(skipped[&op(5)], "not_a_member");
        assert_eq!(skipped[&op(6)], "other_epoch");
        assert_eq!(skipped[&op(7)], "below_safe_size");
        let mut reversed = candidates.clone();
        reversed.reverse();
        assert_eq!(choose(&reversed, &current).approve, Some(winner));
        assert_eq!(choose(&[], &current), Decision::default());
    }
}
