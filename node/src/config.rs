//! The node's files: its TOML config, the cluster definition (TOML) and its identity key (hex).
//!
//! Paths inside a config are relative to the config file's folder, so a testnet folder can be
//! moved as a whole. Every loading error is one line naming the file and what is wrong with it.
//!
//! [`load`] checks everything that can be checked without touching the machine, so that a
//! mistake is a config error (exit status 2) before the runtime starts, never a panic inside it:
//!
//! - **Peers**: every `[[peers]]` key is a hex key of a cluster member other than this node,
//!   listed once; every other member is listed; no two entries share an address, and none uses
//!   the node's own `listen` address (p2p would dial the wrong member forever).
//! - **A joiner** (issue 13): a key that `cluster.toml` does not list is accepted only with
//!   governance on (a certified committee may admit it), and then `[[peers]]` must list at
//!   least one member to catch up from (not necessarily all of them). Members learn the
//!   joiner's address from the proposal that admits it ([`crate::run`] tracks the chain).
//! - **Addresses**: `listen`, `metrics` and `admin` are three different addresses; `admin` is a
//!   loopback address (the admin API has no authentication).
//! - **`data_dir`** is not empty: an empty path would put the storage in the config's own folder.
//!   Whether it can be written is checked by `cohort run` (see [`crate::run`]), not here: `cohort
//!   status` loads the same config and must not touch the data folder.
//! - **`log_level`** is a strict filter ([`log_filter`]): each directive must parse, and a bare
//!   word must be a level. `tracing`'s own parser reads a bare unknown word (`verbose`, `debugg`)
//!   as a *target* name and then shows nothing at all; here that is an error instead.
//! - **The threshold** (in the cluster file) is at least [`min_threshold`] of the largest DKG
//!   committee (every member when the file lists no committees): a BFT quorum `n - f` with
//!   `f = (n - 1) / 3`; and at most the member count (`Cluster::new` checks `1..=members`). A
//!   smaller threshold would let fewer members than a quorum sign for the group. The check lives
//!   here because `cohort_protocol::Cluster::new` accepts any `1..=members`; the DKG itself always
//!   deals with the quorum of each epoch's committee (`dkg::ceremony::Faults`).

use crate::{checkpoints::CheckpointFile, governance::GovernanceFile, hex};
use cohort_protocol::{Cluster, ProtocolVersion, PublicKey, Timing};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_utils::{Faults as _, N3f1};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use thiserror::Error;
use tracing_subscriber::filter::{Directive, EnvFilter, LevelFilter};

/// A loading error, naming the file.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn malformed(path: &Path, reason: impl ToString) -> ConfigError {
    ConfigError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Writes `contents` to `path`, creating parent folders.
pub fn write(path: &Path, contents: &str) -> Result<(), ConfigError> {
    let fail = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, contents).map_err(fail)
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One peer of the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's identity, hex.
    pub public_key: String,
    /// Where it listens for p2p connections.
    pub address: SocketAddr,
}

/// A node's config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Name used in logs and status lines.
    pub name: String,
    /// File with this node's ed25519 private key, hex.
    pub key_file: PathBuf,
    /// The cluster definition.
    pub cluster_file: PathBuf,
    /// p2p listen address.
    pub listen: SocketAddr,
    /// Prometheus metrics over HTTP at `/metrics`.
    pub metrics: SocketAddr,
    /// The admin API (`/status`, `/ops`), on a loopback address only; absent: no admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<SocketAddr>,
    /// Folder of the node's storage.
    pub data_dir: PathBuf,
    /// Default log filter (`RUST_LOG` overrides it), e.g. `info` or `cohort=debug,info`.
    pub log_level: String,
    /// Every other member and its address.
    pub peers: Vec<PeerEntry>,
    /// The checkpoint protocol's timing and tolerances (absent: the protocol's defaults;
    /// `enabled = false` turns checkpoints off). See [`crate::checkpoints`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointFile>,
    /// Membership changes: the governance actor's timing (absent: the defaults; `enabled =
    /// false` turns governance off). See [`crate::governance`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<GovernanceFile>,
    /// How long a block a protocol rule imposed on a peer lasts, in seconds (absent:
    /// [`DEFAULT_BLOCK_EXPIRY`]): the barrier forgets the peer's recorded fault and the
    /// transport lets it connect again, so a peer an operator repaired rejoins without the
    /// rest of the cluster restarting; one that keeps misbehaving is blocked again at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_expiry_secs: Option<u64>,
}

