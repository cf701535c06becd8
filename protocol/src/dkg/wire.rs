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

/// The encoding of a dealing whose commitment is already encoded (`public`, as
/// [`DealerPubMsg`]'s own encoding): the same bytes as [`Message::Dealing`]'s encoding
/// (tested). A dealer
/// sends one commitment to every player; encoding it once spares compressing its points once
/// per player.
pub fn encode_dealing(round: u64, public: &[u8], private: &DealerPrivMsg) -> bytes::Bytes {
    let mut buf = bytes::BytesMut::with_capacity(1 + 8 + public.len() + private.encode_size());
    TAG_DEALING.write(&mut buf);
    round.write(&mut buf);
    buf.put_slice(public);
    private.write(&mut buf);
    buf.freeze()
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

/// Decodes a dealing frame with its public part (the dealer's commitment, the same in the
/// dealing of every player) decoded by `public` from its exact bytes, so a caller may share
/// that decoding between the players of one process (`crate::verify`). `None` when the frame
/// is not a well-formed dealing: the caller decodes it with [`decode`], whose answer (the same
/// message, or the error) this never contradicts: a dealing's private part has a fixed size, so
/// its public part is exactly the bytes between the header and that tail.
pub fn decode_dealing(
    frame: &bytes::Bytes,
    members: NonZeroU32,
    public: impl FnOnce(bytes::Bytes) -> Result<DealerPubMsg<Variant>, CodecError>,
) -> Option<Message> {
    use commonware_codec::{DecodeExt as _, FixedSize as _};
    const HEADER: usize = 1 + 8;
    let len = frame.len();
    if len > Message::max_size(members)
        || len < HEADER + DealerPrivMsg::SIZE
        || frame[0] != TAG_DEALING
    {
        return None;
    }
    let round = u64::from_be_bytes(frame[1..HEADER].try_into().expect("eight bytes"));
    let public = public(frame.slice(HEADER..len - DealerPrivMsg::SIZE)).ok()?;
    let private = DealerPrivMsg::decode(frame.slice(len - DealerPrivMsg::SIZE..)).ok()?;
    Some(Message::Dealing {
        round,
        public,
        private,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};
    use commonware_cryptography::{
        Signer as _,
        bls12381::{
            dkg::feldman_desmedt::{Dealer, Info, Reveal},
            primitives::sharing::Mode,
        },
        ed25519,
    };
    use commonware_utils::{N3f1, ordered::Set};
    use rand::SeedableRng as _;

    #[test]
    fn a_dealing_decoded_in_two_parts_is_what_the_whole_decoding_gives() {
        let keys: Vec<ed25519::PrivateKey> = (0..4).map(ed25519::PrivateKey::from_seed).collect();
        let set = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let members = NonZeroU32::new(4).unwrap();
        let info = Info::<Variant, _>::new::<N3f1>(
            crate::dkg::ceremony::NAMESPACE,
            0,
            None,
            Mode::NonZeroCounter,
            Reveal::V1,
            set.clone(),
            set,
        )
        .unwrap();
        let rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (_, public, privates) =
            Dealer::start::<N3f1>(rng, info, keys[0].clone(), None).unwrap();
        let split = |frame: &bytes::Bytes| {
            decode_dealing(frame, members, |b| {
                DealerPubMsg::<Variant>::decode_cfg(b, &members)
            })
        };
        for (_, private) in privates {
            let frame = bytes::Bytes::from(
                Message::Dealing {
                    round: 7,
                    public: public.clone(),
                    private,
                }
                .encode()
                .to_vec(),
            );
            let whole = decode(frame.clone(), members).unwrap();
            assert_eq!(split(&frame), Some(whole.clone()));
            // The dealer's encoding from its commitment encoded once is the same frame.
            let Message::Dealing { private, .. } = whole else {
                panic!("a dealing");
            };
            assert_eq!(encode_dealing(7, &public.encode(), &private), frame);
            // Damaged frames: whatever the split decoding accepts, the whole one gives alike.
            let mut damaged = vec![
                frame.slice(..frame.len() - 1),
                frame.slice(..10),
                bytes::Bytes::from([frame.as_ref(), &[0]].concat()),
            ];
            for at in [0, 1, 9, 20, frame.len() - 1] {
                let mut bad = frame.to_vec();
                bad[at] ^= 0x41;
                damaged.push(bad.into());
            }
            for bad in damaged {
                if let Some(message) = split(&bad) {
                    assert_eq!(decode(bad, members).ok(), Some(message));
                }
            }
        }
    }
}
