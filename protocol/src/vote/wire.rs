//! The checkpoint messages: a subject's signed proposal and a member's signed vote on it.
//!
//! ```text
//!   Proposal       = subject (32 bytes) | round (1 byte: 1 or 2) | as_of_ms (varint)
//!                    | observation | previous (0 | 1 + 32-byte id of the subject's previous
//!                    certified checkpoint)
//!   SignedProposal = Proposal | ed25519 signature of the subject under PROPOSAL_NAMESPACE
//!   digest         = sha256(encoded Proposal): what approving partials sign (under
//!                    CERTIFICATE_NAMESPACE) and votes name
//!   Vote           = digest (32 bytes) | voter (32 bytes) | epoch of the voter's share (u64)
//!                    | 0 partial (index varint, 96-byte G2 point) | 1 observation
//!   SignedVote     = Vote | ed25519 signature of the voter under VOTE_NAMESPACE
//!   Message        = 0 SignedProposal | 1 SignedVote     (a frame of the checkpoint channel)
//! ```
//!
//! Keys travel as 32 raw bytes and are looked up among the members (no curve operation for a
//! stranger); every field has a fixed size or a bound, so a frame is at most
//! [`MAX_PROPOSAL_BYTES`] or [`MAX_VOTE_BYTES`] and anything longer, shorter, or with trailing
//! bytes is refused before any signature is checked. The round is 1 or 2 (SPEC section 5:
//! round 2 proposes round 1's trimmed mean); any other value is malformed.

use super::{observation::Observation, tally::Vote};
use crate::dkg::wire::Variant;
use bytes::{Buf as _, BufMut, Bytes};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write, varint::UInt,
};
use commonware_cryptography::{
    Hasher as _, Sha256, Signer as _, Verifier as _,
    bls12381::primitives::variant::PartialSignature, ed25519,
};

/// Namespace of the subject's signature over its proposal.
pub const PROPOSAL_NAMESPACE: &[u8] = b"_COHORT_CHECKPOINT_PROPOSAL";
/// Namespace of a voter's signature over its vote.
pub const VOTE_NAMESPACE: &[u8] = b"_COHORT_CHECKPOINT_VOTE";
/// Namespace of the threshold partials (and so of the certificate) over a proposal's digest.
pub const CERTIFICATE_NAMESPACE: &[u8] = b"_COHORT_CHECKPOINT";

/// A member's key as it appears on the wire (not yet looked up among the members).
pub type KeyBytes = [u8; 32];
/// A proposal's digest, or a checkpoint's id.
pub type Digest = [u8; 32];

/// Largest encoded observation: three varints of a u64.
const MAX_OBSERVATION_BYTES: usize = 3 * 10;
/// Largest encoded signed proposal.
pub const MAX_PROPOSAL_BYTES: usize = 32 + 1 + 10 + MAX_OBSERVATION_BYTES + 1 + 32 + 64;
/// Largest encoded signed vote (a partial: a varint index and a 96-byte point).
pub const MAX_VOTE_BYTES: usize = 32 + 32 + 8 + 1 + 5 + 96 + 64;

/// What a subject proposes about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub subject: KeyBytes,
    /// 1, or 2 for the trimmed mean after round 1's window closed without a certificate.
    pub round: u8,
    /// The instant the observation is of (ms since the Unix epoch, the subject's clock).
    pub as_of_ms: u64,
    pub observation: Observation,
    /// The id of the subject's previous certified checkpoint (`None` for its first).
    pub previous: Option<Digest>,
}

impl Write for Proposal {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.subject);
        buf.put_u8(self.round);
        UInt(self.as_of_ms).write(buf);
        self.observation.write(buf);
        match &self.previous {
            None => buf.put_u8(0),
            Some(id) => {
                buf.put_u8(1);
                buf.put_slice(id);
            }
        }
    }
}

impl EncodeSize for Proposal {
    fn encode_size(&self) -> usize {
        32 + 1
            + UInt(self.as_of_ms).encode_size()
            + self.observation.encode_size()
            + 1
            + self.previous.map_or(0, |_| 32)
    }
}

