//! Fuzz bodies of the checkpoint vote: the wire decoders (with round trips) and the vote
//! count. Random bytes rarely make a validly signed proposal or a valid partial, so the bodies
//! also draw real frames and real votes of a 7-voter sharing from the input, whole or with a
//! byte flipped, and the tally's invariants are checked after every step.

use crate::{
    dkg::wire::Variant,
    vote::{
        Observation,
        tally::{self, Counted, Refusal, Tally, Vote},
        wire::{Message, Proposal, SignedProposal, SignedVote},
    },
};
use bytes::Bytes;
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::deal_anonymous,
        primitives::{group::Share, ops, sharing::Mode, sharing::Sharing},
    },
    ed25519,
};
use commonware_utils::{N3f1, NZU32};
use rand::SeedableRng as _;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

const NS: &[u8] = b"_COHORT_CHECKPOINT_FUZZ";
const VOTERS: u32 = 7;

fn setup() -> &'static (Sharing<Variant>, Vec<Share>) {
    static SETUP: OnceLock<(Sharing<Variant>, Vec<Share>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        deal_anonymous::<Variant, N3f1>(rng, Mode::NonZeroCounter, NZU32!(VOTERS))
    })
}

/// Real frames: a proposal, an approval and a disagreement on it.
fn real_frames() -> &'static [Bytes] {
    static FRAMES: OnceLock<Vec<Bytes>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let key = ed25519::PrivateKey::from_seed(5);
        let observation = Observation {
            restarts: 2,
            uptime_ms: 86_000_000,
            first_seen_ms: 1_700_000_000_000,
        };
        let proposal = SignedProposal::sign(
            &key,
            Proposal {
                subject: [0; 32],
                round: 1,
                as_of_ms: 1_700_086_400_000,
                observation,
                previous: Some([9; 32]),
            },
        );
        let digest = proposal.proposal.digest();
        let (_, shares) = setup();
        let partial = ops::threshold::sign_message::<Variant>(&shares[0], NS, &digest);
        let voter = ed25519::PrivateKey::from_seed(6);
        vec![
            Message::Proposal(proposal).encode(),
            Message::Vote(SignedVote::sign(
                &voter,
                digest,
                0,
                Vote::Approve(Box::new(partial)),
            ))
            .encode(),
            Message::Vote(SignedVote::sign(
                &voter,
                digest,
                0,
                Vote::Disagree(observation),
            ))
            .encode(),
        ]
    })
}

/// Decodes `data` as a checkpoint frame, and real frames with a byte the input picks flipped:
/// whatever decodes re-encodes to the same bytes and decodes to an equal value (the encoding
/// is canonical), and verifying a decoded signature never panics.
pub fn checkpoint_messages(data: &[u8]) {
    let mut inputs = vec![Bytes::copy_from_slice(data)];
    if let [which, at, bit, ..] = data {
        let frame = &real_frames()[*which as usize % real_frames().len()];
        let mut flipped = frame.to_vec();
        let at = *at as usize % flipped.len();
        flipped[at] ^= 1 << (bit % 8);
        inputs.push(Bytes::from(flipped));
        inputs.push(frame.clone());
    }
    let signer = ed25519::PrivateKey::from_seed(5).public_key();
    for input in inputs {
        let Ok(message) = Message::decode(input.clone()) else {
            continue;
        };
        let encoded = message.encode();
        assert_eq!(encoded, input, "the encoding is canonical");
        assert_eq!(Message::decode(encoded).expect("round trip"), message);
        match &message {
            Message::Proposal(p) => {
                let _ = p.verify(&signer);
                let _ = p.proposal.digest();
            }
            Message::Vote(v) => {
                let _ = v.verify(&signer);
            }
        }
    }
}

/// Drives one tally with votes the input picks (two bytes a step: the voter index, possibly
/// out of range or absent, and what it sends: a valid approval, an approval over another
/// digest, one relabelled with another index, or a disagreement), and checks after every step:
/// approvals never exceed the distinct voters whose valid approval was counted, a voter's
/// first counted vote stands, a repeat is refused as a repeat and anything else from a
/// counted voter as a conflict, and a certificate exists exactly from `t` approvals on and
/// verifies.
pub fn checkpoint_tally(data: &[u8]) {
    let (sharing, shares) = setup();
    let digest = b"fuzzed proposal";
    let mut tally = Tally::new(NS, digest, sharing.clone());
    let mut counted: BTreeMap<u32, Vote> = BTreeMap::new();
    let mut approvers: BTreeSet<u32> = BTreeSet::new();
    for step in data.chunks(2) {
        let (who, what) = (step[0], step.get(1).copied().unwrap_or(0));
        let voter = match who % 10 {
            9 => None,
            v => Some(u32::from(v)),
        };
        let share = &shares[usize::from(who) % shares.len()];
        let vote = match what % 4 {
            0 => Vote::Approve(Box::new(ops::threshold::sign_message::<Variant>(
                share, NS, digest,
            ))),
            1 => Vote::Approve(Box::new(ops::threshold::sign_message::<Variant>(
                share, NS, b"another",
            ))),
            2 => {
                let mut partial = ops::threshold::sign_message::<Variant>(share, NS, digest);
                partial.index = commonware_utils::Participant::new(u32::from(what) % VOTERS);
                Vote::Approve(Box::new(partial))
            }
            _ => Vote::Disagree(Observation {
                restarts: u64::from(what),
                uptime_ms: u64::from(who),
                first_seen_ms: 0,
            }),
        };
        let result = tally.add(voter, vote.clone());
        match (voter.filter(|v| *v < VOTERS), &result) {
            (None, r) => assert_eq!(*r, Err(Refusal::NotAVoter)),
            (Some(v), Ok(c)) => {
                assert!(!counted.contains_key(&v), "voter {v} counted twice");
                if let Counted::Approval { .. } = c {
                    approvers.insert(v);
                }
                counted.insert(v, vote);
            }
            (Some(v), Err(refusal)) => match counted.get(&v) {
                Some(first) if *first == vote => assert_eq!(*refusal, Refusal::Repeat),
                Some(_) => assert_eq!(*refusal, Refusal::Conflict),
                None => assert!(matches!(
                    refusal,
                    Refusal::InvalidPartial | Refusal::WrongIndex { .. }
                )),
            },
        }
        assert_eq!(tally.approvals(), approvers.len());
        let certificate = tally.certificate();
        assert_eq!(certificate.is_some(), approvers.len() >= tally.required());
        if let Some(signature) = certificate {
            assert!(tally::verify(sharing.public(), NS, digest, &signature));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, RngExt as _};

    #[test]
    fn random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        for _ in 0..200 {
            let len = rng.random_range(0..64);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            checkpoint_messages(&data);
            checkpoint_tally(&data[..len.min(24)]);
        }
    }

    #[test]
    fn structured_inputs_reach_the_deep_paths() {
        // Every real frame, whole and with each of the first bytes flipped.
        for which in 0..3u8 {
            for at in 0..64u8 {
                checkpoint_messages(&[which, at, at % 8]);
            }
        }
        // Every voter approves validly (a certificate at t), then repeats, conflicts,
        // forgeries and strangers.
        let mut data: Vec<u8> = (0..7u8).flat_map(|v| [v, 0]).collect();
        data.extend_from_slice(&[0, 0, 0, 3, 1, 1, 2, 2, 9, 0, 8, 0]);
        checkpoint_tally(&data);
    }
}
