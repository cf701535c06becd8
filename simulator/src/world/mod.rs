//! The world a scenario runs in, whatever its protocol family: the identities and cluster of a
//! run ([`mod@cluster`]), the simulated network with its drawn links, partition cuts and heal
//! on either transport ([`mod@network`]; the lean one is [`lean`]), each node's transport blocks, which expire as a production node's do
//! ([`blocker`]), and each node's lives across its crashes ([`life`]: [`spawn_all`] starts every
//! node, [`run_all`] also waits for their engines), and a node's own, skewed clock ([`skew`]).

pub mod blocker;
pub mod cluster;
pub mod disk;
pub mod lean;
pub mod life;
pub mod network;
pub mod skew;

pub use blocker::ExpiringBlocker;
pub use cluster::{cluster, identities, misconfigured, quorum, with_committees};
pub use life::{Life, QUOTA_PER_SECOND, Role, Sidecar, Spawned, micros, run_all, spawn_all};
pub use network::{
    MAX_FRAME, Net, NetRegistrar, NodeNet, SimDuplex, SimReceiver, SimSender, Transport, cut,
    network,
};
