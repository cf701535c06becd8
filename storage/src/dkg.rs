//! The DKG journal: every record a ceremony must survive a crash with, one section per epoch.
//!
//! SPEC section 2 asks each epoch to keep, append-only: every dealing a player accepted, every ack
//! a dealer received, every finalized log, and the epoch state (round, RNG seed, output, share).
//! This store is deliberately ignorant of those types: a [`Record`] is a kind byte chosen by the
//! protocol and an encoded payload. What it guarantees:
//!
//! - **Durability.** [`DkgJournal::sync`] returns only once every record appended to that epoch
//!   is durable. A record appended but not synced may be lost by a crash; a synced one never is.
//!   On [`DkgJournal::open`], every epoch is replayed in append order (a torn tail is cut off).
//! - **Secrets at rest.** A record appended with `secret = true` (a private dealing, a share, a
//!   dealing seed) is sealed with XChaCha20-Poly1305 under a key derived from the node's secret,
//!   with a fresh random 24-byte nonce per record (no counter state, so a crash can never make a
//!   nonce repeat). The associated data binds the ciphertext to its partition, epoch and kind, so
//!   a sealed record cannot be moved to another epoch or passed off as another kind. The storage
//!   never holds the plaintext of a secret record.
//! - **Pruning.** [`DkgJournal::prune_before`] drops whole epochs; the protocol prunes the epochs
//!   older than the last completed one.
//! - **Bounds.** A record's payload is at most [`MAX_RECORD_BYTES`]; larger ones are refused on
//!   write and on read.

use crate::{Error, partition};
use bytes::{Buf, BufMut};
use chacha20poly1305::{
    KeyInit as _, XChaCha20Poly1305, XNonce,
    aead::{Aead as _, Payload},
};
use commonware_codec::{EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, Write};
use commonware_cryptography::{Hasher as _, Sha256};
use commonware_runtime::{ReadOptions, buffer::paged::CacheRef};
use commonware_storage::{
    Context,
    journal::segmented::variable::{Config, Journal},
};
use commonware_utils::{NZU16, NZUsize};
use rand_core::CryptoRng;
use std::collections::BTreeMap;

/// Largest payload of one record, in bytes (a dealer log of a 256-member cluster fits).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Length of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
const TAG_LEN: usize = 16;
/// Domain of the sealing-key derivation.
const KEY_DOMAIN: &[u8] = b"_COHORT_STORAGE_SEALING_KEY";

/// The key sealing secret records. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// Derives the key from a uniformly random secret of at least 32 bytes (the node's ed25519
    /// private key or an operator secret): `sha256(domain || len(purpose) || purpose || secret)`.
    /// A hash is a sound KDF for an input that is already uniformly random.
    pub fn derive(secret: &[u8], purpose: &[u8]) -> Self {
        let len = (purpose.len() as u64).to_be_bytes();
        let digest = Sha256::hash(&[KEY_DOMAIN, &len, purpose, secret]);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        Self(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.0).expect("32-byte key")
    }
}

/// One record as the protocol sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The protocol's record kind.
    pub kind: u8,
    /// The encoded record (plaintext, also for secret records).
    pub payload: Vec<u8>,
}

/// One record as stored: `kind`, then either the plaintext or a nonce and the ciphertext + tag.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stored {
    kind: u8,
    nonce: Option<[u8; NONCE_LEN]>,
    body: Vec<u8>,
}

impl Write for Stored {
    fn write(&self, buf: &mut impl BufMut) {
        self.kind.write(buf);
        match &self.nonce {
            Some(nonce) => {
                1u8.write(buf);
                buf.put_slice(nonce);
            }
            None => 0u8.write(buf),
        }
        self.body.write(buf);
    }
}

impl EncodeSize for Stored {
    fn encode_size(&self) -> usize {
        2 + self.nonce.map_or(0, |n| n.len()) + self.body.encode_size()
    }
}

impl Read for Stored {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        let kind = u8::read(buf)?;
        let nonce = match u8::read(buf)? {
            0 => None,
            1 => {
                if buf.remaining() < NONCE_LEN {
                    return Err(CodecError::EndOfBuffer);
                }
                let mut nonce = [0u8; NONCE_LEN];
                buf.copy_to_slice(&mut nonce);
                Some(nonce)
            }
            other => return Err(CodecError::InvalidEnum(other)),
        };
        let body = Vec::<u8>::read_cfg(buf, &(RangeCfg::new(..=MAX_RECORD_BYTES + TAG_LEN), ()))?;
        Ok(Self { kind, nonce, body })
    }
}

/// The DKG journal of one node.
pub struct DkgJournal<E: Context> {
    /// `None` only while an operation that consumes the journal is in flight; an error there
    /// leaves it `None`, and every later call fails (storage errors are fatal for the node).
    journal: Option<Journal<E, Stored>>,
    key: SealingKey,
    partition: String,
}

/// Everything a journal held when opened: each epoch's records in append order.
pub type Replayed = BTreeMap<u64, Vec<Record>>;

