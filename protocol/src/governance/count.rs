//! The count of one proposal's votes, from the `Vote` ops the ledger holds.
//!
//! Each vote is counted with [`Tally`] against the current epoch's sharing: one vote per voter
//! whatever a hostile voter appended (a repeat, a second partial), and every partial verified
//! over the proposal's digest under [`CERTIFICATE_NAMESPACE`], so a partial from another
//! epoch's share (a removed member's old share, say) or for another digest counts for nothing.
//! Every refused vote is returned with its voter and reason. The certificate is the threshold
//! signature recovered from `t` verified partials: BLS signatures are unique, so every node
//! that counts `t` valid approvals recovers the same certificate, whatever the order its votes
//! arrived in.

use crate::{
    cluster::PublicKey,
    committee::CERTIFICATE_NAMESPACE,
    dkg::wire::Variant,
    ledger::{OpId, Proposal},
    vote::tally::{Refusal, Signature, Tally, Vote},
};
use commonware_cryptography::bls12381::primitives::sharing::Sharing;

/// What counting one proposal's votes gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// Approvals counted (one per voter).
    pub approvals: usize,
    /// Approvals needed (the sharing's threshold).
    pub required: usize,
    /// The certificate, once `required` approvals are in.
    pub certificate: Option<Signature>,
    /// Votes that did not count: the voter, the `Vote` op, and why.
    pub refused: Vec<(PublicKey, OpId, Refusal)>,
}

/// Counts `proposal`'s votes against the current epoch's `sharing`, whose players (in share
/// order) are `players`.
pub fn count(proposal: &Proposal, sharing: &Sharing<Variant>, players: &[PublicKey]) -> Count {
    let digest = proposal.proposal.digest();
    let mut tally = Tally::new(CERTIFICATE_NAMESPACE, &digest, sharing.clone());
    let mut refused = Vec::new();
    for ballot in &proposal.votes {
        let index = players
            .iter()
            .position(|p| *p == ballot.voter)
            .and_then(|i| u32::try_from(i).ok());
        if let Err(reason) = tally.add(index, Vote::Approve(Box::new(ballot.partial.clone()))) {
            refused.push((ballot.voter.clone(), ballot.op, reason));
        }
    }
    Count {
        approvals: tally.approvals(),
        required: tally.required(),
        certificate: tally.certificate(),
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        committee::{CommitteeProposal, testing::keys, testing::op},
        ledger::Ballot,
        vote::tally::verify,
    };
    use commonware_cryptography::bls12381::{
        dkg::feldman_desmedt::deal_anonymous,
        primitives::{group::Share, ops, sharing::Mode},
    };
    use commonware_utils::{N3f1, NZU32};
    use rand::SeedableRng as _;

    fn deal(seed: u64) -> (Sharing<Variant>, Vec<Share>) {
        deal_anonymous::<Variant, N3f1>(
            rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            Mode::NonZeroCounter,
            NZU32!(4),
        )
    }

    #[test]
    fn t_valid_approvals_certify_and_hostile_votes_count_for_nothing() {
        let players = keys(5);
        let (sharing, shares) = deal(1);
        let (_, old_shares) = deal(2);
        let p = CommitteeProposal::new(1, players.clone(), vec![], String::new(), [0; 32]).unwrap();
        let digest = p.digest();
        let sign = |share: &Share| {
            ops::threshold::sign_message::<Variant>(share, CERTIFICATE_NAMESPACE, &digest)
        };
        let ballot = |voter: usize, b: u8, share: &Share| Ballot {
            voter: players[voter].clone(),
            op: op(b),
            partial: sign(share),
        };
        let mut proposal = Proposal {
            op: op(0),
            author: players[0].clone(),
            proposal: p,
            votes: vec![
                ballot(0, 1, &shares[0]),
                // A repeat, and a partial from another epoch's share.
                ballot(0, 2, &shares[0]),
                ballot(1, 3, &old_shares[1]),
                // A key outside the sharing's players.
                ballot(4, 4, &shares[3]),
                ballot(2, 5, &shares[2]),
            ],
            certified: false,
        };
        let counted = count(&proposal, &sharing, &players[..4]);
        assert_eq!((counted.approvals, counted.required), (2, 3));
        assert_eq!(counted.certificate, None);
        let reasons: Vec<&str> = counted.refused.iter().map(|(_, _, r)| r.name()).collect();
        assert_eq!(reasons, vec!["repeat", "invalid_partial", "not_a_voter"]);
        // The third valid approval certifies; the certificate is the same whichever three.
        proposal.votes.push(ballot(3, 6, &shares[3]));
        let counted = count(&proposal, &sharing, &players[..4]);
        let certificate = counted.certificate.expect("t approvals");
        assert!(verify(
            sharing.public(),
            CERTIFICATE_NAMESPACE,
            &digest,
            &certificate
        ));
        proposal.votes.reverse();
        assert_eq!(
            count(&proposal, &sharing, &players[..4]).certificate,
            Some(certificate)
        );
    }
}
