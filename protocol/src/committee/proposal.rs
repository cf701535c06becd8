//! A proposed committee: what a `Propose` ledger op carries, what `Vote` partials and the
//! `Certify` threshold signature sign (its digest), and the rules a voter and an operator check
//! it against.
//!
//! ```text
//!   CommitteeProposal = epoch (varint) | members (varint count 1..=MAX_MEMBERS, 32-byte keys,
//!                       strictly ascending) | joining (varint count <= MAX_JOINING, each a
//!                       32-byte key and an address of 1..=MAX_ADDRESS_BYTES UTF-8 bytes,
//!                       strictly ascending by key, every key among the members)
//!                       | threshold (u32: the DKG's quorum of the members) | reason
//!                       (<= MAX_REASON_BYTES UTF-8 bytes) | previous (32 bytes)
//!   digest            = sha256(encoded CommitteeProposal), signed under CERTIFICATE_NAMESPACE
//! ```
//!
//! `previous` is the digest of the round and the encoded DKG output of the epoch before (the
//! public polynomial the new epoch reshares; see [`output_digest`]): voters approve only a proposal naming the output they
//! hold, so the certificate binds it, and a joiner that fetches that output from any peer checks
//! it against the certificate.
//!
//! The threshold is not a free choice: the DKG deals every committee of `n` members with the
//! BFT quorum `n - (n - 1) / 3` (commonware's `N3f1`), so a proposal naming another one is
//! malformed. Structural rules are checked by the decoder (a malformed proposal never reaches
//! the ledger); the rules that need the proposer's or the voter's state are
//! [`CommitteeProposal::check`] ([`Refusal`], each with a name for metrics and logs).

use crate::{
    cluster::{MAX_MEMBERS, PublicKey},
    dkg::wire::Variant,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{
    Buf, Encode as _, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, Write,
    varint::UInt,
};
use commonware_cryptography::{Hasher as _, Sha256, bls12381::dkg::feldman_desmedt::Output};
use commonware_utils::{Faults as _, N3f1};
use std::collections::BTreeSet;
use thiserror::Error;

/// Namespace of the partial signatures (and so of the certificate) over a proposal's digest.
pub const CERTIFICATE_NAMESPACE: &[u8] = b"_COHORT_COMMITTEE";

/// Most members one proposal may admit at once.
pub const MAX_JOINING: usize = 16;

/// Longest address of a joining member, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 128;

/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 256;

/// Smallest committee a proposal may shrink to: four members tolerate one fault. A committee
/// that is already smaller may stay as it is or grow, never shrink.
pub const MIN_SAFE_MEMBERS: usize = 4;

/// Largest encoded proposal.
pub const MAX_PROPOSAL_BYTES: usize = 10
    + 5
    + MAX_MEMBERS * 32
    + 5
    + MAX_JOINING * (32 + 5 + MAX_ADDRESS_BYTES)
    + 4
    + 5
    + MAX_REASON_BYTES
    + 32;

/// A proposal's digest (what partials and the certificate sign).
pub type Digest = [u8; 32];

/// The digest a proposal's `previous` names: sha256 of the round that produced the DKG
/// output (8 bytes, big endian) and the encoded output (the public polynomial and the players
/// the next epoch reshares from). The round is bound too: a joiner starts its first reshare at
/// the round after it.
pub fn output_digest(round: u64, output: &Output<Variant, PublicKey>) -> Digest {
    encoded_output_digest(round, &output.encode())
}

/// [`output_digest`] of an output still encoded (as a joiner receives it).
pub fn encoded_output_digest(round: u64, encoded: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(Sha256::hash(&[&round.to_be_bytes()[..], encoded]).as_ref());
    out
}

/// The threshold the DKG deals a committee of `members` members with.
pub fn threshold_for(members: usize) -> u32 {
    N3f1::quorum(members.max(1))
}

/// A member a proposal admits, and where the others reach it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Joining {
    pub key: PublicKey,
    /// `host:port` (or any address the node's transport understands).
    pub address: String,
}