impl<E: Context> DkgJournal<E> {
    /// Opens (or creates) the journal under `prefix` and replays every epoch.
    ///
    /// A secret record that does not open under `key` is reported as [`Error::Unsealable`]: the
    /// data was written with another key or altered.
    pub async fn open(
        context: E,
        prefix: &str,
        key: SealingKey,
    ) -> Result<(Self, Replayed), Error> {
        crate::validate_prefix(prefix)?;
        let partition = partition(prefix, "dkg");
        let journal = Journal::init(
            context,
            Config {
                partition: partition.clone(),
                compression: None,
                codec_config: (),
                page_cache: CacheRef::new(NZU16!(4096), NZUsize!(64)),
                write_buffer: NZUsize!(64 * 1024),
            },
        )
        .await?;
        let mut replayed = Replayed::new();
        let journal = {
            let mut replay = journal
                .replay(0, 0, NZUsize!(64 * 1024), ReadOptions::default())
                .await?;
            while let Some(item) = replay.next().await {
                let (epoch, _, _, stored) = item?;
                let record = open_record(&key, &partition, epoch, stored)?;
                replayed.entry(epoch).or_default().push(record);
            }
            replay.finish()?
        };
        Ok((
            Self {
                journal: Some(journal),
                key,
                partition,
            },
            replayed,
        ))
    }

    fn take(&mut self) -> Result<Journal<E, Stored>, Error> {
        self.journal.take().ok_or(Error::Poisoned)
    }

    /// Appends `record` to `epoch` (not yet durable: see [`DkgJournal::sync`]). A `secret` record
    /// is sealed with a fresh nonce drawn from `rng`.
    pub async fn append(
        &mut self,
        epoch: u64,
        record: &Record,
        secret: bool,
        rng: &mut impl CryptoRng,
    ) -> Result<(), Error> {
        if record.payload.len() > MAX_RECORD_BYTES {
            return Err(Error::RecordTooLarge(record.payload.len()));
        }
        let stored = if secret {
            let mut nonce = [0u8; NONCE_LEN];
            rng.fill_bytes(&mut nonce);
            let aad = aad(&self.partition, epoch, record.kind);
            let body = self
                .key
                .cipher()
                .encrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &record.payload,
                        aad: &aad,
                    },
                )
                .map_err(|_| Error::Unsealable { epoch })?;
            Stored {
                kind: record.kind,
                nonce: Some(nonce),
                body,
            }
        } else {
            Stored {
                kind: record.kind,
                nonce: None,
                body: record.payload.clone(),
            }
        };
        let journal = self.take()?;
        let (journal, _, _) = journal.append(epoch, &stored).await?;
        self.journal = Some(journal);
        Ok(())
    }

    /// Makes every record appended to `epoch` durable.
    pub async fn sync(&mut self, epoch: u64) -> Result<(), Error> {
        let journal = self.take()?;
        self.journal = Some(journal.sync(epoch).await?);
        Ok(())
    }

    /// Appends `record` and makes it durable before returning.
    pub async fn append_synced(
        &mut self,
        epoch: u64,
        record: &Record,
        secret: bool,
        rng: &mut impl CryptoRng,
    ) -> Result<(), Error> {
        self.append(epoch, record, secret, rng).await?;
        self.sync(epoch).await
    }

    /// Removes every epoch below `epoch`.
    pub async fn prune_before(&mut self, epoch: u64) -> Result<(), Error> {
        let journal = self.take()?;
        let (journal, _) = journal.prune(epoch).await?;
        self.journal = Some(journal);
        Ok(())
    }

    /// The oldest epoch still stored.
    pub fn oldest_epoch(&self) -> Option<u64> {
        self.journal.as_ref().and_then(|j| j.oldest_section())
    }
}