fn read_array(buf: &mut impl Buf) -> Result<[u8; 32], CodecError> {
    if buf.remaining() < 32 {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = [0u8; 32];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

impl Read for Proposal {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let subject = read_array(buf)?;
        let round = u8::read(buf)?;
        if !(1..=2).contains(&round) {
            return Err(CodecError::Invalid(
                "checkpoint proposal",
                "round is not 1 or 2",
            ));
        }
        let as_of_ms = UInt::<u64>::read(buf)?.into();
        let observation = Observation::read(buf)?;
        let previous = match u8::read(buf)? {
            0 => None,
            1 => Some(read_array(buf)?),
            tag => return Err(CodecError::InvalidEnum(tag)),
        };
        Ok(Self {
            subject,
            round,
            as_of_ms,
            observation,
            previous,
        })
    }
}

impl Proposal {
    /// The canonical digest: sha256 of the encoded proposal.
    pub fn digest(&self) -> Digest {
        let mut encoded = Vec::with_capacity(self.encode_size());
        self.write(&mut encoded);
        let mut out = [0u8; 32];
        out.copy_from_slice(Sha256::hash(&[&encoded]).as_ref());
        out
    }
}

/// A proposal with its subject's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedProposal {
    pub proposal: Proposal,
    pub signature: ed25519::Signature,
}

impl SignedProposal {
    /// Signs `proposal` as `key` (its subject is set to `key`'s public key).
    pub fn sign(key: &ed25519::PrivateKey, mut proposal: Proposal) -> Self {
        proposal.subject.copy_from_slice(key.public_key().as_ref());
        let signature = key.sign(PROPOSAL_NAMESPACE, &encode(&proposal));
        Self {
            proposal,
            signature,
        }
    }

    /// Whether the signature verifies under `subject` (the member whose key is
    /// `proposal.subject`).
    pub fn verify(&self, subject: &ed25519::PublicKey) -> bool {
        subject.as_ref() == self.proposal.subject
            && subject.verify(PROPOSAL_NAMESPACE, &encode(&self.proposal), &self.signature)
    }

    /// Decodes one signed proposal (bounded; no trailing bytes).
    pub fn decode(frame: Bytes) -> Result<Self, CodecError> {
        bounded(&frame, MAX_PROPOSAL_BYTES)?;
        let mut buf = frame;
        let proposal = Proposal::read(&mut buf)?;
        let signature = ed25519::Signature::read(&mut buf)?;
        no_trailing(&buf)?;
        Ok(Self {
            proposal,
            signature,
        })
    }

    pub fn encode(&self) -> Bytes {
        let mut out = encode(&self.proposal);
        self.signature.write(&mut out);
        Bytes::from(out)
    }
}

/// A vote with what it is on, who cast it, and the voter's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedVote {
    pub digest: Digest,
    pub voter: KeyBytes,
    /// The DKG epoch of the voter's share (a partial is only checked against that epoch's
    /// sharing: a vote of another epoch, cast across a reshare, is not counted and proves
    /// nothing).
    pub epoch: u64,
    pub vote: Vote,
    pub signature: ed25519::Signature,
}

/// Tag of an approval.
const TAG_APPROVE: u8 = 0;
/// Tag of a disagreement.
const TAG_DISAGREE: u8 = 1;

fn write_vote(digest: &Digest, voter: &KeyBytes, epoch: u64, vote: &Vote, buf: &mut Vec<u8>) {
    buf.put_slice(digest);
    buf.put_slice(voter);
    buf.put_u64(epoch);
    match vote {
        Vote::Approve(partial) => {
            buf.put_u8(TAG_APPROVE);
            partial.write(buf);
        }
        Vote::Disagree(observation) => {
            buf.put_u8(TAG_DISAGREE);
            observation.write(buf);
        }
    }
}

impl SignedVote {
    /// Signs `vote` on the proposal of `digest` as `key`, with a share of `epoch`.
    pub fn sign(key: &ed25519::PrivateKey, digest: Digest, epoch: u64, vote: Vote) -> Self {
        let mut voter = [0u8; 32];
        voter.copy_from_slice(key.public_key().as_ref());
        let mut message = Vec::new();
        write_vote(&digest, &voter, epoch, &vote, &mut message);
        let signature = key.sign(VOTE_NAMESPACE, &message);
        Self {
            digest,
            voter,
            epoch,
            vote,
            signature,
        }
    }

