//! `bench transport`: the two simulated transports side by side, in one run.
//!
//! - **Ping-pong**: 4 nodes as two pairs over 1 ms links (no jitter, no loss); in each pair one
//!   node sends a 64-byte frame, the other answers it, and the first sends the next one on each
//!   answer, for `rounds` round trips per pair. Reported as frames delivered per wall second on
//!   each transport, and the ratio lean / commonware. Both runs use the same runtime seed, the
//!   same rate limit (far above what the workload asks) and the same registration path the
//!   scenarios use, so the difference is the transport alone.
//! - **Seeds per second** of `barrier`, `dkg`, `ledger` and `checkpoint` on each transport: the
//!   same seeds, one after the other on one thread, drawn plans unchanged but for the transport.

use crate::{
    plan::{LinkPlan, Transport},
    run::{CYCLE, RunOptions, run},
    scenarios::Scenario,
    world::{identities, lean, network},
};
use cohort_protocol::{PublicKey, channels::Channel};
use commonware_cryptography::Signer as _;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Quota, Runner as _, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use std::{
    ops::Range,
    time::{Duration, Instant},
};

/// Bytes of each ping-pong frame.
pub const FRAME_BYTES: usize = 64;
/// Latency of every ping-pong link.
pub const LINK_LATENCY_MS: u64 = 1;

/// One ping-pong run.
#[derive(Clone, Copy, Debug)]
pub struct PingPong {
    pub transport: Transport,
    /// Frames delivered (two per round trip).
    pub frames: u64,
    pub wall: Duration,
    /// What the lean transport did with every frame (`None` on commonware's): a ping-pong over
    /// lossless links drops none (the last answers may still be in flight at the end).
    pub stats: Option<lean::Stats>,
}

impl PingPong {
    /// Frames per wall second.
    pub fn rate(&self) -> f64 {
        self.frames as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Runs the ping-pong (see the module docs) on `transport`.
pub fn ping_pong(transport: Transport, rounds: u64) -> PingPong {
    let executor =
        deterministic::Runner::new(deterministic::Config::new().with_seed(1).with_cycle(CYCLE));
    let started = Instant::now();
    let (frames, stats) = executor.start(|context| async move {
        let members: Vec<PublicKey> = identities(1, 4).iter().map(|k| k.public_key()).collect();
        let links: Vec<LinkPlan> = (0..4)
            .flat_map(|from| {
                (0..4)
                    .filter(move |to| *to != from)
                    .map(move |to| (from, to))
            })
            .map(|(from, to)| LinkPlan {
                from,
                to,
                latency_ms: LINK_LATENCY_MS,
                jitter_ms: 0,
                success_per_mille: 1000,
            })
            .collect();
        let net = network(&context, &members, &links, transport).await;
        let quota = Quota::per_second(NZU32!(1_000_000));
        let mut handles = Vec::new();
        for (a, b) in [(0, 1), (2, 3)] {
            let mut ping = net
                .node(&members[a])
                .register(Channel::Barrier, quota)
                .await;
            let mut pong = net
                .node(&members[b])
                .register(Channel::Barrier, quota)
                .await;
            let to_pong = members[b].clone();
            context.child("pong").spawn(move |_| async move {
                while let Ok((from, frame)) = pong.receiver.recv().await {
                    pong.sender.send(Recipients::One(from), frame, false);
                }
            });
            handles.push(context.child("ping").spawn(move |_| async move {
                let frame = bytes::Bytes::from(vec![7u8; FRAME_BYTES]);
                ping.sender
                    .send(Recipients::One(to_pong.clone()), frame.clone(), false);
                let mut delivered = 0u64;
                for _ in 0..rounds {
                    let (from, _) = ping.receiver.recv().await.expect("transport runs");
                    debug_assert_eq!(from, to_pong);
                    delivered += 2;
                    ping.sender
                        .send(Recipients::One(to_pong.clone()), frame.clone(), false);
                }
                delivered
            }));
        }
        let mut frames = 0;
        for handle in handles {
            frames += handle.await.expect("ping task");
        }
        (frames, net.lean_stats())
    });
    PingPong {
        transport,
        frames,
        wall: started.elapsed(),
        stats,
    }
}

/// Seeds per second of one scenario on one transport.
#[derive(Clone, Debug)]
pub struct SeedRate {
    pub scenario: &'static str,
    pub transport: Transport,
    pub seeds: u64,
    pub failed: u64,
    pub wall: Duration,
}

impl SeedRate {
    pub fn rate(&self) -> f64 {
        self.seeds as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The scenarios whose seed rate `bench transport` measures.
pub const SCENARIOS: [&str; 4] = ["barrier", "dkg", "ledger", "checkpoint"];

/// Runs `seeds` of each of [`SCENARIOS`] on each transport, one after the other.
pub fn seed_rates(seeds: Range<u64>) -> std::io::Result<Vec<SeedRate>> {
    let mut rates = Vec::new();
    for name in SCENARIOS {
        let scenario = Scenario::named(name);
        for transport in Transport::ALL {
            let started = Instant::now();
            let mut failed = 0;
            for seed in seeds.clone() {
                // Benchmarks measure the usual paths: no buggify point fires.
                let mut plan = scenario.plan(seed, None);
                plan.core.buggify.clear();
                plan.core.transport = transport;
                let report = run(&RunOptions {
                    scenario,
                    seed,
                    nodes: None,
                    trace: None,
                    transport,
                    // Measures the transports, not the memo.
                    memo: false,
                    plan: Some(plan),
                    canary: None,
                })?;
                failed += u64::from(!report.passed());
            }
            rates.push(SeedRate {
                scenario: name,
                transport,
                seeds: seeds.end - seeds.start,
                failed,
                wall: started.elapsed(),
            });
        }
    }
    Ok(rates)
}
