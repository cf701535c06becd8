//! The engine: starts every actor of one node from a runtime context, p2p channels, an identity
//! key, a cluster definition and a storage partition prefix.
//!
//! The simulator and the production node both call [`Engine::start`]; nothing protocol-specific
//! lives outside this crate.
//!
//! The node's ceremony is its [`Task`]: the epoch 0 DKG ([`Task::Dkg`], what the production node
//! runs; see [`crate::dkg::actor`]), a *barrier walk* ([`Task::Walk`], a test of the barrier
//! alone: move through steps `1..=steps` together), or none ([`Task::Serve`]). A ceremony ends
//! with the cluster-wide shutdown handshake.
//!
//! When the config asks for a ledger ([`Config::ledger`]), the ledger actor
//! ([`crate::ledger::actor`]) runs beside the ceremony from the start, as a child of the engine's
//! task (a crash stops both), and the engine keeps serving it after the ceremony: its handle then
//! resolves only if the ledger stops (a storage error). Its mailbox is [`Engine::ledger`]. After the handshake the node keeps answering its peers for [`LINGER_PERIODS`] sync
//! periods, so a peer whose acknowledgement was lost still gets a repeat before we go quiet.
//!
//! Crash safety: each step is recorded durably before it is announced, and completion (all
//! members at the last step) is recorded before the shutdown handshake. A restarted node resumes
//! the walk at its recorded step (the barrier then accepts peers around that step). One that had
//! completed only rejoins the shutdown handshake (its peers may be waiting for its announcement
//! or acknowledgement), bounded by the shutdown timeout. Once every member reached the last step
//! the walk is complete; a shutdown handshake that cannot finish after that (peers crashed or
//! left) is reported as [`Event::ShutdownIncomplete`] rather than failing the completed walk,
//! and the node then stays reachable for a whole phase timeout so a restarting peer can finish.
//!
//! Connecting a walk has no overall deadline: a node started before its peers waits for them,
//! reporting the members still missing (an [`Event::WaitingForPeers`]) every phase timeout. (The
//! DKG connects in the deal gate of each attempt instead, bounded by the phase timeout, and
//! retries a failed attempt; see [`crate::dkg::actor`].) Each single wait
//! is still bounded, and any barrier error (a refused hello, a broken rule) ends the wait at once.
//! The steps after connecting each have the phase timeout as their deadline.
//!
//! When the walk fails (a peer refused us, broke the rules, or never came), the engine returns the
//! error only after keeping the barrier up for one phase timeout: members that have not yet met
//! the faulty peer (they may start later, or connect slowly) keep receiving its hellos and our
//! refusals meanwhile, so every member can name the culprit rather than wait for a node that went
//! silent.

use crate::{
    barrier::{self, BarrierError},
    cluster::{Cluster, PublicKey},
    dkg, ledger,
    trace::{Event, Tracer},
};
use cohort_storage::meta::NodeMeta;
use commonware_cryptography::ed25519;
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use rand_core::CryptoRng;
use thiserror::Error;

/// Sync periods a node keeps answering after its shutdown handshake.
pub const LINGER_PERIODS: u32 = 10;

/// Unanswered hellos after which a peer is reported unresponsive.
pub const UNRESPONSIVE_AFTER: u32 = 8;

/// Capacity of each actor's mailbox.
pub const MAILBOX_SIZE: usize = 1024;

/// p2p channel of the step barrier.
pub const BARRIER_CHANNEL: u64 = 0;

/// p2p channel of the DKG.
pub const DKG_CHANNEL: u64 = 1;

/// p2p channel of ledger gossip (new ops, digest exchange).
pub const GOSSIP_CHANNEL: u64 = 2;

/// p2p channel of backfill (requests and pages).
pub const BACKFILL_CHANNEL: u64 = 3;

/// What the engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The epoch 0 DKG.
    Dkg,
    /// A barrier walk through steps `1..=steps` (exercises the barrier alone).
    Walk { steps: u64 },
    /// No ceremony: the node only serves its other actors (the ledger).
    Serve,
}

