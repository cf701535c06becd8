//! The ledger's unit: a signed op, its bounded codec and its content id.
//!
//! ```text
//!   Op       = author (32 bytes) | seq (varint, >= 1) | parents (varint count <= MAX_PARENTS,
//!              strictly ascending ids) | kind | time_ms (varint)
//!   kind     = 0 Boot { boot_count } | 1 Heartbeat { uptime_ms }
//!              | 2 Checkpoint { round (1 byte) | as_of_ms (varint) | observation
//!                             | previous (0 | 1 + 32-byte id) | 96-byte threshold signature }
//!              | 3 Data (bytes <= MAX_DATA_BYTES)
//!              | 4 Propose { committee proposal (see `committee::proposal`) }
//!              | 5 Vote { proposal (32-byte op id) | partial (index varint, 96-byte G2 point) }
//!              | 6 Certify { proposal (32-byte op id) | 96-byte threshold signature }
//!   SignedOp = Op | ed25519 signature under NAMESPACE over the encoded Op
//!   id       = sha256(encoded SignedOp)
//! ```
//!
//! Decisions where SPEC section 3 is silent:
//!
//! - **The author's previous op is always a parent.** `parents` are the heads the author knew,
//!   plus its own op `seq - 1` when that is no longer a head. So each author's ops form a hash
//!   chain, and two ops with one `(author, seq)` are two forks of that chain: equivocation. The
//!   ledger checks it once the parents are known ([`crate::ledger::dag`]).
//! - **The kind carries its payload.** SPEC's `kind` and `payload` are one tagged field.
//! - **A checkpoint is an op of its subject.** The subject collects the votes and appends the
//!   certified checkpoint itself ([`Certified`]), so the checkpoint's subject is the op's author,
//!   its place in the subject's history is the author chain, and its id is the digest of the
//!   proposal it certifies ([`Certified::proposal`]), which the threshold signature covers. The
//!   ledger verifies the signature and the chain ([`crate::ledger::dag`]).
//! - **Governance is ops too** ([`crate::committee`]): a member's `Propose` of a committee, the
//!   members' `Vote`s (a partial signature over the proposal's digest from the voter's current
//!   share) and the `Certify` that carries the recovered threshold signature. A vote and a
//!   certificate name their `Propose` op, which must be among their parents, so they apply
//!   after it everywhere (checked by [`crate::ledger::dag`], which also verifies the
//!   certificate).
//! - **The author is 32 raw bytes on the wire.** Decoding does not decompress the point; the
//!   ledger looks the bytes up among the members (whose keys were validated with the cluster), so
//!   a non-member costs a map lookup, not a curve operation.
//! - **`time_ms`** is the author's clock in milliseconds since the Unix epoch, informational only.
//!
//! Every field is bounded: an encoded signed op is at most [`MAX_OP_BYTES`], so a frame claiming
//! more is refused before any allocation.

use crate::{
    committee::{CommitteeProposal, MAX_PROPOSAL_BYTES},
    dkg::wire::Variant,
    vote::{
        Observation,
        tally::Signature as Certificate,
        wire::{Digest, Proposal},
    },
};
use bytes::{Buf as _, BufMut, Bytes};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt as _, Write,
    varint::UInt,
};
use commonware_cryptography::bls12381::primitives::variant::PartialSignature;
use commonware_cryptography::{Hasher as _, Sha256, Signer as _, Verifier as _, ed25519, sha256};

/// Signature namespace of ledger ops.
pub const NAMESPACE: &[u8] = b"_COHORT_LEDGER_OP";

/// Most parents an op may list (the author's previous op included). An author that knows more
/// heads lists its previous op and the newest others; the rest stay heads for later ops to merge.
pub const MAX_PARENTS: usize = 64;

/// Largest `Data` payload, in bytes.
pub const MAX_DATA_BYTES: usize = 16 * 1024;

/// Largest encoded signed op, in bytes (every field at its bound, with room for the varints).
pub const MAX_OP_BYTES: usize = 32 + 10 + 2 + MAX_PARENTS * 32 + 1 + 3 + MAX_DATA_BYTES + 10 + 64;

/// An op's content id: sha256 of its signed encoding.
pub type OpId = sha256::Digest;

/// An author's public key as it appears on the wire (not yet looked up among the members).
pub type AuthorKey = [u8; 32];

