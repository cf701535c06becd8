//! The count of one proposal's votes (one round of one checkpoint).
//!
//! A vote is an approval (a BLS partial signature over the proposal's digest from the voter's
//! share) or a disagreement (the voter's own observation). The tally counts **one vote per
//! voter**, whatever a hostile voter sends:
//!
//! - a vote from a key that holds no share (a non-member, or a member outside the committee) is
//!   refused ([`Refusal::NotAVoter`]);
//! - an approval whose partial signature claims another voter's index, or does not verify under
//!   the voter's public share over this proposal's digest (a forgery, a partial for another
//!   digest or namespace), is refused and counts for nothing;
//! - the same vote again is a [`Refusal::Repeat`] (a retransmission: harmless, not counted
//!   again); a *different* vote from a voter already counted is a [`Refusal::Conflict`], proof
//!   that the voter is hostile, and the first vote stands.
//!
//! Partials are verified one by one on arrival (commonware's `recover` verifies nothing and
//! would take an invalid partial as readily as a valid one), so the certificate is recovered
//! from verified partials only, and is itself checked under the group key before it is handed
//! out. It exists the moment `t` approvals are in.

use super::observation::Observation;
use crate::dkg::wire::Variant;
use commonware_cryptography::bls12381::primitives::{
    ops, sharing::Sharing, variant::PartialSignature,
};
use commonware_parallel::Sequential;
use std::collections::BTreeMap;

/// The threshold signature a certificate carries (96 bytes: a G2 point, `MinPk`).
pub type Signature =
    <Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Signature;

/// One voter's vote on one proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vote {
    /// Within tolerance: a partial signature over the proposal's digest (boxed: 300 bytes in
    /// memory, against an observation's 24).
    Approve(Box<PartialSignature<Variant>>),
    /// Outside tolerance: the voter's own observation of the subject.
    Disagree(Observation),
}

/// Why a vote was not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The sender holds no share of this epoch.
    NotAVoter,
    /// The partial names index `claimed`, not the sender's `own`.
    WrongIndex { claimed: u32, own: u32 },
    /// The partial does not verify over this proposal's digest.
    InvalidPartial,
    /// The voter's counted vote, again.
    Repeat,
    /// Another vote from a voter already counted.
    Conflict,
}

impl Refusal {
    /// The reason's name (traces and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::NotAVoter => "not_a_voter",
            Refusal::WrongIndex { .. } => "wrong_index",
            Refusal::InvalidPartial => "invalid_partial",
            Refusal::Repeat => "repeat",
            Refusal::Conflict => "conflict",
        }
    }

    /// Whether the refused vote proves its (authenticated) sender hostile. A repeat may be a
    /// retransmission; everything else an honest voter never sends.
    pub fn proves_hostile(&self) -> bool {
        !matches!(self, Refusal::Repeat)
    }
}

/// What a counted vote changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// An approval: `approvals` are in now.
    Approval { approvals: usize },
    /// A disagreement: `disagreements` are in now.
    Disagreement { disagreements: usize },
}

/// The votes on one proposal (see the module docs).
pub struct Tally {
    namespace: Vec<u8>,
    digest: Vec<u8>,
    sharing: Sharing<Variant>,
    votes: BTreeMap<u32, Vote>,
    approvals: usize,
}

impl Tally {
    /// The tally of the proposal whose digest is `digest`, signed under `namespace` with shares
    /// of `sharing` (the epoch's public polynomial).
    pub fn new(namespace: &[u8], digest: &[u8], sharing: Sharing<Variant>) -> Self {
        Self {
            namespace: namespace.to_vec(),
            digest: digest.to_vec(),
            sharing,
            votes: BTreeMap::new(),
            approvals: 0,
        }
    }

    /// Approvals needed for a certificate: the sharing's threshold `t`.
    pub fn required(&self) -> usize {
        self.sharing.required() as usize
    }

    /// Whether the voter at share index `voter` has a counted vote.
    pub fn has_voted(&self, voter: u32) -> bool {
        self.votes.contains_key(&voter)
    }

    /// Approvals counted so far.
    pub fn approvals(&self) -> usize {
        self.approvals
    }

