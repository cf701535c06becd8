//! Fuzz bodies of the ledger and backfill: decoders, the DAG's apply, the backfill server and a
//! client run. Random bytes alone rarely make a validly signed op, so each body also draws, from
//! the input, real ops of a small real ledger, whole or with a byte flipped, and feeds them in
//! the order the input says: the deep paths (pending, drain, chains, forks, pages) are reached.

use crate::{
    cluster::PublicKey,
    ledger::{
        Dag, OpKind, Outcome, SignedOp,
        backfill::{
            self,
            client::{PageResult, Run, Verdict},
            server::{self, Server},
        },
        dag, wire,
    },
};
use bytes::Bytes;
use commonware_codec::{Decode as _, Encode as _};
use commonware_cryptography::{Signer as _, ed25519};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use std::{
    sync::OnceLock,
    time::{Duration, SystemTime},
};

/// Members of the fuzzed ledgers.
const MEMBERS: u64 = 3;
/// Ops of the real ledger inputs draw from.
const REAL_OPS: usize = 40;
/// Pending bound of the fuzzed ledgers (small, so eviction is reached).
const MAX_PENDING: usize = 16;

fn keys() -> Vec<ed25519::PrivateKey> {
    (0..MEMBERS)
        .map(|i| ed25519::PrivateKey::from_seed(900 + i))
        .collect()
}

fn members() -> Vec<PublicKey> {
    keys().iter().map(|k| k.public_key()).collect()
}

/// A small real ledger (with one fork of member 0's chain), built once.
pub fn real_ops() -> &'static [SignedOp] {
    static OPS: OnceLock<Vec<SignedOp>> = OnceLock::new();
    OPS.get_or_init(|| {
        let keys = keys();
        let mut ledger = Dag::new(&members(), dag::Config::default());
        let mut ops = Vec::new();
        for i in 0..REAL_OPS {
            let author = i % keys.len();
            let kind = match i % 3 {
                0 => OpKind::Boot { boot_count: 1 },
                1 => OpKind::Heartbeat {
                    uptime_ms: i as u64,
                },
                _ => OpKind::Data(Bytes::from(vec![i as u8; i])),
            };
            let op = SignedOp::sign(&keys[author], ledger.next_op(author, kind, i as u64));
            if i == REAL_OPS / 2 {
                // A fork: another op with the same seq and parents.
                let mut fork = op.op().clone();
                fork.kind = OpKind::Data(Bytes::from_static(b"fork"));
                ops.push(SignedOp::sign(&keys[author], fork));
            }
            ledger.apply_trusted(vec![op.clone()]);
            ops.push(op);
        }
        ops
    })
}

