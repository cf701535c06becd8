//! The backfill server as a pure state machine: answers one peer's request from the ledger.
//!
//! - **Rate limit.** Each peer has a token bucket ([`Config::burst`] requests, refilled at
//!   [`Config::per_second`]); a request that finds it empty is answered `Busy { retry_after }`
//!   with the time until the next token, and costs nothing more. One peer flooding requests
//!   therefore only ever spends its own tokens: every other peer is served as before.
//! - **Plans.** The first request of a run computes the positions the client lacks
//!   ([`Dag::unknown_to`]) and keeps them, keyed by the request's `known` and `missing` ids, one
//!   plan per peer; the run's following requests (same ids, a later cursor) page through it. So a
//!   run costs one walk plus its pages, whatever the number of pages.
//! - **Pages.** At most `min(limit, MAX_PAGE_OPS)` ops and [`Config::page_bytes`] bytes (at least
//!   one op, which always fits), in position order: parents before children. `more` says whether
//!   the plan has ops past the page; a plan is dropped when its last page is served.
//! - **Covers.** An op this node holds without some of its parents (a presence op whose
//!   parents compaction pruned) goes out right after the checkpoint that covers it
//!   ([`Dag::cover`]), unless that checkpoint is already in the page: the client then applies
//!   it parentless. Covers count toward the page's bounds; a client that has one already sees
//!   a duplicate.
//! - **Pruned since planned.** An op compacted away between two pages of a plan is skipped
//!   (nothing needs it: it was below a floor and no kept op named it).
//! - **Refusals.** A cursor beyond the log or a zero limit is answered `Rejected`.

use super::wire::{MAX_PAGE_BYTES, MAX_PAGE_OPS, Message, RejectReason};
use crate::{
    cluster::PublicKey,
    ledger::{
        dag::Dag,
        op::{OpId, SignedOp},
    },
};
use commonware_codec::EncodeSize as _;
use commonware_cryptography::{Hasher as _, Sha256, sha256};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

/// How long a buggified `Busy` asks the client to wait.
const BUGGIFY_RETRY_AFTER_MS: u64 = 200;

/// Limits of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Requests a peer may send at once (the bucket's capacity).
    pub burst: u32,
    /// Requests per second a peer's bucket regains.
    pub per_second: u32,
    /// Largest page, in bytes (at most [`MAX_PAGE_BYTES`]).
    pub page_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            burst: 32,
            per_second: 64,
            page_bytes: MAX_PAGE_BYTES,
        }
    }
}

/// One peer's token bucket, in thousandths of a request.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli: u64,
    at: SystemTime,
}

/// The ops a run will page through.
#[derive(Clone, Debug)]
struct Plan {
    key: sha256::Digest,
    positions: Vec<u64>,
}

/// What the server did with a request (for metrics and traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// A page of this many ops.
    Page {
        ops: usize,
        more: bool,
    },
    Busy,
    Rejected(RejectReason),
}

/// The backfill server of one node.
#[derive(Clone, Debug)]
pub struct Server {
    cfg: Config,
    buckets: BTreeMap<PublicKey, Bucket>,
    plans: BTreeMap<PublicKey, Plan>,
}

