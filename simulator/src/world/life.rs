//! One simulated node across its crashes, and starting every node of a run.
//!
//! Each life registers the node's channels anew and builds the engine from the node's own storage
//! (its partition prefix). A crash aborts every task of the life, so whatever the node had not
//! synced is lost, and the next life starts after the drawn downtime. Crashes come at drawn
//! simulated times ([`CrashPlan`]) or at the `hit`-th crash point the node's protocol code reaches
//! ([`PointCrash`]; see `Tracer::crash_point`). A misconfigured node ([`RepairPlan`]) runs with
//! the wrong cluster definition until its operator's repair, then restarts with the right one,
//! whether its engine failed before that or is still running. Each node's transport blocks
//! expire, and a new life forgets them, as a production node's do ([`ExpiringBlocker`]).

use super::{
    blocker::ExpiringBlocker,
    cluster::misconfigured,
    disk::Disk,
    network::{Net, NetRegistrar, NodeNet, SendHook, SimDuplex},
    skew::{Skew, Skewed},
};
use crate::{
    plan::{
        CorePlan, CrashPlan, Loss, PointCrash, RepairPlan, StorageFaultPlan, SyncCrash, SyncMoment,
    },
    trace::{SimTracer, Sink},
};
use cohort_protocol::{
    Channels, Cluster, Config, Engine, EngineError, Outcome,
    channels::{Channel, Registrar as _},
    dkg::{Keys, Tamper},
    engine::Task,
    governance,
    ledger::{Mailbox, Settings},
};
use cohort_storage::damage;
use commonware_cryptography::ed25519;
use commonware_macros::select;
use commonware_runtime::{Clock as _, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use futures::StreamExt as _;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// How long after a storage error the node's engine may still run (it must end on the error).
pub const STORAGE_FAULT_GRACE: Duration = Duration::from_secs(2);
/// How often a node with storage-fault windows is checked for ignored errors.
const STORAGE_WATCH_PERIOD: Duration = Duration::from_millis(100);
/// How long after a fatal storage error the node's service manager starts it again.
pub const STORAGE_RESTART: Duration = Duration::from_millis(200);

/// Messages per second each node may send to each peer on a channel.
pub const QUOTA_PER_SECOND: u32 = 1_000;

/// One node across its lives.
pub struct Life {
    pub index: usize,
    pub key: ed25519::PrivateKey,
    pub cluster: Cluster,
    pub task: Task,
    /// This node's time crashes, in time order.
    pub crashes: Vec<CrashPlan>,
    /// This node's crash-point crashes, in hit order.
    pub point_crashes: Vec<PointCrash>,
    /// Rewrites what the node sends on the DKG channel (a byzantine member).
    pub tamper: Option<Arc<dyn Tamper>>,
    /// Plays the node's checkpoint protocol in place of the checkpoint actor (a byzantine member).
    pub sidecar: Option<Arc<dyn Sidecar>>,
    /// The node's own clock (its protocol code's time and timers).
    pub skew: Skew,
    /// The node's own disk (its storage, failing in its storage-fault windows).
    pub disk: Disk,
    /// The node's storage-fault windows (`world::disk`).
    pub storage_faults: Vec<StorageFaultPlan>,
    /// The node's crash at an enumerated crash point around a sync, if any.
    pub sync_crash: Option<SyncCrash>,
    /// When the first life starts (simulated ms from the start of the run; 0: at once).
    pub start_ms: u64,
    /// Runs the ledger with these settings.
    pub ledger: Option<Settings>,
    /// The ledger mailbox of the current life (`None` while the node is down).
    pub mailbox: Arc<Mutex<Option<Mailbox>>>,
    /// The governance mailbox of the current life (`None` while the node is down, or when its
    /// ledger runs no governance actor).
    pub governance: Arc<Mutex<Option<governance::Mailbox>>>,
    /// Where the node's DKG publishes its result (one for all its lives, as in the node).
    pub keys: Keys,
    /// The cluster definition the node runs with until its operator repairs it, and when
    /// (simulated ms from the start of the run); `None`: configured right from the start.
    pub misconfigured: Option<(Cluster, u64)>,
    /// How long a barrier fault lasts (the blocker's blocks last as long).
    pub block_expiry: Duration,
    /// The node's handle on the network (registers its channels).
    pub node: NodeNet,
    pub blocker: ExpiringBlocker,
    pub tracer: SimTracer,
    pub sink: Arc<Mutex<Sink>>,
}

impl Life {
    /// Runs the node until an engine ends; returns that engine's result.
    pub async fn run(
        self,
        context: deterministic::Context,
        start: SystemTime,
    ) -> Result<Outcome, EngineError> {
        let mut crashes = self.crashes.iter().peekable();
        let (halt, mut halted) = futures::channel::mpsc::unbounded();
        self.tracer
            .arm_crash_points(self.point_crashes.iter().map(|c| c.hit).collect(), halt);
        let mut point_crashes = self.point_crashes.iter();
        let (disk_halt, mut disk_halted) = futures::channel::mpsc::unbounded();
        if let Some(c) = &self.sync_crash {
            self.disk.arm(c.sync, c.at, disk_halt.clone());
        }
        // Kept open: a closed channel would read as a halt in every life.
        let _disk_halt = disk_halt;
        let keys = self.keys.clone();
        let mut lives = 0u32;
        let repair_at = self
            .misconfigured
            .as_ref()
            .map(|(_, at_ms)| start + Duration::from_millis(*at_ms));
        let mut repaired = repair_at.is_none();
        if self.start_ms > 0 {
            context
                .sleep_until(start + Duration::from_millis(self.start_ms))
                .await;
            self.harness_event(&context, "started", format!("at_ms={}", self.start_ms));
        }
        if !self.storage_faults.is_empty() {
            let (disk, windows, sink, index) = (
                self.disk.clone(),
                self.storage_faults.clone(),
                self.sink.clone(),
                self.index as u32,
            );
            context
                .child("disk_faults")
                .spawn(move |context| async move {
                    for w in windows {
                        context
                            .sleep_until(start + Duration::from_millis(w.at_ms))
                            .await;
                        disk.fail(&w);
                        sink.lock().expect("sink").record_harness(
                            micros(context.current()),
                            index,
                            "storage_failing",
                            format!(
                                "for_ms={} read={} write={} sync={} torn={} (per mille)",
                                w.for_ms,
                                w.read_per_mille,
                                w.write_per_mille,
                                w.sync_per_mille,
                                w.torn_per_mille
                            ),
                        );
                        context
                            .sleep_until(start + Duration::from_millis(w.at_ms + w.for_ms))
                            .await;
                        disk.heal();
                        sink.lock().expect("sink").record_harness(
                            micros(context.current()),
                            index,
                            "storage_healed",
                            format!("injected={}", disk.injected()),
                        );
                    }
                });
        }
        loop {
            lives += 1;
            let injected_before = self.disk.injected();
            let write_faults_before = self.disk.write_faults();
            if lives > 1 {
                // A restarted process remembers no block.
                self.blocker.forget_all().await;
            }
            let cluster = match &self.misconfigured {
                Some((wrong, _)) if !repaired => wrong.clone(),
                _ => self.cluster.clone(),
            };
            let mut registrar = NetRegistrar {
                node: self.node.clone(),
                quota: Quota::per_second(NZU32!(QUOTA_PER_SECOND)),
                // Only a node with a crash point after a send needs its sends watched.
                hook: self
                    .sync_crash
                    .as_ref()
                    .filter(|c| c.at == SyncMoment::AfterSend)
                    .map(|_| Arc::new(self.disk.clone()) as Arc<dyn SendHook>),
            };
            let channels = Channels::register(&mut registrar, self.ledger.is_some()).await;
            let engine = Engine::new(
                Skewed::new(
                    context.child("node").with_attribute("life", lives),
                    self.skew,
                    self.disk.clone(),
                ),
                Config {
                    identity: self.key.clone(),
                    cluster,
                    partition_prefix: format!("node{}", self.index),
                    tracer: self.tracer.clone(),
                    task: self.task,
                    keys: keys.clone(),
                    ledger: self.ledger,
                    block_expiry: Some(self.block_expiry),
                    verifier: self.sink.lock().expect("sink").verifier.clone(),
                },
            )
            .with_tamper(self.tamper.clone());
            *self.mailbox.lock().expect("mailbox slot") = engine.ledger();
            *self.governance.lock().expect("governance slot") = engine.governance();
            // The sidecar takes the checkpoint channel over (registering it again replaces the
            // engine's, which runs no checkpoint actor for this node).
            let sidecar = match (&self.sidecar, engine.ledger()) {
                (Some(sidecar), Some(ledger)) => {
                    let channel = registrar.register(Channel::Checkpoint).await;
                    Some(sidecar.start(
                        context.child("sidecar").with_attribute("life", lives),
                        channel,
                        keys.clone(),
                        ledger,
                    ))
                }
                _ => None,
            };
            let mut handle = engine.start(channels, self.blocker.clone());
            let next_time = crashes
                .peek()
                .map(|c| start + Duration::from_millis(c.at_ms));
            let time_crash = async {
                match next_time {
                    Some(at) => context.sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            let repair = async {
                match repair_at.filter(|_| !repaired) {
                    Some(at) => context.sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            // A storage fault must end the life (see `world::disk`): watched only on a node
            // with storage-fault windows (elsewhere it would add events to every run).
            let disk = &self.disk;
            let watched = !self.storage_faults.is_empty();
            let watchdog = async {
                if !watched {
                    return futures::future::pending().await;
                }
                let mut first = None;
                loop {
                    context.sleep(STORAGE_WATCH_PERIOD).await;
                    if disk.write_faults() > write_faults_before {
                        let first = *first.get_or_insert(context.current());
                        if context.current() >= first + STORAGE_FAULT_GRACE {
                            return disk.write_faults() - write_faults_before;
                        }
                    }
                }
            };
            let down_ms;
            let mut loss = None;
            select! {
                result = &mut handle => {
                    // Ended: later crashes of this node do not happen.
                    if let Some(sidecar) = &sidecar {
                        sidecar.abort();
                    }
                    let result = result.expect("engine task did not panic");
                    if let Err(error) = &result
                        && error.is_storage()
                        && self.disk.injected() > injected_before
                    {
                        // A storage error is fatal: the node stops; its service manager
                        // starts it again, and it recovers from its storage.
                        self.clear_slots();
                        self.harness_event(
                            &context,
                            "storage_failed",
                            format!(
                                "injected={} error={error}",
                                self.disk.injected() - injected_before
                            ),
                        );
                        context.sleep(STORAGE_RESTART).await;
                        self.harness_event(&context, "restarted", format!("life={}", lives + 1));
                        continue;
                    }
                    let detail = match &result {
                        Ok(_) => "ok".to_string(),
                        Err(error) => format!("error={error}"),
                    };
                    self.harness_event(&context, "ended", detail);
                    let Some(at) = repair_at.filter(|_| !repaired) else {
                        return result;
                    };
                    // The misconfigured process ended; its operator starts it again, fixed.
                    context.sleep_until(at.max(context.current())).await;
                    repaired = true;
                    self.harness_event(&context, "repaired", "after_end=true".to_string());
                    self.harness_event(&context, "restarted", format!("life={}", lives + 1));
                    continue;
                },
                _ = repair => {
                    handle.abort();
                    let _ = (&mut handle).await;
                    self.clear_slots();
                    repaired = true;
                    self.harness_event(&context, "repaired", "after_end=false".to_string());
                    down_ms = 0;
                },
                _ = time_crash => {
                    let crash = crashes.next().expect("peeked");
                    down_ms = crash.down_ms;
                    handle.abort();
                    let _ = (&mut handle).await;
                    self.clear_slots();
                    self.harness_event(&context, "crashed", format!("down_ms={down_ms}"));
                    loss = crash.loss;
                },
                injected = watchdog => {
                    // The engine ran on for a grace period after a storage error: ignored.
                    handle.abort();
                    let _ = (&mut handle).await;
                    self.clear_slots();
                    let detail = format!(
                        "{injected} injected write or sync errors, and the engine still ran {STORAGE_FAULT_GRACE:?} after the first"
                    );
                    self.harness_event(&context, "storage_fault_ignored", detail.clone());
                    self.sink.lock().expect("sink").harness_violations.push(
                        crate::invariant::Violation::new(
                            crate::invariant::Invariant::StorageErrorsFatal,
                            format!("node {} (life {lives}): {detail}", self.index),
                        ),
                    );
                    down_ms = STORAGE_RESTART.as_millis() as u64;
                },
                _ = disk_halted.next() => {
                    let crash = self.sync_crash.as_ref().expect("a sync crash was armed");
                    down_ms = crash.down_ms;
                    handle.abort();
                    let _ = (&mut handle).await;
                    self.clear_slots();
                    self.harness_event(
                        &context,
                        "crashed",
                        format!("sync={} at={} down_ms={down_ms}", crash.sync, crash.at.name()),
                    );
                },
                _ = halted.next() => {
                    let crash = point_crashes.next().expect("a crash point was armed");
                    down_ms = crash.down_ms;
                    handle.abort();
                    let _ = (&mut handle).await;
                    self.clear_slots();
                    self.harness_event(
                        &context,
                        "crashed",
                        format!("point_hit={} down_ms={down_ms}", crash.hit),
                    );
                },
            }
            if let Some(sidecar) = &sidecar {
                sidecar.abort();
            }
            context.sleep(Duration::from_millis(down_ms)).await;
            // The damage is done while the node is down, once every task of its life (and
            // every handle on its storage) is gone.
            if let Some(loss) = &loss {
                self.damage(&context, loss).await;
            }
            self.harness_event(&context, "restarted", format!("life={}", lives + 1));
        }
    }

    /// Damages the node's synced storage as `loss` says (it is down: no handle is open).
    async fn damage(&self, context: &deterministic::Context, loss: &Loss) {
        let prefix = format!("node{}", self.index);
        let detail = match loss {
            Loss::Disk => {
                for store in damage::Store::ALL {
                    damage::lose(context, &prefix, store)
                        .await
                        .expect("removing a simulated store");
                }
                loss.describe()
            }
            Loss::OpStore | Loss::Meta | Loss::DkgJournal => {
                let store = match loss {
                    Loss::Meta => damage::Store::Meta,
                    Loss::DkgJournal => damage::Store::Dkg,
                    _ => damage::Store::Ops,
                };
                damage::lose(context, &prefix, store)
                    .await
                    .expect("removing a simulated store");
                loss.describe()
            }
            Loss::OpTail { bytes } => {
                let cut = damage::cut_tail(context, &prefix, *bytes)
                    .await
                    .expect("cutting a simulated store");
                format!("{} cut={cut}", loss.describe())
            }
        };
        self.harness_event(context, "storage_lost", detail);
    }

    /// The node is down: no mailbox of its last life may be used.
    fn clear_slots(&self) {
        *self.mailbox.lock().expect("mailbox slot") = None;
        *self.governance.lock().expect("governance slot") = None;
    }

    fn harness_event(&self, context: &deterministic::Context, name: &'static str, detail: String) {
        let t_us = micros(context.current());
        self.sink
            .lock()
            .expect("sink")
            .record_harness(t_us, self.index as u32, name, detail);
    }
}

pub use crate::trace::micros;

/// Starts one [`Life`] per key (node `i` with `clusters[i]`, its crashes from `plan`, the role
/// `role(i)`) and waits for every honest engine; `None` when one is still running at `deadline`
/// (simulated time). The results are those of the nodes with an engine, in node order; a
/// byzantine engine still running once every honest one ended is stopped there and has no
/// result (`None`): it may wait for peers forever (say, restarted after they all left), which
/// is its own business, not a hang of the run.
#[allow(clippy::too_many_arguments)]
pub async fn run_all(
    context: &deterministic::Context,
    plan: &CorePlan,
    keys: &[ed25519::PrivateKey],
    clusters: Vec<Cluster>,
    task: Task,
    role: impl Fn(usize) -> Role,
    oracle: &Arc<Net>,
    sink: &Arc<Mutex<Sink>>,
    deadline: Duration,
) -> Option<Vec<Option<Result<Outcome, EngineError>>>> {
    let roles: Vec<Role> = (0..keys.len()).map(&role).collect();
    let tampered: Vec<bool> = roles
        .iter()
        .filter(|r| !matches!(r, Role::External))
        .map(|r| matches!(r, Role::Tampered(_)))
        .collect();
    let mut roles = roles.into_iter();
    let mut handles: Vec<_> = spawn_all(
        context,
        plan,
        keys,
        clusters,
        task,
        None,
        |_| roles.next().expect("one role per node"),
        oracle,
        sink,
    )
    .into_iter()
    .flat_map(|(handle, _, _, _)| handle)
    .collect();
    let honest = handles
        .iter_mut()
        .zip(&tampered)
        .filter(|(_, t)| !**t)
        .map(|(h, _)| h);
    let mut honest_results = select! {
        results = futures::future::join_all(honest) => results.into_iter(),
        _ = context.sleep(deadline) => return None,
    };
    let mut results = Vec::with_capacity(handles.len());
    for (mut handle, tampered) in handles.into_iter().zip(tampered) {
        let result = if tampered {
            // Ended by now (its result is kept), or stopped here. Never polled before.
            let ended = futures::FutureExt::now_or_never(&mut handle);
            if ended.is_none() {
                handle.abort();
            }
            ended
        } else {
            honest_results.next()
        };
        results.push(result.map(|r| r.expect("engine task did not panic")));
    }
    Some(results)
}

/// What a node is in a run, besides its plan's crashes.
pub enum Role {
    /// An honest engine.
    Honest,
    /// An engine whose DKG messages this tamper rewrites (a byzantine member).
    Tampered(Arc<dyn Tamper>),
    /// An honest engine (DKG, ledger) whose checkpoint protocol the sidecar plays instead
    /// (a checkpoint liar).
    Sidecar(Arc<dyn Sidecar>),
    /// No engine: something else plays the member (a ledger liar).
    External,
}

/// Plays a node's checkpoint protocol in place of its checkpoint actor, on each of its lives.
pub trait Sidecar: Send + Sync + 'static {
    /// Starts the sidecar of one life: the node's checkpoint channel, the keys its DKG
    /// publishes and its ledger. The task is aborted when the life ends.
    fn start(
        &self,
        context: deterministic::Context,
        channel: SimDuplex,
        keys: Keys,
        ledger: Mailbox,
    ) -> commonware_runtime::Handle<()>;
}

/// A node's lives, running (`None`: [`Role::External`], no engine), the slots holding its
/// current ledger and governance mailboxes, and where its DKG publishes its result.
pub type Spawned = (
    Option<commonware_runtime::Handle<Result<Outcome, EngineError>>>,
    Arc<Mutex<Option<Mailbox>>>,
    Arc<Mutex<Option<governance::Mailbox>>>,
    Keys,
);

/// Starts one [`Life`] per key (node `i` with `clusters[i]`, its crashes from `plan`, the role
/// `role(i)`, a ledger with `ledger`'s settings if given), except for [`Role::External`] nodes.
#[allow(clippy::too_many_arguments)]
pub fn spawn_all(
    context: &deterministic::Context,
    plan: &CorePlan,
    keys: &[ed25519::PrivateKey],
    clusters: Vec<Cluster>,
    task: Task,
    ledger: Option<Settings>,
    mut role: impl FnMut(usize) -> Role,
    oracle: &Arc<Net>,
    sink: &Arc<Mutex<Sink>>,
) -> Vec<Spawned> {
    use commonware_cryptography::Signer as _;
    use commonware_runtime::Spawner as _;
    let clock = Arc::new(context.child("clock"));
    let start = context.current();
    let mut spawned = Vec::with_capacity(keys.len());
    for (index, (key, cluster)) in keys.iter().zip(clusters).enumerate() {
        let mailbox = Arc::new(Mutex::new(None));
        let governance = Arc::new(Mutex::new(None));
        let keys = Keys::default();
        let (tamper, sidecar) = match role(index) {
            Role::External => {
                spawned.push((None, mailbox, governance, keys));
                continue;
            }
            Role::Tampered(tamper) => (Some(tamper), None),
            Role::Sidecar(sidecar) => (None, Some(sidecar)),
            Role::Honest => (None, None),
        };
        // A sidecar plays the checkpoints: the engine runs no checkpoint actor.
        let ledger = match sidecar {
            Some(_) => ledger.map(|settings| Settings {
                checkpoint: None,
                ..settings
            }),
            None => ledger,
        };
        let wrong = plan
            .repairs
            .iter()
            .find(|r| r.node == index)
            .map(|r: &RepairPlan| (misconfigured(&cluster, r.mismatch), r.at_ms));
        let disk = Disk::new(
            context.child("disk").with_attribute("index", index),
            plan.storage_faults
                .iter()
                .find(|w| w.node == index)
                .map_or(0, |w| w.seed),
        );
        sink.lock()
            .expect("sink")
            .sync_counters
            .push((index, Arc::new(disk.sync_counter())));
        let life = Life {
            index,
            key: key.clone(),
            cluster,
            task,
            crashes: plan
                .crashes
                .iter()
                .filter(|c| c.node == index)
                .cloned()
                .collect(),
            point_crashes: plan
                .point_crashes
                .iter()
                .filter(|c| c.node == index)
                .cloned()
                .collect(),
            tamper,
            sidecar,
            disk: disk.clone(),
            storage_faults: plan
                .storage_faults
                .iter()
                .filter(|w| w.node == index)
                .cloned()
                .collect(),
            sync_crash: plan.sync_crashes.iter().find(|c| c.node == index).cloned(),
            skew: plan
                .clocks
                .iter()
                .find(|c| c.node == index)
                .map_or(Skew::NONE, |c| Skew {
                    epoch: start,
                    offset_ms: c.offset_ms,
                    drift_ppm: c.drift_ppm,
                }),
            start_ms: plan
                .late_starts
                .iter()
                .find(|l| l.node == index)
                .map_or(0, |l| l.at_ms),
            ledger,
            mailbox: mailbox.clone(),
            governance: governance.clone(),
            keys: keys.clone(),
            misconfigured: wrong,
            block_expiry: plan.block_expiry(),
            node: oracle.node(&key.public_key()),
            blocker: ExpiringBlocker::new(
                key.public_key(),
                oracle.clone(),
                context.child("blocker").with_attribute("index", index),
                plan.block_expiry(),
            ),
            tracer: SimTracer::new(index as u32, clock.clone(), sink.clone()),
            sink: sink.clone(),
        };
        let handle = context
            .child("life")
            .with_attribute("index", index)
            .spawn(move |context| life.run(context, start));
        spawned.push((Some(handle), mailbox, governance, keys));
    }
    spawned
}
