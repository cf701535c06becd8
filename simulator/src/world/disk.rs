//! A node's disk: the run's deterministic storage under a per-node fault-injecting layer that
//! fails reads, writes and syncs, and tears writes, in the node's storage-fault windows
//! ([`StorageFaultPlan`]), and counts every fault it injected.
//!
//! Why our own layer: commonware's deterministic fault model (`deterministic::Config::
//! with_storage_fault_config`, in the private `storage::faulty` module) is one configuration for
//! every node of the runtime and draws from the scheduler's RNG. A plan's storage faults are per
//! node, and a run without them must keep its digest, so this layer keeps commonware's fault
//! model (an operation fails with an I/O error; a failed write may leave a prefix of its bytes
//! behind, unsynced: a torn write) with its own RNG and configuration per node.
//!
//! - Outside the node's windows every operation passes through and nothing is drawn.
//! - Inside a window, reads, writes and syncs fail with the window's rates (per-mille), drawn
//!   from the disk's own ChaCha RNG, seeded from the plan. Opening, removing and scanning never
//!   fail (a node must be able to start in order to recover).
//! - Every injected fault is counted ([`Disk::injected`]); a failed write, resize or sync
//!   ([`Disk::write_faults`]) must end the node's life (the protocol treats a storage error as
//!   fatal: the node stops, restarts from its storage and recovers), which
//!   `storage-errors-fatal` checks; the harness restarts a node whose engine ended on a fault,
//!   as a service manager would.

use super::network::SendHook;
use crate::plan::{StorageFaultPlan, SyncMoment};
use bytes::Buf as _;
use commonware_runtime::{
    Blob, Error, Handle, IoBufs, IoBufsMut, ReadOptions, Storage, WriteOptions, deterministic,
};
use futures::channel::mpsc::UnboundedSender;
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex};

/// The error every injected fault returns.
fn injected() -> Error {
    Error::Io(Arc::new(std::io::Error::other("injected storage fault")))
}

/// The failure rates now in force (all zero outside a window).
#[derive(Clone, Copy, Debug, Default)]
struct Rates {
    read: u32,
    write: u32,
    sync: u32,
    torn: u32,
}

struct State {
    /// Syncs so far (counted from 1, over every life of the node).
    syncs: u64,
    /// The armed sync crash point, and where to say it was reached.
    armed: Option<(u64, SyncMoment, UnboundedSender<()>)>,
    /// The sync of an `after_send` point completed: halt after the next frame sent.
    send_armed: Option<UnboundedSender<()>>,
    rates: Rates,
    rng: ChaCha8Rng,
    injected: u64,
    /// Injected write, resize and sync failures (a subset of `injected`).
    writes: u64,
}

/// One node's disk (cheap to clone: every clone is the same disk).
pub struct Disk {
    storage: Arc<deterministic::Context>,
    state: Arc<Mutex<State>>,
}

impl Clone for Disk {
    fn clone(&self) -> Self {
        Self {
            storage: self.storage.clone(),
            state: self.state.clone(),
        }
    }
}

/// What an operation does.
enum Outcome {
    Pass,
    Fail,
    /// Write this many bytes of it, then fail.
    Tear(usize),
}

impl Disk {
    /// The disk of a node over the run's storage, drawing its faults from `seed`.
    pub fn new(storage: deterministic::Context, seed: u64) -> Self {
        Self {
            storage: Arc::new(storage),
            state: Arc::new(Mutex::new(State {
                syncs: 0,
                armed: None,
                send_armed: None,
                rates: Rates::default(),
                rng: ChaCha8Rng::seed_from_u64(seed),
                injected: 0,
                writes: 0,
            })),
        }
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.state.lock().expect("disk").injected
    }

    /// Write, resize and sync faults injected so far: each must end the node's life. (A read
    /// fault may be retried: commonware's journal replay reads ahead and reads again what a
    /// failed read-ahead missed. Whatever a read fault makes a node lose, the scenarios'
    /// invariants on synced data catch.)
    pub fn write_faults(&self) -> u64 {
        self.state.lock().expect("disk").writes
    }