impl Server {
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg: Config {
                page_bytes: cfg.page_bytes.min(MAX_PAGE_BYTES),
                burst: cfg.burst.max(1),
                per_second: cfg.per_second.max(1),
            },
            buckets: BTreeMap::new(),
            plans: BTreeMap::new(),
        }
    }

    /// Takes one request's token from `peer`'s bucket, or says how long until one is there.
    fn take_token(&mut self, peer: &PublicKey, now: SystemTime) -> Result<(), Duration> {
        let capacity = u64::from(self.cfg.burst) * 1000;
        let per_second = u64::from(self.cfg.per_second);
        let bucket = self.buckets.entry(peer.clone()).or_insert(Bucket {
            milli: capacity,
            at: now,
        });
        let elapsed_ms = now
            .duration_since(bucket.at)
            .unwrap_or_default()
            .as_millis();
        let regained = u64::try_from(elapsed_ms)
            .unwrap_or(u64::MAX)
            .saturating_mul(per_second);
        bucket.milli = bucket.milli.saturating_add(regained).min(capacity);
        bucket.at = bucket.at.max(now);
        if bucket.milli >= 1000 {
            bucket.milli -= 1000;
            Ok(())
        } else {
            // Milliseconds until the bucket holds a whole request again, rounded up.
            let wait_ms = (1000 - bucket.milli).div_ceil(per_second).max(1);
            Err(Duration::from_millis(wait_ms))
        }
    }

    /// Answers `peer`'s request (buggify: `BackfillBusy`, `BackfillShortPage`).
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        peer: &PublicKey,
        now: SystemTime,
        dag: &Dag,
        id: u64,
        known: &[OpId],
        missing: &[OpId],
        cursor: u64,
        limit: u32,
    ) -> (Message, Served) {
        if let Err(wait) = self.take_token(peer, now) {
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return (Message::Busy { id, retry_after_ms }, Served::Busy);
        }
        if crate::buggify!(BackfillBusy) {
            // Rare path: busy with tokens left (another peer's burst, say).
            return (
                Message::Busy {
                    id,
                    retry_after_ms: BUGGIFY_RETRY_AFTER_MS,
                },
                Served::Busy,
            );
        }
        let reject = |reason| (Message::Rejected { id, reason }, Served::Rejected(reason));
        if limit == 0 {
            return reject(RejectReason::BadLimit);
        }
        if cursor > dag.len() {
            return reject(RejectReason::BadCursor);
        }
        let key = plan_key(known, missing);
        if self.plans.get(peer).is_none_or(|p| p.key != key) {
            let positions = dag.unknown_to(known, missing);
            self.plans.insert(peer.clone(), Plan { key, positions });
        }
        let plan = &self.plans[peer];
        let start = plan.positions.partition_point(|p| *p < cursor);
        let max_ops = if crate::buggify!(BackfillShortPage) {
            // Rare path: a page of one op (a server short of memory, say).
            1
        } else {
            (limit as usize).min(MAX_PAGE_OPS)
        };
        let mut ops: Vec<SignedOp> = Vec::new();
        let mut in_page: BTreeSet<OpId> = BTreeSet::new();
        let mut bytes = 0usize;
        let mut next_cursor = cursor;
        let mut consumed = 0usize;
        for position in &plan.positions[start..] {
            let Some(op) = dag.at(*position) else {
                // Pruned since the plan was made.
                consumed += 1;
                next_cursor = position + 1;
                continue;
            };
            let cover = dag.cover(&op.id()).filter(|c| !in_page.contains(&c.id()));
            let count = 1 + usize::from(cover.is_some());
            let size = op.encode_size() + cover.map_or(0, |c| c.encode_size());
            if !ops.is_empty()
                && (ops.len() + count > max_ops || bytes + size > self.cfg.page_bytes)
            {
                break;
            }
            bytes += size;
            for op in cover.into_iter().chain([op]) {
                in_page.insert(op.id());
                ops.push(op.clone());
            }
            consumed += 1;
            next_cursor = position + 1;
            if ops.len() >= max_ops {
                break;
            }
        }
        // Canary: every page claims to be the last.
        let more = start + consumed < plan.positions.len() && !crate::canary!(FirstPageOnly);
        if !more {
            self.plans.remove(peer);
        }
        let served = Served::Page {
            ops: ops.len(),
            more,
        };
        (
            Message::Response {
                id,
                ops,
                next_cursor,
                more,
            },
            served,
        )
    }

    /// Forgets a peer's plan and bucket (it disconnected or was blocked).
    pub fn forget(&mut self, peer: &PublicKey) {
        self.plans.remove(peer);
        self.buckets.remove(peer);
    }
}