/// A committee proposed for `epoch` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitteeProposal {
    pub epoch: u64,
    /// Strictly ascending.
    pub members: Vec<PublicKey>,
    /// Strictly ascending by key; each one a member.
    pub joining: Vec<Joining>,
    pub threshold: u32,
    pub reason: String,
    /// Digest of the encoded DKG output of epoch `epoch - 1`.
    pub previous: Digest,
}

/// Why a proposal cannot be built, or is refused by a voter.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("a committee needs between 1 and {MAX_MEMBERS} members, not {0}")]
    Size(usize),
    #[error("member {0} is listed twice")]
    Duplicate(PublicKey),
    #[error("at most {MAX_JOINING} members may join at once, not {0}")]
    TooManyJoining(usize),
    #[error("joining member {0} is not in the proposed committee")]
    JoiningNotMember(PublicKey),
    #[error("joining member {0} has an empty or oversized address (1..={MAX_ADDRESS_BYTES} bytes)")]
    BadAddress(PublicKey),
    #[error("the reason is longer than {MAX_REASON_BYTES} bytes")]
    LongReason,
    #[error("threshold {got} is not the DKG's quorum {expected} of {members} members")]
    Threshold {
        got: u32,
        expected: u32,
        members: usize,
    },
    #[error("epoch {got} is not the next epoch ({expected})")]
    WrongEpoch { expected: u64, got: u64 },
    #[error("the proposal reshares another output than the current epoch's")]
    WrongPrevious,
    #[error("{0} joins without an address")]
    NoAddress(PublicKey),
    #[error("{0} is listed as joining but is already a member")]
    AlreadyMember(PublicKey),
    #[error(
        "a committee of {members} members is below the safe size {MIN_SAFE_MEMBERS} (the current one has {current})"
    )]
    BelowSafeSize { members: usize, current: usize },
    #[error(
        "only {live} of the proposed members are live members now; a committee of {members} needs {quorum} to sign without the newcomers"
    )]
    NoLiveQuorum {
        live: usize,
        quorum: usize,
        members: usize,
    },
}

impl Refusal {
    /// The reason's name (metrics, traces).
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::Size(_) => "size",
            Refusal::Duplicate(_) => "duplicate_member",
            Refusal::TooManyJoining(_) => "too_many_joining",
            Refusal::JoiningNotMember(_) => "joining_not_member",
            Refusal::BadAddress(_) => "bad_address",
            Refusal::LongReason => "long_reason",
            Refusal::Threshold { .. } => "threshold",
            Refusal::WrongEpoch { .. } => "wrong_epoch",
            Refusal::WrongPrevious => "wrong_previous",
            Refusal::NoAddress(_) => "no_address",
            Refusal::AlreadyMember(_) => "already_member",
            Refusal::BelowSafeSize { .. } => "below_safe_size",
            Refusal::NoLiveQuorum { .. } => "no_live_quorum",
        }
    }
}

/// What a proposal is judged against: the current epoch's committee and output, the keys
/// that were ever members, and the members heard from recently.
#[derive(Clone, Debug)]
pub struct Current<'a> {
    pub epoch: u64,
    /// The current committee, ascending.
    pub committee: &'a [PublicKey],
    /// Digest of the current epoch's DKG output.
    pub output: Digest,
    /// Every key that was ever a member (they need no address).
    pub known: &'a BTreeSet<PublicKey>,
    /// Members heard from recently.
    pub live: &'a BTreeSet<PublicKey>,
}

impl CommitteeProposal {
    /// Builds a proposal (members and joiners in any order; the threshold is the DKG's) and
    /// checks its structure.
    pub fn new(
        epoch: u64,
        mut members: Vec<PublicKey>,
        mut joining: Vec<Joining>,
        reason: String,
        previous: Digest,
    ) -> Result<Self, Refusal> {
        members.sort();
        joining.sort();
        let proposal = Self {
            epoch,
            threshold: threshold_for(members.len()),
            members,
            joining,
            reason,
            previous,
        };
        proposal.validate()?;
        Ok(proposal)
    }

