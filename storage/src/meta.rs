//! Node metadata: the boot counter and the last barrier step announced.
//!
//! Each start of a node increments and syncs its boot counter before any protocol runs, so the
//! count survives every crash that happens after the node came up. The ledger's `Boot` op carries
//! it, and logs and traces name the boot a line belongs to.
//!
//! The barrier step is synced *before* it is announced: peers never see a step this node could
//! forget, so after a crash it resumes at a step at least as high as any it announced (SPEC 1:
//! a peer's step never decreases).

use crate::{Error, partition};
use commonware_storage::{
    Context,
    metadata::{Config, Metadata},
};
use commonware_utils::sequence::U64;

/// Key of the boot counter in the metadata store.
const BOOT_COUNT: u64 = 0;
/// Key of the last barrier step this node announced.
const BARRIER_STEP: u64 = 1;
/// Key of the flag "this node's ceremony completed".
const CEREMONY_DONE: u64 = 2;

/// The node's metadata store.
///
/// Writes are synced before they return. A write that fails leaves the store unusable (the
/// storage library consumes it on sync): every later write fails with [`Error::Poisoned`], and
/// the node must restart and recover.
pub struct NodeMeta<E: Context> {
    store: Option<Metadata<E, U64, u64>>,
}

impl<E: Context> NodeMeta<E> {
    /// Opens the store under `prefix` and records one more boot, synced before returning.
    ///
    /// Returns the store and this boot's number (1 on the first start).
    pub async fn open_and_boot(context: E, prefix: &str) -> Result<(Self, u64), Error> {
        crate::validate_prefix(prefix)?;
        let mut store: Metadata<E, U64, u64> = Metadata::init(
            context,
            Config {
                partition: partition(prefix, "meta"),
                codec_config: (),
            },
        )
        .await?;
        let key = U64::new(BOOT_COUNT);
        let boot: u64 = store.get(&key).copied().unwrap_or(0).saturating_add(1);
        store.put(key, boot);
        let store = store.sync().await?;
        Ok((Self { store: Some(store) }, boot))
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.store.as_ref()?.get(&U64::new(key)).copied()
    }

    /// Writes `value` under `key`, synced.
    async fn put_sync(&mut self, key: u64, value: u64) -> Result<(), Error> {
        let store = self.store.take().ok_or(Error::Poisoned)?;
        self.store = Some(store.put_sync(U64::new(key), value).await?);
        Ok(())
    }

    /// The number of the current boot.
    pub fn boot_count(&self) -> u64 {
        self.get(BOOT_COUNT).unwrap_or(0)
    }

    /// The last barrier step recorded (0 if none).
    pub fn barrier_step(&self) -> u64 {
        self.get(BARRIER_STEP).unwrap_or(0)
    }

    /// Records `step` durably; call before announcing it.
    pub async fn record_barrier_step(&mut self, step: u64) -> Result<(), Error> {
        self.put_sync(BARRIER_STEP, step).await
    }

    /// Whether this node's ceremony completed (recorded with [`NodeMeta::record_done`]).
    pub fn done(&self) -> bool {
        self.get(CEREMONY_DONE) == Some(1)
    }

    /// Records durably that this node's ceremony completed.
    pub async fn record_done(&mut self) -> Result<(), Error> {
        self.put_sync(CEREMONY_DONE, 1).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    #[test]
    fn boot_count_survives_restart() {
        let executor = deterministic::Runner::default();
        executor.start(|context| async move {
            let (meta, boot) = NodeMeta::open_and_boot(context.child("a"), "n0")
                .await
                .unwrap();
            assert_eq!(boot, 1);
            assert_eq!(meta.boot_count(), 1);
            drop(meta);
            let (_, boot) = NodeMeta::open_and_boot(context.child("b"), "n0")
                .await
                .unwrap();
            assert_eq!(boot, 2);
            // The barrier step survives a restart once recorded.
            let (mut meta, _) = NodeMeta::open_and_boot(context.child("c"), "n0")
                .await
                .unwrap();
            assert_eq!(meta.barrier_step(), 0);
            meta.record_barrier_step(4).await.unwrap();
            assert_eq!(meta.barrier_step(), 4);
            drop(meta);
            let (mut meta, boot) = NodeMeta::open_and_boot(context.child("d"), "n0")
                .await
                .unwrap();
            assert_eq!((meta.barrier_step(), boot), (4, 4));
            assert!(!meta.done());
            meta.record_done().await.unwrap();
            drop(meta);
            let (meta, _) = NodeMeta::open_and_boot(context.child("e"), "n0")
                .await
                .unwrap();
            assert!(meta.done());
            // Another node's prefix is its own.
            let (_, boot) = NodeMeta::open_and_boot(context, "n1").await.unwrap();
            assert_eq!(boot, 1);
        });
    }

    #[test]
    fn rejects_bad_prefix() {
        let executor = deterministic::Runner::default();
        executor.start(|context| async move {
            assert!(
                NodeMeta::open_and_boot(context, "bad/prefix")
                    .await
                    .is_err()
            );
        });
    }
}
