//! The engine: starts every actor of one node from a runtime context, p2p channels, an identity
//! key, a cluster definition and a storage partition prefix.
//!
//! The simulator and the production node both call [`Engine::start`]; nothing protocol-specific
//! lives outside this crate.
//!
//! The node's ceremony is its [`Task`]: the epoch 0 DKG ([`Task::Dkg`], what the production node
//! runs; see [`crate::dkg`]), a *barrier walk* ([`Task::Walk`], a test of the barrier
//! alone: move through steps `1..=steps` together), or none ([`Task::Serve`]). A ceremony ends
//! with the cluster-wide shutdown handshake.
//!
//! When the config asks for a ledger ([`Config::ledger`]), the ledger actor
//! ([`crate::ledger`]) runs beside the ceremony from the start, as a child of the engine's
//! task (a crash stops both), and the engine keeps serving it after the ceremony: its handle then
//! resolves only if the ledger stops (a storage error). Its mailbox is [`Engine::ledger`]. When
//! the ledger's settings ask for checkpoints, the checkpoint actor ([`crate::checkpoint`]) runs
//! beside it from the start too (it proposes and votes once the DKG published this node's
//! share); its mailbox is [`Engine::checkpoints`]. When they ask for governance, the governance
//! actor ([`crate::governance`]) runs beside it too (it proposes, votes on and certifies
//! committees); its mailbox is [`Engine::governance`].
//!
//! With governance on, the DKG ceremony does not end with the shutdown handshake: the engine
//! runs the reshares the ledger's certified committees call for, for as long as the node runs
//! (see `reshare.rs`).
//!
//! After the handshake the node keeps answering its peers for [`LINGER_PERIODS`] sync
//! periods, so a peer whose acknowledgement was lost still gets a repeat before we go quiet.
//!
//! The walk and the shutdown handshake, and their crash-safety rules, are in [`walk`]'s docs.
//! A shutdown handshake that cannot finish (peers crashed or left) is reported as
//! [`Event::ShutdownIncomplete`], and the node then stays reachable for a whole phase timeout so
//! a restarting peer can finish. (The DKG connects in the deal gate of each attempt, bounded by
//! the phase timeout, and retries a failed attempt; see `dkg::actor`.)
//!
//! When the walk fails (a peer refused us, broke the rules, or never came), the engine returns the
//! error only after keeping the barrier up for one phase timeout: members that have not yet met
//! the faulty peer (they may start later, or connect slowly) keep receiving its hellos and our
//! refusals meanwhile, so every member can name the culprit rather than wait for a node that went
//! silent.

mod error;
mod join;
mod reshare;
mod task;
mod walk;

pub use error::EngineError;
pub use task::Task;

use crate::{
    barrier,
    channels::{Channels, Duplex, LedgerChannels},
    checkpoint,
    cluster::{Cluster, PublicKey},
    dkg, governance, ledger,
    trace::{Event, Tracer},
};
use cohort_storage::meta::NodeMeta;
use commonware_cryptography::ed25519;
use commonware_macros::select;
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use rand_core::CryptoRng;

/// Sync periods a node keeps answering after its shutdown handshake.
pub const LINGER_PERIODS: u32 = 10;

/// Unanswered hellos after which a peer is reported unresponsive.
pub const UNRESPONSIVE_AFTER: u32 = 8;

/// Capacity of each actor's mailbox, in requests.
pub const MAILBOX_SIZE: usize = 1024;

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
    /// Runs the ledger with these settings (`None`: no ledger). With a ledger, the engine keeps
    /// serving after its ceremony until the ledger stops (it only stops on a fatal error).
    pub ledger: Option<ledger::Settings>,
    /// How long the barrier holds a peer's recorded fault (`None`: for the engine's life); see
    /// [`barrier::state::Config::fault_expiry`]. A node gives its transport the same block
    /// duration, so a repaired peer rejoins without the others restarting.
    pub block_expiry: Option<std::time::Duration>,
    /// How signatures are checked and DKG frames decoded ([`crate::verify`]): a node's is
    /// direct; the simulator may share a memo between the nodes of a run.
    pub verifier: crate::verify::Verifier,
}

/// How long a block a protocol rule imposes lasts unless configured: the barrier's recorded
/// fault and, in a node, the transport's block ([`Config::block_expiry`]).
pub const DEFAULT_BLOCK_EXPIRY: std::time::Duration = std::time::Duration::from_secs(600);

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