    /// The structural rules (the decoder's).
    pub fn validate(&self) -> Result<(), Refusal> {
        let n = self.members.len();
        if n == 0 || n > MAX_MEMBERS {
            return Err(Refusal::Size(n));
        }
        if let Some(w) = self.members.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Refusal::Duplicate(w[1].clone()));
        }
        if self.joining.len() > MAX_JOINING {
            return Err(Refusal::TooManyJoining(self.joining.len()));
        }
        if let Some(w) = self.joining.windows(2).find(|w| w[0].key >= w[1].key) {
            return Err(Refusal::Duplicate(w[1].key.clone()));
        }
        for j in &self.joining {
            if self.members.binary_search(&j.key).is_err() {
                return Err(Refusal::JoiningNotMember(j.key.clone()));
            }
            if j.address.is_empty() || j.address.len() > MAX_ADDRESS_BYTES {
                return Err(Refusal::BadAddress(j.key.clone()));
            }
        }
        if self.reason.len() > MAX_REASON_BYTES {
            return Err(Refusal::LongReason);
        }
        let expected = threshold_for(n);
        if self.threshold != expected {
            return Err(Refusal::Threshold {
                got: self.threshold,
                expected,
                members: n,
            });
        }
        Ok(())
    }

    /// The rules that need the current state: the next epoch, resharing the current output,
    /// an address for every newcomer and none for a known key, no shrinking below
    /// [`MIN_SAFE_MEMBERS`], and enough live members in the new committee to sign without any
    /// newcomer (its threshold among the current members heard from). The unchanged committee
    /// is a valid proposal: its reshare gives every member a fresh share of the same key (key
    /// recovery for a member that lost its share with its DKG journal).
    pub fn check(&self, current: &Current<'_>) -> Result<(), Refusal> {
        self.validate()?;
        let expected = current.epoch.saturating_add(1);
        if self.epoch != expected {
            return Err(Refusal::WrongEpoch {
                expected,
                got: self.epoch,
            });
        }
        if self.previous != current.output {
            return Err(Refusal::WrongPrevious);
        }
        for j in &self.joining {
            if current.known.contains(&j.key) {
                return Err(Refusal::AlreadyMember(j.key.clone()));
            }
        }
        if let Some(newcomer) = self.members.iter().find(|k| {
            !current.known.contains(*k) && self.joining.binary_search_by(|j| j.key.cmp(k)).is_err()
        }) {
            return Err(Refusal::NoAddress(newcomer.clone()));
        }
        let floor = MIN_SAFE_MEMBERS.min(current.committee.len());
        if self.members.len() < floor {
            return Err(Refusal::BelowSafeSize {
                members: self.members.len(),
                current: current.committee.len(),
            });
        }
        let live = self
            .members
            .iter()
            .filter(|k| current.committee.contains(k) && current.live.contains(*k))
            .count();
        let quorum = self.threshold as usize;
        if live < quorum {
            return Err(Refusal::NoLiveQuorum {
                live,
                quorum,
                members: self.members.len(),
            });
        }
        Ok(())
    }

    /// The canonical digest: sha256 of the encoded proposal.
    pub fn digest(&self) -> Digest {
        let mut encoded = Vec::with_capacity(self.encode_size());
        self.write(&mut encoded);
        let mut out = [0u8; 32];
        out.copy_from_slice(Sha256::hash(&[&encoded]).as_ref());
        out
    }

    /// The address of a joining member.
    pub fn address_of(&self, key: &PublicKey) -> Option<&str> {
        self.joining
            .binary_search_by(|j| j.key.cmp(key))
            .ok()
            .map(|i| self.joining[i].address.as_str())
    }
}

fn write_str(s: &str, buf: &mut impl BufMut) {
    Bytes::copy_from_slice(s.as_bytes()).write(buf);
}

fn str_size(s: &str) -> usize {
    UInt(s.len() as u64).encode_size() + s.len()
}

