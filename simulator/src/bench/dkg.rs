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
//! - `decode_dealings`: every player decoding, once, the wire frame of every dealing it receives
//!   (the commitment's points, each checked to be in the subgroup, and the private share);
//! - `decode_logs`: every node decoding, once, the wire frame of every dealer's signed log (it
//!   carries the same commitment again; commonware 2026.10 has no constructor of a log from
//!   parts, so a node cannot skip it) and checking it (the dealer's signature and the players'
//!   acks in it: `raw` checks each log once, as one observer would, but every node finalizes
//!   from the logs it checked itself);
//!
//! and reports three ratios, the medians of `reps` repetitions each: `sim / raw` (the protocol
//! against bare cryptography), `sim / (raw + decode_dealings)` (against what a player must
//! do), and `sim / (raw + decode_dealings + decode_logs)` (against what a node must do with this
//! crate version: the fair baseline). It also reports what
//! the simulated ceremony sent, by kind of DKG message (frames, one per recipient, and their
//! bytes, summed over every node; from the DKG actor's `frames_sent` and `bytes_sent` metrics, of
//! an untimed run with a trace, whose `dkg_sent` events carry each node's counts of its DKG
//! actor's `frames_sent` and `bytes_sent` metrics; every repetition sends the same on perfect
//! links).

use super::median;
use crate::{
    plan::perfect_links,
    run::{RunOptions, run_plan},
    scenarios::{FamilyPlan, Scenario},
    world::Transport,
};
use cohort_protocol::dkg::{
    ceremony::NAMESPACE,
    wire::{Message, Variant, decode},
};
use commonware_codec::Encode as _;
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
    num::NonZeroU32,
    path::PathBuf,
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
    /// Decoding every received dealing once per player.
    pub decode_dealings: Duration,
    /// Decoding and checking every dealer's log once per node.
    pub decode_logs: Duration,
    /// What the simulated ceremony sent (every node, the whole run).
    pub traffic: Traffic,
}

impl DkgBench {
    /// Against the bare cryptography.
    pub fn ratio(&self) -> f64 {
        self.sim.as_secs_f64() / self.raw.as_secs_f64().max(1e-9)
    }

    /// Against the cryptography plus decoding every dealing once per player.
    pub fn ratio_dealings(&self) -> f64 {
        self.sim.as_secs_f64() / (self.raw + self.decode_dealings).as_secs_f64().max(1e-9)
    }

    /// Against the cryptography plus decoding every dealing and every log once per node.
    pub fn ratio_fair(&self) -> f64 {
        self.sim.as_secs_f64()
            / (self.raw + self.decode_dealings + self.decode_logs)
                .as_secs_f64()
                .max(1e-9)
    }
}

/// One repetition of the direct work: the bare cryptography, then the two decodings.
struct Direct {
    raw: Duration,
    decode_dealings: Duration,
    decode_logs: Duration,
}