    /// Counts `vote` from the voter at share index `voter` (`None`: the sender holds no share).
    pub fn add(&mut self, voter: Option<u32>, vote: Vote) -> Result<Counted, Refusal> {
        let voter = voter
            .filter(|v| *v < self.sharing.total().get())
            .ok_or(Refusal::NotAVoter)?;
        if let Some(counted) = self.votes.get(&voter) {
            if crate::canary!(RepeatedVote) && *counted == vote && matches!(vote, Vote::Approve(_))
            {
                self.approvals += 1;
                return Ok(Counted::Approval {
                    approvals: self.approvals,
                });
            }
            return Err(if *counted == vote {
                Refusal::Repeat
            } else {
                Refusal::Conflict
            });
        }
        if let Vote::Approve(partial) = &vote {
            let claimed = partial.index.get();
            if claimed != voter {
                return Err(Refusal::WrongIndex {
                    claimed,
                    own: voter,
                });
            }
            ops::threshold::verify_message::<Variant>(
                &self.sharing,
                &self.namespace,
                &self.digest,
                partial.as_ref(),
            )
            .map_err(|_| Refusal::InvalidPartial)?;
        }
        let counted = match &vote {
            Vote::Approve(_) => {
                self.approvals += 1;
                Counted::Approval {
                    approvals: self.approvals,
                }
            }
            Vote::Disagree(_) => Counted::Disagreement {
                disagreements: self.votes.len() + 1 - self.approvals,
            },
        };
        self.votes.insert(voter, vote);
        Ok(counted)
    }

    /// The disagreeing voters' observations, in voter order.
    pub fn disagreements(&self) -> Vec<Observation> {
        self.votes
            .values()
            .filter_map(|v| match v {
                Vote::Disagree(o) => Some(*o),
                Vote::Approve(_) => None,
            })
            .collect()
    }

    /// The certificate, once `t` approvals are in: the threshold signature recovered from the
    /// verified partials and checked under the group key.
    pub fn certificate(&self) -> Option<Signature> {
        if self.approvals < self.required() {
            return None;
        }
        let partials = self.votes.values().filter_map(|v| match v {
            Vote::Approve(p) => Some(p.as_ref()),
            Vote::Disagree(_) => None,
        });
        let signature =
            ops::threshold::recover::<Variant, _>(&self.sharing, partials, &Sequential).ok()?;
        verify(
            self.sharing.public(),
            &self.namespace,
            &self.digest,
            &signature,
        )
        .then_some(signature)
    }
}