/// One node's protocol engine.
pub struct Engine<E, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    context: E,
    cfg: Config<T>,
    ledger: Option<(ledger::Mailbox, ledger::Inbox)>,
    checkpoints: Option<(checkpoint::Mailbox, checkpoint::Inbox)>,
    governance: Option<(governance::Mailbox, governance::Inbox)>,
    #[cfg(feature = "sim")]
    tamper: Option<std::sync::Arc<dyn dkg::Tamper>>,
}

impl<E, T> Engine<E, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
{
    /// Prepares an engine; nothing runs until [`Engine::start`].
    pub fn new(context: E, cfg: Config<T>) -> Self {
        let ledger = cfg.ledger.is_some().then(|| ledger::mailbox(MAILBOX_SIZE));
        let checkpoints = cfg
            .ledger
            .and_then(|l| l.checkpoint)
            .map(|_| checkpoint::mailbox(MAILBOX_SIZE));
        let governance = cfg
            .ledger
            .and_then(|l| l.governance)
            .map(|_| governance::mailbox(MAILBOX_SIZE));
        Self {
            context,
            cfg,
            ledger,
            checkpoints,
            governance,
            #[cfg(feature = "sim")]
            tamper: None,
        }
    }

    /// Rewrites what the DKG sends (the simulator's byzantine members; `sim` feature only).
    #[cfg(feature = "sim")]
    pub fn with_tamper(mut self, tamper: Option<std::sync::Arc<dyn dkg::Tamper>>) -> Self {
        self.tamper = tamper;
        self
    }

    /// The ledger's mailbox (when the config asks for a ledger). Requests sent before the ledger
    /// runs wait in it.
    pub fn ledger(&self) -> Option<ledger::Mailbox> {
        self.ledger.as_ref().map(|(mailbox, _)| mailbox.clone())
    }

    /// The checkpoint actor's mailbox (when the ledger's settings ask for checkpoints).
    pub fn checkpoints(&self) -> Option<checkpoint::Mailbox> {
        self.checkpoints
            .as_ref()
            .map(|(mailbox, _)| mailbox.clone())
    }

    /// The governance actor's mailbox (when the ledger's settings ask for governance).
    pub fn governance(&self) -> Option<governance::Mailbox> {
        self.governance.as_ref().map(|(mailbox, _)| mailbox.clone())
    }

    /// Starts every actor and the node's ceremony; the handle resolves when the ceremony ends
    /// (with a ledger: when the ledger stops).
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
            checkpoints,
            governance,
            #[cfg(feature = "sim")]
            tamper,
        } = self;
        let node = Node {
            cfg,
            inbox: ledger,
            checkpoint_inbox: checkpoints.map(|(_, inbox)| inbox),
            governance_inbox: governance.map(|(_, inbox)| inbox),
            ledger_mailbox: None,
            #[cfg(feature = "sim")]
            tamper,
        };
        context.spawn(move |context| node.run(context, channels, blocker))
    }
}

impl<T: Tracer> Node<T> {
    /// The governance settings, when the ledger runs governance.
    fn governance_settings(&self) -> Option<crate::committee::Settings> {
        self.cfg.ledger.and_then(|l| l.governance)
    }
}

/// How a ceremony ended: whether its shutdown handshake completed, the DKG result, and the
/// reshare loop that follows the committee chain (with governance).
type Ceremonied = (
    bool,
    Option<dkg::Completed>,
    Option<Handle<Result<(), EngineError>>>,
);

/// One start of a node, inside the engine's task.
struct Node<T: Tracer> {
    cfg: Config<T>,
    inbox: Option<(ledger::Mailbox, ledger::Inbox)>,
    checkpoint_inbox: Option<checkpoint::Inbox>,
    governance_inbox: Option<governance::Inbox>,
    /// The ledger's mailbox, once the ledger runs (the reshare loop reads the chain from it).
    ledger_mailbox: Option<ledger::Mailbox>,
    #[cfg(feature = "sim")]
    tamper: Option<std::sync::Arc<dyn dkg::Tamper>>,
}

