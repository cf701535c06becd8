//! The cluster definition and its hash.
//!
//! A cluster is an ordered set of member identities (ed25519 public keys), the threshold `t`, the
//! protocol version and the timing parameters every member must agree on. Its **cluster hash** is
//! the sha256 of its canonical encoding; two nodes only talk protocol when their hashes and their
//! `major.minor` versions are equal.
//!
//! Canonical order: members are kept sorted by key bytes and must be unique, so two operators who
//! list the same members in a different order still compute the same hash, and a member's index
//! (used by the DKG) is its position in that order.
//!
//! **Committees.** The definition also lists the *committee* of every DKG epoch, epoch 0 first:
//! the players who hold that epoch's shares (sorted, unique, a subset of the members). Epoch 0's
//! committee deals and plays; epoch `e + 1` reshares the key from committee `e` (the dealers) to
//! committee `e + 1` (the players). By default there is one committee, every member. Members in
//! no committee of an epoch still walk its barrier steps and observe its output. Listing the
//! committee changes in the definition is a decision: every member must agree on who deals and
//! who plays, and the cluster hash makes any disagreement a refused hello instead of a split
//! ceremony. Every member runs with the whole schedule from its first start; changing the
//! definition of a running cluster is not supported yet (the barrier's resume window would
//! refuse a newcomer's first steps).

use commonware_codec::{EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Hasher, Sha256, ed25519, sha256};
use std::{fmt, time::Duration};
use thiserror::Error;

/// Most members a cluster may have. Bounds every per-member vector on the wire and in memory.
pub const MAX_MEMBERS: usize = 256;

/// Most committees (DKG epochs) one definition may list.
pub const MAX_EPOCHS: usize = 64;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion { major: 1, minor: 0 };

/// A cluster member's identity.
pub type PublicKey = ed25519::PublicKey;

/// The cluster hash.
pub type ClusterHash = sha256::Digest;

/// A protocol version; peers must agree on `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions; still required equal, so a cluster runs one behaviour.
    pub minor: u16,
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for ProtocolVersion {
    type Err = ClusterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ClusterError::BadVersion(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl Write for ProtocolVersion {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.major.write(buf);
        self.minor.write(buf);
    }
}

impl EncodeSize for ProtocolVersion {
    fn encode_size(&self) -> usize {
        4
    }
}

impl Read for ProtocolVersion {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            major: u16::read(buf)?,
            minor: u16::read(buf)?,
        })
    }
}

/// Timing parameters every member must agree on (they are part of the cluster hash).
///
/// All are in milliseconds on the wire; each is bounded to `1..=MAX_TIMING_MS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often a node tells every peer its barrier step (SPEC 1: default 100 ms).
    pub sync_period: Duration,
    /// Cap of the reconnect backoff of a barrier session.
    pub reconnect_cap: Duration,
    /// How long one barrier phase may take before its waiters fail with a timeout.
    pub phase_timeout: Duration,
    /// How long the shutdown handshake waits for acknowledgements.
    pub shutdown_timeout: Duration,
}