/// Reads the input as instructions, each a tag byte then its operands:
/// `0`: a raw gossip frame (a length byte, then that many bytes);
/// `1`: a real op (an index byte); `2`: a real op with one byte flipped (index, position, xor);
/// `3`: apply what was collected so far as one batch. Everything left is applied at the end.
/// Checks the DAG's own bounds and that re-applying an applied op is a duplicate.
pub fn ledger_ops(data: &[u8]) {
    let real = real_ops();
    let mut ledger = Dag::new(
        &members(),
        dag::Config {
            max_pending: MAX_PENDING,
        },
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut batch: Vec<SignedOp> = Vec::new();
    let mut input = data.iter().copied();
    let mut apply = |ledger: &mut Dag, batch: &mut Vec<SignedOp>| {
        let report = ledger.apply(std::mem::take(batch), &mut rng);
        assert!(ledger.pending_len() <= MAX_PENDING);
        for id in &report.applied {
            let op = ledger.get(id).expect("applied ops are held").clone();
            let again = ledger.apply(vec![op], &mut rng);
            assert_eq!(again.outcomes, vec![Outcome::Duplicate]);
        }
    };
    while let Some(tag) = input.next() {
        match tag % 4 {
            0 => {
                let len = input.next().unwrap_or(0) as usize;
                let frame: Vec<u8> = input.by_ref().take(len).collect();
                if let Ok(wire::Message::Ops(ops)) =
                    wire::Message::decode_cfg(Bytes::from(frame), &())
                {
                    batch.extend(ops);
                }
            }
            1 => {
                let i = input.next().unwrap_or(0) as usize % real.len();
                batch.push(real[i].clone());
            }
            2 => {
                let i = input.next().unwrap_or(0) as usize % real.len();
                let mut bytes = real[i].encoded().to_vec();
                let at = input.next().unwrap_or(0) as usize % bytes.len();
                bytes[at] ^= input.next().unwrap_or(1).max(1);
                if let Ok(op) = SignedOp::parse(Bytes::from(bytes)) {
                    batch.push(op);
                }
            }
            _ => apply(&mut ledger, &mut batch),
        }
    }
    apply(&mut ledger, &mut batch);
    let _ = ledger.digest();
    let _ = ledger.known();
}

/// Serves a real ledger: reads the input as backfill frames (a length byte, then that many
/// bytes; an odd length byte makes the next frame come from another peer), and, when the first
/// byte is odd, also as mutated real requests (`cursor` and `limit` from the input). Every reply
/// must decode within the wire bounds, and every page it serves must be accepted by a client run
/// and apply cleanly to a ledger that already holds the ops before its cursor.
pub fn backfill_frames(data: &[u8]) {
    let real = real_ops();
    let mut ledger = Dag::new(&members(), dag::Config::default());
    ledger.apply_trusted(real.to_vec());
    let mut server = Server::new(server::Config {
        burst: 4,
        per_second: 10,
        page_bytes: 512,
    });
    let peers: Vec<PublicKey> = (0..3)
        .map(|i| ed25519::PrivateKey::from_seed(950 + i).public_key())
        .collect();
    let mut now = SystemTime::UNIX_EPOCH;
    let mut peer = 0usize;
    let mut input = data.iter().copied();
    while let Some(len) = input.next() {
        if len % 2 == 1 {
            peer = (peer + 1) % peers.len();
        }
        let frame: Vec<u8> = input.by_ref().take(len as usize / 2).collect();
        now += Duration::from_millis(u64::from(len));
        let message = match backfill::Message::decode_cfg(Bytes::from(frame), &()) {
            Ok(message) => message,
            Err(_) => continue,
        };
        serve(&mut server, &ledger, &peers[peer], now, message);
    }
    if data.first().is_some_and(|b| b % 2 == 1) {
        // Real requests with the input's cursors and limits, followed like a client.
        let mut bytes = data.iter().copied();
        while let (Some(cursor), Some(limit)) = (bytes.next(), bytes.next()) {
            now += Duration::from_millis(200);
            let request = backfill::Message::Request {
                id: 1,
                known: ledger
                    .at(u64::from(cursor) % ledger.len())
                    .map(|o| vec![o.id()])
                    .unwrap_or_default(),
                missing: vec![],
                cursor: u64::from(cursor) % (ledger.len() + 2),
                limit: u32::from(limit),
            };
            serve(&mut server, &ledger, &peers[0], now, request);
        }
    }
}

/// Answers one message (only requests get an answer) and checks the answer.
fn serve(
    server: &mut Server,
    ledger: &Dag,
    peer: &PublicKey,
    now: SystemTime,
    message: backfill::Message,
) {
    let backfill::Message::Request {
        id,
        known,
        missing,
        cursor,
        limit,
    } = message
    else {
        return;
    };
    let (reply, _) = server.handle(peer, now, ledger, id, &known, &missing, cursor, limit);
    let reply = backfill::Message::decode_cfg(reply.encode(), &()).expect("replies decode");
    let backfill::Message::Response {
        ops,
        next_cursor,
        more,
        ..
    } = reply
    else {
        return;
    };
    // A client that holds the server's ops below the cursor takes the page.
    let mut client = Dag::new(&members(), dag::Config::default());
    let prefix: Vec<SignedOp> = (0..cursor).filter_map(|p| ledger.at(p).cloned()).collect();
    client.apply_trusted(prefix);
    let mut run = Run::new(0, known, missing, limit.max(1));
    run.request(id);
    assert_eq!(
        run.check_page(ops.len(), next_cursor, more),
        None,
        "honest pages pass"
    );
    let count = ops.len();
    let report = client.apply(ops, &mut ChaCha8Rng::seed_from_u64(1));
    let rejected = report
        .outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Rejected(_)))
        .count();
    assert_eq!(rejected, 0, "a server only serves valid ops");
    let result = PageResult {
        new_ops: count,
        rejected,
        ..PageResult::default()
    };
    assert!(!matches!(
        run.after_page(next_cursor, more, result),
        Verdict::Failed(_)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, RngExt as _};

    #[test]
    fn random_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for _ in 0..200 {
            let len = rng.random_range(0..512);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            ledger_ops(&data);
            backfill_frames(&data);
        }
    }

    #[test]
    fn structured_inputs_reach_the_deep_paths() {
        // Every real op in reverse (pending, then drained), then a flipped one, then apply.
        let mut data = Vec::new();
        for i in (0..real_ops().len()).rev() {
            data.extend_from_slice(&[1, i as u8]);
        }
        data.extend_from_slice(&[2, 3, 40, 1, 3]);
        ledger_ops(&data);
        // Real requests at every cursor and limit from an odd first byte.
        let data: Vec<u8> = (0..60u8).flat_map(|i| [i * 2 + 1, i % 7 + 1]).collect();
        backfill_frames(&data);
        // A gossip frame with a real op, framed.
        let frame = wire::Message::Ops(vec![real_ops()[0].clone()]).encode();
        let mut data = vec![0, frame.len() as u8];
        data.extend_from_slice(&frame);
        data.push(3);
        ledger_ops(&data);
    }
}