/// Tag of [`OpKind::Boot`].
const TAG_BOOT: u8 = 0;
/// Tag of [`OpKind::Heartbeat`].
const TAG_HEARTBEAT: u8 = 1;
/// Tag of [`OpKind::Checkpoint`].
const TAG_CHECKPOINT: u8 = 2;
/// Tag of [`OpKind::Data`].
const TAG_DATA: u8 = 3;
/// Tag of [`OpKind::Propose`].
const TAG_PROPOSE: u8 = 4;
/// Tag of [`OpKind::Vote`].
const TAG_VOTE: u8 = 5;
/// Tag of [`OpKind::Certify`].
const TAG_CERTIFY: u8 = 6;

// Every kind fits the bound computed from the largest `Data` payload.
const _: () = assert!(MAX_PROPOSAL_BYTES <= MAX_DATA_BYTES);

/// A certified checkpoint of the op's author (SPEC section 5): the proposal's fields and the
/// group's threshold signature over the proposal's digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certified {
    /// The vote round that certified it (1, or 2 for round 1's trimmed mean).
    pub round: u8,
    /// The instant the observation is of (the subject's clock).
    pub as_of_ms: u64,
    pub observation: Observation,
    /// The id of the subject's previous certified checkpoint (`None` for its first).
    pub previous: Option<Digest>,
    /// The threshold signature over the proposal's digest (96 bytes).
    pub signature: Certificate,
}

impl Certified {
    /// The proposal this checkpoint certifies, about `subject` (the op's author).
    pub fn proposal(&self, subject: AuthorKey) -> Proposal {
        Proposal {
            subject,
            round: self.round,
            as_of_ms: self.as_of_ms,
            observation: self.observation,
            previous: self.previous,
        }
    }

    /// The checkpoint's id: its proposal's digest (what `previous` of the next one names).
    pub fn id(&self, subject: AuthorKey) -> Digest {
        self.proposal(subject).digest()
    }
}

/// What an op records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// The author started (its `boot_count`-th start).
    Boot { boot_count: u64 },
    /// The author is up, since `uptime_ms` in this life.
    Heartbeat { uptime_ms: u64 },
    /// A certified checkpoint of the author (boxed: it is rare and 400 bytes in memory).
    Checkpoint(Box<Certified>),
    /// An application payload of at most [`MAX_DATA_BYTES`].
    Data(Bytes),
    /// A committee proposed for the next epoch (boxed: up to 11 kB).
    Propose(Box<CommitteeProposal>),
    /// An approval of the proposal of the `Propose` op `proposal` (one of this op's parents):
    /// a partial signature over its digest from the author's current share.
    Vote {
        proposal: OpId,
        partial: Box<PartialSignature<Variant>>,
    },
    /// The certificate of the proposal of the `Propose` op `proposal` (one of this op's
    /// parents): the group's threshold signature over its digest.
    Certify {
        proposal: OpId,
        signature: Box<Certificate>,
    },
}

impl OpKind {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Boot { .. } => "boot",
            OpKind::Heartbeat { .. } => "heartbeat",
            OpKind::Checkpoint(_) => "checkpoint",
            OpKind::Data(_) => "data",
            OpKind::Propose(_) => "propose",
            OpKind::Vote { .. } => "vote",
            OpKind::Certify { .. } => "certify",
        }
    }
}

impl Write for OpKind {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            OpKind::Boot { boot_count } => {
                TAG_BOOT.write(buf);
                UInt(*boot_count).write(buf);
            }
            OpKind::Heartbeat { uptime_ms } => {
                TAG_HEARTBEAT.write(buf);
                UInt(*uptime_ms).write(buf);
            }
            OpKind::Checkpoint(c) => {
                TAG_CHECKPOINT.write(buf);
                c.round.write(buf);
                UInt(c.as_of_ms).write(buf);
                c.observation.write(buf);
                c.previous.write(buf);
                c.signature.write(buf);
            }
            OpKind::Data(data) => {
                TAG_DATA.write(buf);
                data.write(buf);
            }
            OpKind::Propose(p) => {
                TAG_PROPOSE.write(buf);
                p.write(buf);
            }
            OpKind::Vote { proposal, partial } => {
                TAG_VOTE.write(buf);
                proposal.write(buf);
                partial.write(buf);
            }
            OpKind::Certify {
                proposal,
                signature,
            } => {
                TAG_CERTIFY.write(buf);
                proposal.write(buf);
                signature.write(buf);
            }
        }
    }
}