/// Largest accepted timing value (one day), so no deadline arithmetic can overflow.
pub const MAX_TIMING_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for Timing {
    fn default() -> Self {
        Self {
            sync_period: Duration::from_millis(100),
            reconnect_cap: Duration::from_secs(5),
            phase_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl Timing {
    fn fields(&self) -> [(&'static str, Duration); 4] {
        [
            ("sync_period", self.sync_period),
            ("reconnect_cap", self.reconnect_cap),
            ("phase_timeout", self.phase_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
        ]
    }

    /// Checks every value is within `1..=MAX_TIMING_MS` milliseconds and whole milliseconds.
    pub fn validate(&self) -> Result<(), ClusterError> {
        for (name, value) in self.fields() {
            let ms = value.as_millis();
            if ms == 0 || ms > MAX_TIMING_MS as u128 || value.subsec_nanos() % 1_000_000 != 0 {
                return Err(ClusterError::BadTiming(name));
            }
        }
        Ok(())
    }
}

impl Write for Timing {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        for (_, value) in self.fields() {
            (value.as_millis() as u64).write(buf);
        }
    }
}

impl EncodeSize for Timing {
    fn encode_size(&self) -> usize {
        8 * 4
    }
}

impl Read for Timing {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        let mut next = || -> Result<Duration, CodecError> {
            let ms = u64::read(buf)?;
            if ms == 0 || ms > MAX_TIMING_MS {
                return Err(CodecError::Invalid("Timing", "value out of range"));
            }
            Ok(Duration::from_millis(ms))
        };
        Ok(Self {
            sync_period: next()?,
            reconnect_cap: next()?,
            phase_timeout: next()?,
            shutdown_timeout: next()?,
        })
    }
}

/// Errors building a cluster definition.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error("a cluster needs at least one member")]
    NoMembers,
    #[error("too many members: {0} (at most {MAX_MEMBERS})")]
    TooManyMembers(usize),
    #[error("member {0} is listed twice")]
    DuplicateMember(PublicKey),
    #[error("threshold {threshold} is not within 1..={members}")]
    BadThreshold { threshold: u32, members: usize },
    #[error("timing parameter {0} must be a whole number of milliseconds within 1..=86400000")]
    BadTiming(&'static str),
    #[error("version {0:?} is not of the form MAJOR.MINOR")]
    BadVersion(String),
    #[error("committee of epoch {epoch}: {reason}")]
    BadCommittee { epoch: usize, reason: String },
}

/// A validated cluster definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    members: Vec<PublicKey>,
    threshold: u32,
    version: ProtocolVersion,
    timing: Timing,
    /// Players of each DKG epoch, epoch 0 first (see module docs).
    committees: Vec<Vec<PublicKey>>,
    hash: ClusterHash,
}

impl Cluster {
    /// Validates and builds a cluster; `members` may come in any order (see module docs).
    pub fn new(
        mut members: Vec<PublicKey>,
        threshold: u32,
        version: ProtocolVersion,
        timing: Timing,
    ) -> Result<Self, ClusterError> {
        if members.is_empty() {
            return Err(ClusterError::NoMembers);
        }
        if members.len() > MAX_MEMBERS {
            return Err(ClusterError::TooManyMembers(members.len()));
        }
        members.sort();
        if let Some(pair) = members.windows(2).find(|w| w[0] == w[1]) {
            return Err(ClusterError::DuplicateMember(pair[0].clone()));
        }
        if threshold == 0 || threshold as usize > members.len() {
            return Err(ClusterError::BadThreshold {
                threshold,
                members: members.len(),
            });
        }
        timing.validate()?;
        let committees = vec![members.clone()];
        let mut cluster = Self {
            members,
            threshold,
            version,
            timing,
            committees,
            hash: ClusterHash::from([0u8; 32]),
        };
        cluster.rehash();
        Ok(cluster)
    }

    fn rehash(&mut self) {
        self.hash = Sha256::hash(&[&commonware_codec::Encode::encode(self)]);
    }

    /// The same definition with these committees (epoch 0 first; each in any order): each must
    /// be non-empty, without duplicates, and made of members.
    pub fn with_committees(
        mut self,
        committees: Vec<Vec<PublicKey>>,
    ) -> Result<Self, ClusterError> {
        if committees.is_empty() || committees.len() > MAX_EPOCHS {
            return Err(ClusterError::BadCommittee {
                epoch: committees.len(),
                reason: format!("between 1 and {MAX_EPOCHS} committees are needed"),
            });
        }
        let mut sorted = Vec::with_capacity(committees.len());
        for (epoch, mut committee) in committees.into_iter().enumerate() {
            let bad = |reason: String| ClusterError::BadCommittee { epoch, reason };
            if committee.is_empty() {
                return Err(bad("empty".into()));
            }
            committee.sort();
            if let Some(pair) = committee.windows(2).find(|w| w[0] == w[1]) {
                return Err(bad(format!("{} is listed twice", pair[0])));
            }
            if let Some(outsider) = committee.iter().find(|k| !self.is_member(k)) {
                return Err(bad(format!("{outsider} is not a member")));
            }
            sorted.push(committee);
        }
        self.committees = sorted;
        self.rehash();
        Ok(self)
    }

    /// The definition with one more epoch whose committee is `committee` (a committee the
    /// ledger certified; see [`crate::committee::Chain::cluster`]): its keys that are not
    /// members yet become members. The hash stays the genesis definition's: it is what every
    /// node, whatever certificates it holds yet, checks its peers against; each later epoch is
    /// bound by its certificate instead.
    pub fn extended(&self, committee: &[PublicKey]) -> Result<Self, ClusterError> {
        let epoch = self.committees.len();
        let bad = |reason: String| ClusterError::BadCommittee { epoch, reason };
        if epoch >= MAX_EPOCHS {
            return Err(bad(format!("at most {MAX_EPOCHS} epochs are supported")));
        }
        let mut committee = committee.to_vec();
        committee.sort();
        if committee.is_empty() || committee.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("empty, or a key listed twice".into()));
        }
        let mut members = self.members.clone();
        members.extend(committee.iter().filter(|k| !self.is_member(k)).cloned());
        members.sort();
        if members.len() > MAX_MEMBERS {
            return Err(ClusterError::TooManyMembers(members.len()));
        }
        let mut out = self.clone();
        out.members = members;
        out.committees.push(committee);
        Ok(out)
    }

    /// The committee (players) of `epoch`, in canonical order.
    pub fn committee(&self, epoch: u64) -> Option<&[PublicKey]> {
        usize::try_from(epoch)
            .ok()
            .and_then(|e| self.committees.get(e))
            .map(Vec::as_slice)
    }

    /// Every committee, epoch 0 first.
    pub fn committees(&self) -> &[Vec<PublicKey>] {
        &self.committees
    }

    /// The last DKG epoch the definition lists.
    pub fn last_epoch(&self) -> u64 {
        self.committees.len() as u64 - 1
    }

    /// Members in canonical (sorted) order.
    pub fn members(&self) -> &[PublicKey] {
        &self.members
    }

    /// The threshold `t`.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The protocol version of the cluster.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The timing parameters.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The cluster hash: sha256 of the canonical encoding.
    pub fn hash(&self) -> ClusterHash {
        self.hash
    }

    /// The index of `member` in canonical order, if it is a member.
    pub fn index_of(&self, member: &PublicKey) -> Option<usize> {
        self.members.binary_search(member).ok()
    }

    /// True if `key` is a member.
    pub fn is_member(&self, key: &PublicKey) -> bool {
        self.index_of(key).is_some()
    }
}

