//! `cohort-sim bench ledger`: the ledger's apply throughput and a late joiner's catch-up.
//!
//! - **Apply.** A ledger of `ops` signed ops (4 authors, small `Data` payloads, each op on top of
//!   all before it) is cut into backfill pages as a server cuts them (at most `MAX_PAGE_BYTES`
//!   each) and encoded. In one run it times, single-threaded: `raw_single`, verifying every op's
//!   ed25519 signature one by one; `raw_batch`, verifying each page's signatures with the batch
//!   verifier; and `apply`, decoding each page (op parsing and ids included) and applying it to an
//!   empty ledger ([`Dag::apply`]: screening, batch verification, author chains, heads, pending
//!   drain). It reports ops/s of each and `apply / raw_single`.
//! - **Catch-up.** Two members on zero-latency, lossless links: one holds a ledger of `ops` ops
//!   in its op store; the other starts 1 s (simulated) later with an empty store and backfills.
//!   It times the wall clock from just before the late member's start until it holds every op (through the
//!   real engine, p2p, op store and backfill), and reports ops/s, the simulated time it took,
//!   and the process's peak resident memory.

use crate::{
    plan::{LateStart, perfect_links},
    run::CYCLE,
    scenarios::{
        Scenario,
        ledger::{preload_history, preload_store, settings},
    },
    trace::Sink,
    world::{Role, network, spawn_all},
};
use bytes::Bytes;
use cohort_protocol::{
    PublicKey, Timing,
    engine::Task,
    ledger::{
        Dag, SignedOp,
        backfill::{self, wire::MAX_PAGE_BYTES},
        dag,
    },
};
use commonware_codec::{Decode as _, Encode as _, EncodeSize as _};
use commonware_cryptography::{BatchEntry, BatchVerifier as _, Signer as _, ed25519};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock as _, Runner as _, deterministic};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The apply measurement.
#[derive(Clone, Debug)]
pub struct ApplyBench {
    pub ops: u64,
    pub pages: usize,
    pub raw_single: Duration,
    pub raw_batch: Duration,
    pub apply: Duration,
}

impl ApplyBench {
    pub fn rate(&self, d: Duration) -> f64 {
        self.ops as f64 / d.as_secs_f64().max(1e-9)
    }

    /// Apply throughput over one-by-one verification throughput.
    pub fn ratio(&self) -> f64 {
        self.rate(self.apply) / self.rate(self.raw_single)
    }
}

/// The catch-up measurement.
#[derive(Clone, Debug)]
pub struct CatchUpBench {
    pub ops: u64,
    pub wall: Duration,
    pub sim: Duration,
    /// Peak resident memory of the process (kB), if the platform reports it.
    pub peak_rss_kb: Option<u64>,
}

/// When the late member starts (simulated ms after the run's start).
const LATE_START_MS: u64 = 1_000;

fn keys() -> Vec<ed25519::PrivateKey> {
    (0..4u64)
        .map(|i| ed25519::PrivateKey::from_seed(7_000 + i))
        .collect()
}

/// Pages of `history` as a server cuts them, encoded as backfill responses.
fn pages(history: &[SignedOp]) -> Vec<Bytes> {
    let mut pages = Vec::new();
    let mut page: Vec<SignedOp> = Vec::new();
    let mut bytes = 0;
    let flush = |page: &mut Vec<SignedOp>, pages: &mut Vec<Bytes>| {
        if !page.is_empty() {
            let message = backfill::Message::Response {
                id: 1,
                ops: std::mem::take(page),
                next_cursor: 0,
                more: true,
            };
            pages.push(message.encode());
        }
    };
    for op in history {
        let size = op.encode_size();
        if !page.is_empty() && bytes + size > MAX_PAGE_BYTES {
            flush(&mut page, &mut pages);
            bytes = 0;
        }
        bytes += size;
        page.push(op.clone());
    }
    flush(&mut page, &mut pages);
    pages
}

