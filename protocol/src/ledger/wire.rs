//! Ledger gossip messages and their bounded codec.
//!
//! ```text
//!   author -> all    Ops { ops }                       new ops, broadcast once by their author
//!   node -> peer     Digest { digest, ops, reply }     anti-entropy: my state digest (and op
//!                                                      count); `reply` asks for the peer's
//! ```
//!
//! Received ops are applied and never re-broadcast: an op reaches every member by its author's
//! broadcast, and anything that broadcast missed (loss, a partition, a crash) is found by the
//! digest exchange and fetched by backfill. So gossip costs one message per op and member, never
//! a flood.

use super::op::{MAX_OP_BYTES, SignedOp};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, Write, varint::UInt,
};
use commonware_cryptography::sha256;

/// Most ops in one gossip message.
pub const MAX_GOSSIP_OPS: usize = 3;

/// Largest encoded gossip message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 + 2 + MAX_GOSSIP_OPS * (MAX_OP_BYTES + 3);

const _: () = assert!(MAX_MESSAGE_BYTES <= crate::channels::MAX_FRAME_BYTES);

const TAG_OPS: u8 = 0;
const TAG_DIGEST: u8 = 1;

/// A gossip message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Ops(Vec<SignedOp>),
    Digest {
        digest: sha256::Digest,
        ops: u64,
        reply: bool,
    },
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Message::Ops(ops) => {
                TAG_OPS.write(buf);
                ops.write(buf);
            }
            Message::Digest { digest, ops, reply } => {
                TAG_DIGEST.write(buf);
                digest.write(buf);
                UInt(*ops).write(buf);
                reply.write(buf);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        1 + match self {
            Message::Ops(ops) => ops.encode_size(),
            Message::Digest { digest, ops, .. } => {
                digest.encode_size() + UInt(*ops).encode_size() + 1
            }
        }
    }
}

impl Read for Message {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() > MAX_MESSAGE_BYTES {
            return Err(CodecError::InvalidLength(buf.remaining()));
        }
        match u8::read(buf)? {
            TAG_OPS => Ok(Message::Ops(Vec::<SignedOp>::read_cfg(
                buf,
                &(RangeCfg::new(1..=MAX_GOSSIP_OPS), ()),
            )?)),
            TAG_DIGEST => Ok(Message::Digest {
                digest: sha256::Digest::read(buf)?,
                ops: UInt::read(buf)?.into(),
                reply: bool::read(buf)?,
            }),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Op, OpKind};
    use commonware_codec::{Decode as _, Encode as _};
    use commonware_cryptography::{Hasher as _, Sha256, Signer as _, ed25519};

    #[test]
    fn roundtrip_and_bounds() {
        let op = SignedOp::sign(
            &ed25519::PrivateKey::from_seed(1),
            Op {
                author: [0; 32],
                seq: 1,
                parents: vec![],
                kind: OpKind::Boot { boot_count: 1 },
                time_ms: 0,
            },
        );
        for message in [
            Message::Ops(vec![op.clone()]),
            Message::Digest {
                digest: Sha256::hash(&[b"x"]),
                ops: 12,
                reply: true,
            },
        ] {
            let bytes = message.encode();
            assert_eq!(bytes.len(), message.encode_size());
            assert_eq!(Message::decode_cfg(bytes, &()).unwrap(), message);
        }
        // No ops, too many ops, unknown tag: refused.
        assert!(Message::decode_cfg(Message::Ops(vec![]).encode(), &()).is_err());
        let many = Message::Ops(vec![op; MAX_GOSSIP_OPS + 1]).encode();
        assert!(Message::decode_cfg(many, &()).is_err());
        assert!(Message::decode_cfg(bytes::Bytes::from_static(&[7]), &()).is_err());
    }
}
