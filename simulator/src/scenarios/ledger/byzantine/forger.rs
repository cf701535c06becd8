//! Sends forged ops to every member: ops that name another member as their author but carry the
//! liar's signature, and ops of a key outside the cluster, validly signed by that key.

use super::liar::Liar;
use bytes::Bytes;
use cohort_protocol::ledger::{Op, OpKind, SignedOp, op::NAMESPACE, wire::Message};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_p2p::{Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;
use std::time::Duration;

/// Time between two forgeries.
const PERIOD: Duration = Duration::from_millis(200);

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let others = liar.others();
    let stranger = ed25519::PrivateKey::from_seed(liar.rng.random());
    let mut round = 0u64;
    while context.current() < liar.until {
        context.sleep(PERIOD).await;
        round += 1;
        let forged = if round.is_multiple_of(2) {
            // A victim's op, signed by the liar.
            let victim = &others[liar.rng.random_range(0..others.len())];
            let mut op = Op {
                author: [0; 32],
                seq: 1,
                parents: vec![],
                kind: OpKind::Data(Bytes::from(format!("forged-{round}"))),
                time_ms: 0,
            };
            op.author.copy_from_slice(victim.as_ref());
            let mut encoded = op.encode().to_vec();
            let signature = liar.key.sign(NAMESPACE, &encoded);
            encoded.extend_from_slice(signature.as_ref());
            SignedOp::parse(Bytes::from(encoded)).expect("well formed")
        } else {
            // A stranger's op, validly signed.
            SignedOp::sign(
                &stranger,
                Op {
                    author: [0; 32],
                    seq: round,
                    parents: vec![],
                    kind: OpKind::Boot { boot_count: round },
                    time_ms: 0,
                },
            )
        };
        liar.report
            .lock()
            .expect("report")
            .forged
            .insert(forged.id());
        let frame = Message::Ops(vec![forged]).encode();
        liar.gossip
            .sender
            .send(Recipients::Some(others.clone()), frame, false);
    }
}
