//! `cohort testnet init` and `cohort testnet run`: a local cluster on loopback.
//!
//! `init` writes, under DIR: `cluster.toml` (threshold [`config::min_threshold`] of the node
//! count) and, per node, `nodeI/key` and `nodeI/config.toml` ([`PORTS_PER_NODE`] ports per node:
//! p2p on `base_port + 3i`, metrics on `base_port + 3i + 1`, admin API on `base_port + 3i + 2`).
//! It refuses to overwrite an existing testnet, so keys are never lost by accident. With
//! `--extra N`, N more nodes (numbered after the members) get a key and a config but are not
//! in `cluster.toml`: joiners, which list every member in `[[peers]]`, catch up once started,
//! and wait until a certified committee admits them (`cohort committee propose --add KEY
//! --address ADDR`, the address being their p2p `listen`).
//!
//! `run` starts every `nodeI/config.toml` under DIR as a child `cohort run` process (logs in
//! `nodeI/node.log`), shows one status line per node from its metrics, and on Ctrl-C (or SIGTERM)
//! sends SIGTERM to every child, then SIGKILL to any still running after a grace period.

use crate::{
    config::{self, ConfigError, NodeConfig, PeerEntry},
    hex,
};
use cohort_protocol::{Cluster, PROTOCOL_VERSION, Timing};
use commonware_codec::DecodeExt as _;
use commonware_cryptography::{Signer as _, ed25519};
use rand::Rng as _;
use std::{
    collections::BTreeMap,
    io::IsTerminal as _,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};
use thiserror::Error;

/// Most nodes `init` creates.
pub const MAX_TESTNET_NODES: usize = 64;
/// How often `run` refreshes the status lines.
pub const STATUS_PERIOD: Duration = Duration::from_millis(500);
/// Grace period between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(10);
/// Timeout of one metrics scrape.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Debug, Error)]
pub enum TestnetError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} already holds a testnet (cluster.toml exists); choose another folder")]
    Exists(PathBuf),
    #[error("--nodes must be within 1..={MAX_TESTNET_NODES}")]
    BadNodeCount,
    #[error("ports {base}..{end} do not fit below 65536")]
    BadPorts { base: u16, end: u32 },
    #[error("no nodeN/config.toml under {0}")]
    Empty(PathBuf),
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot install signal handler: {0}")]
    Signals(std::io::Error),
}

/// The barrier's reconnect cap in a testnet's cluster definition.
pub const TESTNET_RECONNECT_CAP: std::time::Duration = std::time::Duration::from_millis(400);

/// Ports each testnet node uses from its base: p2p, metrics, admin API.
pub const PORTS_PER_NODE: u16 = 3;

/// Writes a testnet of `nodes` members and `extra` joiners under `dir`.
pub fn init(nodes: usize, extra: usize, dir: &Path, base_port: u16) -> Result<(), TestnetError> {
    if nodes == 0 || nodes + extra > MAX_TESTNET_NODES {
        return Err(TestnetError::BadNodeCount);
    }
    let end = base_port as u32 + PORTS_PER_NODE as u32 * (nodes + extra) as u32;
    if end > 65_536 {
        return Err(TestnetError::BadPorts {
            base: base_port,
            end,
        });
    }
    let cluster_path = dir.join("cluster.toml");
    if cluster_path.exists() {
        return Err(TestnetError::Exists(dir.to_path_buf()));
    }
    let mut os_rng = rand::rng();
    let keys: Vec<ed25519::PrivateKey> = (0..nodes + extra)
        .map(|_| {
            let mut seed = [0u8; 32];
            os_rng.fill_bytes(&mut seed);
            ed25519::PrivateKey::decode(seed.to_vec()).expect("32 bytes make a key")
        })
        .collect();
    let threshold = config::min_threshold(nodes);
    // On loopback a silent peer is only still starting: retry hellos at most 400 ms apart.
    let timing = Timing {
        reconnect_cap: TESTNET_RECONNECT_CAP,
        ..Timing::default()
    };
    let cluster = Cluster::new(
        keys[..nodes].iter().map(|k| k.public_key()).collect(),
        threshold,
        PROTOCOL_VERSION,
        timing,
    )
    .expect("generated cluster is valid");
    let address = |i: usize, offset: u16| {
        SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            base_port + PORTS_PER_NODE * i as u16 + offset,
        ))
    };
    config::save_cluster(&cluster_path, &cluster)?;
    for (i, key) in keys.iter().enumerate() {
        let node_dir = dir.join(format!("node{i}"));
        config::save_key(&node_dir.join("key"), key)?;
        // A member lists the other members; a joiner lists every member.
        let peers = keys[..nodes]
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, peer)| PeerEntry {
                public_key: hex::encode(peer.public_key().as_ref()),
                address: address(j, 0),
            })
            .collect();
        let node = NodeConfig {
            name: format!("node{i}"),
            key_file: "key".into(),
            cluster_file: "../cluster.toml".into(),
            listen: address(i, 0),
            metrics: address(i, 1),
            admin: Some(address(i, 2)),
            data_dir: "data".into(),
            log_level: "info".into(),
            peers,
            checkpoint: None,
            governance: None,
            block_expiry_secs: None,
        };
        config::write(
            &node_dir.join("config.toml"),
            &toml::to_string(&node).expect("config serializes"),
        )?;
    }
    println!(
        "wrote a {nodes}-node testnet to {} (cluster {}, threshold {threshold}); start it with: cohort testnet run --dir {}",
        dir.display(),
        cluster.hash(),
        dir.display()
    );
    for (i, key) in keys.iter().enumerate().skip(nodes) {
        println!(
            "node{i} is not a member yet; admit it with: cohort committee propose --config {} --add {} --address {}",
            dir.join("node0").join("config.toml").display(),
            hex::encode(key.public_key().as_ref()),
            address(i, 0)
        );
    }
    Ok(())
}