impl<T: Tracer> Node<T> {
    async fn run<E, S, R, B>(
        mut self,
        context: E,
        channels: Channels<S, R>,
        blocker: B,
    ) -> Result<Outcome, EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey> + Clone,
    {
        let me = commonware_cryptography::Signer::public_key(&self.cfg.identity);
        // A key outside the genesis definition may join when governance can admit it (see
        // `join`); otherwise it has nothing to do here.
        if !self.cfg.cluster.is_member(&me)
            && (self.governance_settings().is_none() || self.cfg.task != Task::Dkg)
        {
            return Err(EngineError::NotMember(me));
        }
        let (meta, boot) =
            NodeMeta::open_and_boot(context.child("meta"), &self.cfg.partition_prefix).await?;
        self.cfg.tracer.record(Event::Boot { boot });
        let mut resume_step = self.cfg.task.resume_step(meta.barrier_step());
        if self.cfg.task == Task::Dkg {
            // The metadata may be lost while the DKG journal is not: the journal's last output
            // proves the node finished that round, so the barrier starts no lower than its done
            // step (it may not have announced it yet: a step ahead is always allowed in the
            // DKG's quorum mode). Below what peers saw of it, they answer `Behind`.
            let journal = dkg::stored_rounds(
                context.child("journal_probe"),
                &self.cfg.partition_prefix,
                &self.cfg.identity,
            )
            .await?
            .iter()
            .rev()
            .find(|(_, stored)| stored.output)
            .map_or(0, |(round, _)| dkg::step_of(*round, dkg::Phase::Done));
            if journal > resume_step {
                self.cfg.tracer.record(Event::MetaBehindJournal {
                    recorded: resume_step,
                    journal,
                });
                resume_step = journal;
            }
        }
        let Channels {
            barrier,
            dkg,
            ledger,
        } = channels;
        let mut ledger = self.spawn_ledger(&context, boot, ledger, blocker.clone())?;
        let (mailbox, _barrier) =
            self.start_barrier(&context, resume_step, barrier, blocker.clone());
        // The ceremony owns a mailbox clone; ours keeps the barrier alive for the linger after
        // it.
        let mut ceremony_mailbox = mailbox.clone();
        let ceremony = self.ceremony(
            &context,
            &mut ceremony_mailbox,
            meta,
            resume_step,
            dkg,
            blocker,
        );
        // A ledger that stops during the ceremony (its store cannot be opened, a storage
        // error) stops the engine at once, with its error: a node never runs on without it.
        let result = match ledger.as_mut() {
            Some(handle) => select! {
                result = ceremony => result,
                stopped = handle => {
                    return Err(EngineError::Ledger(match stopped {
                        Ok(Err(error)) => error,
                        Ok(Ok(())) | Err(_) => ledger::Error::Closed,
                    }));
                },
            },
            None => ceremony.await,
        };
        self.finish(&context, result, boot, ledger).await
    }

