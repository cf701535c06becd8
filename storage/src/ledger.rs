//! The op store: every op the ledger applied, in apply order, as its signed encoding.
//!
//! The store knows nothing of ops: a record is a byte string of at most the size given at open.
//! What it guarantees:
//!
//! - **Durability.** [`OpStore::sync`] returns only once every record appended before it is
//!   durable. The ledger syncs before it reports an op applied or gossips it, so a crash loses
//!   only ops nobody else was told about, and [`OpStore::open`] recovers exactly the synced ones
//!   (a torn tail is cut off by the journal).
//! - **Order.** Records replay in append order, which is the ledger's apply order (parents
//!   before children), so replaying them through the ledger rebuilds the same DAG.
//! - **Layout.** Records go to consecutive sections of [`RECORDS_PER_SECTION`] records (one blob
//!   each), so a future compaction can drop old sections whole.

use crate::{Error, partition};
use bytes::Bytes;
use commonware_codec::RangeCfg;
use commonware_runtime::{ReadOptions, buffer::paged::CacheRef};
use commonware_storage::{
    Context,
    journal::segmented::variable::{Config, Journal},
};
use commonware_utils::{NZU16, NZUsize};
use std::collections::BTreeSet;

/// Records per journal section.
pub const RECORDS_PER_SECTION: u64 = 1 << 16;

/// The op store of one node.
pub struct OpStore<E: Context> {
    /// `None` only while an operation that consumes the journal is in flight; an error there
    /// leaves it `None`, and every later call fails (storage errors are fatal for the node).
    journal: Option<Journal<E, Bytes>>,
    max_record: usize,
    records: u64,
    dirty: BTreeSet<u64>,
}

impl<E: Context> OpStore<E> {
    /// Opens (or creates) the store under `prefix`; returns it and every stored record in
    /// append order. Records longer than `max_record` are refused (on write and on read).
    pub async fn open(
        context: E,
        prefix: &str,
        max_record: usize,
    ) -> Result<(Self, Vec<Bytes>), Error> {
        crate::validate_prefix(prefix)?;
        let journal = Journal::init(
            context,
            Config {
                partition: partition(prefix, "ops"),
                compression: None,
                codec_config: RangeCfg::new(..=max_record),
                page_cache: CacheRef::new(NZU16!(4096), NZUsize!(256)),
                write_buffer: NZUsize!(256 * 1024),
            },
        )
        .await?;
        let mut records = Vec::new();
        let journal = {
            let mut replay = journal
                .replay(0, 0, NZUsize!(256 * 1024), ReadOptions::default())
                .await?;
            while let Some(item) = replay.next().await {
                let (_, _, _, record) = item?;
                records.push(record);
            }
            replay.finish()?
        };
        Ok((
            Self {
                journal: Some(journal),
                max_record,
                records: records.len() as u64,
                dirty: BTreeSet::new(),
            },
            records,
        ))
    }

    /// Appends one record (not yet durable: see [`OpStore::sync`]).
    pub async fn append(&mut self, record: &Bytes) -> Result<(), Error> {
        if record.len() > self.max_record {
            return Err(Error::RecordTooLarge(record.len()));
        }
        let section = self.records / RECORDS_PER_SECTION;
        let journal = self.journal.take().ok_or(Error::Poisoned)?;
        let (journal, _, _) = journal.append(section, record).await?;
        self.journal = Some(journal);
        self.records += 1;
        self.dirty.insert(section);
        Ok(())
    }

    /// Makes every appended record durable (sections in order).
    pub async fn sync(&mut self) -> Result<(), Error> {
        while let Some(section) = self.dirty.pop_first() {
            let journal = self.journal.take().ok_or(Error::Poisoned)?;
            self.journal = Some(journal.sync(section).await?);
        }
        Ok(())
    }

    /// Records stored (durable or not).
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    fn record(i: u64) -> Bytes {
        Bytes::from(format!("op-{i}-{}", "x".repeat((i % 50) as usize)))
    }

    #[test]
    fn synced_records_replay_in_order_and_unsynced_ones_are_lost() {
        deterministic::Runner::default().start(|context| async move {
            let (mut store, replayed) =
                OpStore::open(context.child("a"), "n0", 1024).await.unwrap();
            assert!(replayed.is_empty());
            for i in 0..1000 {
                store.append(&record(i)).await.unwrap();
            }
            store.sync().await.unwrap();
            store.append(&record(1000)).await.unwrap();
            // Crash: the handle goes away without a sync.
            drop(store);
            let (mut store, replayed) =
                OpStore::open(context.child("b"), "n0", 1024).await.unwrap();
            assert_eq!(replayed, (0..1000).map(record).collect::<Vec<_>>());
            assert_eq!(store.len(), 1000);
            store.append(&record(1000)).await.unwrap();
            store.sync().await.unwrap();
            drop(store);
            let (_, replayed) = OpStore::open(context.child("c"), "n0", 1024).await.unwrap();
            assert_eq!(replayed.len(), 1001);
        });
    }

    #[test]
    fn oversized_records_are_refused() {
        deterministic::Runner::default().start(|context| async move {
            let (mut store, _) = OpStore::open(context.child("a"), "n0", 8).await.unwrap();
            assert!(matches!(
                store.append(&Bytes::from(vec![0u8; 9])).await,
                Err(Error::RecordTooLarge(9))
            ));
        });
    }
}