/// How long a block lasts unless the config says otherwise.
pub use cohort_protocol::engine::DEFAULT_BLOCK_EXPIRY;
/// The longest block the config may ask for (30 days).
pub const MAX_BLOCK_EXPIRY: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

impl NodeConfig {
    /// How long a block lasts (see [`NodeConfig::block_expiry_secs`]); between a second and
    /// [`MAX_BLOCK_EXPIRY`].
    pub fn block_expiry(&self) -> std::time::Duration {
        self.block_expiry_secs.map_or(DEFAULT_BLOCK_EXPIRY, |secs| {
            std::time::Duration::from_secs(secs.clamp(1, MAX_BLOCK_EXPIRY.as_secs()))
        })
    }
}

/// A cluster definition file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// `MAJOR.MINOR`.
    pub version: String,
    pub threshold: u32,
    /// Member identities, hex.
    pub members: Vec<String>,
    pub timing: TimingFile,
    /// The committee (hex identities) of each DKG epoch, epoch 0 first; absent: one epoch whose
    /// committee is every member. Epoch `e + 1` reshares the key to committee `e + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committees: Option<Vec<Vec<String>>>,
}

/// Timing parameters in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingFile {
    pub sync_period_ms: u64,
    pub reconnect_cap_ms: u64,
    pub phase_timeout_ms: u64,
    pub shutdown_timeout_ms: u64,
}

impl From<&Timing> for TimingFile {
    fn from(t: &Timing) -> Self {
        Self {
            sync_period_ms: t.sync_period.as_millis() as u64,
            reconnect_cap_ms: t.reconnect_cap.as_millis() as u64,
            phase_timeout_ms: t.phase_timeout.as_millis() as u64,
            shutdown_timeout_ms: t.shutdown_timeout.as_millis() as u64,
        }
    }
}

impl From<&Cluster> for ClusterFile {
    fn from(cluster: &Cluster) -> Self {
        Self {
            version: cluster.version().to_string(),
            threshold: cluster.threshold(),
            members: cluster
                .members()
                .iter()
                .map(|m| hex::encode(m.as_ref()))
                .collect(),
            timing: cluster.timing().into(),
            committees: (cluster.committees() != [cluster.members().to_vec()]).then(|| {
                cluster
                    .committees()
                    .iter()
                    .map(|c| c.iter().map(|m| hex::encode(m.as_ref())).collect())
                    .collect()
            }),
        }
    }
}

/// Parses a hex public key.
pub fn parse_public_key(text: &str) -> Option<PublicKey> {
    PublicKey::decode(hex::decode(text)?).ok()
}

/// Parses hex public keys, naming the first bad one (`what`: which list it is in).
fn parse_keys(path: &Path, keys: &[String], what: &str) -> Result<Vec<PublicKey>, ConfigError> {
    keys.iter()
        .map(|k| {
            parse_public_key(k).ok_or_else(|| {
                malformed(
                    path,
                    format!("{what} {k:?} is not a hex ed25519 public key"),
                )
            })
        })
        .collect()
}

/// The smallest threshold accepted for a cluster of `members` members (at least one): a BFT
/// quorum, `n - f` with `f = (n - 1) / 3` (`N3f1::quorum`), the threshold the DKG deals with.
pub fn min_threshold(members: usize) -> u32 {
    N3f1::quorum(members.max(1))
}

