//! Appends its own chain, forking it every third op: two ops with one seq (and one parent),
//! one sent to the members of even index, the other to the rest. It goes on from the first fork.

use super::liar::Liar;
use bytes::Bytes;
use cohort_protocol::ledger::{Op, OpKind, SignedOp, wire::Message};
use commonware_codec::Encode as _;
use commonware_p2p::{Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use std::time::Duration;

/// Time between two of its ops.
const PERIOD: Duration = Duration::from_millis(300);

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let others = liar.others();
    let (even, odd): (Vec<_>, Vec<_>) = others
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let even: Vec<_> = even.into_iter().map(|(_, k)| k).collect();
    let odd: Vec<_> = odd.into_iter().map(|(_, k)| k).collect();
    let mut previous = None;
    let mut seq = 0u64;
    while context.current() < liar.until {
        context.sleep(PERIOD).await;
        seq += 1;
        let op = |tag: &'static str| {
            SignedOp::sign(
                &liar.key,
                Op {
                    author: [0; 32],
                    seq,
                    parents: previous.into_iter().collect(),
                    kind: OpKind::Data(Bytes::from(format!("{tag}-{seq}"))),
                    time_ms: 0,
                },
            )
        };
        let first = op("left");
        if seq.is_multiple_of(3) && !odd.is_empty() {
            let second = op("right");
            let frame = Message::Ops(vec![first.clone()]).encode();
            liar.gossip
                .sender
                .send(Recipients::Some(even.clone()), frame, false);
            let frame = Message::Ops(vec![second]).encode();
            liar.gossip
                .sender
                .send(Recipients::Some(odd.clone()), frame, false);
            liar.report.lock().expect("report").forks += 1;
        } else {
            let frame = Message::Ops(vec![first.clone()]).encode();
            liar.gossip
                .sender
                .send(Recipients::Some(others.clone()), frame, false);
        }
        previous = Some(first.id());
    }
}