impl Write for Cluster {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.members.write(buf);
        self.threshold.write(buf);
        self.version.write(buf);
        self.timing.write(buf);
        self.committees.write(buf);
    }
}

impl EncodeSize for Cluster {
    fn encode_size(&self) -> usize {
        self.members.encode_size()
            + self.threshold.encode_size()
            + self.version.encode_size()
            + self.timing.encode_size()
            + self.committees.encode_size()
    }
}

impl Read for Cluster {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        let members = Vec::<PublicKey>::read_cfg(buf, &(RangeCfg::new(1..=MAX_MEMBERS), ()))?;
        let threshold = u32::read(buf)?;
        let version = ProtocolVersion::read(buf)?;
        let timing = Timing::read(buf)?;
        let committees = Vec::<Vec<PublicKey>>::read_cfg(
            buf,
            &(
                RangeCfg::new(1..=MAX_EPOCHS),
                (RangeCfg::new(1..=MAX_MEMBERS), ()),
            ),
        )?;
        let canonical = |keys: &[PublicKey]| keys.windows(2).all(|w| w[0] < w[1]);
        if !canonical(&members) || !committees.iter().all(|c| canonical(c)) {
            return Err(CodecError::Invalid(
                "Cluster",
                "members not in canonical order",
            ));
        }
        Self::new(members, threshold, version, timing)
            .and_then(|cluster| cluster.with_committees(committees))
            .map_err(|_| CodecError::Invalid("Cluster", "invalid definition"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode};
    use commonware_cryptography::Signer as _;

    fn keys(n: u64) -> Vec<PublicKey> {
        (0..n)
            .map(|i| ed25519::PrivateKey::from_seed(i).public_key())
            .collect()
    }

    #[test]
    fn hash_ignores_listing_order_and_covers_every_field() {
        let mut members = keys(4);
        let a = Cluster::new(members.clone(), 3, PROTOCOL_VERSION, Timing::default()).unwrap();
        members.reverse();
        let b = Cluster::new(members.clone(), 3, PROTOCOL_VERSION, Timing::default()).unwrap();
        assert_eq!(a.hash(), b.hash());

        let other_t =
            Cluster::new(members.clone(), 2, PROTOCOL_VERSION, Timing::default()).unwrap();
        let other_v = Cluster::new(
            members.clone(),
            3,
            ProtocolVersion { major: 1, minor: 1 },
            Timing::default(),
        )
        .unwrap();
        let timing = Timing {
            sync_period: Duration::from_millis(101),
            ..Timing::default()
        };
        let other_timing = Cluster::new(members.clone(), 3, PROTOCOL_VERSION, timing).unwrap();
        let other_members = Cluster::new(keys(5), 3, PROTOCOL_VERSION, Timing::default()).unwrap();
        let other_committees = a
            .clone()
            .with_committees(vec![members.clone(), members[..3].to_vec()])
            .unwrap();
        for other in [
            other_t,
            other_v,
            other_timing,
            other_members,
            other_committees,
        ] {
            assert_ne!(a.hash(), other.hash());
        }
    }

    #[test]
    fn codec_round_trip() {
        let cluster = Cluster::new(keys(7), 5, PROTOCOL_VERSION, Timing::default()).unwrap();
        let decoded = Cluster::decode(cluster.encode()).unwrap();
        assert_eq!(decoded, cluster);
        assert_eq!(decoded.hash(), cluster.hash());
        assert_eq!(cluster.committees(), &[cluster.members().to_vec()]);
        let all = keys(7);
        let resharing = cluster
            .with_committees(vec![all[..5].to_vec(), all[2..].to_vec()])
            .unwrap();
        let decoded = Cluster::decode(resharing.encode()).unwrap();
        assert_eq!(decoded, resharing);
        assert_eq!(decoded.last_epoch(), 1);
        let mut second = all[2..].to_vec();
        second.sort();
        assert_eq!(decoded.committee(1), Some(&second[..]));
    }

    #[test]
    fn committees_are_validated() {
        let all = keys(5);
        let cluster =
            Cluster::new(all[..4].to_vec(), 3, PROTOCOL_VERSION, Timing::default()).unwrap();
        for committees in [
            vec![],
            vec![vec![]],
            vec![all[..4].to_vec(), all[1..].to_vec()],
            vec![vec![all[0].clone(), all[0].clone()]],
        ] {
            assert!(matches!(
                cluster.clone().with_committees(committees),
                Err(ClusterError::BadCommittee { .. })
            ));
        }
    }

    #[test]
    fn rejects_invalid_definitions() {
        let t = Timing::default();
        assert_eq!(
            Cluster::new(vec![], 1, PROTOCOL_VERSION, t),
            Err(ClusterError::NoMembers)
        );
        let mut dup = keys(3);
        dup.push(dup[0].clone());
        assert!(matches!(
            Cluster::new(dup, 2, PROTOCOL_VERSION, t),
            Err(ClusterError::DuplicateMember(_))
        ));
        assert!(matches!(
            Cluster::new(keys(3), 4, PROTOCOL_VERSION, t),
            Err(ClusterError::BadThreshold { .. })
        ));
        assert!(matches!(
            Cluster::new(keys(3), 0, PROTOCOL_VERSION, t),
            Err(ClusterError::BadThreshold { .. })
        ));
        let zero = Timing {
            sync_period: Duration::ZERO,
            ..t
        };
        assert_eq!(
            Cluster::new(keys(3), 2, PROTOCOL_VERSION, zero),
            Err(ClusterError::BadTiming("sync_period"))
        );
    }

    #[test]
    fn decoding_is_bounded_and_canonical() {
        // A length prefix far above MAX_MEMBERS is refused before any allocation.
        let mut buf = Vec::new();
        commonware_codec::varint::UInt(u32::MAX).write(&mut buf);
        assert!(Cluster::decode(bytes::Bytes::from(buf)).is_err());
        // Members out of canonical order are refused.
        let cluster = Cluster::new(keys(3), 2, PROTOCOL_VERSION, Timing::default()).unwrap();
        let mut members = cluster.members().to_vec();
        members.reverse();
        let mut buf = Vec::new();
        members.write(&mut buf);
        2u32.write(&mut buf);
        PROTOCOL_VERSION.write(&mut buf);
        Timing::default().write(&mut buf);
        assert!(Cluster::decode(bytes::Bytes::from(buf)).is_err());
        // More committees than MAX_EPOCHS, or a committee out of canonical order, are refused.
        let head = |buf: &mut Vec<u8>| {
            cluster.members().to_vec().write(buf);
            2u32.write(buf);
            PROTOCOL_VERSION.write(buf);
            Timing::default().write(buf);
        };
        let mut buf = Vec::new();
        head(&mut buf);
        commonware_codec::varint::UInt((MAX_EPOCHS + 1) as u32).write(&mut buf);
        assert!(Cluster::decode(bytes::Bytes::from(buf)).is_err());
        let mut buf = Vec::new();
        head(&mut buf);
        vec![members].write(&mut buf);
        assert!(Cluster::decode(bytes::Bytes::from(buf)).is_err());
    }

    #[test]
    fn version_parsing() {
        assert_eq!(
            "2.7".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion { major: 2, minor: 7 }
        );
        assert!("2".parse::<ProtocolVersion>().is_err());
        assert!("a.b".parse::<ProtocolVersion>().is_err());
        assert_eq!(PROTOCOL_VERSION.to_string(), "1.0");
    }
}