    /// Whether the signature verifies under `voter` (the member whose key is `self.voter`).
    pub fn verify(&self, voter: &ed25519::PublicKey) -> bool {
        let mut message = Vec::new();
        write_vote(
            &self.digest,
            &self.voter,
            self.epoch,
            &self.vote,
            &mut message,
        );
        voter.as_ref() == self.voter && voter.verify(VOTE_NAMESPACE, &message, &self.signature)
    }

    /// Decodes one signed vote (bounded; no trailing bytes). A partial's point is decoded (and
    /// checked to be in the group) here; whether it verifies is the tally's business.
    pub fn decode(frame: Bytes) -> Result<Self, CodecError> {
        bounded(&frame, MAX_VOTE_BYTES)?;
        let mut buf = frame;
        let digest = read_array(&mut buf)?;
        let voter = read_array(&mut buf)?;
        let epoch = u64::read(&mut buf)?;
        let vote = match u8::read(&mut buf)? {
            TAG_APPROVE => Vote::Approve(Box::new(PartialSignature::<Variant>::read(&mut buf)?)),
            TAG_DISAGREE => Vote::Disagree(Observation::read(&mut buf)?),
            tag => return Err(CodecError::InvalidEnum(tag)),
        };
        let signature = ed25519::Signature::read(&mut buf)?;
        no_trailing(&buf)?;
        Ok(Self {
            digest,
            voter,
            epoch,
            vote,
            signature,
        })
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(MAX_VOTE_BYTES);
        write_vote(&self.digest, &self.voter, self.epoch, &self.vote, &mut out);
        self.signature.write(&mut out);
        Bytes::from(out)
    }
}

/// A frame of the checkpoint channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Proposal(SignedProposal),
    Vote(SignedVote),
}

/// Largest frame of the checkpoint channel.
pub const MAX_MESSAGE_BYTES: usize = 1 + if MAX_PROPOSAL_BYTES > MAX_VOTE_BYTES {
    MAX_PROPOSAL_BYTES
} else {
    MAX_VOTE_BYTES
};

const _: () = assert!(MAX_MESSAGE_BYTES <= crate::channels::MAX_FRAME_BYTES);

impl Message {
    /// Decodes a frame (bounded; no trailing bytes).
    pub fn decode(mut frame: Bytes) -> Result<Self, CodecError> {
        bounded(&frame, MAX_MESSAGE_BYTES)?;
        if frame.is_empty() {
            return Err(CodecError::EndOfBuffer);
        }
        let tag = frame.split_to(1)[0];
        match tag {
            0 => SignedProposal::decode(frame).map(Message::Proposal),
            1 => SignedVote::decode(frame).map(Message::Vote),
            tag => Err(CodecError::InvalidEnum(tag)),
        }
    }

    pub fn encode(&self) -> Bytes {
        let (tag, body) = match self {
            Message::Proposal(p) => (0u8, p.encode()),
            Message::Vote(v) => (1u8, v.encode()),
        };
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(tag);
        out.extend_from_slice(&body);
        Bytes::from(out)
    }
}

fn encode(proposal: &Proposal) -> Vec<u8> {
    let mut out = Vec::with_capacity(proposal.encode_size() + ed25519::Signature::SIZE);
    proposal.write(&mut out);
    out
}

fn bounded(frame: &Bytes, max: usize) -> Result<(), CodecError> {
    if frame.len() > max {
        return Err(CodecError::InvalidLength(frame.len()));
    }
    Ok(())
}

