//! Damage to one node's stores, as a failing disk or an operator's mistake would do it: the
//! simulator's storage-loss faults and the recovery tests use it; a node never calls it.
//!
//! - [`lose`]: a store is gone (its files deleted, its disk replaced);
//! - [`cut_tail`]: the newest `bytes` of the op store's journal are gone, synced or not (a torn
//!   or corrupted page that the journal's checksums cut off at the next open, taking synced
//!   records with it).

use crate::partition;
use commonware_runtime::{Blob as _, Error, Storage};

/// Newest op store generation looked for when a store is removed (a store goes through one
/// generation per compaction that rewrote it).
const MAX_GENERATIONS: u64 = 4096;

/// One of a node's stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The node metadata (boot counter, barrier step, ceremony flag).
    Meta,
    /// The op store: every generation of its journal and its metadata (generation, marks).
    Ops,
    /// The DKG journal (shares and dealings of every round).
    Dkg,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::Meta, Store::Ops, Store::Dkg];
}

/// The partitions of `store` of the node with prefix `prefix` that exist in `storage`.
async fn partitions(storage: &impl Storage, prefix: &str, store: Store) -> Vec<String> {
    let names: Vec<String> = match store {
        Store::Meta => vec![partition(prefix, "meta")],
        Store::Dkg => vec![partition(prefix, "dkg")],
        Store::Ops => {
            let mut names = vec![partition(prefix, "opsgen"), partition(prefix, "ops")];
            names.extend((1..MAX_GENERATIONS).map(|g| partition(prefix, &format!("ops{g}"))));
            names
        }
    };
    let mut present = Vec::new();
    for name in names {
        if storage.scan(&name).await.is_ok() {
            present.push(name);
        }
    }
    present
}

/// Removes every partition of `store` (nothing to remove is not an error).
pub async fn lose(storage: &impl Storage, prefix: &str, store: Store) -> Result<(), Error> {
    for name in partitions(storage, prefix, store).await {
        match storage.remove(&name, None).await {
            Ok(()) | Err(Error::PartitionMissing(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Cuts up to `bytes` off the end of the op store's newest journal section (of its newest
/// generation), durably; returns how many bytes were cut (0: the store holds nothing).
pub async fn cut_tail(storage: &impl Storage, prefix: &str, bytes: u64) -> Result<u64, Error> {
    // The journal generations present; the newest holding a blob is the store's.
    let mut newest: Option<(String, Vec<u8>)> = None;
    for name in partitions(storage, prefix, Store::Ops).await {
        if name == partition(prefix, "opsgen") {
            continue;
        }
        let mut blobs = storage.scan(&name).await?;
        blobs.sort();
        if let Some(blob) = blobs.pop() {
            let generation = generation_of(prefix, &name);
            let better = newest
                .as_ref()
                .is_none_or(|(n, _)| generation_of(prefix, n) < generation);
            if better {
                newest = Some((name, blob));
            }
        }
    }
    let Some((name, blob_name)) = newest else {
        return Ok(0);
    };
    let (blob, len) = storage.open(&name, &blob_name).await?;
    let cut = bytes.min(len);
    blob.resize(len - cut).await?;
    blob.sync().await?;
    Ok(cut)
}

fn generation_of(prefix: &str, name: &str) -> u64 {
    name.strip_prefix(&partition(prefix, "ops"))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}