/// Whether `signature` is the group's threshold signature over `digest` under `namespace`
/// (what everybody checks of a certificate, late joiners included).
pub fn verify(
    group_key: &<Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Public,
    namespace: &[u8],
    digest: &[u8],
    signature: &Signature,
) -> bool {
    ops::verify_message::<Variant>(group_key, namespace, digest, signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;
    use commonware_cryptography::bls12381::{
        dkg::feldman_desmedt::deal_anonymous,
        primitives::{group::Share, sharing::Mode},
    };
    use commonware_utils::{N3f1, NZU32, Participant};
    use rand::SeedableRng as _;

    const NS: &[u8] = b"_COHORT_CHECKPOINT_TEST";

    fn setup(n: u32) -> (Sharing<Variant>, Vec<Share>) {
        let rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        deal_anonymous::<Variant, N3f1>(rng, Mode::NonZeroCounter, NZU32!(n))
    }

    fn approve(share: &Share, digest: &[u8]) -> Vote {
        Vote::Approve(Box::new(ops::threshold::sign_message::<Variant>(
            share, NS, digest,
        )))
    }

    #[test]
    fn t_approvals_make_a_certificate_that_verifies_and_t_minus_1_do_not() {
        let (sharing, shares) = setup(7);
        let mut tally = Tally::new(NS, b"proposal", sharing.clone());
        let t = tally.required();
        assert_eq!(t, 5);
        for (i, share) in shares.iter().take(t).enumerate() {
            assert_eq!(tally.certificate(), None, "{i} approvals");
            let counted = tally.add(Some(share.index.get()), approve(share, b"proposal"));
            assert_eq!(counted, Ok(Counted::Approval { approvals: i + 1 }));
        }
        let signature = tally.certificate().expect("t approvals");
        assert!(verify(sharing.public(), NS, b"proposal", &signature));
        assert!(!verify(sharing.public(), NS, b"another", &signature));
        // One threshold signature, whatever n: 96 bytes.
        assert_eq!(signature.encode().len(), 96);
    }

    #[test]
    fn a_voter_repeating_its_vote_never_counts_twice() {
        let (sharing, shares) = setup(7);
        let mut tally = Tally::new(NS, b"p", sharing);
        let voter = &shares[0];
        let vote = approve(voter, b"p");
        assert!(tally.add(Some(voter.index.get()), vote.clone()).is_ok());
        for _ in 0..10 {
            let refusal = tally
                .add(Some(voter.index.get()), vote.clone())
                .unwrap_err();
            assert_eq!(refusal, Refusal::Repeat);
            assert!(!refusal.proves_hostile());
        }
        assert_eq!(tally.approvals(), 1);
        assert_eq!(tally.certificate(), None);
    }

    #[test]
    fn a_conflicting_second_vote_is_proof_and_the_first_stands() {
        let (sharing, shares) = setup(4);
        let mut tally = Tally::new(NS, b"p", sharing);
        let voter = &shares[1];
        tally
            .add(
                Some(voter.index.get()),
                Vote::Disagree(Observation::default()),
            )
            .unwrap();
        let refusal = tally
            .add(Some(voter.index.get()), approve(voter, b"p"))
            .unwrap_err();
        assert_eq!(refusal, Refusal::Conflict);
        assert!(refusal.proves_hostile());
        assert_eq!(tally.approvals(), 0);
        assert_eq!(tally.disagreements(), vec![Observation::default()]);
    }

    #[test]
    fn forged_misattributed_and_foreign_partials_count_for_nothing() {
        let (sharing, shares) = setup(4);
        let (other, other_shares) = {
            let rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
            deal_anonymous::<Variant, N3f1>(rng, Mode::NonZeroCounter, NZU32!(4))
        };
        let _ = other;
        let mut tally = Tally::new(NS, b"p", sharing);
        // A partial over another digest.
        assert_eq!(
            tally.add(Some(0), approve(&shares[0], b"q")),
            Err(Refusal::InvalidPartial)
        );
        // Under another namespace.
        let foreign = ops::threshold::sign_message::<Variant>(&shares[0], b"_OTHER", b"p");
        assert_eq!(
            tally.add(Some(0), Vote::Approve(Box::new(foreign))),
            Err(Refusal::InvalidPartial)
        );
        // From another sharing's share of the same index.
        assert_eq!(
            tally.add(Some(0), approve(&other_shares[0], b"p")),
            Err(Refusal::InvalidPartial)
        );
        // Voter 1 sending voter 2's valid partial.
        assert_eq!(
            tally.add(Some(1), approve(&shares[2], b"p")),
            Err(Refusal::WrongIndex { claimed: 2, own: 1 })
        );
        // A junk index.
        let mut junk = ops::threshold::sign_message::<Variant>(&shares[3], NS, b"p");
        junk.index = Participant::new(u32::MAX);
        assert!(tally.add(Some(3), Vote::Approve(Box::new(junk))).is_err());
        // Senders without a share.
        assert_eq!(
            tally.add(None, approve(&shares[0], b"p")),
            Err(Refusal::NotAVoter)
        );
        assert_eq!(
            tally.add(Some(4), approve(&shares[0], b"p")),
            Err(Refusal::NotAVoter)
        );
        // None of it counted, nor blocks the honest votes that follow.
        assert_eq!(tally.approvals(), 0);
        for share in &shares[..3] {
            tally
                .add(Some(share.index.get()), approve(share, b"p"))
                .unwrap();
        }
        assert!(tally.certificate().is_some());
    }

    #[test]
    fn disagreements_are_counted_apart_and_kept_for_round_two() {
        let (sharing, shares) = setup(4);
        let mut tally = Tally::new(NS, b"p", sharing);
        let seen = Observation {
            restarts: 9,
            uptime_ms: 1,
            first_seen_ms: 2,
        };
        assert_eq!(
            tally.add(Some(3), Vote::Disagree(seen)),
            Ok(Counted::Disagreement { disagreements: 1 })
        );
        tally.add(Some(0), approve(&shares[0], b"p")).unwrap();
        assert_eq!(
            tally.add(Some(2), Vote::Disagree(Observation::default())),
            Ok(Counted::Disagreement { disagreements: 2 })
        );
        assert_eq!(tally.disagreements(), vec![Observation::default(), seen]);
        assert_eq!(tally.certificate(), None);
    }
}
