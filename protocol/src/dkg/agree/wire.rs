//! The agreement's messages and their bounded codec (see the parent module for the protocol).

use bytes::BufMut;
use commonware_codec::{
    Buf, Encode as _, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
    varint::UInt,
};
use commonware_cryptography::ed25519;

/// The sha256 of a choice, a log, ...
pub type Digest = [u8; 32];

fn sha256(bytes: &[u8]) -> Digest {
    use commonware_cryptography::{Hasher as _, Sha256};
    let digest = Sha256::hash(&[bytes]);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// What a round's agreement decides.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Choice {
    /// Finalize over exactly these logs: each dealer (its index among the round's dealers, in
    /// increasing order) with the sha256 of its signed log.
    Logs(Vec<(u32, Digest)>),
    /// Give the round up: every member moves on to the next round.
    Abandon,
}

impl Choice {
    /// What votes sign.
    pub fn digest(&self) -> Digest {
        sha256(&self.encode())
    }

    /// Whether the choice is well formed for a round of `dealers` dealers needing `required`
    /// logs: indices in range and strictly increasing, at least `required` of them.
    pub fn well_formed(&self, dealers: u32, required: usize) -> bool {
        match self {
            Choice::Abandon => true,
            Choice::Logs(logs) => {
                logs.len() >= required
                    && logs.iter().all(|(d, _)| *d < dealers)
                    && logs.windows(2).all(|w| w[0].0 < w[1].0)
            }
        }
    }
}

const TAG_LOGS: u8 = 0;
const TAG_ABANDON: u8 = 1;

impl Write for Choice {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Choice::Logs(logs) => {
                TAG_LOGS.write(buf);
                UInt(logs.len() as u64).write(buf);
                for (dealer, digest) in logs {
                    dealer.write(buf);
                    buf.put_slice(digest);
                }
            }
            Choice::Abandon => TAG_ABANDON.write(buf),
        }
    }
}

impl EncodeSize for Choice {
    fn encode_size(&self) -> usize {
        match self {
            Choice::Logs(logs) => 1 + UInt(logs.len() as u64).encode_size() + logs.len() * 36,
            Choice::Abandon => 1,
        }
    }
}

/// What bounds decoding: the voter and dealer counts of the round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub voters: u32,
    pub dealers: u32,
}

impl Bounds {
    /// The largest encoding of a choice.
    fn max_choice(&self) -> usize {
        1 + 5 + self.dealers as usize * 36
    }

    /// The largest encoding of a certificate (every voter signed).
    fn max_certificate(&self) -> usize {
        8 + 1 + 32 + 5 + self.voters as usize * (4 + ed25519::Signature::SIZE)
    }

    /// The largest encoding of any agreement message.
    pub fn max_message(&self) -> usize {
        let certified = self.max_choice() + self.max_certificate();
        1 + 8 + 1 + certified.max(self.max_choice() + 1 + self.max_certificate())
    }
}

fn read_digest(buf: &mut impl Buf) -> Result<Digest, CodecError> {
    if buf.remaining() < 32 {
        return Err(CodecError::EndOfBuffer);
    }
    let mut digest = [0u8; 32];
    buf.copy_to_slice(&mut digest);
    Ok(digest)
}

fn read_len(buf: &mut impl Buf, max: u32) -> Result<usize, CodecError> {
    let len: u64 = UInt::read(buf)?.into();
    if len > max as u64 {
        return Err(CodecError::InvalidLength(len as usize));
    }
    Ok(len as usize)
}

impl Read for Choice {
    type Cfg = Bounds;

    fn read_cfg(buf: &mut impl Buf, bounds: &Bounds) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            TAG_LOGS => {
                let len = read_len(buf, bounds.dealers)?;
                let mut logs = Vec::with_capacity(len);
                for _ in 0..len {
                    logs.push((u32::read(buf)?, read_digest(buf)?));
                }
                Ok(Choice::Logs(logs))
            }
            TAG_ABANDON => Ok(Choice::Abandon),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// The two voting stages of a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Prevote = 0,
    Precommit = 1,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prevote => "prevote",
            Stage::Precommit => "precommit",
        }
    }

    fn read(buf: &mut impl Buf) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Stage::Prevote),
            1 => Ok(Stage::Precommit),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// What a vote signs: the epoch, the round, the view, the stage and the choice's digest.
pub(crate) fn vote_payload(
    epoch: u64,
    round: u64,
    view: u64,
    stage: Stage,
    digest: &Digest,
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(8 + 8 + 8 + 1 + 32);
    payload.extend_from_slice(&epoch.to_be_bytes());
    payload.extend_from_slice(&round.to_be_bytes());
    payload.extend_from_slice(&view.to_be_bytes());
    payload.push(stage as u8);
    payload.extend_from_slice(digest);
    payload
}

/// One signed vote (its signer is the sender: the transport authenticates it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub view: u64,
    pub stage: Stage,
    pub digest: Digest,
    pub signature: ed25519::Signature,
}

impl Write for Vote {
    fn write(&self, buf: &mut impl BufMut) {
        self.view.write(buf);
        (self.stage as u8).write(buf);
        buf.put_slice(&self.digest);
        self.signature.write(buf);
    }
}

impl EncodeSize for Vote {
    fn encode_size(&self) -> usize {
        8 + 1 + 32 + ed25519::Signature::SIZE
    }
}

impl Read for Vote {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            view: u64::read(buf)?,
            stage: Stage::read(buf)?,
            digest: read_digest(buf)?,
            signature: ed25519::Signature::read(buf)?,
        })
    }
}

/// `q` or more votes of one stage for one digest in one view: (voter index, signature), by
/// increasing voter index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub view: u64,
    pub stage: Stage,
    pub digest: Digest,
    pub votes: Vec<(u32, ed25519::Signature)>,
}

