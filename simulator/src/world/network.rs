//! The simulated network of a run: its drawn links, a partition's cut, and the heal.

use crate::plan::LinkPlan;
use cohort_protocol::PublicKey;
use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{Supervisor as _, deterministic};
use commonware_utils::{NZUsize, Probability};
use std::{num::NonZeroUsize, sync::Arc, time::Duration};

/// Largest frame the simulated network carries: the protocol's one frame limit.
pub const MAX_FRAME: u32 = cohort_protocol::MAX_FRAME_BYTES as u32;

/// The simulated network's oracle.
pub type Oracle = simulated::Oracle<PublicKey, deterministic::Context>;

/// The simulated network of `members` with the drawn `links`, started (its oracle is shared:
/// each node's [`super::ExpiringBlocker`] lifts blocks through it).
pub async fn network(
    context: &deterministic::Context,
    members: &[PublicKey],
    links: &[LinkPlan],
) -> Arc<Oracle> {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: MAX_FRAME,
            max_peers_per_set: NonZeroUsize::new(members.len()).expect("at least one node"),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        members.to_vec(),
    )
    .await;
    network.start();
    for link in links {
        oracle
            .add_link(
                members[link.from].clone(),
                members[link.to].clone(),
                Link {
                    latency: Duration::from_millis(link.latency_ms),
                    jitter: Duration::from_millis(link.jitter_ms),
                    success_rate: Probability::new(link.success_per_mille as u64, 1000)
                        .expect("per-mille within bounds"),
                },
            )
            .await
            .expect("link between known peers");
    }

    Arc::new(oracle)
}

/// Removes every link of `links` that crosses between `side` and the other nodes.
pub async fn cut(oracle: &Oracle, members: &[PublicKey], links: &[LinkPlan], side: &[usize]) {
    for link in links {
        if side.contains(&link.from) != side.contains(&link.to) {
            let _ = oracle
                .remove_link(members[link.from].clone(), members[link.to].clone())
                .await;
        }
    }
}

/// Every link of `links` again, with its latency but no loss.
pub async fn heal(oracle: &Oracle, members: &[PublicKey], links: &[LinkPlan]) {
    for link in links {
        let (from, to) = (members[link.from].clone(), members[link.to].clone());
        let _ = oracle.remove_link(from.clone(), to.clone()).await;
        oracle
            .add_link(
                from,
                to,
                Link {
                    latency: Duration::from_millis(link.latency_ms),
                    jitter: Duration::from_millis(link.jitter_ms),
                    success_rate: Probability::new(1, 1).expect("certain delivery"),
                },
            )
            .await
            .expect("link between known peers");
    }
}
