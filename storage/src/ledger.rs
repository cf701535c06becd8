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
//!   each).
//! - **Compaction.** [`OpStore::rewrite`] replaces the whole store with the records it is
//!   given (the ledger's kept ops after a compaction), crash-safely: it writes them to a fresh
//!   journal of the next *generation*, syncs it, then records the new generation in a small
//!   metadata store (one synced write, the commit point), then destroys the old journal. A
//!   crash before the commit leaves the old generation in force (the half-written one is
//!   destroyed at the next open); a crash after it leaves the new one (the old one is
//!   destroyed at the next open). The journals are checksummed by commonware-storage; the
//!   metadata store keeps two copies and falls back to the older one when the newer is
//!   damaged, so a commit can be forgotten: a current generation found empty while the next
//!   one holds records is that case (a rewrite never starts from an empty store, and destroys
//!   the old generation only after its commit), and the next one is adopted. Every
//!   generation's journal registers its metrics under the store's child `journal` (the same
//!   names whatever the generation: a registration of an existing name shares it); the
//!   metadata store's under its child `generation`.
//! - **What it should hold** ([`Marks`]). The same metadata store keeps, apart from the
//!   records, what the owner last declared it holds: that the store was created, the highest
//!   seq of the owner's own chain it synced, and how many records were durable then
//!   ([`OpStore::mark`], one synced write, made before the owner tells anyone of that op). At
//!   open, records fewer than marked, or an own chain shorter than marked, prove synced
//!   records were lost (a torn or corrupted page the journal cut off, a deleted section); no
//!   marks at all beside a node that booted before prove the whole store was lost. The
//!   ledger decides what to do about it (`cohort_protocol::ledger`'s own-chain recovery).

use crate::{Error, partition};
use bytes::Bytes;
use commonware_codec::RangeCfg;
use commonware_runtime::{ReadOptions, buffer::paged::CacheRef};
use commonware_storage::{
    Context,
    journal::segmented::variable::{Config, Journal},
    metadata::{self, Metadata},
};
use commonware_utils::{NZU16, NZUsize, sequence::U64};
use std::collections::BTreeSet;

/// Records per journal section.
pub const RECORDS_PER_SECTION: u64 = 1 << 16;

/// Key of the current generation in the store's metadata.
const GENERATION: u64 = 0;
/// Key of the flag "the owner marked this store" (1).
const CREATED: u64 = 1;
/// Key of the highest own seq the owner marked synced.
const OWN_HEAD: u64 = 2;
/// Key of the records that were durable when the owner last marked the store.
const MARKED_RECORDS: u64 = 3;

/// What the store's owner last declared it holds ([`OpStore::mark`]), as read at open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// The owner marked this store at least once.
    pub created: bool,
    /// The highest seq of the owner's own chain marked synced (0: none).
    pub own_head: u64,
    /// Records durable at the last mark (`None`: not comparable, e.g. the commit of a rewrite
    /// was forgotten and the rewritten generation adopted).
    pub records: Option<u64>,
}

/// The journal partition of `generation` (generation 0 keeps the original name).
fn journal_partition(prefix: &str, generation: u64) -> String {
    match generation {
        0 => partition(prefix, "ops"),
        g => partition(prefix, &format!("ops{g}")),
    }
}

fn journal_config(prefix: &str, generation: u64, max_record: usize) -> Config<RangeCfg<usize>> {
    Config {
        partition: journal_partition(prefix, generation),
        compression: None,
        codec_config: RangeCfg::new(..=max_record),
        page_cache: CacheRef::new(NZU16!(4096), NZUsize!(256)),
        write_buffer: NZUsize!(256 * 1024),
    }
}

