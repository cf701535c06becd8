//! The identities and the cluster definition of a run.

use crate::plan::{Mismatch, plan_rng};
use cohort_protocol::{Cluster, ProtocolVersion, PublicKey, Timing};
use commonware_cryptography::{Signer as _, ed25519};
use rand::Rng as _;

/// The identity keys of a run, derived from the plan RNG's stream after the plan.
pub fn identities(seed: u64, nodes: usize) -> Vec<ed25519::PrivateKey> {
    let mut rng = plan_rng(seed.wrapping_add(1));
    (0..nodes)
        .map(|_| ed25519::PrivateKey::from_seed(rng.next_u64()))
        .collect()
}

/// The largest threshold among `n` members that tolerates `f = (n - 1) / 3` faults.
pub fn quorum(n: usize) -> usize {
    n - (n - 1) / 3
}

/// `cluster` with the committees `committees` (node indices into `members`, epoch 0 first).
pub fn with_committees(
    cluster: Cluster,
    members: &[PublicKey],
    committees: &[Vec<usize>],
) -> Cluster {
    if committees.is_empty() {
        return cluster;
    }
    cluster
        .with_committees(
            committees
                .iter()
                .map(|c| c.iter().map(|i| members[*i].clone()).collect())
                .collect(),
        )
        .expect("drawn committees are valid")
}

/// The cluster of `members` with the largest threshold that tolerates `f = (n - 1) / 3` faults.
pub fn cluster(members: &[PublicKey], version: ProtocolVersion, timing: Timing) -> Cluster {
    let threshold = quorum(members.len()) as u32;
    Cluster::new(members.to_vec(), threshold, version, timing).expect("valid simulated cluster")
}

/// `cluster` as a misconfigured node has it: another minor protocol version, or another timing
/// (the sync period 10 ms longer) and so another cluster hash.
pub fn misconfigured(cluster: &Cluster, mismatch: Mismatch) -> Cluster {
    let (mut version, mut timing) = (cluster.version(), *cluster.timing());
    match mismatch {
        Mismatch::Version => version.minor += 1,
        Mismatch::ClusterHash => timing.sync_period += std::time::Duration::from_millis(10),
    }
    Cluster::new(
        cluster.members().to_vec(),
        cluster.threshold(),
        version,
        timing,
    )
    .and_then(|odd| odd.with_committees(cluster.committees().to_vec()))
    .expect("a valid cluster with another version or timing is valid")
}
