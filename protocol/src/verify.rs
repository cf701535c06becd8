//! How the protocol checks ed25519 signatures and decodes DKG frames: directly, or through a
//! memo shared by every node of one simulated process.
//!
//! Every node of a simulated cluster verifies the same signatures (each op of the ledger, each
//! vote of the DKG's agreement) and decodes the same frames (each dealer's log, whose points
//! are checked to be in the subgroup), n times over in one process. [`Verifier`] is the handle
//! the engine gives its actors for that work, as commonware passes a `Strategy` to batch
//! verification: a node gets [`Verifier::direct`] (the work, every time); the simulator may
//! give every node of a run one [`Verifier::memoized`], which remembers results by the exact
//! bytes they were computed from (the key, namespace, message and signature; the frame and its
//! bound) and returns exactly what the direct call would. It is invisible to behaviour: it
//! consumes no randomness and never changes an answer, so a run's digest is the same with and
//! without it (the simulator checks this). It is bounded: past [`MEMO_ENTRIES`] entries the
//! oldest are forgotten (and computed again if asked).
//!
//! Only results that cannot depend on anything but those bytes are kept: a signature's
//! validity, a frame's decoding (errors are not kept, and are computed each time). The module
//! knows no protocol: a frame's decoder is the caller's.

use crate::cluster::PublicKey;
use bytes::Bytes;
use commonware_cryptography::{Hasher as _, Sha256, Verifier as _, ed25519};
use std::{
    any::Any,
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
};

/// Entries a memo keeps (signatures and frames together).
pub const MEMO_ENTRIES: usize = 1 << 18;

/// What a memo keeps per key.
enum Entry {
    /// A signature verified (only valid ones are kept).
    Valid,
    /// A frame's decoding (its type is the caller's: the DKG's messages, say).
    Frame(Box<dyn Any + Send + Sync>),
}

#[derive(Default)]
struct Memo {
    entries: BTreeMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
    hits: u64,
}

impl Memo {
    fn insert(&mut self, key: [u8; 32], entry: Entry) {
        if self.entries.insert(key, entry).is_none() {
            self.order.push_back(key);
            while self.order.len() > MEMO_ENTRIES {
                if let Some(old) = self.order.pop_front() {
                    self.entries.remove(&old);
                }
            }
        }
    }
}

/// The verification handle an engine's actors share (see the module docs).
#[derive(Clone, Default)]
pub struct Verifier {
    memo: Option<Arc<Mutex<Memo>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("memoized", &self.memo.is_some())
            .finish()
    }
}