/// Checks a log filter strictly; returns it normalised (directives trimmed, empty ones dropped),
/// ready for `EnvFilter::try_new`.
///
/// Each comma-separated directive must parse as a `tracing_subscriber` [`Directive`]; its level
/// (after `=`, or the whole directive when it names no target or span) must be a level (`off`,
/// `error`, `warn`, `info`, `debug`, `trace`, or `0..=5`): `tracing` would read any other bare
/// word as a target name and filter out every log line, and an empty level as `error`. At least
/// one directive is needed.
pub fn log_filter(text: &str) -> Result<String, String> {
    let directives: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err("no directive (for example \"info\" or \"cohort_protocol=debug,info\")".into());
    }
    for directive in &directives {
        directive
            .parse::<Directive>()
            .map_err(|e| format!("directive {directive:?}: {e}"))?;
        // What follows the span part (`target[span{field=value}]`), if any.
        let tail = directive
            .rsplit_once(']')
            .map_or(*directive, |(_, tail)| tail);
        let level = match tail.split_once('=') {
            Some((_, level)) => Some(level),
            None if !directive.contains('[') => Some(*directive),
            None => None,
        };
        // `LevelFilter` reads "" as `error`: an empty level is refused here.
        if level.is_some_and(|l| l.is_empty() || l.parse::<LevelFilter>().is_err()) {
            return Err(format!(
                "directive {directive:?} is neither a level (off, error, warn, info, debug, trace) nor TARGET=LEVEL"
            ));
        }
    }
    let normalised = directives.join(",");
    EnvFilter::try_new(&normalised).map_err(|e| e.to_string())?;
    Ok(normalised)
}

/// Loads and validates a cluster definition.
pub fn load_cluster(path: &Path) -> Result<Cluster, ConfigError> {
    let file: ClusterFile =
        toml::from_str(&read(path)?).map_err(|e| malformed(path, e.message()))?;
    let version: ProtocolVersion = file.version.parse().map_err(|e| malformed(path, e))?;
    let members = parse_keys(path, &file.members, "member")?;
    let t = &file.timing;
    let timing = Timing {
        sync_period: Duration::from_millis(t.sync_period_ms),
        reconnect_cap: Duration::from_millis(t.reconnect_cap_ms),
        phase_timeout: Duration::from_millis(t.phase_timeout_ms),
        shutdown_timeout: Duration::from_millis(t.shutdown_timeout_ms),
    };
    let cluster =
        Cluster::new(members, file.threshold, version, timing).map_err(|e| malformed(path, e))?;
    let cluster = match &file.committees {
        None => cluster,
        Some(committees) => {
            let committees = committees
                .iter()
                .map(|committee| parse_keys(path, committee, "committee member"))
                .collect::<Result<Vec<_>, _>>()?;
            cluster
                .with_committees(committees)
                .map_err(|e| malformed(path, e))?
        }
    };
    // The largest committee (every member, without `committees`) needs the largest quorum.
    let n = cluster.committees().iter().map(Vec::len).max().unwrap_or(1);
    if cluster.threshold() < min_threshold(n) {
        return Err(malformed(
            path,
            format!(
                "threshold {} is below the safe minimum {} for a committee of {n} members (a quorum: n - (n - 1) / 3)",
                cluster.threshold(),
                min_threshold(n)
            ),
        ));
    }
    Ok(cluster)
}

/// Writes a cluster definition.
pub fn save_cluster(path: &Path, cluster: &Cluster) -> Result<(), ConfigError> {
    let text = toml::to_string(&ClusterFile::from(cluster)).expect("cluster serializes");
    write(path, &text)
}

/// Loads an identity key.
pub fn load_key(path: &Path) -> Result<ed25519::PrivateKey, ConfigError> {
    let bytes = hex::decode(&read(path)?).ok_or_else(|| malformed(path, "not hex"))?;
    ed25519::PrivateKey::decode(bytes)
        .map_err(|_| malformed(path, "not a 32-byte ed25519 private key"))
}