/// The node configs of a testnet folder, in node order.
pub fn node_configs(dir: &Path) -> Result<Vec<(String, PathBuf)>, TestnetError> {
    let mut found = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(index) = name
            .strip_prefix("node")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let config = entry.path().join("config.toml");
        if config.is_file() {
            found.insert(index, (name, config));
        }
    }
    if found.is_empty() {
        return Err(TestnetError::Empty(dir.to_path_buf()));
    }
    Ok(found.into_values().collect())
}

/// What one node's metrics say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    pub step: Option<f64>,
    pub connected: Option<f64>,
    /// The node holds the epoch 0 result.
    pub dkg_complete: bool,
    /// The group public key (hex), once known.
    pub group_key: Option<String>,
    pub failed: bool,
}

/// The value of label `label` of the first sample of `name` in a Prometheus text page.
pub fn metric_label(page: &str, name: &str, label: &str) -> Option<String> {
    let prefix = format!("{name}{{");
    let key = format!("{label}=\"");
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let labels = line.strip_prefix(&prefix)?;
            let start = labels.find(&key)? + key.len();
            let end = labels[start..].find('"')? + start;
            Some(labels[start..end].to_string())
        })
}

/// Reads the value of the first sample of `name` (any labels) in a Prometheus text page.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            line.rsplit(' ').next()?.parse().ok()
        })
}

/// Scrapes a node's `/metrics`.
pub fn scrape(addr: SocketAddr) -> Option<Scrape> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(SCRAPE_TIMEOUT))
        .build()
        .into();
    let page = agent
        .get(format!("http://{addr}/metrics"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    Some(Scrape {
        step: metric(&page, "cohort_barrier_step"),
        connected: metric(&page, "cohort_barrier_connected_peers"),
        dkg_complete: metric(&page, "node_dkg_complete") == Some(1.0),
        group_key: metric_label(&page, "node_dkg_group_key", "group_key"),
        failed: metric(&page, "node_failed") == Some(1.0),
    })
}

struct Running {
    name: String,
    metrics: SocketAddr,
    peers: usize,
    child: Child,
    exit: Option<ExitStatus>,
}

fn status_line(node: &Running, scrape: Option<&Scrape>) -> String {
    if let Some(status) = node.exit {
        return format!("{:<8} exited ({status})", node.name);
    }
    match scrape {
        None => format!("{:<8} starting", node.name),
        Some(s) if s.failed => format!("{:<8} FAILED (see {}/node.log)", node.name, node.name),
        Some(s) if s.dkg_complete => format!(
            "{:<8} dkg complete, group key {}",
            node.name,
            s.group_key.as_deref().unwrap_or("?")
        ),
        Some(s) => format!(
            "{:<8} step {} peers {}/{}",
            node.name,
            s.step.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.connected
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            node.peers
        ),
    }
}

/// Runs every node of the testnet in `dir` until Ctrl-C, or until all of them exited.
pub fn run(dir: &Path) -> Result<bool, TestnetError> {
    let exe = std::env::current_exe().map_err(|source| TestnetError::Spawn {
        what: "cohort (own path unknown)".into(),
        source,
    })?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    watch_signals(stop.clone()).map_err(TestnetError::Signals)?;
    let mut nodes = Vec::new();
    for (name, config_path) in node_configs(dir)? {
        let loaded = config::load(&config_path)?;
        let log_path = config_path.with_file_name("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| TestnetError::Spawn {
                what: format!("log {}", log_path.display()),
                source,
            })?;
        let child = Command::new(&exe)
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|source| TestnetError::Spawn {
                what: name.clone(),
                source,
            })?)
            .stderr(log)
            .spawn()
            .map_err(|source| TestnetError::Spawn {
                what: name.clone(),
                source,
            })?;
        nodes.push(Running {
            name,
            metrics: loaded.config.metrics,
            peers: loaded.peers.len(),
            child,
            exit: None,
        });
    }
    let terminal = std::io::stdout().is_terminal();
    let mut previous: Vec<String> = Vec::new();
    let mut drawn = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for node in nodes.iter_mut().filter(|n| n.exit.is_none()) {
            node.exit = node.child.try_wait().ok().flatten();
        }
        let lines: Vec<String> = nodes
            .iter()
            .map(|node| {
                let scrape = if node.exit.is_none() {
                    scrape(node.metrics)
                } else {
                    None
                };
                status_line(node, scrape.as_ref())
            })
            .collect();
        if lines != previous {
            if terminal && drawn > 0 {
                // Redraw in place.
                print!("\x1b[{drawn}A\x1b[J");
            }
            for line in &lines {
                println!("{line}");
            }
            drawn = lines.len();
            previous = lines;
        }
        if nodes.iter().all(|n| n.exit.is_some()) {
            break;
        }
        std::thread::sleep(STATUS_PERIOD);
    }
    stop_all(&mut nodes);
    let ok = nodes.iter().all(|n| n.exit.is_some_and(|s| s.success()));
    for node in &nodes {
        println!("{}", status_line(node, None));
    }
    Ok(ok)
}