/// Associated data of a sealed record: where it belongs.
fn aad(partition: &str, epoch: u64, kind: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(partition.len() + 9);
    aad.extend_from_slice(partition.as_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad.push(kind);
    aad
}

fn open_record(
    key: &SealingKey,
    partition: &str,
    epoch: u64,
    stored: Stored,
) -> Result<Record, Error> {
    let payload = match stored.nonce {
        None => stored.body,
        Some(nonce) => key
            .cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &stored.body,
                    aad: &aad(partition, epoch, stored.kind),
                },
            )
            .map_err(|_| Error::Unsealable { epoch })?,
    };
    if payload.len() > MAX_RECORD_BYTES {
        return Err(Error::RecordTooLarge(payload.len()));
    }
    Ok(Record {
        kind: stored.kind,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{
        Blob as _, Runner as _, Storage as _, Supervisor as _, deterministic,
    };
    use rand_core::SeedableRng as _;

    fn key() -> SealingKey {
        SealingKey::derive(&[7u8; 32], b"test")
    }

    fn record(kind: u8, text: &str) -> Record {
        Record {
            kind,
            payload: text.as_bytes().to_vec(),
        }
    }

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(1)
    }

    /// Opens node `n0`'s journal under a fresh child context (one per "boot").
    async fn open(
        context: &deterministic::Context,
        boot: &'static str,
    ) -> (DkgJournal<deterministic::Context>, Replayed) {
        DkgJournal::open(context.child(boot), "n0", key())
            .await
            .unwrap()
    }

    #[test]
    fn synced_records_replay_in_order_per_epoch() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let (mut journal, replayed) = open(&context, "a").await;
            assert!(replayed.is_empty());
            journal
                .append(0, &record(1, "seed"), true, &mut rng)
                .await
                .unwrap();
            journal
                .append(0, &record(2, "dealing"), false, &mut rng)
                .await
                .unwrap();
            journal
                .append(1, &record(3, "ack"), false, &mut rng)
                .await
                .unwrap();
            journal.sync(0).await.unwrap();
            journal.sync(1).await.unwrap();
            drop(journal);
            let (_, replayed) = open(&context, "b").await;
            assert_eq!(
                replayed.get(&0).unwrap(),
                &vec![record(1, "seed"), record(2, "dealing")]
            );
            assert_eq!(replayed.get(&1).unwrap(), &vec![record(3, "ack")]);
        });
    }

    #[test]
    fn unsynced_records_are_lost_and_synced_ones_survive() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let (mut journal, _) = open(&context, "a").await;
            journal
                .append_synced(0, &record(1, "durable"), true, &mut rng)
                .await
                .unwrap();
            journal
                .append(0, &record(2, "volatile"), false, &mut rng)
                .await
                .unwrap();
            // Crash: the handle goes away without a sync.
            drop(journal);
            let (_, replayed) = open(&context, "b").await;
            assert_eq!(replayed.get(&0).unwrap(), &vec![record(1, "durable")]);
        });
    }

    /// Reads every byte of every blob of `partition`.
    async fn raw_bytes(context: &deterministic::Context, partition: &str) -> Vec<u8> {
        let mut all = Vec::new();
        for name in context.scan(partition).await.unwrap() {
            let (blob, len) = context.open(partition, &name).await.unwrap();
            let data = blob
                .read_at(0, len as usize, ReadOptions::default())
                .await
                .unwrap();
            all.extend_from_slice(data.coalesce().as_ref());
        }
        all
    }

    #[test]
    fn secret_records_are_never_stored_in_plaintext() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let secret = "SHARE-0123456789-abcdefghijklmnopqrstuvwxyz-SECRET";
            let public = "PUBLIC-commitment-9876543210-zyxwvutsrqponmlkjih";
            let (mut journal, _) = open(&context, "a").await;
            journal
                .append(4, &record(9, secret), true, &mut rng)
                .await
                .unwrap();
            journal
                .append(4, &record(8, public), false, &mut rng)
                .await
                .unwrap();
            journal.sync(4).await.unwrap();
            drop(journal);
            let raw = raw_bytes(&context, "n0-dkg").await;
            let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
            // The test can see plaintext when there is some...
            assert!(contains(public));
            // ...and the secret is not there, nor any 16-byte piece of it.
            for piece in secret.as_bytes().chunks(16) {
                assert!(!raw.windows(piece.len()).any(|w| w == piece));
            }
            // It still reads back.
            let (_, replayed) = open(&context, "b").await;
            assert_eq!(replayed[&4][0], record(9, secret));
        });
    }

    #[test]
    fn a_wrong_key_is_refused() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let (mut journal, _) = open(&context, "a").await;
            journal
                .append_synced(2, &record(1, "share"), true, &mut rng)
                .await
                .unwrap();
            drop(journal);
            let other = SealingKey::derive(&[8u8; 32], b"test");
            let result = DkgJournal::open(context.child("b"), "n0", other).await;
            assert!(matches!(result, Err(Error::Unsealable { epoch: 2 })));
        });
    }

    #[test]
    fn pruning_drops_older_epochs() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let (mut journal, _) = open(&context, "a").await;
            for epoch in 0..4 {
                journal
                    .append_synced(epoch, &record(1, "state"), false, &mut rng)
                    .await
                    .unwrap();
            }
            journal.prune_before(2).await.unwrap();
            assert_eq!(journal.oldest_epoch(), Some(2));
            drop(journal);
            let (_, replayed) = open(&context, "b").await;
            assert_eq!(replayed.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        });
    }

    #[test]
    fn oversized_records_are_refused() {
        deterministic::Runner::default().start(|context| async move {
            let mut rng = rng();
            let (mut journal, _) = open(&context, "a").await;
            let big = Record {
                kind: 1,
                payload: vec![0; MAX_RECORD_BYTES + 1],
            };
            assert!(matches!(
                journal.append(0, &big, false, &mut rng).await,
                Err(Error::RecordTooLarge(_))
            ));
        });
    }

    #[test]
    fn key_derivation_separates_purposes_and_hides_the_key() {
        let a = SealingKey::derive(&[1; 32], b"dkg");
        let b = SealingKey::derive(&[1; 32], b"ledger");
        let c = SealingKey::derive(&[2; 32], b"dkg");
        assert_ne!(a.0, b.0);
        assert_ne!(a.0, c.0);
        assert_eq!(format!("{a:?}"), "SealingKey(..)");
    }
}