fn no_trailing(buf: &Bytes) -> Result<(), CodecError> {
    if buf.has_remaining() {
        return Err(CodecError::ExtraData(buf.remaining()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::bls12381::{
        dkg::feldman_desmedt::deal_anonymous,
        primitives::{ops, sharing::Mode},
    };
    use commonware_utils::{N3f1, NZU32};
    use rand::SeedableRng as _;

    fn proposal(previous: Option<Digest>) -> Proposal {
        Proposal {
            subject: [0; 32],
            round: 1,
            as_of_ms: 1_700_000_000_000,
            observation: Observation {
                restarts: 2,
                uptime_ms: 86_400_000,
                first_seen_ms: 1_699_000_000_000,
            },
            previous,
        }
    }

    #[test]
    fn proposals_round_trip_verify_and_fit_their_bound() {
        let key = ed25519::PrivateKey::from_seed(1);
        for previous in [None, Some([7; 32])] {
            let signed = SignedProposal::sign(&key, proposal(previous));
            let frame = signed.encode();
            assert!(frame.len() <= MAX_PROPOSAL_BYTES);
            let decoded = SignedProposal::decode(frame.clone()).unwrap();
            assert_eq!(decoded, signed);
            assert_eq!(decoded.encode(), frame);
            assert!(decoded.verify(&key.public_key()));
            assert!(!decoded.verify(&ed25519::PrivateKey::from_seed(2).public_key()));
        }
        // The digest covers every field.
        let a = proposal(None);
        let mut b = a.clone();
        b.observation.uptime_ms += 1;
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn a_changed_proposal_no_longer_verifies() {
        let key = ed25519::PrivateKey::from_seed(1);
        let mut signed = SignedProposal::sign(&key, proposal(None));
        signed.proposal.observation.uptime_ms *= 2;
        assert!(!signed.verify(&key.public_key()));
    }

    #[test]
    fn malformed_proposals_are_refused() {
        let key = ed25519::PrivateKey::from_seed(1);
        let frame = SignedProposal::sign(&key, proposal(Some([1; 32]))).encode();
        // Every truncation, trailing bytes, a bad round, a bad option tag, an oversized frame.
        for len in 0..frame.len() {
            assert!(SignedProposal::decode(frame.slice(..len)).is_err(), "{len}");
        }
        let mut long = frame.to_vec();
        long.push(0);
        assert!(SignedProposal::decode(Bytes::from(long)).is_err());
        for round in [0u8, 3, 255] {
            let mut bad = frame.to_vec();
            bad[32] = round;
            assert!(SignedProposal::decode(Bytes::from(bad)).is_err());
        }
        assert!(SignedProposal::decode(Bytes::from(vec![0u8; MAX_PROPOSAL_BYTES + 1])).is_err());
    }

    #[test]
    fn votes_round_trip_verify_and_refuse_junk() {
        let key = ed25519::PrivateKey::from_seed(3);
        let rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let (_, shares) = deal_anonymous::<Variant, N3f1>(rng, Mode::NonZeroCounter, NZU32!(4));
        let digest = proposal(None).digest();
        let partial =
            ops::threshold::sign_message::<Variant>(&shares[0], CERTIFICATE_NAMESPACE, &digest);
        for vote in [
            Vote::Approve(Box::new(partial)),
            Vote::Disagree(proposal(None).observation),
        ] {
            let signed = SignedVote::sign(&key, digest, 3, vote);
            let frame = signed.encode();
            assert!(frame.len() <= MAX_VOTE_BYTES, "{}", frame.len());
            let decoded = SignedVote::decode(frame.clone()).unwrap();
            assert_eq!(decoded, signed);
            assert_eq!(decoded.encode(), frame);
            assert!(decoded.verify(&key.public_key()));
            assert!(!decoded.verify(&ed25519::PrivateKey::from_seed(4).public_key()));
            // Another digest under the same signature: refused.
            let mut moved = decoded.clone();
            moved.digest[0] ^= 1;
            assert!(!moved.verify(&key.public_key()));
            let mut other_epoch = decoded.clone();
            other_epoch.epoch += 1;
            assert!(
                !other_epoch.verify(&key.public_key()),
                "the epoch is signed"
            );
            for len in 0..frame.len() {
                assert!(SignedVote::decode(frame.slice(..len)).is_err(), "{len}");
            }
            let mut bad_tag = frame.to_vec();
            // After the digest, the voter and the epoch.
            bad_tag[72] = 2;
            assert!(SignedVote::decode(Bytes::from(bad_tag)).is_err());
        }
    }
}