/// The op store of one node.
pub struct OpStore<E: Context> {
    context: E,
    prefix: String,
    generation: u64,
    meta: Option<Metadata<E, U64, u64>>,
    /// `None` only while an operation that consumes the journal is in flight; an error there
    /// leaves it `None`, and every later call fails (storage errors are fatal for the node).
    journal: Option<Journal<E, Bytes>>,
    max_record: usize,
    records: u64,
    bytes: u64,
    dirty: BTreeSet<u64>,
    marks: Marks,
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
        let meta: Metadata<E, U64, u64> = Metadata::init(
            context.child("generation"),
            metadata::Config {
                partition: partition(prefix, "opsgen"),
                codec_config: (),
            },
        )
        .await?;
        let mut meta = meta;
        let mut generation = meta.get(&U64::new(GENERATION)).copied().unwrap_or(0);
        // One rewrite per compaction: a count near the end of u64 is damage, not history.
        if generation >= u64::MAX / 2 {
            return Err(Error::CorruptGeneration(generation));
        }
        let mut journal = Journal::init(
            context.child("journal"),
            journal_config(prefix, generation, max_record),
        )
        .await?;
        // The next generation: left by a rewrite that crashed before its commit (then the
        // current one holds the records and it is destroyed), or committed while the record of
        // it was lost (the metadata fell back to an older copy): then the current one is empty,
        // since a rewrite only runs on a store that holds records and destroys the old
        // generation only after the commit, and the next one is adopted.
        let next = Journal::<E, Bytes>::init(
            context.child("journal"),
            journal_config(prefix, generation + 1, max_record),
        )
        .await?;
        let get = |key: u64| meta.get(&U64::new(key)).copied();
        let mut marks = Marks {
            created: get(CREATED) == Some(1),
            own_head: get(OWN_HEAD).unwrap_or(0),
            records: get(MARKED_RECORDS),
        };
        if journal.is_empty() && !next.is_empty() {
            // The marked count was the old generation's.
            marks.records = None;
            journal.destroy().await?;
            journal = next;
            generation += 1;
            meta.put(U64::new(GENERATION), generation);
            meta = meta.sync().await?;
        } else {
            next.destroy().await?;
        }
        // The previous generation, left by a rewrite that crashed after its commit.
        if let Some(previous) = generation.checked_sub(1) {
            Journal::<E, Bytes>::init(
                context.child("journal"),
                journal_config(prefix, previous, max_record),
            )
            .await?
            .destroy()
            .await?;
        }
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
                context,
                prefix: prefix.to_string(),
                generation,
                meta: Some(meta),
                journal: Some(journal),
                max_record,
                records: records.len() as u64,
                bytes: records.iter().map(|r| r.len() as u64).sum(),
                dirty: BTreeSet::new(),
                marks,
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
        self.bytes += record.len() as u64;
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

    /// Replaces every stored record with `records` (in this order, all durable when this
    /// returns), crash-safely (see the module docs).
    pub async fn rewrite(
        &mut self,
        records: impl IntoIterator<Item = &Bytes>,
    ) -> Result<(), Error> {
        let next = self.generation + 1;
        let mut journal: Journal<E, Bytes> = Journal::init(
            self.context.child("journal"),
            journal_config(&self.prefix, next, self.max_record),
        )
        .await?;
        // A stale next generation was destroyed at open; a failed rewrite earlier in this life
        // may have left one: start it empty.
        journal = journal.clear().await?;
        let mut count = 0u64;
        let mut bytes = 0u64;
        for record in records {
            bytes += record.len() as u64;
            if record.len() > self.max_record {
                return Err(Error::RecordTooLarge(record.len()));
            }
            journal = journal.append(count / RECORDS_PER_SECTION, record).await?.0;
            count += 1;
        }
        let journal = journal.sync_all().await?;
        let mut meta = self.meta.take().ok_or(Error::Poisoned)?;
        meta.put(U64::new(GENERATION), next);
        // The rewritten generation holds `count` records, all durable: the mark follows.
        if meta.get(&U64::new(MARKED_RECORDS)).is_some() {
            meta.put(U64::new(MARKED_RECORDS), count);
        }
        self.meta = Some(meta.sync().await?);
        // Committed: the new generation is the store.
        let old = self.journal.replace(journal);
        self.generation = next;
        self.records = count;
        self.bytes = bytes;
        self.dirty.clear();
        if let Some(old) = old {
            old.destroy().await?;
        }
        Ok(())
    }

    /// What the owner had marked when the store was opened ([`Marks`]).
    pub fn marks(&self) -> Marks {
        self.marks
    }

    /// Declares, durably, that the store holds the owner's own chain up to `own_head` and
    /// every record appended so far: call right after [`OpStore::sync`] (a record appended
    /// but not synced would be marked durable), and before anyone is told of that own op.
    pub async fn mark(&mut self, own_head: u64) -> Result<(), Error> {
        let mut meta = self.meta.take().ok_or(Error::Poisoned)?;
        meta.put(U64::new(CREATED), 1);
        meta.put(U64::new(OWN_HEAD), own_head);
        meta.put(U64::new(MARKED_RECORDS), self.records);
        self.meta = Some(meta.sync().await?);
        Ok(())
    }

