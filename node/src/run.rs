//! `cohort run`: one node on commonware's tokio runtime and authenticated p2p (lookup flavour).
//!
//! Start-up checks everything that can be wrong with the machine or the files before the runtime
//! starts, so each mistake is one clear line with exit status 2, never a panic inside the
//! runtime: the config, key and cluster ([`crate::config::load`]); the log filter (`RUST_LOG`
//! or the config's, [`init_logging`]); every port (bound here; the p2p one is released for the
//! network to bind); and the data folder ([`prepare_data_dir`]: created if missing, a file
//! created and removed in it, and the runtime's storage hold free; the runtime would panic on an
//! unwritable folder and wait forever on one another process holds).
//!
//! Then the node: serves metrics at `/metrics` ([`crate::metrics`]) and, if the config names its
//! (loopback) address, the admin API ([`crate::admin`]), both with [`crate::http::serve`] from
//! the runtime context, so they stop with it and bound what a client can hold; connects to its
//! peers; and hands the runtime context and the p2p channels to the protocol engine — the same
//! `cohort_protocol::Engine` the simulator runs — with the ledger running beside the DKG.
//!
//! SIGINT/SIGTERM stop the runtime gracefully (tasks get [`STOP_TIMEOUT`] to finish). A protocol
//! failure (for example a peer with another cluster definition) is logged and ends the process
//! with a non-zero status; a DKG that completes (or was loaded from storage) leaves the node up
//! until it is signalled.

use crate::{
    config::{self, ConfigError, Loaded, LogFormat},
    http,
};
use cohort_protocol::ledger::op::MAX_DATA_BYTES;
use cohort_protocol::{
    Channels, Config, Duplex, Engine, EngineError, LogTracer,
    channels::{Channel, FnRegistrar},
    dkg::Keys,
    engine::Task,
    ledger,
};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_macros::select;
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{
    Metrics as _, Quota, Runner as _, Spawner as _, Supervisor as _,
    telemetry::metrics::raw::Gauge, tokio,
};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize, ordered::Map};
use std::{
    fs::{File, OpenOptions, TryLockError},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::Duration,
};
use thiserror::Error;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// Namespace of the p2p handshake. Deliberately not derived from the cluster: a peer with another
/// cluster definition must still connect, so that the barrier can name the mismatch.
pub const P2P_NAMESPACE: &[u8] = b"_COHORT_P2P";
/// Messages per second the node may send each peer on a channel.
pub const CHANNEL_QUOTA: u32 = 200;
/// How long p2p waits after a connection attempt with a peer before another (either direction).
pub const P2P_PEER_COOLDOWN: Duration = Duration::from_millis(100);
/// How often p2p dials a peer it is not connected to.
pub const P2P_DIAL_FREQUENCY: Duration = Duration::from_millis(50);
/// Handshakes per second p2p accepts from one IP address.
pub const P2P_HANDSHAKES_PER_IP: u32 = 128;
/// Time given to tasks to finish after a stop signal.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Partition prefix of the node's storage (the data folder is per node already).
pub const PARTITION_PREFIX: &str = "cohort";
/// File created and removed in the data folder to prove it can be written. A partition name
/// cannot contain a `.`, so it never meets stored data.
pub const WRITE_PROBE: &str = ".cohort-write-probe";
/// The runtime's lock file in the data folder (`commonware-runtime`'s storage hold: an advisory
/// lock held while a runtime uses the folder). A second runtime on a held folder waits for it
/// forever, so the node checks it first.
pub const STORAGE_HOLD: &str = ".hold";

/// Why a node stopped with an error.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid log filter {filter:?} (from {origin}): {reason}")]
    LogFilter {
        origin: &'static str,
        filter: String,
        reason: String,
    },
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data folder {path} is not writable: {source}")]
    DataDirNotWritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data folder {path} is in use by another process (a node already runs on it)")]
    DataDirInUse { path: PathBuf },
    #[error(
        "damaged store file {file}: {reason}; this node cannot read it and will not discard it. \
         To recover, stop here and move the folder {store} out of the data folder: {recovery}"
    )]
    DamagedStore {
        file: PathBuf,
        store: PathBuf,
        reason: String,
        recovery: &'static str,
    },
    #[error("peers: {0}")]
    Peers(String),
    #[error("protocol failed: {0}")]
    Engine(Box<EngineError>),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

impl NodeError {
    /// Process exit status: 2 for set-up mistakes, 1 for protocol failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            NodeError::Engine(_) => 1,
            _ => 2,
        }
    }
}