    /// The ledger runs beside the ceremony, as a child of the engine's task: it stops when the
    /// engine does (a crash aborts both).
    fn spawn_ledger<E, S, R, B>(
        &mut self,
        context: &E,
        boot: u64,
        channels: Option<LedgerChannels<S, R>>,
        blocker: B,
    ) -> Result<Option<Handle<Result<(), ledger::Error>>>, EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        let (settings, channels, (mailbox, inbox)) =
            match (self.cfg.ledger, channels, self.inbox.take()) {
                (Some(settings), Some(channels), Some(inbox)) => (settings, channels, inbox),
                (None, _, None) => return Ok(None),
                _ => return Err(EngineError::MissingLedgerChannels),
            };
        let LedgerChannels {
            gossip,
            backfill,
            checkpoint: checkpoint_channel,
        } = channels;
        self.ledger_mailbox = Some(mailbox.clone());
        let settings_governance_on = settings.governance.is_some();
        if let (Some(settings), Some(inbox)) = (settings.checkpoint, self.checkpoint_inbox.take()) {
            let cfg = checkpoint::Config {
                signer: self.cfg.identity.clone(),
                cluster: self.cfg.cluster.clone(),
                tracer: self.cfg.tracer.clone(),
                settings,
                keys: self.cfg.keys.clone(),
                ledger: mailbox.clone(),
                follow_chain: settings_governance_on,
            };
            let blocker = blocker.clone();
            context
                .child("checkpoint")
                .spawn(move |context| async move {
                    // It stops when the ledger does (the ledger's error is the engine's to report).
                    let _ =
                        checkpoint::Actor::new(context, cfg, inbox, checkpoint_channel, blocker)
                            .run()
                            .await;
                });
        }
        if let (Some(settings), Some(inbox)) = (settings.governance, self.governance_inbox.take()) {
            let cfg = governance::Config {
                signer: self.cfg.identity.clone(),
                tracer: self.cfg.tracer.clone(),
                settings,
                keys: self.cfg.keys.clone(),
                ledger: mailbox.clone(),
            };
            context
                .child("governance")
                .spawn(move |context| async move {
                    // It stops when the ledger does (the ledger's error is the engine's to report).
                    let _ = governance::Actor::new(context, cfg, inbox).run().await;
                });
        }
        let ledger_cfg = ledger::Config {
            signer: self.cfg.identity.clone(),
            cluster: self.cfg.cluster.clone(),
            partition_prefix: self.cfg.partition_prefix.clone(),
            tracer: self.cfg.tracer.clone(),
            boot,
            settings,
            keys: Some(self.cfg.keys.clone()),
            verifier: self.cfg.verifier.clone(),
        };
        Ok(Some(context.child("ledger").spawn(
            move |context| async move {
                ledger::Actor::open(context, ledger_cfg, inbox, gossip, backfill, blocker)
                    .await?
                    .run()
                    .await
            },
        )))
    }

    /// Starts the barrier actor at `resume_step`; returns its mailbox and its handle.
    fn start_barrier<E, S, R, B>(
        &self,
        context: &E,
        resume_step: u64,
        channel: Duplex<S, R>,
        blocker: B,
    ) -> (barrier::Mailbox, Handle<()>)
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        let task = self.cfg.task;
        let (actor, mailbox) = barrier::Actor::new(
            context.child("barrier"),
            barrier::Config {
                signer: self.cfg.identity.clone(),
                cluster: self.cfg.cluster.clone(),
                max_step: task.max_step(),
                resume_step,
                block: task.block(),
                quorum_mode: task == Task::Dkg,
                catch_up: self.governance_settings().is_some(),
                fault_expiry: self.cfg.block_expiry,
                verifier: self.cfg.verifier.clone(),
                unresponsive_after: UNRESPONSIVE_AFTER,
                mailbox_size: MAILBOX_SIZE,
                tracer: self.cfg.tracer.clone(),
            },
        );
        let handle = actor.start(channel.sender, channel.receiver, blocker);
        (mailbox, handle)
    }

    /// Runs the task's ceremony; returns whether its shutdown handshake completed, and the DKG
    /// result.
    async fn ceremony<E, S, R, B>(
        &self,
        context: &E,
        mailbox: &mut barrier::Mailbox,
        mut meta: NodeMeta<E>,
        resume_step: u64,
        channel: Duplex<S, R>,
        blocker: B,
    ) -> Result<Ceremonied, EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey> + Clone,
    {
        let timing = *self.cfg.cluster.timing();
        let tracer = &self.cfg.tracer;
        match self.cfg.task {
            Task::Walk { steps } => walk::walk(mailbox, meta, resume_step, steps, &timing, tracer)
                .await
                .map(|handshake| (handshake, None, None)),
            Task::Serve => Ok((true, None, None)),
            Task::Dkg => {
                let governance = self.governance_settings();
                let me = commonware_cryptography::Signer::public_key(&self.cfg.identity);
                let joiner = !self.cfg.cluster.is_member(&me);
                // With governance, the definition is the chain's (a restarted node may hold
                // rounds of certified epochs in its journal): the genesis one extended with the
                // committees its ledger certified. A joiner first waits for its chain to list
                // it (see `join`). The barrier admits the chain's members.
                let (cluster, chain) = match (governance, self.ledger_mailbox.clone()) {
                    (Some(settings), Some(mut ledger)) => {
                        let chain = match joiner {
                            true => {
                                join::admitted(context, &mut ledger, &me, settings.check, tracer)
                                    .await?
                            }
                            false => ledger.governance(settings.online_within).await?.chain,
                        };
                        let cluster = chain.cluster();
                        mailbox.add_members(cluster.members().to_vec()).await?;
                        (cluster, Some(chain))
                    }
                    _ => (self.cfg.cluster.clone(), None),
                };
                let mut dkg = dkg::Actor::open(
                    context.child("dkg"),
                    dkg::Config {
                        signer: self.cfg.identity.clone(),
                        cluster,
                        partition_prefix: self.cfg.partition_prefix.clone(),
                        tracer: tracer.clone(),
                        keys: self.cfg.keys.clone(),
                        catch_up: governance.is_some(),
                        start: None,
                        verifier: self.cfg.verifier.clone(),
                        #[cfg(feature = "sim")]
                        tamper: self.tamper.clone(),
                    },
                    channel,
                    blocker.clone(),
                    meta,
                )
                .await?;
                // A joiner that holds no finished epoch starts from the output the last
                // certified proposal reshares.
                if let (true, Some(chain), Some(settings), Some(mut ledger)) =
                    (joiner, &chain, governance, self.ledger_mailbox.clone())
                    && dkg.completed()?.is_none()
                {
                    let start = join::start(context, &mut ledger, chain, settings.check).await?;
                    tracer.record(Event::JoinerAdmitted {
                        epoch: chain.last_epoch(),
                    });
                    dkg.set_start(start);
                }
                // Connecting is the deal gate of each attempt (bounded by the phase timeout; an
                // attempt whose members are not all there is retried).
                let (completed, server);
                (completed, meta, server) = dkg.run(mailbox).await?;
                if let (Some(settings), Some(ledger)) = (governance, self.ledger_mailbox.clone()) {
                    // The reshares the committee chain calls for follow, for as long as the node
                    // runs (no shutdown handshake: see `reshare`).
                    let reshares = reshare::Reshares {
                        identity: self.cfg.identity.clone(),
                        partition_prefix: self.cfg.partition_prefix.clone(),
                        tracer: tracer.clone(),
                        keys: self.cfg.keys.clone(),
                        check: settings.check,
                        verifier: self.cfg.verifier.clone(),
                        #[cfg(feature = "sim")]
                        tamper: self.tamper.clone(),
                    };
                    let handle = context.child("reshares").spawn({
                        let (mailbox, blocker, completed) =
                            (mailbox.clone(), blocker.clone(), completed.clone());
                        move |context| {
                            reshares.run(context, ledger, mailbox, blocker, server, meta, completed)
                        }
                    });
                    return Ok((true, Some(completed), Some(handle)));
                }
                // Members still finishing the last round get its decision and logs from us
                // for as long as the node runs.
                context.child("dkg_serve").spawn(move |_| server.serve());
                meta.record_done().await?;
                let handshake = walk::shutdown_handshake(mailbox, &timing, tracer).await;
                Ok((handshake, Some(completed), None))
            }
        }
    }

    /// After the ceremony: serve until the ledger stops (with a ledger), or linger so peers
    /// still get our answers, then report.
    async fn finish<E>(
        &self,
        context: &E,
        result: Result<Ceremonied, EngineError>,
        boot: u64,
        ledger: Option<Handle<Result<(), ledger::Error>>>,
    ) -> Result<Outcome, EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
    {
        let timing = *self.cfg.cluster.timing();
        let (handshake_complete, completed, reshares) = match result {
            Ok(done) => done,
            Err(error) => {
                if let EngineError::Dkg(error) = &error {
                    self.cfg.tracer.record(Event::DkgFailed {
                        error: error.to_string(),
                    });
                }
                // A protocol failure lingers a phase timeout, so that peers still hear the
                // barrier's refusal; a storage failure stops the node at once (it must not run
                // on, or serve, what it could not persist).
                if !error.is_storage() {
                    context.sleep(timing.phase_timeout).await;
                }
                return Err(error);
            }
        };
        let steps = self.cfg.task.steps_walked(completed.as_ref());
        if let Task::Walk { steps } = self.cfg.task {
            self.cfg.tracer.record(Event::WalkComplete { steps });
        }
        let outcome = Outcome {
            boot,
            steps,
            dkg: completed,
        };
        if let Some(mut ledger) = ledger {
            // Serve until the ledger stops (or a reshare fails for good).
            let stopped = match reshares {
                Some(mut reshares) => {
                    let first = select! {
                        result = &mut reshares => Err(result),
                        result = &mut ledger => Ok(result),
                    };
                    match first {
                        Ok(stopped) => stopped,
                        Err(Ok(Err(error))) => {
                            if let EngineError::Dkg(error) = &error {
                                self.cfg.tracer.record(Event::DkgFailed {
                                    error: error.to_string(),
                                });
                            }
                            return Err(error);
                        }
                        Err(_) => ledger.await,
                    }
                }
                None => ledger.await,
            };
            return match stopped {
                Ok(Ok(())) => Ok(outcome),
                Ok(Err(error)) => Err(EngineError::Ledger(error)),
                Err(_) => Err(EngineError::Ledger(ledger::Error::Closed)),
            };
        }
        // A peer that missed the handshake may be restarting: stay reachable for a whole phase
        // so it can still finish; otherwise a short linger suffices.
        let linger = if handshake_complete {
            timing.sync_period.saturating_mul(LINGER_PERIODS)
        } else {
            timing.phase_timeout
        };
        context.sleep(linger).await;
        Ok(outcome)
    }
}
