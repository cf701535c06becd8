//! The node's files: its TOML config, the cluster definition (TOML) and its identity key (hex).
//!
//! Paths inside a config are relative to the config file's folder, so a testnet folder can be
//! moved as a whole. Every loading error is one line naming the file and what is wrong with it.

use crate::hex;
use cohort_protocol::{Cluster, ProtocolVersion, PublicKey, Timing};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{Signer as _, ed25519};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use thiserror::Error;

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
    match &file.committees {
        None => Ok(cluster),
        Some(committees) => {
            let committees = committees
                .iter()
                .map(|committee| parse_keys(path, committee, "committee member"))
                .collect::<Result<Vec<_>, _>>()?;
            cluster
                .with_committees(committees)
                .map_err(|e| malformed(path, e))
        }
    }
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
    if !cluster.is_member(&me) {
        return Err(malformed(
            path,
            format!("this node's key {me} is not a member of the cluster"),
        ));
    }
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
    let mut peers = Vec::with_capacity(config.peers.len());
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
        peers.push((key, entry.address));
    }
    if let Some(missing) = cluster
        .members()
        .iter()
        .find(|m| **m != me && !peers.iter().any(|(k, _)| k == *m))
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            3,
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