/// Configuration of one node.
#[derive(Clone)]
pub struct Config<T: Tracer> {
    /// The node's identity key.
    pub identity: ed25519::PrivateKey,
    /// The cluster definition.
    pub cluster: Cluster,
    /// Prefix of every storage partition of this node.
    pub partition_prefix: String,
    /// Where protocol events go.
    pub tracer: T,
    /// What to run.
    pub task: Task,
    /// Where the DKG result is published (for other actors).
    pub keys: dkg::Keys,
    /// Rewrites what the DKG sends: the simulator's byzantine members only (`None` otherwise).
    pub tamper: Option<std::sync::Arc<dyn dkg::actor::Tamper>>,
    /// Runs the ledger with these settings (`None`: no ledger). With a ledger, the engine keeps
    /// serving after its ceremony until the ledger stops (it only stops on a fatal error).
    pub ledger: Option<ledger::actor::Settings>,
}

/// The p2p channels the engine needs, one per protocol.
pub struct Channels<S, R> {
    /// The barrier's channel ([`BARRIER_CHANNEL`]).
    pub barrier: (S, R),
    /// The DKG's channel ([`DKG_CHANNEL`]).
    pub dkg: (S, R),
    /// The ledger's gossip ([`GOSSIP_CHANNEL`]) and backfill ([`BACKFILL_CHANNEL`]) channels,
    /// required when the config asks for a ledger.
    pub ledger: Option<((S, R), (S, R))>,
}

/// How a node's run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// This start's boot number.
    pub boot: u64,
    /// Barrier steps walked (the last step reached).
    pub steps: u64,
    /// The DKG result ([`Task::Dkg`]).
    pub dkg: Option<dkg::Completed>,
}

