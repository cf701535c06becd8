//! The repeater: votes as an honest member would, but sends each vote two to five times at
//! once, the way the replaced design's single voter reached its quorum alone. A repeat may be a
//! retransmission, so it is refused as `repeat` without blocking; it must never count twice.

use super::liar::{Input, Liar, TICK};
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    loop {
        let tick = context.current() + TICK;
        match liar.next(&context, tick).await {
            Input::Closed => return,
            Input::Proposal(peer, signed) => {
                let Some((digest, vote)) = liar.honest_vote(&context, &peer, &signed).await else {
                    continue;
                };
                if matches!(vote, cohort_protocol::checkpoint::Vote::Approve(_)) {
                    liar.approved(&digest);
                }
                let times = liar.rng.random_range(2..=5u64);
                for _ in 0..times {
                    liar.vote(&peer, digest, vote.clone());
                }
                liar.report.lock().expect("liar report").repeats += times - 1;
            }
            Input::Vote(..) | Input::Tick => {}
        }
    }
}