/// Writes an identity key (owner-readable only on unix).
pub fn save_key(path: &Path, key: &ed25519::PrivateKey) -> Result<(), ConfigError> {
    write(path, &format!("{}\n", hex::encode(&key.encode())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| ConfigError::Write {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Everything a node needs to start, loaded and checked.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: NodeConfig,
    /// The config file's folder; relative paths are resolved against it.
    pub base: PathBuf,
    pub key: ed25519::PrivateKey,
    pub cluster: Cluster,
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// The checkpoint protocol's settings (`None`: disabled).
    pub checkpoint: Option<cohort_protocol::checkpoint::Settings>,
    /// The governance actor's settings (`None`: disabled).
    pub governance: Option<cohort_protocol::committee::Settings>,
}

impl Loaded {
    /// Resolves a path of the config against the config's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }
}

/// Loads a node config and everything it points at.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let config: NodeConfig =
        toml::from_str(&read(path)?).map_err(|e| malformed(path, e.message()))?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let key = load_key(&base.join(&config.key_file))?;
    let cluster = load_cluster(&base.join(&config.cluster_file))?;
    let me = key.public_key();
    let joiner = !cluster.is_member(&me);
    if let Some(admin) = config.admin
        && !admin.ip().is_loopback()
    {
        return Err(malformed(
            path,
            format!(
                "admin address {admin} is not a loopback address (the admin API has no authentication)"
            ),
        ));
    }
    if config.data_dir.as_os_str().is_empty() {
        return Err(malformed(
            path,
            "data_dir is empty (it would put the storage in the config's own folder)",
        ));
    }
    log_filter(&config.log_level)
        .map_err(|reason| malformed(path, format!("log_level {:?}: {reason}", config.log_level)))?;
    let checkpoint = config
        .checkpoint
        .clone()
        .unwrap_or_default()
        .settings()
        .map_err(|reason| malformed(path, reason))?;
    let governance = config
        .governance
        .clone()
        .unwrap_or_default()
        .settings()
        .map_err(|reason| malformed(path, reason))?;
    if joiner && governance.is_none() {
        return Err(malformed(
            path,
            format!(
                "this node's key {me} is not a member of the cluster (a joiner needs [governance] on, so that a certified committee can admit it)"
            ),
        ));
    }
    let mut addresses = BTreeMap::from([(config.listen, "listen")]);
    for (addr, what) in [(Some(config.metrics), "metrics"), (config.admin, "admin")] {
        let Some(addr) = addr else { continue };
        if let Some(other) = addresses.insert(addr, what) {
            return Err(malformed(
                path,
                format!("{what} and {other} are the same address {addr}"),
            ));
        }
    }
    let mut peers = Vec::with_capacity(config.peers.len());
    let mut seen_keys = BTreeSet::new();
    let mut seen_addresses = BTreeSet::from([config.listen]);
    for entry in &config.peers {
        let key = parse_public_key(&entry.public_key).ok_or_else(|| {
            malformed(
                path,
                format!("peer {:?} is not a hex public key", entry.public_key),
            )
        })?;
        if key == me || !cluster.is_member(&key) {
            return Err(malformed(
                path,
                format!("peer {key} is this node or not a member of the cluster"),
            ));
        }
        if !seen_keys.insert(key.clone()) {
            return Err(malformed(
                path,
                format!("peer {key} is listed twice in [[peers]]"),
            ));
        }
        if !seen_addresses.insert(entry.address) {
            return Err(malformed(
                path,
                format!(
                    "peer {key}: address {} is this node's listen address or another peer's",
                    entry.address
                ),
            ));
        }
        peers.push((key, entry.address));
    }
    if joiner && peers.is_empty() {
        return Err(malformed(
            path,
            "a joiner (a key the cluster does not list) needs at least one member in [[peers]] to catch up from",
        ));
    }
    if let Some(missing) = cluster
        .members()
        .iter()
        .find(|m| !joiner && **m != me && !seen_keys.contains(*m))
    {
        return Err(malformed(
            path,
            format!("member {missing} has no address in [[peers]]"),
        ));
    }
    Ok(Loaded {
        config,
        base,
        key,
        cluster,
        peers,
        checkpoint,
        governance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4-node testnet under a temporary folder; returns it and node 0's config path.
    fn testnet() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        crate::testnet::init(4, 0, dir.path(), 42_000).unwrap();
        let config = dir.path().join("node0/config.toml");
        (dir, config)
    }

    /// Rewrites the node config at `path` with `edit` and returns the loading error.
    fn load_error(path: &Path, edit: impl FnOnce(&mut NodeConfig)) -> String {
        let mut config: NodeConfig = toml::from_str(&read(path).unwrap()).unwrap();
        edit(&mut config);
        write(path, &toml::to_string(&config).unwrap()).unwrap();
        let error = load(path).unwrap_err().to_string();
        assert_eq!(error.lines().count(), 1, "{error}");
        error
    }

    #[test]
    fn the_testnet_config_loads() {
        let (_dir, path) = testnet();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.peers.len(), 3);
    }

    #[test]
    fn a_duplicated_peer_is_a_config_error() {
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.peers.push(c.peers[0].clone()));
        assert!(error.contains("listed twice"), "{error}");

        // The same key at another address too.
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| {
            let mut again = c.peers[0].clone();
            again.address.set_port(1);
            c.peers.push(again);
        });
        assert!(error.contains("listed twice"), "{error}");
    }

    #[test]
    fn peers_must_be_exactly_the_other_members() {
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| {
            c.peers[0].public_key =
                hex::encode(ed25519::PrivateKey::from_seed(99).public_key().as_ref());
        });
        assert!(error.contains("not a member"), "{error}");

        let (_dir, path) = testnet();
        let error = load_error(&path, |c| {
            c.peers.pop();
        });
        assert!(error.contains("has no address in [[peers]]"), "{error}");

        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.peers[1].address = c.listen);
        assert!(
            error.contains("listen address or another peer's"),
            "{error}"
        );

        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.peers[1].address = c.peers[0].address);
        assert!(
            error.contains("listen address or another peer's"),
            "{error}"
        );
    }

    #[test]
    fn the_three_listen_addresses_differ() {
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.metrics = c.listen);
        assert!(
            error.contains("metrics and listen are the same address"),
            "{error}"
        );
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.admin = Some(c.metrics));
        assert!(
            error.contains("admin and metrics are the same address"),
            "{error}"
        );
    }

    #[test]
    fn checkpoint_settings_load_and_bad_ones_are_config_errors() {
        let (_dir, path) = testnet();
        assert_eq!(
            load(&path).unwrap().checkpoint,
            Some(cohort_protocol::checkpoint::Settings::default())
        );
        let error = load_error(&path, |c| {
            c.checkpoint = Some(CheckpointFile {
                window_ms: Some(86_400_000),
                ..CheckpointFile::default()
            })
        });
        assert!(error.contains("checkpoint.window"), "{error}");
        let mut config: NodeConfig = toml::from_str(&read(&path).unwrap()).unwrap();
        config.checkpoint = Some(CheckpointFile {
            enabled: Some(false),
            ..CheckpointFile::default()
        });
        write(&path, &toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap().checkpoint, None);
    }

    #[test]
    fn an_empty_data_dir_is_a_config_error() {
        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.data_dir = PathBuf::new());
        assert!(error.contains("data_dir is empty"), "{error}");
    }

    #[test]
    fn log_filters_are_checked_strictly() {
        for good in [
            "info",
            "cohort_protocol=debug,info",
            " warn , cohort=trace,",
            "OFF",
            "3",
            "[dkg]=debug",
        ] {
            assert!(log_filter(good).is_ok(), "{good:?}: {:?}", log_filter(good));
        }
        assert_eq!(
            log_filter(" warn , cohort=trace,").unwrap(),
            "warn,cohort=trace"
        );
        for bad in [
            "",
            " , ",
            "verbose",
            "info,debugg",
            "cohort=loud",
            "!!",
            "info=",
            "a=b=c",
        ] {
            assert!(log_filter(bad).is_err(), "{bad:?} was accepted");
        }

        let (_dir, path) = testnet();
        let error = load_error(&path, |c| c.log_level = "verbose".into());
        assert!(
            error.contains("log_level \"verbose\"") && error.contains("neither a level"),
            "{error}"
        );
    }

    #[test]
    fn a_threshold_below_a_quorum_or_above_the_members_is_a_config_error() {
        assert_eq!(
            (1..=10).map(min_threshold).collect::<Vec<_>>(),
            [1, 2, 3, 3, 4, 5, 5, 6, 7, 7]
        );
        let (dir, path) = testnet();
        let cluster_path = dir.path().join("cluster.toml");
        let text = read(&cluster_path).unwrap();
        assert!(text.contains("threshold = 3"), "{text}");
        for (threshold, error) in [
            (
                1,
                Some("below the safe minimum 3 for a committee of 4 members"),
            ),
            (
                2,
                Some("below the safe minimum 3 for a committee of 4 members"),
            ),
            (3, None),
            (4, None),
            (5, Some("threshold 5 is not within 1..=4")),
        ] {
            write(
                &cluster_path,
                &text.replace("threshold = 3", &format!("threshold = {threshold}")),
            )
            .unwrap();
            match (load(&path), error) {
                (Ok(_), None) => {}
                (Err(e), Some(expected)) => {
                    let e = e.to_string();
                    assert!(
                        e.contains(expected) && e.contains("cluster.toml"),
                        "{threshold}: {e}"
                    );
                }
                (result, _) => panic!("threshold {threshold}: {:?}", result.map(|_| ())),
            }
        }
    }

    fn keys(n: u64) -> Vec<PublicKey> {
        (0..n)
            .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
            .collect()
    }

    #[test]
    fn committees_round_trip_through_the_cluster_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        let all = keys(5);
        let plain = Cluster::new(
            all.clone(),
            4,
            cohort_protocol::PROTOCOL_VERSION,
            Timing::default(),
        )
        .unwrap();
        save_cluster(&path, &plain).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("committees"),
            "the default is not written: {text}"
        );
        assert_eq!(load_cluster(&path).unwrap(), plain);

        let resharing = plain
            .with_committees(vec![all[..4].to_vec(), all[1..].to_vec()])
            .unwrap();
        save_cluster(&path, &resharing).unwrap();
        let loaded = load_cluster(&path).unwrap();
        assert_eq!(loaded, resharing);
        assert_eq!(loaded.hash(), resharing.hash());
        assert_eq!(loaded.last_epoch(), 1);

        // Committees of 4 need a quorum of 3 only; 5 members without committees need 4.
        let three = |committees: Option<Vec<Vec<PublicKey>>>| {
            let cluster = Cluster::new(
                all.clone(),
                3,
                cohort_protocol::PROTOCOL_VERSION,
                Timing::default(),
            )
            .unwrap();
            match committees {
                Some(c) => cluster.with_committees(c).unwrap(),
                None => cluster,
            }
        };
        save_cluster(
            &path,
            &three(Some(vec![all[..4].to_vec(), all[1..].to_vec()])),
        )
        .unwrap();
        assert_eq!(load_cluster(&path).unwrap().threshold(), 3);
        save_cluster(&path, &three(Some(vec![all[..4].to_vec(), all.clone()]))).unwrap();
        let error = load_cluster(&path).unwrap_err().to_string();
        assert!(
            error.contains("safe minimum 4 for a committee of 5"),
            "{error}"
        );
        save_cluster(&path, &three(None)).unwrap();
        let error = load_cluster(&path).unwrap_err().to_string();
        assert!(
            error.contains("safe minimum 4 for a committee of 5"),
            "{error}"
        );

        save_cluster(&path, &resharing).unwrap();
        let bad = std::fs::read_to_string(&path).unwrap().replacen(
            "committees = [[\"",
            "committees = [[\"zz",
            1,
        );
        std::fs::write(&path, bad).unwrap();
        let error = load_cluster(&path).unwrap_err().to_string();
        assert!(error.contains("committee member"), "{error}");
    }
}