/// Why a node's run failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The barrier failed (a peer refused, broke the rules, or did not arrive in time).
    #[error("barrier: {0}")]
    Barrier(#[from] BarrierError),
    /// The DKG failed.
    #[error("dkg: {0}")]
    Dkg(#[from] dkg::actor::Error),
    /// Storage failed: fatal for the node, which recovers on restart.
    #[error("storage: {0}")]
    Storage(#[from] cohort_storage::Error),
    /// The ledger stopped (a storage error, or its channels closed).
    #[error("ledger: {0}")]
    Ledger(#[from] ledger::actor::Error),
    /// The config asks for a ledger but no ledger channels were given.
    #[error("a ledger was configured without its channels")]
    MissingLedgerChannels,
    /// The identity key is not a member of the cluster.
    #[error("identity {0} is not a member of the cluster")]
    NotMember(PublicKey),
}

impl EngineError {
    /// The peer the failure names, if any.
    pub fn peer(&self) -> Option<&PublicKey> {
        match self {
            EngineError::Barrier(error) => error.peer(),
            EngineError::Dkg(error) => error.peer(),
            _ => None,
        }
    }
}

/// One node's protocol engine.
pub struct Engine<E, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    ledger: Option<(ledger::actor::Mailbox, ledger::actor::Inbox)>,
}

impl<E, T> Engine<E, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    /// Prepares an engine; nothing runs until [`Engine::start`].
    pub fn new(context: E, cfg: Config<T>) -> Self {
        let ledger = cfg
            .ledger
            .is_some()
            .then(|| ledger::actor::mailbox(MAILBOX_SIZE));
        Self {
            context,
            cfg,
            ledger,
        }
    }

    /// The ledger's mailbox (when the config asks for a ledger). Requests sent before the ledger
    /// runs wait in it.
    pub fn ledger(&self) -> Option<ledger::actor::Mailbox> {
        self.ledger.as_ref().map(|(mailbox, _)| mailbox.clone())
    }

    /// Starts every actor and the node's ceremony; the handle resolves when the ceremony ends.
    pub fn start<S, R, B>(
        self,
        channels: Channels<S, R>,
        blocker: B,
    ) -> Handle<Result<Outcome, EngineError>>
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey> + Clone,
    {
        let Self {
            context,
            cfg,
            ledger,
        } = self;
        context.spawn(move |context| async move {
            let me = commonware_cryptography::Signer::public_key(&cfg.identity);
            if !cfg.cluster.is_member(&me) {
                return Err(EngineError::NotMember(me));
            }
            let (meta, boot) =
                NodeMeta::open_and_boot(context.child("meta"), &cfg.partition_prefix).await?;
            cfg.tracer.record(Event::Boot { boot });
            let resume_step = match cfg.task {
                Task::Walk { steps } => meta.barrier_step().min(steps),
                Task::Dkg => meta.barrier_step(),
                Task::Serve => 0,
            };
            let max_step = match cfg.task {
                Task::Walk { steps } => steps,
                Task::Dkg => dkg::actor::MAX_STEP,
                Task::Serve => 0,
            };
            // The ledger runs beside the ceremony, as a child of this task: it stops when the
            // engine does (a crash aborts both).
            let mut ledger = match (ledger, cfg.ledger, channels.ledger) {
                (Some((_, inbox)), Some(settings), Some((gossip, backfill))) => {
                    let ledger_cfg = ledger::actor::Config {
                        signer: cfg.identity.clone(),
                        cluster: cfg.cluster.clone(),
                        partition_prefix: cfg.partition_prefix.clone(),
                        tracer: cfg.tracer.clone(),
                        boot,
                        settings,
                    };
                    let blocker = blocker.clone();
                    Some(context.child("ledger").spawn(move |context| async move {
                        ledger::actor::Actor::open(
                            context, ledger_cfg, inbox, gossip, backfill, blocker,
                        )
                        .await?
                        .run()
                        .await
                    }))
                }
                (None, None, _) => None,
                _ => return Err(EngineError::MissingLedgerChannels),
            };

            let (actor, mailbox) = barrier::Actor::new(
                context.child("barrier"),
                barrier::Config {
                    signer: cfg.identity.clone(),
                    cluster: cfg.cluster.clone(),
                    max_step,
                    resume_step,
                    block: match cfg.task {
                        Task::Walk { .. } | Task::Serve => 0,
                        Task::Dkg => dkg::actor::PHASES,
                    },
                    unresponsive_after: UNRESPONSIVE_AFTER,
                    mailbox_size: MAILBOX_SIZE,
                    tracer: cfg.tracer.clone(),
                },
            );
            let (sender, receiver) = channels.barrier;
            let _barrier = actor.start(sender, receiver, blocker.clone());

            let timing = *cfg.cluster.timing();
            let tracer = cfg.tracer.clone();
            // The ceremony owns a mailbox clone; ours keeps the barrier alive for the linger
            // after it.
            let mut ceremony_mailbox = mailbox.clone();
            let ceremony = async {
                let mailbox = &mut ceremony_mailbox;
                match cfg.task {
                    Task::Walk { steps } => {
                        walk(mailbox, meta, resume_step, steps, &timing, &tracer)
                            .await
                            .map(|handshake| (handshake, None))
                    }
                    Task::Serve => Ok((true, None)),
                    Task::Dkg => {
                        let dkg = dkg::Actor::open(
                            context.child("dkg"),
                            dkg::actor::Config {
                                signer: cfg.identity.clone(),
                                cluster: cfg.cluster.clone(),
                                partition_prefix: cfg.partition_prefix.clone(),
                                tracer: tracer.clone(),
                                keys: cfg.keys.clone(),
                                tamper: cfg.tamper.clone(),
                            },
                            channels.dkg,
                            blocker,
                        )
                        .await?;
                        // Connecting is the deal gate of each attempt (bounded by the phase
                        // timeout; an attempt whose members are not all there is retried).
                        let (completed, meta) = dkg.run(mailbox, meta).await?;
                        let _meta = meta.record_done().await?;
                        let handshake = shutdown_handshake(mailbox, &timing, &tracer).await;
                        Ok((handshake, Some(completed)))
                    }
                }
            };
            match ceremony.await {
                Ok((handshake_complete, completed)) => {
                    let steps = match (&cfg.task, &completed) {
                        (Task::Walk { steps }, _) => *steps,
                        (Task::Dkg, Some(c)) => dkg::actor::step_of(c.round, dkg::Phase::Done),
                        (Task::Dkg, None) | (Task::Serve, _) => 0,
                    };
                    if let Task::Walk { steps } = cfg.task {
                        cfg.tracer.record(Event::WalkComplete { steps });
                    }
                    if let Some(ledger) = ledger.as_mut() {
                        // Serve until the ledger stops.
                        return match ledger.await {
                            Ok(Ok(())) => Ok(Outcome {
                                boot,
                                steps,
                                dkg: completed,
                            }),
                            Ok(Err(error)) => Err(EngineError::Ledger(error)),
                            Err(_) => Err(EngineError::Ledger(ledger::actor::Error::Closed)),
                        };
                    }
                    // A peer that missed the handshake may be restarting: stay reachable for a
                    // whole phase so it can still finish; otherwise a short linger suffices.
                    let linger = if handshake_complete {
                        timing.sync_period.saturating_mul(LINGER_PERIODS)
                    } else {
                        timing.phase_timeout
                    };
                    context.sleep(linger).await;
                    Ok(Outcome {
                        boot,
                        steps,
                        dkg: completed,
                    })
                }
                Err(error) => {
                    if let EngineError::Dkg(error) = &error {
                        cfg.tracer.record(Event::DkgFailed {
                            error: error.to_string(),
                        });
                    }
                    context.sleep(timing.phase_timeout).await;
                    Err(error)
                }
            }
        })
    }
}

/// Waits until every member is connected. There is no overall deadline: a node started before
/// its peers waits for them, reporting the members still missing every phase timeout. Any
/// barrier error (a refused hello, a broken rule) ends the wait at once.
async fn connect<T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    timing: &crate::cluster::Timing,
    tracer: &T,
) -> Result<(), EngineError> {
    loop {
        match mailbox.await_all_connected(timing.phase_timeout).await {
            Ok(()) => return Ok(()),
            Err(BarrierError::Timeout { missing, .. }) => {
                tracer.record(Event::WaitingForPeers { missing })
            }
            Err(error) => return Err(EngineError::from(error)),
        }
    }
}