/// SIGTERM to every running child, then SIGKILL after the grace period.
fn stop_all(nodes: &mut [Running]) {
    for node in nodes.iter().filter(|n| n.exit.is_none()) {
        let pid = nix::unistd::Pid::from_raw(node.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
    }
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline && nodes.iter().any(|n| n.exit.is_none()) {
        for node in nodes.iter_mut().filter(|n| n.exit.is_none()) {
            node.exit = node.child.try_wait().ok().flatten();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for node in nodes.iter_mut().filter(|n| n.exit.is_none()) {
        let _ = node.child.kill();
        node.exit = node.child.wait().ok();
    }
}

/// Sets `flag` when SIGINT or SIGTERM arrives (instead of the default action).
///
/// Handlers are installed with tokio on a small watcher thread: unlike a blocked signal mask, a
/// handler is reset by `exec`, so the child nodes still receive the SIGTERM we forward to them.
fn watch_signals(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::io::Result<()> {
    use ::tokio::signal::unix::{SignalKind, signal};
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            ::tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        });
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_parsing() {
        let page = "# HELP x\ncohort_barrier_step 3\ncohort_barrier_step_other 9\nnode_dkg_complete{a=\"b\"} 1\nnode_dkg_group_key{group_key=\"ab01\"} 1\n";
        assert_eq!(metric(page, "cohort_barrier_step"), Some(3.0));
        assert_eq!(metric(page, "node_dkg_complete"), Some(1.0));
        assert_eq!(metric(page, "node_failed"), None);
        assert_eq!(
            metric_label(page, "node_dkg_group_key", "group_key").as_deref(),
            Some("ab01")
        );
        assert_eq!(metric_label(page, "node_dkg_complete", "group_key"), None);
    }

    #[test]
    fn init_writes_loadable_configs_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        init(4, 0, dir.path(), 41_000).unwrap();
        let configs = node_configs(dir.path()).unwrap();
        assert_eq!(configs.len(), 4);
        let mut hashes = Vec::new();
        for (_, path) in &configs {
            let loaded = config::load(path).unwrap();
            assert_eq!(loaded.peers.len(), 3);
            hashes.push(loaded.cluster.hash());
        }
        hashes.dedup();
        assert_eq!(hashes.len(), 1);
        assert!(matches!(
            init(4, 0, dir.path(), 41_000),
            Err(TestnetError::Exists(_))
        ));
        assert!(matches!(
            init(0, 0, dir.path(), 41_000),
            Err(TestnetError::BadNodeCount)
        ));
    }

    #[test]
    fn extra_nodes_are_joiners_listing_every_member() {
        let dir = tempfile::tempdir().unwrap();
        init(4, 2, dir.path(), 41_100).unwrap();
        let configs = node_configs(dir.path()).unwrap();
        assert_eq!(configs.len(), 6);
        for (i, (_, path)) in configs.iter().enumerate() {
            let loaded = config::load(path).unwrap();
            let member = loaded.cluster.is_member(&loaded.key.public_key());
            assert_eq!(member, i < 4, "node{i}");
            assert_eq!(loaded.peers.len(), if member { 3 } else { 4 });
            assert_eq!(loaded.cluster.members().len(), 4);
        }
        // A joiner needs governance (a certificate can admit it) and a member to reach.
        let joiner = &configs[4].1;
        let text = std::fs::read_to_string(joiner).unwrap();
        let mut node: NodeConfig = toml::from_str(&text).unwrap();
        node.governance = Some(crate::governance::GovernanceFile {
            enabled: Some(false),
            ..Default::default()
        });
        std::fs::write(joiner, toml::to_string(&node).unwrap()).unwrap();
        let error = config::load(joiner).unwrap_err().to_string();
        assert!(error.contains("needs [governance] on"), "{error}");
        node.governance = None;
        node.peers.clear();
        std::fs::write(joiner, toml::to_string(&node).unwrap()).unwrap();
        let error = config::load(joiner).unwrap_err().to_string();
        assert!(error.contains("at least one member"), "{error}");
    }
}