/// Installs the global log subscriber: `RUST_LOG` if set, else the config's filter. Either is
/// checked as strictly as the config's ([`config::log_filter`]).
pub fn init_logging(default_filter: &str, format: LogFormat) -> Result<(), NodeError> {
    let (origin, text) = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => ("RUST_LOG", env),
        _ => ("the config's log_level", default_filter.to_string()),
    };
    let invalid = |reason: String| NodeError::LogFilter {
        origin,
        filter: text.clone(),
        reason,
    };
    let filter = config::log_filter(&text).map_err(invalid)?;
    let filter = EnvFilter::try_new(&filter).map_err(|e| invalid(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A subscriber already installed (tests) is kept.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// Creates the data folder if needed and checks, before the runtime takes it, that files can be
/// created and removed in it and that no other process holds it (the runtime would panic on the
/// former and wait forever on the latter).
pub fn prepare_data_dir(path: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(path).map_err(|source| NodeError::DataDir {
        path: path.to_path_buf(),
        source,
    })?;
    let not_writable = |source| NodeError::DataDirNotWritable {
        path: path.to_path_buf(),
        source,
    };
    let probe = path.join(WRITE_PROBE);
    std::fs::write(&probe, b"probe").map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)?;
    let hold: File = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path.join(STORAGE_HOLD))
        .map_err(not_writable)?;
    match hold.try_lock() {
        // Released when `hold` is dropped, for the runtime to take.
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(NodeError::DataDirInUse {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(not_writable(source)),
    }
}

/// Magic every blob of commonware's storage starts with.
const BLOB_MAGIC: &[u8; 4] = b"CWIK";

/// What moving a damaged store away costs, by the name of its folder.
fn recovery_of(store: &str) -> &'static str {
    let store = store.strip_prefix(PARTITION_PREFIX).unwrap_or(store);
    if store.starts_with("-ops") {
        "the op store is rebuilt from the peers, and this node recovers its own chain from them \
         before it authors again"
    } else if store == "-dkg" {
        "the DKG journal holds this node's share; without it the node has no share (it still \
         keeps the ledger) until a reshare gives it one"
    } else if store == "-meta" {
        "the node metadata holds the boot counter and the barrier step; without them the node \
         starts its barrier from step 0"
    } else {
        "whatever it held is rebuilt from the peers, if it can be"
    }
}

/// Checks, before the runtime opens anything, that every file of every store starts with the
/// storage library's header magic. A file that does not (garbage, another program's file, a
/// wrong copy) is refused with its path and the recovery the operator can choose: the node
/// never opens a store it cannot read (the library would cut it away, or stop) and never
/// discards it silently. An empty or all-zero start (a creation torn by a crash) is left to the
/// library, which recovers it.
pub fn check_store_files(data_dir: &Path) -> Result<(), NodeError> {
    /// The entries of `dir` that `keep` accepts, sorted (none if it cannot be listed).
    fn listed(dir: &Path, keep: fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| keep(p))
            .collect();
        entries.sort();
        entries
    }
    for store in listed(data_dir, Path::is_dir) {
        for file in listed(&store, Path::is_file) {
            let mut head = [0u8; 4];
            let read = File::open(&file).and_then(|mut f| {
                use std::io::Read as _;
                let mut got = 0;
                while got < head.len() {
                    match f.read(&mut head[got..])? {
                        0 => break,
                        n => got += n,
                    }
                }
                Ok(got)
            });
            let reason = match read {
                Err(error) => Some(format!("unreadable: {error}")),
                Ok(n) if n < head.len() || head == [0; 4] => None,
                Ok(_) if &head != BLOB_MAGIC => Some(format!(
                    "it does not start with the storage header (found {:02x?})",
                    head
                )),
                Ok(_) => None,
            };
            if let Some(reason) = reason {
                let name = store
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                return Err(NodeError::DamagedStore {
                    file,
                    store,
                    reason,
                    recovery: recovery_of(&name),
                });
            }
        }
    }
    Ok(())
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).map_err(|source| NodeError::Bind { what, addr, source })
}

/// Runs the node of the config at `path` until it is signalled or fails.
pub fn run(path: &Path, format: LogFormat) -> Result<(), NodeError> {
    let loaded = config::load(path)?;
    init_logging(&loaded.config.log_level, format)?;
    // Check every port before anything starts; the p2p one is released for the network to bind.
    let metrics_listener = bind("metrics", loaded.config.metrics)?;
    drop(bind("p2p", loaded.config.listen)?);
    let admin_listener = match loaded.config.admin {
        Some(addr) => Some(bind("the admin API", addr)?),
        None => None,
    };
    let data_dir = loaded.resolve(&loaded.config.data_dir);
    prepare_data_dir(&data_dir)?;
    check_store_files(&data_dir)?;

    let runner = tokio::Runner::new(
        tokio::Config::new()
            .with_storage_directory(data_dir)
            .with_worker_threads(2),
    );
    runner.start(|context| node_main(context, loaded, metrics_listener, admin_listener))
}