/// Sums the `dkg_sent` events of every node in `trace` (JSON lines, as `--trace` writes them)
/// by kind.
pub fn traffic(trace: &str) -> Traffic {
    let mut traffic = Traffic::new();
    for line in trace
        .lines()
        .filter(|l| l.contains("\"event\":\"dkg_sent\""))
    {
        let field = |name: &str| {
            line.split(&format!("{name}=")).nth(1).map(|rest| {
                rest.split([' ', '"'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        };
        let (Some(kind), Some(frames), Some(bytes)) =
            (field("kind"), field("frames"), field("bytes"))
        else {
            continue;
        };
        let entry = traffic.entry(kind).or_default();
        entry.0 += frames.parse::<u64>().unwrap_or(0);
        entry.1 += bytes.parse::<u64>().unwrap_or(0);
    }
    traffic
}

/// What one simulated ceremony of `nodes` members sends (an untimed run with a trace file).
fn sent(nodes: usize, seed: u64) -> Result<Traffic, String> {
    let path = std::env::temp_dir().join(format!(
        "cohort-bench-dkg-{}-{nodes}-{seed}.jsonl",
        std::process::id()
    ));
    ceremony(nodes, seed, Some(path.clone()))?;
    let trace = std::fs::read_to_string(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    Ok(traffic(&trace?))
}

/// One simulated ceremony of `nodes` members on zero-latency lossless links (its events written
/// to `trace` if given); returns its wall time.
fn ceremony(nodes: usize, seed: u64, trace: Option<PathBuf>) -> Result<Duration, String> {
    let scenario = Scenario::named("dkg");
    let options = RunOptions {
        scenario,
        seed,
        nodes: Some(nodes),
        trace,
        transport: Transport::default(),
        // Benchmarks measure the protocol's own verification: never the memo.
        memo: false,
        plan: None,
        canary: None,
    };
    let mut plan = scenario.plan(seed, Some(nodes));
    // Benchmarks measure the usual paths: no buggify point fires.
    plan.core.buggify.clear();
    if let FamilyPlan::Dkg(dkg) = &mut plan.family {
        dkg.bench = true;
    }
    plan.core.links = perfect_links(nodes);
    let start = Instant::now();
    let report = run_plan(&options, plan).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    if !report.passed() {
        return Err(format!(
            "simulated ceremony of {nodes} failed: {:?}",
            report.violations
        ));
    }
    Ok(elapsed)
}

/// The same cryptographic work, done directly on one thread, then (timed apart) the decoding of
/// every dealing frame once per player and of every log frame once per node.
fn direct(nodes: usize, seed: u64) -> Result<Direct, String> {
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
    let mut dealings = Vec::with_capacity(nodes * nodes);
    for (d, key) in keys.iter().enumerate() {
        let rng = ChaCha20Rng::seed_from_u64(seed ^ d as u64);
        let (mut dealer, public, private) =
            Dealer::start::<N3f1>(rng, info.clone(), key.clone(), None)
                .map_err(|e| e.to_string())?;
        for (player_key, private) in private {
            let p = set.position(&player_key).expect("a player");
            dealings.push((public.clone(), private.clone()));
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
    let log_frames: Vec<bytes::Bytes> = signed
        .iter()
        .map(|log| {
            Message::Log {
                round: 0,
                log: log.clone(),
            }
            .encode()
            .to_vec()
            .into()
        })
        .collect();
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
    let raw = start.elapsed();
    // The frames as a node receives them, encoded outside the timings.
    let dealing_frames: Vec<bytes::Bytes> = dealings
        .into_iter()
        .map(|(public, private)| {
            Message::Dealing {
                round: 0,
                public,
                private,
            }
            .encode()
            .to_vec()
            .into()
        })
        .collect();
    let members = NonZeroU32::new(nodes as u32).expect("at least one member");
    let start = Instant::now();
    for frame in &dealing_frames {
        decode(bytes::Bytes::clone(frame), members).map_err(|e| e.to_string())?;
    }
    let decode_dealings = start.elapsed();
    let start = Instant::now();
    for _node in 0..nodes {
        for frame in &log_frames {
            let message = decode(bytes::Bytes::clone(frame), members).map_err(|e| e.to_string())?;
            // What makes a decoded log usable to a node: its signatures checked (the raw
            // work above checks each log once, for one observer; every node is one).
            if let Message::Log { log, .. } = message {
                std::hint::black_box(log.check(&info).is_some());
            }
        }
    }
    let decode_logs = start.elapsed();
    Ok(Direct {
        raw,
        decode_dealings,
        decode_logs,
    })
}

/// Measures each committee size `reps` times (medians).
pub fn run(sizes: &[usize], reps: usize) -> Result<Vec<DkgBench>, String> {
    let mut results = Vec::new();
    for &nodes in sizes {
        let mut sims = Vec::new();
        let (mut raws, mut dealings, mut logs) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..reps.max(1) as u64 {
            // Interleaved, so both see the same machine load.
            sims.push(ceremony(nodes, rep + 1, None)?);
            let d = direct(nodes, rep + 1)?;
            raws.push(d.raw);
            dealings.push(d.decode_dealings);
            logs.push(d.decode_logs);
        }
        results.push(DkgBench {
            nodes,
            sim: median(sims),
            raw: median(raws),
            decode_dealings: median(dealings),
            decode_logs: median(logs),
            traffic: sent(nodes, 1)?,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #[test]
    fn traffic_sums_every_node_by_kind() {
        let trace = concat!(
            "{\"t_us\":1,\"node\":0,\"event\":\"dkg_sent\",\"detail\":\"dkg_sent kind=agree frames=3 bytes=300\"}\n",
            "{\"t_us\":1,\"node\":1,\"event\":\"dkg_sent\",\"detail\":\"dkg_sent kind=agree frames=4 bytes=400\"}\n",
            "{\"t_us\":1,\"node\":1,\"event\":\"dkg_sent\",\"detail\":\"dkg_sent kind=log frames=1 bytes=9\"}\n",
            "{\"t_us\":1,\"node\":1,\"event\":\"dkg_phase\",\"detail\":\"dkg_phase round=0 phase=log\"}\n",
        );
        let traffic = super::traffic(trace);
        assert_eq!(traffic["agree"], (7, 700));
        assert_eq!(traffic["log"], (1, 9));
        assert_eq!(traffic.len(), 2);
    }
}
