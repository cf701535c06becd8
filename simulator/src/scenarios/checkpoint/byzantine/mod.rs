//! Byzantine members of `checkpoint-byzantine`: one file per misbehaviour. A checkpoint liar is
//! a member whose DKG and ledger run honestly (so it holds a real share and real views) but
//! whose checkpoint protocol is played by the liar instead of the checkpoint actor (a
//! [`Sidecar`] on the member's checkpoint channel, started again on each of its lives):
//!
//! - [`repeater`]: votes honestly but sends each vote two to five times;
//! - [`conflicter`]: sends two different votes on each proposal;
//! - [`forger`]: sends forged approvals: partials over another digest or namespace, partials
//!   relabelled with another voter's index, votes naming another voter, undecodable frames;
//! - [`inflater`]: proposes about itself with an inflated uptime, alternately outside and
//!   within the tolerance, and appends what gets certified;
//! - [`impostor`]: proposes checkpoints about other members;
//! - [`outsider`]: not a member at all (a key on the network, outside the cluster), it sends
//!   votes and proposals to every member.
//!
//! Each reports what it did ([`LiarReport`]) for the scenario's invariants; everything it draws
//! comes from a ChaCha RNG seeded from the plan (and the life), so runs replay.

pub mod conflicter;
pub mod forger;
pub mod impostor;
pub mod inflater;
pub mod liar;
pub mod outsider;
pub mod repeater;

pub use liar::{Liar, LiarReport};

use crate::world::{Sidecar, SimDuplex};
use cohort_protocol::{PublicKey, checkpoint::Settings, dkg::Keys, ledger::Mailbox};
use commonware_cryptography::ed25519;
use commonware_runtime::{Spawner as _, deterministic};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

/// What the checkpoint liar does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CheckpointMisbehaviour {
    Repeat,
    Conflict,
    Forge,
    Inflate,
    Impersonate,
    Outsider,
}

impl CheckpointMisbehaviour {
    pub const ALL: [CheckpointMisbehaviour; 6] = [
        CheckpointMisbehaviour::Repeat,
        CheckpointMisbehaviour::Conflict,
        CheckpointMisbehaviour::Forge,
        CheckpointMisbehaviour::Inflate,
        CheckpointMisbehaviour::Impersonate,
        CheckpointMisbehaviour::Outsider,
    ];

    /// Runs the misbehaviour as `liar`.
    pub async fn run(self, context: deterministic::Context, liar: Liar) {
        match self {
            CheckpointMisbehaviour::Repeat => repeater::run(context, liar).await,
            CheckpointMisbehaviour::Conflict => conflicter::run(context, liar).await,
            CheckpointMisbehaviour::Forge => forger::run(context, liar).await,
            CheckpointMisbehaviour::Inflate => inflater::run(context, liar).await,
            CheckpointMisbehaviour::Impersonate => impostor::run(context, liar).await,
            CheckpointMisbehaviour::Outsider => outsider::run(context, liar).await,
        }
    }

    /// Whether what it sends proves it hostile, so that honest members block it.
    pub fn is_hostile(self) -> bool {
        !matches!(
            self,
            CheckpointMisbehaviour::Repeat | CheckpointMisbehaviour::Inflate
        )
    }

    /// Whether it sends to every member unprompted (so every honest member must block it), not
    /// only in answer to a subject's proposal.
    pub fn reaches_everyone(self) -> bool {
        matches!(
            self,
            CheckpointMisbehaviour::Impersonate | CheckpointMisbehaviour::Outsider
        )
    }
}

/// The checkpoint liar of a plan. An outsider's `node` is the index after the last member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLiar {
    pub node: usize,
    pub misbehaviour: CheckpointMisbehaviour,
    /// Seed of everything it draws.
    pub seed: u64,
}

/// A member's liar as the sidecar of its lives.
pub struct LiarSidecar {
    pub misbehaviour: CheckpointMisbehaviour,
    pub seed: u64,
    pub key: ed25519::PrivateKey,
    pub members: Vec<PublicKey>,
    pub settings: Settings,
    pub report: Arc<Mutex<LiarReport>>,
    lives: AtomicU64,
}

impl LiarSidecar {
    pub fn new(
        liar: &CheckpointLiar,
        key: ed25519::PrivateKey,
        members: Vec<PublicKey>,
        settings: Settings,
        report: Arc<Mutex<LiarReport>>,
    ) -> Self {
        Self {
            misbehaviour: liar.misbehaviour,
            seed: liar.seed,
            key,
            members,
            settings,
            report,
            lives: AtomicU64::new(0),
        }
    }
}

impl Sidecar for LiarSidecar {
    fn start(
        &self,
        context: deterministic::Context,
        channel: SimDuplex,
        keys: Keys,
        ledger: Mailbox,
    ) -> commonware_runtime::Handle<()> {
        let life = self.lives.fetch_add(1, Ordering::Relaxed);
        let liar = Liar {
            key: self.key.clone(),
            members: self.members.clone(),
            channel,
            keys: Some(keys),
            ledger: Some(ledger),
            settings: self.settings,
            rng: ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(life)),
            report: self.report.clone(),
        };
        let misbehaviour = self.misbehaviour;
        context.spawn(move |context| misbehaviour.run(context, liar))
    }
}
