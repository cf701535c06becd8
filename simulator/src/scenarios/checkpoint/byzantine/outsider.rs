//! The outsider: a key that is not a member of the cluster (but reachable on the network)
//! sends votes and proposals to every member. Members take checkpoint inputs from members
//! only: the first frame gets it blocked (`non_member`).

use super::liar::{Input, Liar, TICK, millis};
use cohort_protocol::checkpoint::{
    Observation, Vote,
    wire::{Message, Proposal, SignedProposal, SignedVote},
};
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    loop {
        let tick = context.current() + TICK;
        match liar.next(&context, tick).await {
            Input::Closed => return,
            Input::Proposal(..) | Input::Vote(..) => {}
            Input::Tick => {
                let observation = Observation {
                    restarts: liar.rng.random_range(0..3),
                    uptime_ms: liar.rng.random_range(0..1_000_000),
                    first_seen_ms: millis(context.current()),
                };
                let frame = match liar.rng.random_bool(0.5) {
                    true => {
                        let digest: [u8; 32] = liar.rng.random();
                        Message::Vote(SignedVote::sign(
                            &liar.key,
                            digest,
                            0,
                            Vote::Disagree(observation),
                        ))
                    }
                    false => Message::Proposal(SignedProposal::sign(
                        &liar.key,
                        Proposal {
                            subject: [0; 32],
                            round: 1,
                            as_of_ms: millis(context.current()),
                            observation,
                            previous: None,
                        },
                    )),
                };
                let members = liar.members.clone();
                liar.send(members, frame.encode());
                liar.hostile(context.current(), 1);
            }
        }
    }
}