/// sha256 of the parts, each prefixed with its length (so no two part lists collide).
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let lengths: Vec<[u8; 8]> = parts
        .iter()
        .map(|p| (p.len() as u64).to_be_bytes())
        .collect();
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2);
    for (length, part) in lengths.iter().zip(parts) {
        all.push(length);
        all.push(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(Sha256::hash(&all).as_ref());
    out
}

fn signature_key(
    key: &PublicKey,
    namespace: &[u8],
    message: &[u8],
    signature: &ed25519::Signature,
) -> [u8; 32] {
    digest(&[
        b"ed25519",
        key.as_ref(),
        namespace,
        message,
        signature.as_ref(),
    ])
}

impl Verifier {
    /// The work, every time (a node).
    pub fn direct() -> Self {
        Self { memo: None }
    }

    /// A memo to share between every node of one simulated run.
    pub fn memoized() -> Self {
        Self {
            memo: Some(Arc::default()),
        }
    }

    /// Whether results are remembered.
    pub fn is_memoized(&self) -> bool {
        self.memo.is_some()
    }

    /// Answers taken from the memo so far (0 without one).
    pub fn hits(&self) -> u64 {
        self.memo
            .as_ref()
            .map_or(0, |m| m.lock().expect("verifier memo").hits)
    }

    fn known(&self, key: &[u8; 32]) -> bool {
        let Some(memo) = &self.memo else {
            return false;
        };
        let mut memo = memo.lock().expect("verifier memo");
        let known = matches!(memo.entries.get(key), Some(Entry::Valid));
        if known {
            memo.hits += 1;
        }
        known
    }

    fn remember(&self, key: [u8; 32], entry: Entry) {
        if let Some(memo) = &self.memo {
            memo.lock().expect("verifier memo").insert(key, entry);
        }
    }

    /// Whether `signature` is `key`'s over `message` in `namespace`.
    pub fn verify(
        &self,
        key: &PublicKey,
        namespace: &[u8],
        message: &[u8],
        signature: &ed25519::Signature,
    ) -> bool {
        if self.memo.is_none() {
            return key.verify(namespace, message, signature);
        }
        let memo_key = signature_key(key, namespace, message, signature);
        if self.known(&memo_key) {
            return true;
        }
        let valid = key.verify(namespace, message, signature);
        if valid {
            self.remember(memo_key, Entry::Valid);
        }
        valid
    }

    /// Whether the memo already knows this signature valid (always `false` without one): a
    /// batch may leave it out.
    pub fn known_valid(
        &self,
        key: &PublicKey,
        namespace: &[u8],
        message: &[u8],
        signature: &ed25519::Signature,
    ) -> bool {
        self.memo.is_some() && self.known(&signature_key(key, namespace, message, signature))
    }

    /// Records that this signature verified (in a batch that passed).
    pub fn record_valid(
        &self,
        key: &PublicKey,
        namespace: &[u8],
        message: &[u8],
        signature: &ed25519::Signature,
    ) {
        if self.memo.is_some() {
            self.remember(
                signature_key(key, namespace, message, signature),
                Entry::Valid,
            );
        }
    }

    /// `decode(frame)`, remembered under `kind` and `bound` (what else the decoding depends
    /// on: a cluster's size, say) and the frame's bytes. Errors are not remembered.
    pub fn decode<M, E>(
        &self,
        kind: &[u8],
        bound: &[u8],
        frame: Bytes,
        decode: impl FnOnce(Bytes) -> Result<M, E>,
    ) -> Result<M, E>
    where
        M: Clone + Send + Sync + 'static,
    {
        let Some(memo) = &self.memo else {
            return decode(frame);
        };
        let memo_key = digest(&[b"frame", kind, bound, &frame]);
        {
            let mut memo = memo.lock().expect("verifier memo");
            if let Some(message) = match memo.entries.get(&memo_key) {
                Some(Entry::Frame(any)) => any.downcast_ref::<M>().cloned(),
                _ => None,
            } {
                memo.hits += 1;
                return Ok(message);
            }
        }
        let message = decode(frame)?;
        self.remember(memo_key, Entry::Frame(Box::new(message.clone())));
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;

    #[test]
    fn a_memo_answers_as_the_direct_path_does() {
        let key = ed25519::PrivateKey::from_seed(1);
        let other = ed25519::PrivateKey::from_seed(2).public_key();
        let signature = key.sign(b"ns", b"message");
        for verifier in [Verifier::direct(), Verifier::memoized()] {
            for _ in 0..2 {
                assert!(verifier.verify(&key.public_key(), b"ns", b"message", &signature));
                assert!(!verifier.verify(&key.public_key(), b"ns", b"other", &signature));
                assert!(!verifier.verify(&key.public_key(), b"xx", b"message", &signature));
                assert!(!verifier.verify(&other, b"ns", b"message", &signature));
            }
        }
        let memo = Verifier::memoized();
        assert!(!memo.known_valid(&key.public_key(), b"ns", b"message", &signature));
        memo.record_valid(&key.public_key(), b"ns", b"message", &signature);
        assert!(memo.known_valid(&key.public_key(), b"ns", b"message", &signature));
        assert!(!Verifier::direct().known_valid(&key.public_key(), b"ns", b"message", &signature));
        assert_eq!(memo.hits(), 1);
    }

    #[test]
    fn decoding_through_a_memo_gives_the_same_message_and_errors() {
        let calls = std::cell::Cell::new(0);
        let parse = |frame: Bytes| {
            calls.set(calls.get() + 1);
            match frame.first() {
                Some(0) => Err("bad"),
                _ => Ok(frame.len()),
            }
        };
        for verifier in [Verifier::direct(), Verifier::memoized()] {
            calls.set(0);
            for _ in 0..2 {
                assert_eq!(
                    verifier.decode(b"t", b"4", Bytes::from_static(&[1, 2, 3]), parse),
                    Ok(3)
                );
                assert_eq!(
                    verifier.decode(b"t", b"4", Bytes::from_static(&[0, 2]), parse),
                    Err("bad")
                );
            }
            // The memo decodes the good frame once; errors are decoded each time.
            let expected = if verifier.is_memoized() { 3 } else { 4 };
            assert_eq!(calls.get(), expected);
        }
        // Another bound is another entry.
        let memo = Verifier::memoized();
        assert_eq!(
            memo.decode(b"t", b"4", Bytes::from_static(&[5]), parse),
            Ok(1)
        );
        assert_eq!(
            memo.decode(b"t", b"5", Bytes::from_static(&[5]), parse),
            Ok(1)
        );
        assert_eq!(memo.hits(), 0);
    }
}
