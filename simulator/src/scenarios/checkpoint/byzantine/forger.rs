//! The forger: answers each proposal with a forged approval: a partial from its share over
//! another digest, or under another namespace, a valid partial relabelled with another voter's
//! index, a vote naming another member as its voter, or a frame that does not decode. None may
//! count; each proves it hostile and gets it blocked.

use super::liar::{Input, Liar, TICK};
use cohort_protocol::{
    checkpoint::{
        Vote,
        wire::{CERTIFICATE_NAMESPACE, Message, SignedVote},
    },
    dkg,
};
use commonware_cryptography::bls12381::primitives::ops;
use commonware_runtime::{Clock as _, deterministic};
use commonware_utils::Participant;
use rand::RngExt as _;

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    loop {
        let tick = context.current() + TICK;
        match liar.next(&context, tick).await {
            Input::Closed => return,
            Input::Proposal(peer, signed) => {
                let Some(completed) = liar.completed() else {
                    continue;
                };
                let share = completed.share.expect("completed() has a share");
                let digest = signed.proposal.digest();
                let players = completed.output.players().len() as u32;
                let frame = match liar.rng.random_range(0..5u8) {
                    0 => {
                        // A valid partial over another digest.
                        let mut other = digest;
                        other[liar.rng.random_range(0..32usize)] ^= 1;
                        let partial = ops::threshold::sign_message::<dkg::wire::Variant>(
                            &share,
                            CERTIFICATE_NAMESPACE,
                            &other,
                        );
                        SignedVote::sign(
                            &liar.key,
                            digest,
                            liar.epoch(),
                            Vote::Approve(Box::new(partial)),
                        )
                    }
                    1 => {
                        // Under another namespace.
                        let partial = ops::threshold::sign_message::<dkg::wire::Variant>(
                            &share,
                            b"_COHORT_SOMETHING_ELSE",
                            &digest,
                        );
                        SignedVote::sign(
                            &liar.key,
                            digest,
                            liar.epoch(),
                            Vote::Approve(Box::new(partial)),
                        )
                    }
                    2 => {
                        // A valid partial, relabelled with another voter's index.
                        let mut partial = ops::threshold::sign_message::<dkg::wire::Variant>(
                            &share,
                            CERTIFICATE_NAMESPACE,
                            &digest,
                        );
                        let own = partial.index.get();
                        let other = (own + liar.rng.random_range(1..players.max(2))) % players;
                        partial.index = Participant::new(other);
                        SignedVote::sign(
                            &liar.key,
                            digest,
                            liar.epoch(),
                            Vote::Approve(Box::new(partial)),
                        )
                    }
                    3 => {
                        // A vote that names another member as its voter.
                        let vote = liar.partial(&digest).expect("a share");
                        let mut signed = SignedVote::sign(&liar.key, digest, liar.epoch(), vote);
                        signed.voter.copy_from_slice(peer.as_ref());
                        signed
                    }
                    _ => {
                        let len = liar.rng.random_range(1..64usize);
                        let garbage: Vec<u8> = (0..len).map(|_| liar.rng.random()).collect();
                        liar.send(vec![peer], garbage.into());
                        liar.hostile(context.current(), 1);
                        continue;
                    }
                };
                liar.send(vec![peer], Message::Vote(frame).encode());
                liar.hostile(context.current(), 1);
            }
            Input::Vote(..) | Input::Tick => {}
        }
    }
}