    /// Syncs so far (over every life of the node).
    pub fn syncs(&self) -> u64 {
        self.state.lock().expect("disk").syncs
    }

    /// Reads [`Disk::syncs`] later, without holding the disk (nor its runtime context, which
    /// must be gone when the run ends).
    pub fn sync_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let state = self.state.clone();
        move || state.lock().expect("disk").syncs
    }

    /// Arms a crash point: at `moment` around sync number `sync`, `halt` is told, and the
    /// sync (for `before` and `after`) never returns: the node's life is aborted.
    pub fn arm(&self, sync: u64, moment: SyncMoment, halt: UnboundedSender<()>) {
        self.state.lock().expect("disk").armed = Some((sync, moment, halt));
    }

    /// Counts a sync; the crash point it reaches, if armed there.
    fn count_sync(&self) -> Option<(SyncMoment, UnboundedSender<()>)> {
        let mut state = self.state.lock().expect("disk");
        state.syncs += 1;
        let n = state.syncs;
        match state.armed.take() {
            Some((at, moment, halt)) if at == n => Some((moment, halt)),
            other => {
                state.armed = other;
                None
            }
        }
    }

    /// What a sync does at a crash point `point` (`before` it, or after it completed): halt
    /// there (never returning), or arm the halt after the next frame sent.
    async fn crash_point(&self, point: Option<(SyncMoment, UnboundedSender<()>)>, before: bool) {
        match point {
            Some((SyncMoment::Before, halt)) if before => {
                let _ = halt.unbounded_send(());
                futures::future::pending::<()>().await;
            }
            Some((SyncMoment::After, halt)) if !before => {
                let _ = halt.unbounded_send(());
                futures::future::pending::<()>().await;
            }
            Some((SyncMoment::AfterSend, halt)) if !before => {
                self.state.lock().expect("disk").send_armed = Some(halt);
            }
            _ => {}
        }
    }

    /// Starts failing as `window` says.
    pub fn fail(&self, window: &StorageFaultPlan) {
        self.state.lock().expect("disk").rates = Rates {
            read: window.read_per_mille.min(1000),
            write: window.write_per_mille.min(1000),
            sync: window.sync_per_mille.min(1000),
            torn: window.torn_per_mille.min(1000),
        };
    }

    /// Stops failing.
    pub fn heal(&self) {
        self.state.lock().expect("disk").rates = Rates::default();
    }

    /// Whether an operation failing at `rate` (per-mille) fails now; for a write of `len`
    /// bytes, whether it is torn and where.
    fn roll(&self, rate: impl Fn(&Rates) -> u32, len: Option<usize>, write: bool) -> Outcome {
        let mut state = self.state.lock().expect("disk");
        let rate = rate(&state.rates);
        if rate == 0 || state.rng.random_range(0..1000) >= rate {
            return Outcome::Pass;
        }
        state.injected += 1;
        state.writes += u64::from(write);
        match len {
            Some(len) if len > 1 && state.rates.torn > 0 => {
                let torn = state.rates.torn;
                if state.rng.random_range(0..1000) < torn {
                    let keep = state.rng.random_range(1..len);
                    Outcome::Tear(keep)
                } else {
                    Outcome::Fail
                }
            }
            _ => Outcome::Fail,
        }
    }
}

impl Storage for Disk {
    type Blob = DiskBlob;

    async fn open_versioned(
        &self,
        partition: &str,
        name: &[u8],
        versions: std::ops::RangeInclusive<commonware_runtime::BlobVersion>,
    ) -> Result<(Self::Blob, u64, commonware_runtime::BlobVersion), Error> {
        let (blob, len, version) = self
            .storage
            .open_versioned(partition, name, versions)
            .await?;
        Ok((
            DiskBlob {
                inner: blob,
                disk: self.clone(),
            },
            len,
            version,
        ))
    }