/// The barrier walk: steps `resume_step.max(1)..=steps`, each recorded before it is announced,
/// then completion recorded, then the shutdown handshake (whose result it returns). A node that
/// had completed before this start only rejoins the handshake.
async fn walk<E: cohort_storage::Context, T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    mut meta: NodeMeta<E>,
    resume_step: u64,
    steps: u64,
    timing: &crate::cluster::Timing,
    tracer: &T,
) -> Result<bool, EngineError> {
    if meta.done() {
        // Completed before this restart. Peers still in the shutdown handshake may be waiting
        // for our announcement or acknowledgement: rejoin it at once (peers that already left
        // cannot be waited for).
        return Ok(shutdown_handshake(mailbox, timing, tracer).await);
    }
    connect(mailbox, timing, tracer).await?;
    for step in resume_step.max(1)..=steps {
        if step > meta.barrier_step() {
            meta = meta.record_barrier_step(step).await?;
        }
        mailbox.set_step(step).await?;
        mailbox
            .await_all_at_step(step, timing.phase_timeout)
            .await?;
    }
    let _meta = meta.record_done().await?;
    // Every member reached the last step: the walk is complete, whatever happens to the
    // handshake that follows.
    Ok(shutdown_handshake(mailbox, timing, tracer).await)
}

/// Announces shutdown and waits (bounded) for every peer's acknowledgement and announcement.
/// Returns whether it completed; when it cannot (peers crashed or left), that is reported as
/// [`Event::ShutdownIncomplete`] rather than failing the ceremony that preceded it.
async fn shutdown_handshake<T: Tracer>(
    mailbox: &mut barrier::Mailbox,
    timing: &crate::cluster::Timing,
    tracer: &T,
) -> bool {
    let handshake = async {
        mailbox.shutdown(timing.shutdown_timeout).await?;
        mailbox.await_all_shutdown(timing.shutdown_timeout).await
    };
    match handshake.await {
        Ok(()) => true,
        Err(error) => {
            tracer.record(Event::ShutdownIncomplete {
                error: error.to_string(),
            });
            false
        }
    }
}