impl EncodeSize for OpKind {
    fn encode_size(&self) -> usize {
        1 + match self {
            OpKind::Boot { boot_count } => UInt(*boot_count).encode_size(),
            OpKind::Heartbeat { uptime_ms } => UInt(*uptime_ms).encode_size(),
            OpKind::Checkpoint(c) => {
                1 + UInt(c.as_of_ms).encode_size()
                    + c.observation.encode_size()
                    + c.previous.encode_size()
                    + c.signature.encode_size()
            }
            OpKind::Data(data) => data.encode_size(),
            OpKind::Propose(p) => p.encode_size(),
            OpKind::Vote { proposal, partial } => proposal.encode_size() + partial.encode_size(),
            OpKind::Certify {
                proposal,
                signature,
            } => proposal.encode_size() + signature.encode_size(),
        }
    }
}

impl Read for OpKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            TAG_BOOT => Ok(OpKind::Boot {
                boot_count: UInt::read(buf)?.into(),
            }),
            TAG_HEARTBEAT => Ok(OpKind::Heartbeat {
                uptime_ms: UInt::read(buf)?.into(),
            }),
            TAG_CHECKPOINT => {
                let round = u8::read(buf)?;
                if !(1..=2).contains(&round) {
                    return Err(CodecError::Invalid("ledger::Op", "checkpoint round"));
                }
                Ok(OpKind::Checkpoint(Box::new(Certified {
                    round,
                    as_of_ms: UInt::read(buf)?.into(),
                    observation: Observation::read(buf)?,
                    previous: Option::<Digest>::read(buf)?,
                    signature: Certificate::read(buf)?,
                })))
            }
            TAG_DATA => Ok(OpKind::Data(Bytes::read_cfg(
                buf,
                &RangeCfg::new(..=MAX_DATA_BYTES),
            )?)),
            TAG_PROPOSE => Ok(OpKind::Propose(Box::new(CommitteeProposal::read(buf)?))),
            TAG_VOTE => Ok(OpKind::Vote {
                proposal: OpId::read(buf)?,
                partial: Box::new(PartialSignature::<Variant>::read(buf)?),
            }),
            TAG_CERTIFY => Ok(OpKind::Certify {
                proposal: OpId::read(buf)?,
                signature: Box::new(Certificate::read(buf)?),
            }),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// An op before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub author: AuthorKey,
    /// 1 for the author's first op, then one more per op.
    pub seq: u64,
    /// Strictly ascending, at most [`MAX_PARENTS`].
    pub parents: Vec<OpId>,
    pub kind: OpKind,
    /// The author's clock (ms since the Unix epoch); informational.
    pub time_ms: u64,
}

impl Write for Op {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.author);
        UInt(self.seq).write(buf);
        self.parents.write(buf);
        self.kind.write(buf);
        UInt(self.time_ms).write(buf);
    }
}

impl EncodeSize for Op {
    fn encode_size(&self) -> usize {
        32 + UInt(self.seq).encode_size()
            + self.parents.encode_size()
            + self.kind.encode_size()
            + UInt(self.time_ms).encode_size()
    }
}

impl Read for Op {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let author = AuthorKey::read(buf)?;
        let seq: u64 = UInt::read(buf)?.into();
        if seq == 0 {
            return Err(CodecError::Invalid("ledger::Op", "seq 0"));
        }
        let parents = Vec::<OpId>::read_cfg(buf, &(RangeCfg::new(..=MAX_PARENTS), ()))?;
        if parents.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CodecError::Invalid(
                "ledger::Op",
                "parents not strictly ascending",
            ));
        }
        let kind = OpKind::read(buf)?;
        let time_ms = UInt::read(buf)?.into();
        Ok(Self {
            author,
            seq,
            parents,
            kind,
            time_ms,
        })
    }
}

/// A signed op, with its encoding and id computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOp {
    op: Op,
    signature: ed25519::Signature,
    /// The signed encoding: the encoded op, then the signature.
    encoded: Bytes,
    id: OpId,
}

