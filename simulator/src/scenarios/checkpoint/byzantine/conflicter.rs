//! The conflicter: answers each proposal with two different votes at once: an approval and a
//! disagreement (in a drawn order) where an honest voter would approve, two different
//! disagreements where it would disagree. The first to arrive is its vote; the second proves it
//! hostile (`conflict`) and gets it blocked.

use super::liar::{Input, Liar, TICK};
use cohort_protocol::checkpoint::{Observation, Vote};
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;

/// `seen` with its uptime moved by a drawn amount (never zero).
fn shifted(liar: &mut Liar, seen: Observation) -> Observation {
    Observation {
        uptime_ms: seen.uptime_ms + liar.rng.random_range(1..=120_000u64),
        ..seen
    }
}

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    loop {
        let tick = context.current() + TICK;
        match liar.next(&context, tick).await {
            Input::Closed => return,
            Input::Proposal(peer, signed) => {
                let Some((digest, vote)) = liar.honest_vote(&context, &peer, &signed).await else {
                    continue;
                };
                let (first, second) = match vote {
                    Vote::Approve(_) => {
                        liar.approved(&digest);
                        let other = Vote::Disagree(shifted(&mut liar, signed.proposal.observation));
                        match liar.rng.random_bool(0.5) {
                            true => (vote, other),
                            false => (other, vote),
                        }
                    }
                    Vote::Disagree(seen) => {
                        let other = shifted(&mut liar, seen);
                        (Vote::Disagree(seen), Vote::Disagree(other))
                    }
                };
                liar.vote(&peer, digest, first);
                liar.vote(&peer, digest, second);
                liar.hostile(context.current(), 1);
            }
            Input::Vote(..) | Input::Tick => {}
        }
    }
}
