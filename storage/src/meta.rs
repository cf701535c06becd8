//! Node metadata: the boot counter.
//!
//! Each start of a node increments and syncs its boot counter before any protocol runs, so the
//! count survives every crash that happens after the node came up. The ledger's `Boot` op carries
//! it, and logs and traces name the boot a line belongs to.

use crate::{Error, partition};
use commonware_storage::{
    Context,
    metadata::{Config, Metadata},
};
use commonware_utils::sequence::U64;

/// Key of the boot counter in the metadata store.
const BOOT_COUNT: u64 = 0;

/// The node's metadata store.
pub struct NodeMeta<E: Context> {
    store: Metadata<E, U64, u64>,
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
        Ok((Self { store }, boot))
    }

    /// The number of the current boot.
    pub fn boot_count(&self) -> u64 {
        self.store.get(&U64::new(BOOT_COUNT)).copied().unwrap_or(0)
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