impl SignedOp {
    /// Signs `op` (whose `author` must be `key`'s public key) and computes its id.
    pub fn sign(key: &ed25519::PrivateKey, mut op: Op) -> Self {
        op.author.copy_from_slice(key.public_key().as_ref());
        let mut encoded = Vec::with_capacity(op.encode_size() + ed25519::Signature::SIZE);
        op.write(&mut encoded);
        let signature = key.sign(NAMESPACE, &encoded);
        signature.write(&mut encoded);
        let encoded = Bytes::from(encoded);
        let id = Sha256::hash(&[&encoded]);
        Self {
            op,
            signature,
            encoded,
            id,
        }
    }

    /// Decodes one signed op from its signed encoding (no trailing bytes allowed).
    pub fn parse(encoded: Bytes) -> Result<Self, CodecError> {
        if encoded.len() > MAX_OP_BYTES {
            return Err(CodecError::InvalidLength(encoded.len()));
        }
        let mut buf = encoded.clone();
        let op = Op::read(&mut buf)?;
        let signature = ed25519::Signature::read(&mut buf)?;
        if buf.has_remaining() {
            return Err(CodecError::ExtraData(buf.remaining()));
        }
        let id = Sha256::hash(&[&encoded]);
        Ok(Self {
            op,
            signature,
            encoded,
            id,
        })
    }

    pub fn op(&self) -> &Op {
        &self.op
    }

    pub fn id(&self) -> OpId {
        self.id
    }

    pub fn signature(&self) -> &ed25519::Signature {
        &self.signature
    }

    /// The signed encoding (what [`SignedOp::parse`] reads).
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// The bytes the signature covers: the encoded op.
    pub fn message(&self) -> &[u8] {
        &self.encoded[..self.encoded.len() - ed25519::Signature::SIZE]
    }

    /// Whether the signature verifies under `author` (the member whose key is `op().author`).
    pub fn verify(&self, author: &ed25519::PublicKey) -> bool {
        author.verify(NAMESPACE, self.message(), &self.signature)
    }
}

/// On the wire (inside ledger and backfill messages) a signed op is its length-prefixed signed
/// encoding, so a receiver keeps each op's bytes without re-encoding them.
impl Write for SignedOp {
    fn write(&self, buf: &mut impl BufMut) {
        self.encoded.write(buf);
    }
}

impl EncodeSize for SignedOp {
    fn encode_size(&self) -> usize {
        self.encoded.encode_size()
    }
}

