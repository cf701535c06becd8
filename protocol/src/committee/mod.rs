//! Membership as governance data (issue 13): committees proposed, voted on and certified in the
//! ledger, and the cluster definition as the history they make.
//!
//! - [`proposal`]: a proposed committee (`Propose` ops carry it), its digest (what `Vote`
//!   partials and the `Certify` threshold signature sign), and the rules it is checked
//!   against, each refusal named;
//! - [`chain`]: the genesis definition followed by the certified committees, one per epoch,
//!   derived alike by every node from the certificates it holds;
//! - [`ballot`]: which proposal a voter approves for the next epoch (the lowest valid digest,
//!   never one of an author that proposed twice or is not a member), each other one skipped
//!   with a named reason.
//!
//! - [`settings`]: the governance actor's timing (the ledger's settings carry it).
//!
//! All are pure and below the ledger, which stores and verifies the governance ops.
//!
//! # Design
//!
//! - **Everything is a ledger op.** A member proposes (`Propose`), members approve with a
//!   partial signature from their current share (`Vote`, naming the `Propose` op as a parent),
//!   and whoever holds `t` approvals recovers the threshold signature and appends `Certify`
//!   (naming the `Propose` op as a parent). The votes are counted with the checkpoint vote
//!   machinery ([`crate::vote::Tally`]: one vote per voter, invalid partials and partials of
//!   another epoch's shares refused with a reason); carrying them as ops makes a vote durable
//!   before it counts (a voter's approval survives its crash, so it never approves two
//!   proposals of one epoch), visible to every node (a dead proposer does not stall the
//!   epoch), and served to joiners by the ledger's backfill.
//! - **One committee per epoch.** See [`chain`]'s docs: approve-once voters and a BFT-quorum
//!   threshold make a second certificate for an epoch impossible within the fault bound; beyond
//!   it every node still picks the same one.
//! - **The certificate binds the key material.** A proposal names the digest of the DKG
//!   output it reshares; a joiner checks the output it fetches against it.
//! - **The genesis definition anchors everything.** The cluster hash covers it alone; each later
//!   epoch's committee is bound by its certificate, so a restarted member and a newcomer agree on
//!   who is in without editing files.

pub mod ballot;
pub mod chain;
pub mod proposal;
pub mod settings;

pub use ballot::{Candidate, Decision, Skip, choose};
pub use chain::{Added, Chain, Committee, Source};
pub use proposal::{
    CERTIFICATE_NAMESPACE, CommitteeProposal, Current, Digest, Joining, MAX_PROPOSAL_BYTES,
    MIN_SAFE_MEMBERS, Refusal, encoded_output_digest, output_digest, threshold_for,
};
pub use settings::{Settings, SettingsError};

/// Keys and ids the committee tests share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::cluster::PublicKey;
    use commonware_cryptography::{Signer as _, ed25519, sha256};

    /// `n` keys, ascending.
    pub fn keys(n: u64) -> Vec<PublicKey> {
        let mut k: Vec<PublicKey> = (0..n)
            .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
            .collect();
        k.sort();
        k
    }

    /// An op id made of one repeated byte.
    pub fn op(b: u8) -> sha256::Digest {
        sha256::Digest::from([b; 32])
    }
}
