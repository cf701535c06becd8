//! Cohort's persistence, built on commonware-storage.
//!
//! Every store of one node lives under a *partition prefix* given by the operator (the node) or by
//! the harness (the simulator, one prefix per simulated node). [`partition`] builds the full
//! partition name of one store from that prefix, so two nodes sharing one storage backend can
//! never read each other's data.
//!
//! Storage errors are fatal for the node: callers propagate them and the node stops, to recover
//! from what was synced when it restarts.

pub mod damage;
pub mod dkg;
pub mod ledger;
pub mod meta;

/// What a store needs from the runtime.
pub use commonware_storage::Context;

use thiserror::Error;

/// Longest partition prefix accepted, in bytes. Partition names become file names.
pub const MAX_PREFIX_LEN: usize = 64;

/// Errors of this crate.
#[derive(Debug, Error)]
pub enum Error {
    /// The partition prefix is empty, too long, or has characters other than `[a-zA-Z0-9_-]`.
    #[error("invalid partition prefix {0:?}: use 1 to 64 characters from [a-zA-Z0-9_-]")]
    InvalidPrefix(String),
    /// The metadata store failed (I/O or corruption).
    #[error("metadata store: {0}")]
    Metadata(#[from] commonware_storage::metadata::Error),
    /// A journal failed (I/O or corruption).
    #[error("journal: {0}")]
    Journal(#[from] commonware_storage::journal::Error),
    /// A sealed record does not open under this node's key (another key, or altered data).
    #[error("a sealed record of epoch {epoch} does not open: wrong key or altered data")]
    Unsealable { epoch: u64 },
    /// A record is larger than the store accepts.
    #[error("record of {0} bytes is larger than the store accepts")]
    RecordTooLarge(usize),
    /// The op store's record of its generation is not one a rewrite could have written.
    #[error("op store generation record {0} is corrupt")]
    CorruptGeneration(u64),
    /// An earlier storage error left the store unusable (the node must restart and recover).
    #[error("store unusable after an earlier storage error")]
    Poisoned,
}

/// Checks that `prefix` can name partitions on every storage backend we run on.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidPrefix(prefix.to_string()))
    }
}

/// The partition of store `name` of the node whose prefix is `prefix`.
pub fn partition(prefix: &str, name: &str) -> String {
    format!("{prefix}-{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(validate_prefix("node-0_a").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("a/b").is_err());
        assert!(validate_prefix(&"x".repeat(MAX_PREFIX_LEN + 1)).is_err());
        assert_eq!(partition("n1", "meta"), "n1-meta");
    }
}