impl Read for SignedOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let encoded = Bytes::read_cfg(buf, &RangeCfg::new(..=MAX_OP_BYTES))?;
        Self::parse(encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};

    pub(crate) fn key(seed: u64) -> ed25519::PrivateKey {
        ed25519::PrivateKey::from_seed(seed)
    }

    fn op(seq: u64, parents: Vec<OpId>, kind: OpKind) -> Op {
        Op {
            author: [0; 32],
            seq,
            parents,
            kind,
            time_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn roundtrip_and_verify() {
        let k = key(1);
        let parent = Sha256::hash(&[b"p"]);
        let signed = SignedOp::sign(&k, op(2, vec![parent], OpKind::Data(Bytes::from("hi"))));
        assert_eq!(signed.op().author, k.public_key().as_ref());
        assert!(signed.verify(&k.public_key()));
        assert!(!signed.verify(&key(2).public_key()));
        let wire = signed.encode();
        let back = SignedOp::decode_cfg(wire, &()).expect("decodes");
        assert_eq!(back, signed);
        assert_eq!(back.id(), Sha256::hash(&[signed.encoded()]));
        for kind in [
            OpKind::Boot { boot_count: 3 },
            OpKind::Heartbeat { uptime_ms: 60_000 },
        ] {
            let s = SignedOp::sign(&k, op(1, vec![], kind));
            assert_eq!(SignedOp::parse(s.encoded().clone()).unwrap(), s);
        }
    }

    #[test]
    fn governance_ops_round_trip() {
        use crate::committee::{CommitteeProposal, Joining};
        use commonware_cryptography::bls12381::{
            dkg::feldman_desmedt::deal_anonymous,
            primitives::{ops, sharing::Mode},
        };
        use commonware_utils::{N3f1, NZU32};
        use rand::SeedableRng as _;
        let k = key(1);
        let mut members: Vec<ed25519::PublicKey> = (0..5).map(|i| key(i).public_key()).collect();
        members.sort();
        let proposal = CommitteeProposal::new(
            2,
            members.clone(),
            vec![Joining {
                key: members[4].clone(),
                address: "10.0.0.5:4000".into(),
            }],
            "add a member".into(),
            [3; 32],
        )
        .unwrap();
        let (sharing, shares) = deal_anonymous::<Variant, N3f1>(
            rand_chacha::ChaCha8Rng::seed_from_u64(1),
            Mode::NonZeroCounter,
            NZU32!(4),
        );
        let partial =
            ops::threshold::sign_message::<Variant>(&shares[0], b"ns", &proposal.digest());
        let _ = sharing;
        let id = Sha256::hash(&[b"propose"]);
        for kind in [
            OpKind::Propose(Box::new(proposal)),
            OpKind::Vote {
                proposal: id,
                partial: Box::new(partial.clone()),
            },
            OpKind::Certify {
                proposal: id,
                signature: Box::new(partial.value),
            },
        ] {
            let s = SignedOp::sign(&k, op(3, vec![id], kind));
            assert!(s.encoded().len() <= MAX_OP_BYTES);
            assert_eq!(SignedOp::parse(s.encoded().clone()).unwrap(), s);
        }
    }

    #[test]
    fn a_flipped_bit_changes_the_id_or_breaks_the_signature() {
        let k = key(1);
        let signed = SignedOp::sign(&k, op(1, vec![], OpKind::Data(Bytes::from("abc"))));
        let mut bytes = signed.encoded().to_vec();
        let last = bytes.len() - 70;
        bytes[last] ^= 1;
        if let Ok(tampered) = SignedOp::parse(Bytes::from(bytes)) {
            assert_ne!(tampered.id(), signed.id());
            assert!(!tampered.verify(&k.public_key()));
        }
    }

    #[test]
    fn malformed_ops_are_refused() {
        let k = key(1);
        let (a, b) = (Sha256::hash(&[b"a"]), Sha256::hash(&[b"b"]));
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        // Parents out of order, duplicated, or seq 0: refused by the decoder.
        for bad in [
            op(2, vec![hi, lo], OpKind::Boot { boot_count: 1 }),
            op(2, vec![lo, lo], OpKind::Boot { boot_count: 1 }),
            op(0, vec![], OpKind::Boot { boot_count: 1 }),
        ] {
            let signed = SignedOp::sign(&k, bad);
            assert!(SignedOp::parse(signed.encoded().clone()).is_err());
        }
        // Too many parents and an oversized payload: refused before allocation.
        let many: Vec<OpId> = (0..=MAX_PARENTS as u64)
            .map(|i| Sha256::hash(&[&i.to_be_bytes()]))
            .collect();
        let mut sorted = many;
        sorted.sort();
        let signed = SignedOp::sign(&k, op(2, sorted, OpKind::Boot { boot_count: 1 }));
        assert!(SignedOp::parse(signed.encoded().clone()).is_err());
        let big = OpKind::Data(Bytes::from(vec![0u8; MAX_DATA_BYTES + 1]));
        let signed = SignedOp::sign(&k, op(1, vec![], big));
        assert!(SignedOp::parse(signed.encoded().clone()).is_err());
        // Unknown kind tag, truncation, trailing bytes.
        let good = SignedOp::sign(&k, op(1, vec![], OpKind::Boot { boot_count: 1 }));
        let mut bytes = good.encoded().to_vec();
        let tag_at = 32 + 1 + 1;
        assert_eq!(bytes[tag_at], TAG_BOOT);
        bytes[tag_at] = 200;
        assert!(SignedOp::parse(Bytes::from(bytes)).is_err());
        let bytes = good.encoded().to_vec();
        assert!(SignedOp::parse(Bytes::from(bytes[..bytes.len() - 1].to_vec())).is_err());
        let mut bytes = good.encoded().to_vec();
        bytes.push(0);
        assert!(SignedOp::parse(Bytes::from(bytes)).is_err());
        // A length prefix above the bound is refused before reading the body.
        let mut frame = Vec::new();
        UInt((MAX_OP_BYTES + 1) as u64).write(&mut frame);
        assert!(SignedOp::decode_cfg(Bytes::from(frame), &()).is_err());
    }
}