/// Times verification and apply of `ops` ops (see the module docs).
pub fn apply(ops: u64) -> Result<ApplyBench, String> {
    let keys = keys();
    let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let history = preload_history(&keys, &[0, 1, 2, 3], ops);
    let author = |op: &SignedOp| {
        publics
            .iter()
            .find(|k| k.as_ref() == op.op().author)
            .expect("a member")
            .clone()
    };
    let encoded = pages(&history);

    let start = Instant::now();
    for op in &history {
        if !op.verify(&author(op)) {
            return Err("a signature did not verify".into());
        }
    }
    let raw_single = start.elapsed();

    let decoded: Vec<Vec<(SignedOp, PublicKey)>> = encoded
        .iter()
        .map(
            |page| match backfill::Message::decode_cfg(page.clone(), &()) {
                Ok(backfill::Message::Response { ops, .. }) => ops
                    .into_iter()
                    .map(|op| {
                        let key = author(&op);
                        (op, key)
                    })
                    .collect(),
                _ => Vec::new(),
            },
        )
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let start = Instant::now();
    for page in &decoded {
        let ok = PublicKey::verify_batch(
            &mut rng,
            page,
            |_, (op, key)| BatchEntry {
                namespace: cohort_protocol::ledger::op::NAMESPACE,
                message: op.message(),
                public_key: key,
                signature: op.signature(),
            },
            &Sequential,
        );
        if !ok {
            return Err("a page's batch did not verify".into());
        }
    }
    let raw_batch = start.elapsed();

    let mut ledger = Dag::new(&publics, dag::Config::default());
    let start = Instant::now();
    for page in &encoded {
        let Ok(backfill::Message::Response { ops, .. }) =
            backfill::Message::decode_cfg(page.clone(), &())
        else {
            return Err("a page did not decode".into());
        };
        ledger.apply(ops, &mut rng);
    }
    let apply = start.elapsed();
    if ledger.len() != ops || ledger.pending_len() != 0 {
        return Err(format!(
            "applied {} of {ops} ops ({} pending)",
            ledger.len(),
            ledger.pending_len()
        ));
    }
    Ok(ApplyBench {
        ops,
        pages: encoded.len(),
        raw_single,
        raw_batch,
        apply,
    })
}

/// Times a late member catching up a ledger of `ops` ops (see the module docs).
pub fn catch_up(ops: u64) -> Result<CatchUpBench, String> {
    let keys = keys()[..2].to_vec();
    let members: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let history = preload_history(&keys, &[0], ops);
    let mut plan = Scenario::named("ledger").plan(1, Some(2));
    // Benchmarks measure the usual paths: no buggify point fires.
    plan.core.buggify.clear();
    plan.core.links = perfect_links(2);
    plan.core.late_starts = vec![LateStart {
        node: 1,
        at_ms: LATE_START_MS,
    }];
    let executor =
        deterministic::Runner::new(deterministic::Config::new().with_seed(1).with_cycle(CYCLE));
    let sink = Arc::new(Mutex::new(Sink::new(None, Vec::new())));
    let result = executor.start(|context| async move {
        let oracle = network(&context, &members, &plan.core.links, plan.core.transport).await;
        preload_store(&context, 0, &history).await;
        let cluster = cohort_protocol::Cluster::new(
            members.clone(),
            2,
            cohort_protocol::PROTOCOL_VERSION,
            Timing::default(),
        )
        .expect("valid cluster");
        // The lives' start times count from here.
        let run_start = context.current();
        let spawned = spawn_all(
            &context,
            &plan.core,
            &keys,
            vec![cluster; 2],
            Task::Serve,
            Some(settings()),
            |_| Role::Honest,
            &oracle,
            &sink,
        );
        let late = spawned[1].1.clone();
        // Start the clocks just before the late member starts (the other member is idle until
        // then), so no part of the catch-up can happen before they run.
        context
            .sleep_until(run_start + Duration::from_millis(LATE_START_MS - 1))
            .await;
        let (wall, sim_start) = (Instant::now(), context.current());
        loop {
            let mailbox = late.lock().expect("slot").clone();
            let held = match mailbox {
                Some(mut mailbox) => mailbox.status().await.map_or(0, |s| s.ops),
                None => 0,
            };
            if held >= ops {
                break;
            }
            if context
                .current()
                .duration_since(sim_start)
                .unwrap_or_default()
                > Duration::from_secs(600)
            {
                return Err(format!("caught up only {held} of {ops} ops"));
            }
            context.sleep(Duration::from_millis(1)).await;
        }
        let sim = context
            .current()
            .duration_since(sim_start)
            .unwrap_or_default();
        Ok((wall.elapsed(), sim))
    })?;
    Ok(CatchUpBench {
        ops,
        wall: result.0,
        sim: result.1,
        peak_rss_kb: peak_rss_kb(),
    })
}

/// The process's peak resident set (`VmHWM`), in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