/// Node-level metrics that outlive the engine's actors.
#[derive(Clone)]
struct NodeMetrics {
    dkg_complete: commonware_runtime::telemetry::metrics::Registered<Gauge>,
    /// `node_dkg_group_key{group_key="<hex>"} 1` once the group key is known.
    group_key: commonware_runtime::telemetry::metrics::GaugeFamily<Vec<(String, String)>>,
    failed: commonware_runtime::telemetry::metrics::Registered<Gauge>,
}

async fn node_main(
    context: tokio::Context,
    loaded: Loaded,
    metrics_listener: TcpListener,
    admin_listener: Option<TcpListener>,
) -> Result<(), NodeError> {
    let me = loaded.key.public_key();
    let name = loaded.config.name.clone();
    info!(
        node = %name,
        identity = %me,
        cluster = %loaded.cluster.hash(),
        members = loaded.cluster.members().len(),
        "starting"
    );

    let node_context = context.child("node");
    let metrics = NodeMetrics {
        dkg_complete: node_context.register(
            "dkg_complete",
            "1 once this node holds the epoch 0 result (group key and share)",
            Gauge::default(),
        ),
        group_key: commonware_runtime::telemetry::metrics::MetricsExt::family(
            &node_context,
            "dkg_group_key",
            "the group public key (hex) as a label",
        ),
        failed: node_context.register("failed", "1 once the protocol failed", Gauge::default()),
    };
    info!(addr = %loaded.config.metrics, "serving metrics at /metrics");
    http::serve(
        context.child("metrics"),
        metrics_listener,
        "metrics",
        crate::metrics::router(context.child("metrics_page")),
        http::Limits::new(0),
    );

    // p2p: every member with its address, this node included.
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: loaded.key.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut p2p_config = lookup::Config::local(
        handshake,
        P2P_NAMESPACE,
        loaded.config.listen,
        // With governance the set grows with the committees the chain admits.
        std::num::NonZeroUsize::new(match loaded.governance {
            Some(_) => crate::peers::MAX_PEERS,
            None => loaded.cluster.members().len().max(1),
        })
        .expect("non-zero"),
        cohort_protocol::MAX_FRAME_BYTES as u32,
        NZUsize!(1024),
    );
    // The preset's 1 s per-peer cooldown also follows a dial refused because the peer is not
    // listening yet, and two members dialling each other at once are both refused: members
    // started together then take 1 to 5 s to mesh. A fixed cluster of known members redials
    // cheaply: 100 ms cooldown, dials every 50 ms, and room for every member's handshakes from
    // one address (loopback testnets). Measured with scripts/loopback-dkg-timing.sh.
    p2p_config.peer_connection_cooldown = P2P_PEER_COOLDOWN;
    // Blocks a protocol rule imposed expire as the barrier's faults do.
    p2p_config.block_duration = loaded.config.block_expiry();
    p2p_config.dial_frequency = P2P_DIAL_FREQUENCY;
    p2p_config.allowed_handshake_rate_per_ip = Quota::per_second(NZU32!(P2P_HANDSHAKES_PER_IP));
    let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
    let mut addresses: Vec<(cohort_protocol::PublicKey, Address)> = loaded
        .peers
        .iter()
        .map(|(key, addr)| (key.clone(), Address::from(*addr)))
        .collect();
    addresses.push((me.clone(), Address::from(loaded.config.listen)));
    // The config's peers are unique other members (checked at load); this cannot fail.
    let addresses = Map::try_from(addresses).map_err(|e| NodeError::Peers(format!("{e:?}")))?;
    let _ = oracle.track(0, addresses);
    let quota = Quota::per_second(NZU32!(CHANNEL_QUOTA));
    let channels = Channels::register(
        &mut FnRegistrar(|channel: Channel| {
            let (sender, receiver) = network.register(channel.id(), quota);
            Duplex { sender, receiver }
        }),
        true,
    )
    .await;
    let _network = network.start();

    // Published as soon as the node holds the result durably (not when the engine ends, after
    // the shutdown handshake and its linger).
    let keys = Keys::default();
    {
        let completed = keys.subscribe();
        let metrics = metrics.clone();
        let name = name.clone();
        context.child("keys").spawn(move |_| async move {
            if let Ok(dkg) = completed.await {
                let group_key = dkg.group_key_hex();
                metrics
                    .group_key
                    .get_or_create(&vec![("group_key".to_string(), group_key.clone())])
                    .set(1);
                metrics.dkg_complete.set(1);
                info!(
                    node = %name,
                    epoch = dkg.epoch,
                    round = dkg.round,
                    %group_key,
                    share = dkg.share.as_ref().map(|s| s.index.get()),
                    "dkg complete"
                );
            }
        });
    }
    let engine = Engine::new(
        context.child("cohort"),
        Config {
            identity: loaded.key.clone(),
            cluster: loaded.cluster.clone(),
            partition_prefix: PARTITION_PREFIX.to_string(),
            tracer: LogTracer,
            task: Task::Dkg,
            keys: keys.clone(),
            ledger: Some(ledger::Settings {
                checkpoint: loaded.checkpoint,
                governance: loaded.governance,
                ..ledger::Settings::default()
            }),
            block_expiry: Some(loaded.config.block_expiry()),
            verifier: cohort_protocol::Verifier::direct(),
        },
    );
    if let (Some(listener), Some(mailbox)) = (admin_listener, engine.ledger()) {
        info!(addr = ?loaded.config.admin, "serving the admin API at /status and /ops");
        http::serve(
            context.child("admin"),
            listener,
            "admin API",
            crate::admin::router(
                name.clone(),
                mailbox,
                keys,
                engine.checkpoints(),
                engine.governance(),
            ),
            http::Limits::new(MAX_DATA_BYTES),
        );
    }
    if let (Some(governance), Some(mailbox)) = (loaded.governance, engine.ledger()) {
        let base = loaded
            .peers
            .iter()
            .cloned()
            .chain([(me.clone(), loaded.config.listen)])
            .collect();
        let oracle = oracle.clone();
        context.child("peers").spawn(move |context| {
            crate::peers::follow(context, mailbox, oracle, base, governance.online_within, 1)
        });
    }
    let engine = engine.start(channels, oracle);

    let mut terminate =
        ::tokio::signal::unix::signal(::tokio::signal::unix::SignalKind::terminate())
            .map_err(NodeError::Signals)?;
    let mut interrupt =
        ::tokio::signal::unix::signal(::tokio::signal::unix::SignalKind::interrupt())
            .map_err(NodeError::Signals)?;
    let signalled = async move {
        select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    };
    futures::pin_mut!(signalled);

    let result = select! {
        outcome = engine => match outcome {
            Ok(Ok(outcome)) => {
                // The engine serves the ledger after its ceremony; it only ends if the ledger
                // stops on its own.
                info!(
                    node = %name,
                    boot = outcome.boot,
                    epoch = outcome.dkg.as_ref().map(|d| d.epoch),
                    "engine stopped; waiting for a signal"
                );
                let signal = (&mut signalled).await;
                info!(node = %name, signal, "stopping");
                Ok(())
            }
            Ok(Err(engine_error)) => {
                metrics.failed.set(1);
                error!(node = %name, error = %engine_error, "protocol failed");
                Err(NodeError::Engine(Box::new(engine_error)))
            }
            Err(runtime_error) => {
                metrics.failed.set(1);
                panic!("engine task ended abnormally: {runtime_error}");
            }
        },
        signal = &mut signalled => {
            info!(node = %name, signal, "stopping");
            Ok(())
        },
    };
    if context.stop(0, Some(STOP_TIMEOUT)).await.is_err() {
        error!(node = %name, "tasks did not stop within {STOP_TIMEOUT:?}");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_data_dir_is_created_and_left_clean() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b/data");
        prepare_data_dir(&data).unwrap();
        assert!(data.is_dir());
        assert!(!data.join(WRITE_PROBE).exists());
        // Again, as at a restart.
        prepare_data_dir(&data).unwrap();
    }

    #[test]
    fn a_data_dir_that_cannot_be_created_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        // The folder is a file, or under one: root cannot create it either.
        for data in [file.clone(), file.join("data")] {
            let error = prepare_data_dir(&data).unwrap_err();
            assert!(matches!(error, NodeError::DataDir { .. }), "{error}");
            assert_eq!(error.exit_code(), 2);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_data_dir_that_cannot_be_written_is_an_error() {
        // /proc exists and is a folder, and nobody (root included) can create a file in it.
        let error = prepare_data_dir(Path::new("/proc")).unwrap_err();
        assert!(
            matches!(error, NodeError::DataDirNotWritable { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("is not writable"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_data_dir_is_an_error_unless_root() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(data.join("root"), "").is_ok() {
            return; // root (CI) writes anyway; the /proc test covers the probe there
        }
        let error = prepare_data_dir(&data).unwrap_err();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            matches!(error, NodeError::DataDirNotWritable { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_data_dir_held_by_another_runtime_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        prepare_data_dir(&data).unwrap();
        // Another open file description locks the hold, as another process's runtime would.
        let other = File::options()
            .write(true)
            .open(data.join(STORAGE_HOLD))
            .unwrap();
        other.lock().unwrap();
        let error = prepare_data_dir(&data).unwrap_err();
        assert!(matches!(error, NodeError::DataDirInUse { .. }), "{error}");
        other.unlock().unwrap();
        prepare_data_dir(&data).unwrap();
    }
}