    async fn remove(&self, partition: &str, name: Option<&[u8]>) -> Result<(), Error> {
        self.storage.remove(partition, name).await
    }

    async fn scan(&self, partition: &str) -> Result<Vec<Vec<u8>>, Error> {
        self.storage.scan(partition).await
    }
}

/// A blob of a [`Disk`].
pub struct DiskBlob {
    inner: deterministic::Blob,
    disk: Disk,
}

impl Blob for DiskBlob {
    async fn read_at_buf(
        &self,
        offset: u64,
        len: usize,
        bufs: impl Into<IoBufsMut> + Send,
        options: ReadOptions,
    ) -> Result<IoBufsMut, Error> {
        match self.disk.roll(|r| r.read, None, false) {
            Outcome::Pass => self.inner.read_at_buf(offset, len, bufs, options).await,
            _ => Err(injected()),
        }
    }

    async fn read_at(
        &self,
        offset: u64,
        len: usize,
        options: ReadOptions,
    ) -> Result<IoBufsMut, Error> {
        match self.disk.roll(|r| r.read, None, false) {
            Outcome::Pass => self.inner.read_at(offset, len, options).await,
            _ => Err(injected()),
        }
    }

    async fn write_at(
        &self,
        offset: u64,
        bufs: impl Into<IoBufs> + Send,
        options: WriteOptions,
    ) -> Result<(), Error> {
        let bufs: IoBufs = bufs.into();
        // A write with `SYNC` is a sync too (commonware's metadata writes its pages so).
        let sync = options.contains(WriteOptions::SYNC);
        let point = if sync { self.disk.count_sync() } else { None };
        self.disk.crash_point(point.clone(), true).await;
        match self.disk.roll(|r| r.write, Some(bufs.remaining()), true) {
            Outcome::Pass => {
                let result = self.inner.write_at(offset, bufs, options).await;
                if result.is_ok() {
                    self.disk.crash_point(point, false).await;
                }
                result
            }
            Outcome::Fail => Err(injected()),
            Outcome::Tear(keep) => {
                // A prefix reaches the disk, unsynced; the caller sees the write fail.
                let prefix = bufs.coalesce().slice(..keep);
                self.inner
                    .write_at(offset, prefix, options.without(WriteOptions::SYNC))
                    .await?;
                Err(injected())
            }
        }
    }

    async fn resize(&self, len: u64) -> Result<(), Error> {
        match self.disk.roll(|r| r.write, None, true) {
            Outcome::Pass => self.inner.resize(len).await,
            _ => Err(injected()),
        }
    }

    async fn sync(&self) -> Result<(), Error> {
        let point = self.disk.count_sync();
        self.disk.crash_point(point.clone(), true).await;
        match self.disk.roll(|r| r.sync, None, true) {
            Outcome::Pass => {
                let result = self.inner.sync().await;
                if result.is_ok() {
                    self.disk.crash_point(point, false).await;
                }
                result
            }
            _ => Err(injected()),
        }
    }

    async fn start_sync(&self) -> Handle<()> {
        let point = self.disk.count_sync();
        self.disk.crash_point(point.clone(), true).await;
        match self.disk.roll(|r| r.sync, None, true) {
            Outcome::Pass if point.is_some() => {
                // A crash point after this sync: wait for it to be durable first.
                let result = self.inner.start_sync().await.await;
                if result.is_ok() {
                    self.disk.crash_point(point, false).await;
                }
                Handle::ready(result)
            }
            Outcome::Pass => self.inner.start_sync().await,
            _ => Handle::ready(Err(injected())),
        }
    }
}

impl SendHook for Disk {
    fn sent(&self) {
        if let Some(halt) = self.state.lock().expect("disk").send_armed.take() {
            let _ = halt.unbounded_send(());
        }
    }
}
