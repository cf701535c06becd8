//! What the ceremony persists: the records of a round's journal section and their codec. The
//! kind bytes are on disk and never change meaning.

use super::{
    agree::{Certified, Persisted, Vote},
    wire::{self, Variant},
};
use crate::cluster::PublicKey;
use bytes::{Buf as _, BufMut};
use commonware_codec::{EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::{DealerPrivMsg, DealerPubMsg, Output, PlayerAck, SignedDealerLog},
    primitives::{group::Share, sharing::ModeVersion},
};
use std::num::NonZeroU32;

/// A record the ceremony persists (kinds of the storage journal).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// The dealer's dealing seed (secret).
    Seed([u8; 32]),
    /// A dealing this node accepted as a player (secret: it holds a share).
    Dealing {
        dealer: PublicKey,
        public: DealerPubMsg<Variant>,
        private: DealerPrivMsg,
    },
    /// An ack this node received as a dealer.
    Ack {
        player: PublicKey,
        ack: PlayerAck<PublicKey>,
    },
    /// A signed log: this node's own, or one it received.
    Log(SignedDealerLog<Variant, PublicKey>),
    /// The output of a finished epoch (public: group polynomial, dealers, players).
    Output {
        epoch: u64,
        output: Output<Variant, PublicKey>,
    },
    /// This node's share of a finished epoch (secret).
    Share(Share),
    /// One of our votes in the round's agreement.
    Vote(Vote),
    /// Our lock in the round's agreement.
    Lock(Certified),
    /// The round's decision (with the epoch it belongs to, so it can be shown to others).
    Decided { epoch: u64, certified: Certified },
}

impl Record {
    /// The record of what the agreement of a round of `epoch` persisted.
    pub fn agreed(epoch: u64, persisted: Persisted) -> Self {
        match persisted {
            Persisted::Vote(vote) => Record::Vote(vote),
            Persisted::Lock(lock) => Record::Lock(lock),
            Persisted::Decided(certified) => Record::Decided { epoch, certified },
        }
    }

    /// What the agreement persisted, if this is one of its records.
    pub fn persisted(&self) -> Option<Persisted> {
        match self {
            Record::Vote(vote) => Some(Persisted::Vote(vote.clone())),
            Record::Lock(lock) => Some(Persisted::Lock(lock.clone())),
            Record::Decided { certified, .. } => Some(Persisted::Decided(certified.clone())),
            _ => None,
        }
    }
}

/// Journal kind byte of [`Record::Seed`] (the persisted values never change: they are on disk).
pub const KIND_SEED: u8 = 1;
/// Journal kind byte of [`Record::Dealing`].
pub const KIND_DEALING: u8 = 2;
/// Journal kind byte of [`Record::Ack`].
pub const KIND_ACK: u8 = 3;
/// Journal kind byte of [`Record::Log`].
pub const KIND_LOG: u8 = 4;
/// Journal kind byte of [`Record::Output`].
pub const KIND_OUTPUT: u8 = 5;
/// Journal kind byte of [`Record::Share`].
pub const KIND_SHARE: u8 = 6;
/// Journal kind byte of [`Record::Vote`].
pub const KIND_VOTE: u8 = 7;
/// Journal kind byte of [`Record::Lock`].
pub const KIND_LOCK: u8 = 8;
/// Journal kind byte of [`Record::Decided`].
pub const KIND_DECIDED: u8 = 9;

impl Record {
    /// The journal kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Record::Seed(_) => KIND_SEED,
            Record::Dealing { .. } => KIND_DEALING,
            Record::Ack { .. } => KIND_ACK,
            Record::Log(_) => KIND_LOG,
            Record::Output { .. } => KIND_OUTPUT,
            Record::Share(_) => KIND_SHARE,
            Record::Vote(_) => KIND_VOTE,
            Record::Lock(_) => KIND_LOCK,
            Record::Decided { .. } => KIND_DECIDED,
        }
    }

    /// Whether the record must be sealed at rest.
    pub fn secret(&self) -> bool {
        matches!(
            self,
            Record::Seed(_) | Record::Dealing { .. } | Record::Share(_)
        )
    }

    /// Decodes a record of `kind` for a round of `participants` participants.
    pub fn decode(kind: u8, payload: &[u8], participants: NonZeroU32) -> Result<Self, CodecError> {
        let mut buf = bytes::Bytes::copy_from_slice(payload);
        let record = match kind {
            KIND_SEED => {
                if buf.remaining() != 32 {
                    return Err(CodecError::InvalidLength(buf.remaining()));
                }
                let mut seed = [0u8; 32];
                buf.copy_to_slice(&mut seed);
                Record::Seed(seed)
            }
            KIND_DEALING => Record::Dealing {
                dealer: PublicKey::read(&mut buf)?,
                public: DealerPubMsg::read_cfg(&mut buf, &participants)?,
                private: DealerPrivMsg::read(&mut buf)?,
            },
            KIND_ACK => Record::Ack {
                player: PublicKey::read(&mut buf)?,
                ack: PlayerAck::read(&mut buf)?,
            },
            KIND_LOG => Record::Log(SignedDealerLog::read_cfg(&mut buf, &participants)?),
            KIND_OUTPUT => Record::Output {
                epoch: u64::read(&mut buf)?,
                output: Output::read_cfg(&mut buf, &(participants, ModeVersion::v0()))?,
            },
            KIND_SHARE => Record::Share(Share::read(&mut buf)?),
            KIND_VOTE => Record::Vote(Vote::read(&mut buf)?),
            KIND_LOCK => Record::Lock(Certified::read_cfg(&mut buf, &wire::bounds(participants))?),
            KIND_DECIDED => Record::Decided {
                epoch: u64::read(&mut buf)?,
                certified: Certified::read_cfg(&mut buf, &wire::bounds(participants))?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        };
        if buf.has_remaining() {
            return Err(CodecError::ExtraData(buf.remaining()));
        }
        Ok(record)
    }
}

impl Write for Record {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Record::Seed(seed) => buf.put_slice(seed),
            Record::Dealing {
                dealer,
                public,
                private,
            } => {
                dealer.write(buf);
                public.write(buf);
                private.write(buf);
            }
            Record::Ack { player, ack } => {
                player.write(buf);
                ack.write(buf);
            }
            Record::Log(log) => log.write(buf),
            Record::Output { epoch, output } => {
                epoch.write(buf);
                output.write(buf);
            }
            Record::Share(share) => share.write(buf),
            Record::Vote(vote) => vote.write(buf),
            Record::Lock(lock) => lock.write(buf),
            Record::Decided { epoch, certified } => {
                epoch.write(buf);
                certified.write(buf);
            }
        }
    }
}

impl EncodeSize for Record {
    fn encode_size(&self) -> usize {
        match self {
            Record::Seed(seed) => seed.len(),
            Record::Dealing {
                dealer,
                public,
                private,
            } => dealer.encode_size() + public.encode_size() + private.encode_size(),
            Record::Ack { player, ack } => player.encode_size() + ack.encode_size(),
            Record::Log(log) => log.encode_size(),
            Record::Output { epoch, output } => epoch.encode_size() + output.encode_size(),
            Record::Share(share) => share.encode_size(),
            Record::Vote(vote) => vote.encode_size(),
            Record::Lock(lock) => lock.encode_size(),
            Record::Decided { epoch, certified } => epoch.encode_size() + certified.encode_size(),
        }
    }
}
