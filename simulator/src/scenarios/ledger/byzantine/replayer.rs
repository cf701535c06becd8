//! Keeps the honest ops it receives (gossip) and sends old ones again to random members.

use super::liar::Liar;
use cohort_protocol::ledger::{SignedOp, wire::Message};
use commonware_codec::{Decode as _, Encode as _};
use commonware_macros::select;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;
use std::time::Duration;

/// Time between two replays.
const PERIOD: Duration = Duration::from_millis(50);
/// Ops it keeps to replay.
const KEPT: usize = 256;

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let others = liar.others();
    let mut kept: Vec<SignedOp> = Vec::new();
    let mut next = context.current() + PERIOD;
    while context.current() < liar.until {
        select! {
            frame = liar.gossip.receiver.recv() => {
                let Ok((_, frame)) = frame else { return };
                if let Ok(Message::Ops(ops)) = Message::decode_cfg(frame, &()) {
                    for op in ops {
                        if kept.len() < KEPT {
                            kept.push(op);
                        } else {
                            let slot = liar.rng.random_range(0..KEPT);
                            kept[slot] = op;
                        }
                    }
                }
            },
            _ = context.sleep_until(next) => {
                next = context.current() + PERIOD;
                if kept.is_empty() {
                    continue;
                }
                let op = kept[liar.rng.random_range(0..kept.len())].clone();
                let to = others[liar.rng.random_range(0..others.len())].clone();
                let frame = Message::Ops(vec![op]).encode();
                liar.gossip.sender.send(Recipients::One(to), frame, false);
                liar.report.lock().expect("report").replayed += 1;
            },
        }
    }
}