fn read_str(buf: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let bytes = Bytes::read_cfg(buf, &RangeCfg::new(..=max))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::Invalid("committee proposal", "not UTF-8"))
}

impl Write for CommitteeProposal {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.epoch).write(buf);
        self.members.write(buf);
        UInt(self.joining.len() as u64).write(buf);
        for j in &self.joining {
            j.key.write(buf);
            write_str(&j.address, buf);
        }
        self.threshold.write(buf);
        write_str(&self.reason, buf);
        buf.put_slice(&self.previous);
    }
}

impl EncodeSize for CommitteeProposal {
    fn encode_size(&self) -> usize {
        UInt(self.epoch).encode_size()
            + self.members.encode_size()
            + UInt(self.joining.len() as u64).encode_size()
            + self
                .joining
                .iter()
                .map(|j| j.key.encode_size() + str_size(&j.address))
                .sum::<usize>()
            + 4
            + str_size(&self.reason)
            + 32
    }
}

impl Read for CommitteeProposal {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let epoch = UInt::<u64>::read(buf)?.into();
        let members = Vec::<PublicKey>::read_cfg(buf, &(RangeCfg::new(1..=MAX_MEMBERS), ()))?;
        let joining_len: u64 = UInt::<u64>::read(buf)?.into();
        if joining_len > MAX_JOINING as u64 {
            return Err(CodecError::InvalidLength(joining_len as usize));
        }
        let mut joining = Vec::with_capacity(joining_len as usize);
        for _ in 0..joining_len {
            let key = PublicKey::read(buf)?;
            let address = read_str(buf, MAX_ADDRESS_BYTES)?;
            joining.push(Joining { key, address });
        }
        let threshold = u32::read(buf)?;
        let reason = read_str(buf, MAX_REASON_BYTES)?;
        if buf.remaining() < 32 {
            return Err(CodecError::EndOfBuffer);
        }
        let mut previous = [0u8; 32];
        buf.copy_to_slice(&mut previous);
        let proposal = Self {
            epoch,
            members,
            joining,
            threshold,
            reason,
            previous,
        };
        proposal
            .validate()
            .map_err(|r| CodecError::Invalid("committee proposal", r.name()))?;
        Ok(proposal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::testing::keys;
    use commonware_codec::DecodeExt as _;

    fn joining(key: &PublicKey) -> Joining {
        Joining {
            key: key.clone(),
            address: "127.0.0.1:4000".into(),
        }
    }

    #[test]
    fn round_trip_and_digest() {
        let k = keys(6);
        let p = CommitteeProposal::new(
            3,
            k.clone(),
            vec![joining(&k[5])],
            "add one".into(),
            [7; 32],
        )
        .unwrap();
        assert_eq!(p.threshold, 5);
        let back = CommitteeProposal::decode(p.encode()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.digest(), p.digest());
        assert_eq!(p.encode().len(), p.encode_size());
        assert_eq!(p.address_of(&k[5]), Some("127.0.0.1:4000"));
        let mut other = p.clone();
        other.reason = "another".into();
        assert_ne!(other.digest(), p.digest());
    }

    #[test]
    fn the_largest_proposal_fits_its_bound() {
        let members = keys(MAX_MEMBERS as u64);
        let joining: Vec<Joining> = members[..MAX_JOINING]
            .iter()
            .map(|k| Joining {
                key: k.clone(),
                address: "a".repeat(MAX_ADDRESS_BYTES),
            })
            .collect();
        let p = CommitteeProposal::new(
            u64::MAX,
            members,
            joining,
            "r".repeat(MAX_REASON_BYTES),
            [0; 32],
        )
        .unwrap();
        assert!(p.encode_size() <= MAX_PROPOSAL_BYTES);
        assert_eq!(CommitteeProposal::decode(p.encode()).unwrap(), p);
    }

    #[test]
    fn malformed_proposals_are_refused_by_the_decoder() {
        let k = keys(5);
        let good = CommitteeProposal::new(1, k.clone(), vec![], String::new(), [0; 32]).unwrap();
        let mut wrong_t = good.clone();
        wrong_t.threshold = 2;
        let mut unsorted = good.clone();
        unsorted.members.swap(0, 1);
        let mut outsider = good.clone();
        outsider.members.pop();
        outsider.threshold = threshold_for(4);
        outsider.joining = vec![joining(&k[4])];
        let mut no_address = good.clone();
        no_address.joining = vec![Joining {
            key: k[0].clone(),
            address: String::new(),
        }];
        for bad in [wrong_t, unsorted, outsider, no_address] {
            assert!(bad.validate().is_err());
            assert!(CommitteeProposal::decode(bad.encode()).is_err());
        }
        // A count above the bound is refused before allocation; so is truncation.
        let mut buf = Vec::new();
        UInt(1u64).write(&mut buf);
        UInt(u32::MAX as u64).write(&mut buf);
        assert!(CommitteeProposal::decode(Bytes::from(buf)).is_err());
        let bytes = good.encode();
        assert!(CommitteeProposal::decode(bytes.slice(..bytes.len() - 1)).is_err());
    }

    #[test]
    fn the_state_rules_name_what_is_wrong() {
        let k = keys(7);
        let committee = k[..4].to_vec();
        let known: BTreeSet<PublicKey> = committee.iter().cloned().collect();
        let live = known.clone();
        let current = Current {
            epoch: 2,
            committee: &committee,
            output: [9; 32],
            known: &known,
            live: &live,
        };
        let propose = |members: &[PublicKey], joining: Vec<Joining>, epoch, previous| {
            CommitteeProposal::new(epoch, members.to_vec(), joining, String::new(), previous)
                .unwrap()
        };
        // Adding one member with its address: fine.
        let add = propose(&k[..5], vec![joining(&k[4])], 3, [9; 32]);
        assert_eq!(add.check(&current), Ok(()));
        // Wrong epoch, wrong previous, a newcomer without an address, a known key joining.
        assert!(matches!(
            propose(&k[..5], vec![joining(&k[4])], 4, [9; 32]).check(&current),
            Err(Refusal::WrongEpoch {
                expected: 3,
                got: 4
            })
        ));
        assert_eq!(
            propose(&k[..5], vec![joining(&k[4])], 3, [8; 32]).check(&current),
            Err(Refusal::WrongPrevious)
        );
        assert_eq!(
            propose(&k[..5], vec![], 3, [9; 32]).check(&current),
            Err(Refusal::NoAddress(k[4].clone()))
        );
        assert_eq!(
            propose(&k[..5], vec![joining(&k[0]), joining(&k[4])], 3, [9; 32]).check(&current),
            Err(Refusal::AlreadyMember(k[0].clone()))
        );
        // The unchanged committee is a reshare (key recovery); below the safe size, or
        // without a live quorum, is refused.
        assert_eq!(
            propose(&committee, vec![], 3, [9; 32]).check(&current),
            Ok(())
        );
        assert!(matches!(
            propose(&k[..3], vec![], 3, [9; 32]).check(&current),
            Err(Refusal::BelowSafeSize { .. })
        ));
        // Two newcomers at once to four members: 4 live of 6 < quorum 5.
        assert!(matches!(
            propose(&k[..6], vec![joining(&k[4]), joining(&k[5])], 3, [9; 32]).check(&current),
            Err(Refusal::NoLiveQuorum {
                live: 4,
                quorum: 5,
                ..
            })
        ));
        // Replacing a dead member: three live ones and a newcomer make quorum 3 of 4.
        let mut three: BTreeSet<PublicKey> = live.clone();
        three.remove(&k[3]);
        let replace = propose(
            &[k[0].clone(), k[1].clone(), k[2].clone(), k[4].clone()],
            vec![joining(&k[4])],
            3,
            [9; 32],
        );
        let current3 = Current {
            live: &three,
            ..current.clone()
        };
        assert_eq!(replace.check(&current3), Ok(()));
    }
}
