//! DKG wire messages and their bounded codec.
//!
//! ```text
//!   dealer -> player   Dealing { round, public, private }   commitment + the player's share
//!   player -> dealer   Ack { round, ack }                   signed acknowledgement of that dealing
//!   dealer -> all      Log { round, log }                   the dealer's signed log; echoed by all
//!   member -> member   Agree { epoch, round, message }      agreement on the round's log set
//!                                                           (see `dkg::agree`)
//! ```
//!
//! `round` names the ceremony attempt (epoch and attempt number, see `dkg::round_of`); a message
//! of another round is dropped by the receiver. Dealings are not signed by the crypto library: the
//! authenticated, encrypted p2p channel is what binds a dealing to its dealer and keeps the share
//! private. Every vector's bound comes from the cluster's member count, so decoding never
//! allocates more than a message of the largest allowed cluster needs.

use super::agree::{AgreeMessage, Bounds};
pub use super::agree::{TAG_ASK, TAG_DECIDED, TAG_NEED};
use crate::cluster::PublicKey;
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::{DealerPrivMsg, DealerPubMsg, PlayerAck, SignedDealerLog},
    primitives::variant::MinPk,
};
use std::num::NonZeroU32;

/// The BLS variant of Cohort's threshold key: small public keys (48 bytes), 96-byte signatures.
pub type Variant = MinPk;

/// A DKG message.
// Messages are short-lived values moved once from decoder to state machine: boxing the large
// variants would add an allocation per message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Dealing {
        round: u64,
        public: DealerPubMsg<Variant>,
        private: DealerPrivMsg,
    },
    Ack {
        round: u64,
        ack: PlayerAck<PublicKey>,
    },
    Log {
        round: u64,
        log: SignedDealerLog<Variant, PublicKey>,
    },
    Agree {
        round: u64,
        epoch: u64,
        message: AgreeMessage,
    },
}

/// First byte of an encoded [`Message::Dealing`].
pub const TAG_DEALING: u8 = 0;
/// First byte of an encoded [`Message::Ack`].
pub const TAG_ACK: u8 = 1;
/// First byte of an encoded [`Message::Log`].
pub const TAG_LOG: u8 = 2;
/// First byte of an encoded [`Message::Agree`].
pub const TAG_AGREE: u8 = 3;

/// The agreement's decoding bounds in a cluster of `members` members (voters are the members;
/// dealers are some of them).
pub fn bounds(members: NonZeroU32) -> Bounds {
    Bounds {
        voters: members.get(),
        dealers: members.get(),
    }
}

impl Message {
    /// The ceremony attempt the message belongs to.
    pub fn round(&self) -> u64 {
        match self {
            Message::Dealing { round, .. }
            | Message::Ack { round, .. }
            | Message::Log { round, .. }
            | Message::Agree { round, .. } => *round,
        }
    }

    /// The largest encoding of any message in a cluster of `members` members.
    pub fn max_size(members: NonZeroU32) -> usize {
        use commonware_codec::FixedSize as _;
        let dealing = DealerPubMsg::<Variant>::max_encode_size(members) + DealerPrivMsg::SIZE;
        let ack = PlayerAck::<PublicKey>::SIZE;
        let log = SignedDealerLog::<Variant, PublicKey>::max_encode_size(members);
        let agree = 8 + bounds(members).max_message();
        1 + 8 + dealing.max(ack).max(log).max(agree)
    }
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Message::Dealing {
                round,
                public,
                private,
            } => {
                TAG_DEALING.write(buf);
                round.write(buf);
                public.write(buf);
                private.write(buf);
            }
            Message::Ack { round, ack } => {
                TAG_ACK.write(buf);
                round.write(buf);
                ack.write(buf);
            }
            Message::Log { round, log } => {
                TAG_LOG.write(buf);
                round.write(buf);
                log.write(buf);
            }
            Message::Agree {
                round,
                epoch,
                message,
            } => {
                TAG_AGREE.write(buf);
                round.write(buf);
                epoch.write(buf);
                message.write(buf);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        1 + 8
            + match self {
                Message::Dealing {
                    public, private, ..
                } => public.encode_size() + private.encode_size(),
                Message::Ack { ack, .. } => ack.encode_size(),
                Message::Log { log, .. } => log.encode_size(),
                Message::Agree { message, .. } => 8 + message.encode_size(),
            }
    }
}

impl Read for Message {
    /// The cluster's member count: bounds every commitment and log.
    type Cfg = NonZeroU32;

    fn read_cfg(buf: &mut impl Buf, members: &NonZeroU32) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        let round = u64::read(buf)?;
        Ok(match tag {
            TAG_DEALING => Message::Dealing {
                round,
                public: DealerPubMsg::read_cfg(buf, members)?,
                private: DealerPrivMsg::read(buf)?,
            },
            TAG_ACK => Message::Ack {
                round,
                ack: PlayerAck::read(buf)?,
            },
            TAG_LOG => Message::Log {
                round,
                log: SignedDealerLog::read_cfg(buf, members)?,
            },
            TAG_AGREE => Message::Agree {
                round,
                epoch: u64::read(buf)?,
                message: AgreeMessage::read_cfg(buf, &bounds(*members))?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// Decodes one frame of a cluster of `members` members, refusing oversized frames unread.
pub fn decode(mut frame: impl Buf, members: NonZeroU32) -> Result<Message, CodecError> {
    let len = frame.remaining();
    if len > Message::max_size(members) {
        return Err(CodecError::InvalidLength(len));
    }
    let message = Message::read_cfg(&mut frame, &members)?;
    if frame.has_remaining() {
        return Err(CodecError::ExtraData(frame.remaining()));
    }
    Ok(message)
}
