//! `cohort run`: one node on commonware's tokio runtime and authenticated p2p (lookup flavour).
//!
//! Start-up checks everything that can be wrong with the machine or the files before the runtime
//! starts (config, key, cluster, both ports), so each mistake is one clear line. Then the node:
//! serves Prometheus metrics (the runtime's and ours) at `/metrics`, serves the admin API
//! ([`crate::admin`]) if the config names its (loopback) address, connects to its peers, and
//! hands the runtime context and the p2p channels to the protocol engine — the same
//! `cohort_protocol::Engine` the simulator runs — with the ledger running beside the DKG.
//!
//! SIGINT/SIGTERM stop the runtime gracefully (tasks get [`STOP_TIMEOUT`] to finish). A protocol
//! failure (for example a peer with another cluster definition) is logged and ends the process
//! with a non-zero status; a DKG that completes (or was loaded from storage) leaves the node up until it is signalled.

use crate::config::{self, ConfigError, Loaded, LogFormat};
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
    net::{SocketAddr, TcpListener},
    path::Path,
    sync::Arc,
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

/// Why a node stopped with an error.
#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create data folder {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
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

/// Installs the global log subscriber: `RUST_LOG` if set, else the config's filter.
pub fn init_logging(default_filter: &str, format: LogFormat) -> Result<(), NodeError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => {
            EnvFilter::try_new(&env).map_err(|e| NodeError::LogFilter {
                filter: env.clone(),
                reason: e.to_string(),
            })?
        }
        _ => EnvFilter::try_new(default_filter).map_err(|e| NodeError::LogFilter {
            filter: default_filter.to_string(),
            reason: e.to_string(),
        })?,
    };
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

fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).map_err(|source| NodeError::Bind { what, addr, source })
}

/// Runs the node of the config at `path` until it is signalled or fails.
pub fn run(path: &Path, format: LogFormat) -> Result<(), NodeError> {
    let loaded = config::load(path)?;
    init_logging(&loaded.config.log_level, format)?;
    // Check both ports before anything starts; the p2p one is released for the network to bind.
    let metrics_listener = bind("metrics", loaded.config.metrics)?;
    metrics_listener
        .set_nonblocking(true)
        .map_err(|source| NodeError::Bind {
            what: "metrics",
            addr: loaded.config.metrics,
            source,
        })?;
    drop(bind("p2p", loaded.config.listen)?);
    let admin_listener = match loaded.config.admin {
        Some(addr) => {
            let listener = bind("the admin API", addr)?;
            listener
                .set_nonblocking(true)
                .map_err(|source| NodeError::Bind {
                    what: "the admin API",
                    addr,
                    source,
                })?;
            Some((listener, addr))
        }
        None => None,
    };
    let data_dir = loaded.resolve(&loaded.config.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|source| NodeError::DataDir {
        path: data_dir.clone(),
        source,
    })?;

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
    admin_listener: Option<(TcpListener, SocketAddr)>,
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
    serve_metrics(
        context.child("metrics"),
        metrics_listener,
        loaded.config.metrics,
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
        NZUsize!(loaded.cluster.members().len().max(1)),
        cohort_protocol::MAX_FRAME_BYTES as u32,
        NZUsize!(1024),
    );
    // The preset's 1 s per-peer cooldown also follows a dial refused because the peer is not
    // listening yet, and two members dialling each other at once are both refused: members
    // started together then take 1 to 5 s to mesh. A fixed cluster of known members redials
    // cheaply: 100 ms cooldown, dials every 50 ms, and room for every member's handshakes from
    // one address (loopback testnets). Measured with scripts/loopback-dkg-timing.sh.
    p2p_config.peer_connection_cooldown = P2P_PEER_COOLDOWN;
    p2p_config.dial_frequency = P2P_DIAL_FREQUENCY;
    p2p_config.allowed_handshake_rate_per_ip = Quota::per_second(NZU32!(P2P_HANDSHAKES_PER_IP));
    let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
    let mut addresses: Vec<(cohort_protocol::PublicKey, Address)> = loaded
        .peers
        .iter()
        .map(|(key, addr)| (key.clone(), Address::from(*addr)))
        .collect();
    addresses.push((me.clone(), Address::from(loaded.config.listen)));
    let addresses = Map::try_from(addresses).expect("members are unique");
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
            ledger: Some(ledger::Settings::default()),
        },
    );
    if let Some((listener, addr)) = admin_listener {
        crate::admin::serve(
            listener,
            addr,
            name.clone(),
            engine.ledger().expect("the ledger is configured"),
            keys,
        );
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

/// Serves `GET /metrics` (every metric of the runtime, p2p and protocol) on `listener`.
fn serve_metrics(context: tokio::Context, listener: TcpListener, addr: SocketAddr) {
    context.spawn(move |context| async move {
        let listener = match ::tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                error!(%addr, error = %e, "metrics listener unusable");
                return;
            }
        };
        let context = Arc::new(context);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let context = context.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        context.encode(),
                    )
                }
            }),
        );
        info!(%addr, "serving metrics at /metrics");
        if let Err(e) = axum::serve(listener, app).await {
            error!(%addr, error = %e, "metrics server stopped");
        }
    });
}