    /// The store's generation (how many rewrites it went through).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes of the stored records (durable or not; the journal's framing not included).
    pub fn bytes(&self) -> u64 {
        self.bytes
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
    fn a_rewrite_replaces_the_records_and_survives_a_crash_on_either_side_of_its_commit() {
        deterministic::Runner::default().start(|context| async move {
            let (mut store, _) = OpStore::open(context.child("a"), "n0", 1024).await.unwrap();
            for i in 0..300 {
                store.append(&record(i)).await.unwrap();
            }
            store.sync().await.unwrap();
            let kept: Vec<Bytes> = (0..300).filter(|i| i % 7 == 0).map(record).collect();
            store.rewrite(kept.iter()).await.unwrap();
            assert_eq!((store.len(), store.generation()), (kept.len() as u64, 1));
            store.append(&record(1000)).await.unwrap();
            store.sync().await.unwrap();
            drop(store);
            let (store, replayed) = OpStore::open(context.child("b"), "n0", 1024).await.unwrap();
            let mut expected = kept.clone();
            expected.push(record(1000));
            assert_eq!(replayed, expected);
            assert_eq!(store.generation(), 1);
            drop(store);
            // A rewrite that crashed before its commit: a half-written next generation.
            let (mut half, _, _) =
                Journal::<_, Bytes>::init(context.child("c"), journal_config("n0", 2, 1024))
                    .await
                    .unwrap()
                    .append(0, &record(5))
                    .await
                    .unwrap();
            half = half.sync_all().await.unwrap();
            drop(half);
            let (mut store, replayed) =
                OpStore::open(context.child("d"), "n0", 1024).await.unwrap();
            assert_eq!(replayed, expected);
            // The next rewrite starts that generation afresh.
            store.rewrite(kept.iter().take(3)).await.unwrap();
            drop(store);
            let (store, replayed) = OpStore::open(context.child("e"), "n0", 1024).await.unwrap();
            assert_eq!(replayed, kept[..3].to_vec());
            assert_eq!(store.generation(), 2);
        });
    }

    #[test]
    fn a_forgotten_commit_adopts_the_rewritten_generation_instead_of_destroying_it() {
        deterministic::Runner::default().start(|context| async move {
            let (mut store, _) = OpStore::open(context.child("a"), "n0", 1024).await.unwrap();
            for i in 0..50 {
                store.append(&record(i)).await.unwrap();
            }
            store.sync().await.unwrap();
            let kept: Vec<Bytes> = (0..50).filter(|i| i % 5 == 0).map(record).collect();
            store.rewrite(kept.iter()).await.unwrap();
            drop(store);
            // The metadata falls back to a copy from before the commit.
            let mut meta: Metadata<_, U64, u64> = Metadata::init(
                context.child("m"),
                metadata::Config {
                    partition: partition("n0", "opsgen"),
                    codec_config: (),
                },
            )
            .await
            .unwrap();
            meta.put(U64::new(GENERATION), 0);
            drop(meta.sync().await.unwrap());
            let (store, replayed) = OpStore::open(context.child("b"), "n0", 1024).await.unwrap();
            assert_eq!(replayed, kept);
            assert_eq!(store.generation(), 1);
            drop(store);
            let (store, replayed) = OpStore::open(context.child("c"), "n0", 1024).await.unwrap();
            assert_eq!((replayed, store.generation()), (kept, 1));
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

#[cfg(test)]
mod damaged {
    use super::*;
    use commonware_runtime::{
        Blob as _, Runner as _, Storage as _, Supervisor as _, deterministic,
    };

    /// The simulator's storage treats a section with a garbage header as a creation torn by a
    /// crash and replays nothing from it (the node refuses such a file before it opens
    /// anything: `cohort_node::run::check_store_files`); the marks, kept apart, still say what
    /// the store held, so the ledger calls it truncated and recovers from its peers.
    #[test]
    fn marks_survive_a_garbage_header() {
        deterministic::Runner::default().start(|context| async move {
            let (mut store, _) = OpStore::open(context.child("a"), "n0", 1024).await.unwrap();
            for i in 0..100u64 {
                store.append(&Bytes::from(vec![i as u8; 40])).await.unwrap();
            }
            store.sync().await.unwrap();
            store.mark(7).await.unwrap();
            drop(store);
            let (blob, _) = context.open("n0-ops", &0u64.to_be_bytes()).await.unwrap();
            blob.write_at(0, b"GARBAGEGARBAGE!!".to_vec(), Default::default())
                .await
                .unwrap();
            blob.sync().await.unwrap();
            drop(blob);
            let (store, replayed) = OpStore::open(context.child("b"), "n0", 1024).await.unwrap();
            assert!(replayed.len() < 100);
            assert_eq!(
                store.marks(),
                Marks {
                    created: true,
                    own_head: 7,
                    records: Some(100)
                }
            );
        });
    }
}
