//! A ledger that already exists before a run (`late-joiner`, and the catch-up bench).

use bytes::Bytes;
use cohort_protocol::{
    PublicKey,
    ledger::{Dag, OpKind, SignedOp, dag, op::MAX_OP_BYTES},
};
use cohort_storage::ledger::OpStore;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_runtime::{Supervisor as _, deterministic};

/// `count` ops by `authors` (round robin), each on top of all the ops before it, with small
/// `Data` payloads: a ledger that already exists.
pub fn preload_history(
    keys: &[ed25519::PrivateKey],
    authors: &[usize],
    count: u64,
) -> Vec<SignedOp> {
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let mut dag = Dag::new(&members, dag::Config::default());
    let mut ops = Vec::with_capacity(count as usize);
    for i in 0..count {
        let author = authors[(i as usize) % authors.len()];
        let kind = OpKind::Data(Bytes::from(i.to_be_bytes().repeat(4)));
        let op = SignedOp::sign(&keys[author], dag.next_op(author, kind, 0));
        dag.apply_trusted(vec![op.clone()]);
        ops.push(op);
    }
    ops
}

/// Writes `ops` to the op store of node `node` (as if it had applied them before this run).
pub async fn preload_store(context: &deterministic::Context, node: usize, ops: &[SignedOp]) {
    let (mut store, existing) = OpStore::open(
        context.child("preload").with_attribute("node", node),
        &format!("node{node}"),
        MAX_OP_BYTES,
    )
    .await
    .expect("open the op store");
    assert!(existing.is_empty(), "preloading a fresh store");
    for op in ops {
        store.append(op.encoded()).await.expect("append");
    }
    store.sync().await.expect("sync");
}