impl Write for Certificate {
    fn write(&self, buf: &mut impl BufMut) {
        self.view.write(buf);
        (self.stage as u8).write(buf);
        buf.put_slice(&self.digest);
        UInt(self.votes.len() as u64).write(buf);
        for (voter, signature) in &self.votes {
            voter.write(buf);
            signature.write(buf);
        }
    }
}

impl EncodeSize for Certificate {
    fn encode_size(&self) -> usize {
        8 + 1
            + 32
            + UInt(self.votes.len() as u64).encode_size()
            + self.votes.len() * (4 + ed25519::Signature::SIZE)
    }
}

impl Read for Certificate {
    type Cfg = Bounds;

    fn read_cfg(buf: &mut impl Buf, bounds: &Bounds) -> Result<Self, CodecError> {
        let view = u64::read(buf)?;
        let stage = Stage::read(buf)?;
        let digest = read_digest(buf)?;
        let len = read_len(buf, bounds.voters)?;
        let mut votes = Vec::with_capacity(len);
        for _ in 0..len {
            votes.push((u32::read(buf)?, ed25519::Signature::read(buf)?));
        }
        Ok(Self {
            view,
            stage,
            digest,
            votes,
        })
    }
}

/// A choice with the certificate of its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certified {
    pub choice: Choice,
    pub certificate: Certificate,
}

impl Write for Certified {
    fn write(&self, buf: &mut impl BufMut) {
        self.choice.write(buf);
        self.certificate.write(buf);
    }
}

impl EncodeSize for Certified {
    fn encode_size(&self) -> usize {
        self.choice.encode_size() + self.certificate.encode_size()
    }
}

impl Read for Certified {
    type Cfg = Bounds;

    fn read_cfg(buf: &mut impl Buf, bounds: &Bounds) -> Result<Self, CodecError> {
        Ok(Self {
            choice: Choice::read_cfg(buf, bounds)?,
            certificate: Certificate::read_cfg(buf, bounds)?,
        })
    }
}

/// An agreement message (the round is carried by the DKG frame around it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgreeMessage {
    /// To the leader of `view`: our highest prevote certificate.
    NewView {
        view: u64,
        high: Option<Certified>,
    },
    /// From the leader of `view`: its value, and the certificate it re-proposes (if any).
    Propose {
        view: u64,
        choice: Choice,
        justify: Option<Certificate>,
    },
    Vote(Vote),
    /// The decision, with its precommit certificate.
    Decided(Certified),
    /// Asks for the signed logs of these dealers (indices among the round's dealers).
    Need {
        dealers: Vec<u32>,
    },
    /// Asks for the round's decision (an observer waiting for it).
    Ask,
}

const TAG_NEW_VIEW: u8 = 0;
const TAG_PROPOSE: u8 = 1;
const TAG_VOTE: u8 = 2;
pub const TAG_DECIDED: u8 = 3;
pub const TAG_NEED: u8 = 4;
pub const TAG_ASK: u8 = 5;

impl Write for AgreeMessage {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            AgreeMessage::NewView { view, high } => {
                TAG_NEW_VIEW.write(buf);
                view.write(buf);
                high.write(buf);
            }
            AgreeMessage::Propose {
                view,
                choice,
                justify,
            } => {
                TAG_PROPOSE.write(buf);
                view.write(buf);
                choice.write(buf);
                justify.write(buf);
            }
            AgreeMessage::Vote(vote) => {
                TAG_VOTE.write(buf);
                vote.write(buf);
            }
            AgreeMessage::Decided(certified) => {
                TAG_DECIDED.write(buf);
                certified.write(buf);
            }
            AgreeMessage::Ask => TAG_ASK.write(buf),
            AgreeMessage::Need { dealers } => {
                TAG_NEED.write(buf);
                UInt(dealers.len() as u64).write(buf);
                for dealer in dealers {
                    dealer.write(buf);
                }
            }
        }
    }
}

impl EncodeSize for AgreeMessage {
    fn encode_size(&self) -> usize {
        1 + match self {
            AgreeMessage::NewView { high, .. } => 8 + high.encode_size(),
            AgreeMessage::Propose {
                choice, justify, ..
            } => 8 + choice.encode_size() + justify.encode_size(),
            AgreeMessage::Vote(vote) => vote.encode_size(),
            AgreeMessage::Decided(certified) => certified.encode_size(),
            AgreeMessage::Need { dealers } => {
                UInt(dealers.len() as u64).encode_size() + dealers.len() * 4
            }
            AgreeMessage::Ask => 0,
        }
    }
}

impl Read for AgreeMessage {
    type Cfg = Bounds;

    fn read_cfg(buf: &mut impl Buf, bounds: &Bounds) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            TAG_NEW_VIEW => AgreeMessage::NewView {
                view: u64::read(buf)?,
                high: Option::<Certified>::read_cfg(buf, bounds)?,
            },
            TAG_PROPOSE => AgreeMessage::Propose {
                view: u64::read(buf)?,
                choice: Choice::read_cfg(buf, bounds)?,
                justify: Option::<Certificate>::read_cfg(buf, bounds)?,
            },
            TAG_VOTE => AgreeMessage::Vote(Vote::read(buf)?),
            TAG_DECIDED => AgreeMessage::Decided(Certified::read_cfg(buf, bounds)?),
            TAG_NEED => {
                let len = read_len(buf, bounds.dealers)?;
                let mut dealers = Vec::with_capacity(len);
                for _ in 0..len {
                    dealers.push(u32::read(buf)?);
                }
                AgreeMessage::Need { dealers }
            }
            TAG_ASK => AgreeMessage::Ask,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}
