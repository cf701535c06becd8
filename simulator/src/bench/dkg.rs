//! `cohort-sim bench dkg`: what the protocol, storage and scheduling add to the cryptography of a
//! DKG.
//!
//! For each committee size it measures, in the same process and run:
//! - `sim`: the wall time of one whole simulated epoch 0 ceremony (the `dkg` scenario's world with
//!   zero-latency, lossless links; every node's engine, barrier, journal and p2p included, and the
//!   observer's own threshold checks left out);
//! - `raw`: the wall time of the same cryptographic work done directly and single-threaded: every
//!   dealer's `Dealer::start`, every player's `dealer_message` for every dealer (and the dealer
//!   taking the ack), every dealer's log, and every player's `finalize` over all logs;
//!
//! and reports `ratio = sim / raw`, the medians of `reps` repetitions each. It also reports what
//! the simulated ceremony sent, by kind of DKG message (frames, one per recipient, and their
//! bytes, summed over every node; from the DKG actor's `frames_sent` and `bytes_sent` metrics, of
//! the first repetition: the same on every one, links being perfect).

use super::median;
use crate::{
    plan::perfect_links,
    run::{RunOptions, run_plan_with_metrics},
    scenarios::{FamilyPlan, Scenario},
};
use cohort_protocol::dkg::{ceremony::NAMESPACE, wire::Variant};
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::{Dealer, Info, Logs, Player, Reveal},
        primitives::sharing::Mode,
    },
    ed25519,
};
use commonware_parallel::Sequential;
use commonware_utils::{N3f1, ordered::Set};
use rand::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// Frames and bytes sent, by kind of DKG message.
pub type Traffic = BTreeMap<String, (u64, u64)>;

/// One committee size's measurement.
#[derive(Clone, Debug)]
pub struct DkgBench {
    pub nodes: usize,
    pub sim: Duration,
    pub raw: Duration,
    /// What the simulated ceremony sent (every node, the whole run).
    pub traffic: Traffic,
}

impl DkgBench {
    pub fn ratio(&self) -> f64 {
        self.sim.as_secs_f64() / self.raw.as_secs_f64().max(1e-9)
    }
}

/// Sums the DKG actors' `frames_sent` and `bytes_sent` counters of every node in `metrics`
/// (Prometheus text) by their `kind` label.
pub fn traffic(metrics: &str) -> Traffic {
    let mut traffic = Traffic::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let field = if line.contains("dkg_frames_sent_total{") {
            0
        } else if line.contains("dkg_bytes_sent_total{") {
            1
        } else {
            continue;
        };
        let Some(kind) = line
            .split("kind=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let entry = traffic.entry(kind.to_string()).or_default();
        if field == 0 {
            entry.0 += value as u64;
        } else {
            entry.1 += value as u64;
        }
    }
    traffic
}

/// One simulated ceremony of `nodes` members on zero-latency lossless links.
fn simulated(nodes: usize, seed: u64) -> Result<(Duration, Traffic), String> {
    let scenario = Scenario::named("dkg");
    let options = RunOptions {
        scenario,
        seed,
        nodes: Some(nodes),
        trace: None,
    };
    let mut plan = scenario.plan(seed, Some(nodes));
    if let FamilyPlan::Dkg(dkg) = &mut plan.family {
        dkg.bench = true;
    }
    plan.core.links = perfect_links(nodes);
    let start = Instant::now();
    let (report, metrics) = run_plan_with_metrics(&options, plan).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    if !report.passed() {
        return Err(format!(
            "simulated ceremony of {nodes} failed: {:?}",
            report.violations
        ));
    }
    Ok((elapsed, traffic(&metrics)))
}

/// The same cryptographic work, done directly on one thread.
fn raw(nodes: usize, seed: u64) -> Result<Duration, String> {
    let mut keys: Vec<ed25519::PrivateKey> = (0..nodes as u64)
        .map(|i| ed25519::PrivateKey::from_seed(seed.wrapping_mul(1000) + i))
        .collect();
    // In the set's order, so a player's index is its position in `keys`.
    keys.sort_by_key(|k| k.public_key());
    let set = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
    let start = Instant::now();
    let info = Info::<Variant, _>::new::<N3f1>(
        NAMESPACE,
        0,
        None,
        Mode::NonZeroCounter,
        Reveal::V1,
        set.clone(),
        set.clone(),
    )
    .map_err(|e| e.to_string())?;
    let mut players: Vec<Player<Variant, ed25519::PrivateKey>> = keys
        .iter()
        .map(|k| Player::new(info.clone(), k.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut logs = Logs::<Variant, _, N3f1>::new(info.clone());
    let mut signed = Vec::new();
    for (d, key) in keys.iter().enumerate() {
        let rng = ChaCha20Rng::seed_from_u64(seed ^ d as u64);
        let (mut dealer, public, private) =
            Dealer::start::<N3f1>(rng, info.clone(), key.clone(), None)
                .map_err(|e| e.to_string())?;
        for (player_key, private) in private {
            let p = set.position(&player_key).expect("a player");
            if let Some(ack) = players[p]
                .dealer_message::<N3f1>(key.public_key(), public.clone(), private)
                .map_err(|e| e.to_string())?
            {
                dealer
                    .receive_player_ack(player_key, ack)
                    .map_err(|e| e.to_string())?;
            }
        }
        signed.push(dealer.finalize::<N3f1>());
    }
    for log in signed {
        if let Some((dealer, log)) = log.check(&info) {
            logs.record(dealer, log);
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for player in players {
        player
            .finalize::<N3f1>(&mut rng, logs.clone(), &Sequential)
            .map_err(|e| e.to_string())?;
    }
    Ok(start.elapsed())
}

/// Measures each committee size `reps` times (medians).
pub fn run(sizes: &[usize], reps: usize) -> Result<Vec<DkgBench>, String> {
    let mut results = Vec::new();
    for &nodes in sizes {
        let mut sims = Vec::new();
        let mut raws = Vec::new();
        let mut traffic = None;
        for rep in 0..reps.max(1) as u64 {
            // Interleaved, so both see the same machine load.
            let (sim, sent) = simulated(nodes, rep + 1)?;
            sims.push(sim);
            traffic.get_or_insert(sent);
            raws.push(raw(nodes, rep + 1)?);
        }
        results.push(DkgBench {
            nodes,
            sim: median(sims),
            raw: median(raws),
            traffic: traffic.unwrap_or_default(),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #[test]
    fn traffic_sums_every_node_by_kind() {
        let text = "# HELP x\n\
            sim_node_dkg_frames_sent_total{life=\"1\",kind=\"agree\"} 3\n\
            sim_node_dkg_frames_sent_total{life=\"2\",kind=\"agree\"} 4\n\
            sim_node_dkg_bytes_sent_total{life=\"1\",kind=\"agree\"} 300\n\
            sim_node_dkg_frames_sent_total{kind=\"log\"} 1\n\
            sim_node_barrier_messages_sent_total 9\n";
        let traffic = super::traffic(text);
        assert_eq!(traffic["agree"], (7, 300));
        assert_eq!(traffic["log"], (1, 0));
        assert_eq!(traffic.len(), 2);
    }
}