/// The key of a run's plan: its `known` and `missing` ids.
fn plan_key(known: &[OpId], missing: &[OpId]) -> sha256::Digest {
    let mut hasher = Sha256::default();
    for id in known {
        hasher.update(id.as_ref());
    }
    hasher.update(b"|");
    for id in missing {
        hasher.update(id.as_ref());
    }
    hasher.finalize().1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{OpKind, SignedOp, dag};
    use bytes::Bytes;
    use commonware_codec::{Decode as _, Encode as _};
    use commonware_cryptography::{Signer as _, ed25519};
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng as _;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
    }

    /// A ledger of `n` ops by 3 authors, each op carrying `payload` bytes.
    fn ledger(n: usize, payload: usize) -> (Vec<ed25519::PrivateKey>, Dag) {
        let keys: Vec<_> = (0..3).map(ed25519::PrivateKey::from_seed).collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let mut d = Dag::new(&publics, dag::Config::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for i in 0..n {
            let a = i % 3;
            let kind = OpKind::Data(Bytes::from(vec![i as u8; payload]));
            let op = SignedOp::sign(&keys[a], d.next_op(a, kind, 0));
            d.apply(vec![op], &mut rng);
        }
        (keys, d)
    }

    fn peer() -> PublicKey {
        ed25519::PrivateKey::from_seed(50).public_key()
    }

    /// Pages through the whole answer like a client; returns the ops and the page count.
    fn page_all(server: &mut Server, d: &Dag, known: &[OpId], limit: u32) -> (Vec<SignedOp>, u32) {
        let (mut cursor, mut all, mut pages) = (0, Vec::new(), 0);
        loop {
            let (reply, _) = server.handle(
                &peer(),
                t(pages as u64 * 1000),
                d,
                1,
                known,
                &[],
                cursor,
                limit,
            );
            // Every reply decodes within the wire bounds.
            let reply = Message::decode_cfg(reply.encode(), &()).expect("decodes");
            let Message::Response {
                ops,
                next_cursor,
                more,
                ..
            } = reply
            else {
                panic!("not a page: {reply:?}");
            };
            pages += 1;
            all.extend(ops);
            if !more {
                return (all, pages);
            }
            assert!(next_cursor > cursor);
            cursor = next_cursor;
        }
    }

    #[test]
    fn a_fresh_client_gets_everything_in_bounded_pages() {
        let (keys, d) = ledger(2000, 200);
        let mut server = Server::new(Config::default());
        let (ops, pages) = page_all(&mut server, &d, &[], 10_000);
        assert_eq!(ops.len(), 2000);
        assert!(
            pages > 1,
            "a 2000-op ledger of 200-byte payloads needs many pages"
        );
        let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let mut client = Dag::new(&publics, dag::Config::default());
        let report = client.apply(ops, &mut ChaCha8Rng::seed_from_u64(2));
        assert!(report.outcomes.iter().all(|o| *o == dag::Outcome::Applied));
        assert_eq!(client.digest(), d.digest());
        // A small limit is honoured.
        let (ops, pages) = page_all(&mut server, &d, &[], 7);
        assert_eq!((ops.len(), pages), (2000, 286));
    }

    #[test]
    fn a_client_that_knows_a_prefix_gets_the_rest() {
        let (keys, d) = ledger(300, 8);
        let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let mut client = Dag::new(&publics, dag::Config::default());
        let prefix: Vec<_> = (0..250).map(|p| d.at(p).unwrap().clone()).collect();
        client.apply(prefix, &mut ChaCha8Rng::seed_from_u64(2));
        let mut server = Server::new(Config::default());
        let (ops, _) = page_all(&mut server, &d, &client.known(), 1000);
        assert_eq!(ops.len(), 50);
        // Up to date: one empty page that says no more.
        client.apply(ops, &mut ChaCha8Rng::seed_from_u64(2));
        let (ops, pages) = page_all(&mut server, &d, &client.known(), 1000);
        assert_eq!((ops.len(), pages), (0, 1));
    }

    #[test]
    fn bad_cursor_and_limit_are_rejected() {
        let (_, d) = ledger(10, 8);
        let mut server = Server::new(Config::default());
        let (reply, served) = server.handle(&peer(), t(0), &d, 4, &[], &[], 11, 10);
        assert_eq!(served, Served::Rejected(RejectReason::BadCursor));
        assert_eq!(reply.id(), 4);
        let (_, served) = server.handle(&peer(), t(0), &d, 4, &[], &[], 0, 0);
        assert_eq!(served, Served::Rejected(RejectReason::BadLimit));
    }

    #[test]
    fn a_flooding_peer_gets_busy_and_others_are_still_served() {
        let (_, d) = ledger(10, 8);
        let cfg = Config {
            burst: 4,
            per_second: 10,
            ..Config::default()
        };
        let mut server = Server::new(cfg);
        let flooder = ed25519::PrivateKey::from_seed(66).public_key();
        let mut busy = 0;
        for i in 0..100 {
            let (reply, served) = server.handle(&flooder, t(i), &d, i, &[], &[], 0, 10);
            if served == Served::Busy {
                busy += 1;
                let Message::Busy { retry_after_ms, .. } = reply else {
                    panic!()
                };
                assert!((1..=100).contains(&retry_after_ms));
            }
        }
        // 4 from the burst; the next token only comes 100 ms later, after the flood.
        assert_eq!(busy, 96);
        let (_, served) = server.handle(&peer(), t(100), &d, 1, &[], &[], 0, 10);
        assert_eq!(
            served,
            Served::Page {
                ops: 10,
                more: false
            }
        );
        // The flooder regains a token after its retry_after.
        let (_, served) = server.handle(&flooder, t(300), &d, 1, &[], &[], 0, 10);
        assert!(matches!(served, Served::Page { .. }));
    }

    #[test]
    fn missing_ids_are_sent_even_when_a_known_op_descends_from_them() {
        let (_, d) = ledger(30, 8);
        let target = d.at(20).unwrap().id();
        // The peer lists every head as known, yet lacks the target (it holds an op above it
        // without its parents): the target alone is sent.
        let known: Vec<OpId> = d.heads().copied().collect();
        let mut server = Server::new(Config::default());
        let (reply, _) = server.handle(&peer(), t(0), &d, 1, &known, &[target], 0, 100);
        let Message::Response { ops, more, .. } = reply else {
            panic!()
        };
        assert!(!more);
        assert_eq!(ops.iter().map(|o| o.id()).collect::<Vec<_>>(), vec![target]);
    }
}
