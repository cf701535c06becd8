//! Fault plans: everything a run's world does to the protocol, drawn from the seed.
//!
//! A plan is generated with a ChaCha RNG seeded from the run seed, separate from the runtime's
//! scheduler RNG, so it can be printed (JSON), saved, edited and replayed on its own: the runtime
//! RNG only decides scheduling and the protocol's own randomness.

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Salt mixed into the seed so the plan RNG never mirrors the runtime RNG.
const PLAN_SALT: u64 = 0x636f_686f_7274_706c; // "cohortpl"

/// Bounds of a drawn link.
pub const MAX_LATENCY_MS: u64 = 80;
/// Lowest per-message delivery probability drawn, in per-mille.
pub const MIN_SUCCESS_PER_MILLE: u32 = 850;

/// One directed link's behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    pub from: usize,
    pub to: usize,
    /// Mean latency.
    pub latency_ms: u64,
    /// Standard deviation of the latency.
    pub jitter_ms: u64,
    /// Probability a message is delivered, in per-mille.
    pub success_per_mille: u32,
}

/// How the odd node of `barrier-mismatch` differs from the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mismatch {
    /// Same members, different minor protocol version.
    Version,
    /// Same members and version, different timing (so a different cluster hash).
    ClusterHash,
}

/// A run's fault plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub nodes: usize,
    /// Steps of the barrier walk.
    pub steps: u64,
    pub links: Vec<LinkPlan>,
    /// The misconfigured node, if the scenario has one.
    pub odd_node: Option<(usize, Mismatch)>,
}

/// The plan RNG of `seed`.
pub fn plan_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ PLAN_SALT)
}

/// Draws every directed link between `nodes` nodes.
pub fn draw_links(rng: &mut ChaCha8Rng, nodes: usize) -> Vec<LinkPlan> {
    let mut links = Vec::with_capacity(nodes * nodes.saturating_sub(1));
    for from in 0..nodes {
        for to in 0..nodes {
            if from == to {
                continue;
            }
            let latency_ms = rng.random_range(1..=MAX_LATENCY_MS);
            links.push(LinkPlan {
                from,
                to,
                latency_ms,
                jitter_ms: rng.random_range(0..=latency_ms / 4),
                success_per_mille: rng.random_range(MIN_SUCCESS_PER_MILLE..=1000),
            });
        }
    }
    links
}

impl FaultPlan {
    /// The plan as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plan serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_drawn_deterministically_within_bounds() {
        let a = draw_links(&mut plan_rng(5), 4);
        let b = draw_links(&mut plan_rng(5), 4);
        let c = draw_links(&mut plan_rng(6), 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 12);
        for link in &a {
            assert_ne!(link.from, link.to);
            assert!((1..=MAX_LATENCY_MS).contains(&link.latency_ms));
            assert!(link.jitter_ms <= link.latency_ms / 4);
            assert!((MIN_SUCCESS_PER_MILLE..=1000).contains(&link.success_per_mille));
        }
    }
}
