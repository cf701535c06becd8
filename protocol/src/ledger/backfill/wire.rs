//! Backfill wire messages and their bounded codec (SPEC section 4).
//!
//! ```text
//!   client -> server  Request  { id, known, missing, cursor, limit }
//!   server -> client  Response { id, ops, next_cursor, more }     ops: parents before children
//!                   | Busy     { id, retry_after_ms }              over the rate limit
//!                   | Rejected { id, reason }                      a request it will not serve
//!   joiner -> anyone  OutputRequest { id, digest }                 a DKG output, by digest
//!   anyone -> joiner  Output { id, round, output }                 round | encoded output
//!   author -> anyone  HeadRequest { id }                           my chain's head, as you hold it
//!   anyone -> author  Head { id, seq }                             highest seq applied (0: none)
//! ```
//!
//! `HeadRequest` is how an author that lost (or cannot vouch for) its op store learns how far
//! its own chain went before it authors again (the ledger's own-chain recovery, see
//! [`crate::ledger::own`]): every peer answers with the highest seq of the *requester's*
//! chain it applied.
//!
//! `OutputRequest` is how a joiner (a key admitted by a certified committee, or about to be)
//! gets the DKG output its first reshare starts from: it names the digest a committee
//! proposal binds ([`crate::committee::output_digest`] of the round and the encoded output),
//! and a node that holds an output with that digest answers it. The joiner checks the digest
//! and decodes the output with its own bounds; nothing in an answer is trusted beyond that.
//!
//! `id` pairs a reply with its request (a reply to anything but the outstanding request is
//! dropped). `known` lists ids the client holds (its heads and each author's newest op); the
//! server sends the ops that are not their ancestors, or, when `missing` is not empty, only the
//! unknown ancestors of those ids. `cursor` is a position in the server's log: a page holds the
//! wanted ops at positions `>= cursor`, and `next_cursor` is where the next page starts.
//!
//! Every vector is bounded ([`MAX_KNOWN`], [`MAX_MISSING`], [`MAX_PAGE_OPS`], each op by
//! `MAX_OP_BYTES`), so no message can make the decoder allocate more than [`MAX_MESSAGE_BYTES`].

use crate::ledger::{
    dag::MAX_KNOWN,
    op::{MAX_OP_BYTES, OpId, SignedOp},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, Write, varint::UInt,
};

/// Most missing ids one request may name.
pub const MAX_MISSING: usize = 256;

/// Most ops in one page.
pub const MAX_PAGE_OPS: usize = 4096;

/// Largest encoded page of ops, in bytes: a server stops adding ops before this (the p2p frame
/// limit of the node is 64 KiB; the header and framing fit in the rest).
pub const MAX_PAGE_BYTES: usize = 60 * 1024;

/// Largest encoded request, in bytes: tag, id, both id lists at their bounds (3-byte length
/// prefixes at most), cursor and limit as varints.
const MAX_REQUEST_BYTES: usize = 1 + 8 + 3 + MAX_KNOWN * 32 + 3 + MAX_MISSING * 32 + 10 + 5;

/// Largest encoded page, in bytes: tag, id, length prefix, the ops (a server stops adding ops
/// before [`MAX_PAGE_BYTES`]; a single op, at most `MAX_OP_BYTES`, is far below it), cursor and
/// `more`.
const MAX_RESPONSE_BYTES: usize = 1 + 8 + 3 + MAX_PAGE_BYTES + 10 + 1;

const _: () = assert!(1 + 8 + 10 + 5 + MAX_OUTPUT_BYTES <= MAX_RESPONSE_BYTES);

/// Largest encoded backfill message a receiver decodes (anything larger is dropped undecoded).
/// Within the transport's frame limit (asserted below).
pub const MAX_MESSAGE_BYTES: usize = if MAX_REQUEST_BYTES > MAX_RESPONSE_BYTES {
    MAX_REQUEST_BYTES
} else {
    MAX_RESPONSE_BYTES
};

const _: () = assert!(MAX_OP_BYTES < MAX_PAGE_BYTES);
const _: () = assert!(MAX_MESSAGE_BYTES <= crate::channels::MAX_FRAME_BYTES);

const TAG_REQUEST: u8 = 0;
const TAG_RESPONSE: u8 = 1;
const TAG_BUSY: u8 = 2;
const TAG_REJECTED: u8 = 3;
const TAG_OUTPUT_REQUEST: u8 = 4;
const TAG_OUTPUT: u8 = 5;
const TAG_HEAD_REQUEST: u8 = 6;
const TAG_HEAD: u8 = 7;

/// Largest encoded DKG output an `Output` message carries (a committee of `MAX_MEMBERS`:
/// the public polynomial and three sets of keys, about 33 KiB).
pub const MAX_OUTPUT_BYTES: usize = 48 * 1024;

/// Why a server refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The cursor is beyond the server's log.
    BadCursor,
    /// `limit` is 0.
    BadLimit,
}

impl RejectReason {
    fn tag(self) -> u8 {
        match self {
            RejectReason::BadCursor => 0,
            RejectReason::BadLimit => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RejectReason::BadCursor => "bad_cursor",
            RejectReason::BadLimit => "bad_limit",
        }
    }
}

/// A backfill message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request {
        id: u64,
        /// Ascending ids the client holds.
        known: Vec<OpId>,
        /// Ascending ids the client lacks (empty: everything it lacks).
        missing: Vec<OpId>,
        cursor: u64,
        /// Most ops the client wants in the page (the server may send fewer).
        limit: u32,
    },
    Response {
        id: u64,
        ops: Vec<SignedOp>,
        next_cursor: u64,
        more: bool,
    },
    Busy {
        id: u64,
        retry_after_ms: u64,
    },
    Rejected {
        id: u64,
        reason: RejectReason,
    },
    OutputRequest {
        id: u64,
        digest: [u8; 32],
    },
    Output {
        id: u64,
        round: u64,
        output: bytes::Bytes,
    },
    HeadRequest {
        id: u64,
    },
    Head {
        id: u64,
        seq: u64,
    },
}

impl Message {
    /// The request id the message carries.
    pub fn id(&self) -> u64 {
        match self {
            Message::Request { id, .. }
            | Message::Response { id, .. }
            | Message::Busy { id, .. }
            | Message::Rejected { id, .. }
            | Message::OutputRequest { id, .. }
            | Message::Output { id, .. }
            | Message::HeadRequest { id }
            | Message::Head { id, .. } => *id,
        }
    }
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Message::Request {
                id,
                known,
                missing,
                cursor,
                limit,
            } => {
                TAG_REQUEST.write(buf);
                id.write(buf);
                known.write(buf);
                missing.write(buf);
                UInt(*cursor).write(buf);
                UInt(*limit).write(buf);
            }
            Message::Response {
                id,
                ops,
                next_cursor,
                more,
            } => {
                TAG_RESPONSE.write(buf);
                id.write(buf);
                ops.write(buf);
                UInt(*next_cursor).write(buf);
                more.write(buf);
            }
            Message::Busy { id, retry_after_ms } => {
                TAG_BUSY.write(buf);
                id.write(buf);
                UInt(*retry_after_ms).write(buf);
            }
            Message::Rejected { id, reason } => {
                TAG_REJECTED.write(buf);
                id.write(buf);
                reason.tag().write(buf);
            }
            Message::OutputRequest { id, digest } => {
                TAG_OUTPUT_REQUEST.write(buf);
                id.write(buf);
                buf.put_slice(digest);
            }
            Message::Output { id, round, output } => {
                TAG_OUTPUT.write(buf);
                id.write(buf);
                UInt(*round).write(buf);
                output.write(buf);
            }
            Message::HeadRequest { id } => {
                TAG_HEAD_REQUEST.write(buf);
                id.write(buf);
            }
            Message::Head { id, seq } => {
                TAG_HEAD.write(buf);
                id.write(buf);
                UInt(*seq).write(buf);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        1 + 8
            + match self {
                Message::Request {
                    known,
                    missing,
                    cursor,
                    limit,
                    ..
                } => {
                    known.encode_size()
                        + missing.encode_size()
                        + UInt(*cursor).encode_size()
                        + UInt(*limit).encode_size()
                }
                Message::Response {
                    ops, next_cursor, ..
                } => ops.encode_size() + UInt(*next_cursor).encode_size() + 1,
                Message::Busy { retry_after_ms, .. } => UInt(*retry_after_ms).encode_size(),
                Message::Rejected { .. } => 1,
                Message::OutputRequest { .. } => 32,
                Message::Output { round, output, .. } => {
                    UInt(*round).encode_size() + output.encode_size()
                }
                Message::HeadRequest { .. } => 0,
                Message::Head { seq, .. } => UInt(*seq).encode_size(),
            }
    }
}

impl Read for Message {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() > MAX_MESSAGE_BYTES {
            return Err(CodecError::InvalidLength(buf.remaining()));
        }
        let tag = u8::read(buf)?;
        let id = u64::read(buf)?;
        match tag {
            TAG_REQUEST => {
                let known = Vec::<OpId>::read_cfg(buf, &(RangeCfg::new(..=MAX_KNOWN), ()))?;
                let missing = Vec::<OpId>::read_cfg(buf, &(RangeCfg::new(..=MAX_MISSING), ()))?;
                let cursor = UInt::read(buf)?.into();
                let limit = UInt::read(buf)?.into();
                Ok(Message::Request {
                    id,
                    known,
                    missing,
                    cursor,
                    limit,
                })
            }
            TAG_RESPONSE => {
                let ops = Vec::<SignedOp>::read_cfg(buf, &(RangeCfg::new(..=MAX_PAGE_OPS), ()))?;
                let next_cursor = UInt::read(buf)?.into();
                let more = bool::read(buf)?;
                Ok(Message::Response {
                    id,
                    ops,
                    next_cursor,
                    more,
                })
            }
            TAG_BUSY => Ok(Message::Busy {
                id,
                retry_after_ms: UInt::read(buf)?.into(),
            }),
            TAG_REJECTED => {
                let reason = match u8::read(buf)? {
                    0 => RejectReason::BadCursor,
                    1 => RejectReason::BadLimit,
                    other => return Err(CodecError::InvalidEnum(other)),
                };
                Ok(Message::Rejected { id, reason })
            }
            TAG_OUTPUT_REQUEST => Ok(Message::OutputRequest {
                id,
                digest: <[u8; 32]>::read(buf)?,
            }),
            TAG_OUTPUT => Ok(Message::Output {
                id,
                round: UInt::read(buf)?.into(),
                output: bytes::Bytes::read_cfg(buf, &RangeCfg::new(..=MAX_OUTPUT_BYTES))?,
            }),
            TAG_HEAD_REQUEST => Ok(Message::HeadRequest { id }),
            TAG_HEAD => Ok(Message::Head {
                id,
                seq: UInt::read(buf)?.into(),
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

    fn op(seq: u64) -> SignedOp {
        SignedOp::sign(
            &ed25519::PrivateKey::from_seed(1),
            Op {
                author: [0; 32],
                seq,
                parents: vec![],
                kind: OpKind::Heartbeat { uptime_ms: seq },
                time_ms: 5,
            },
        )
    }

    #[test]
    fn roundtrip() {
        let a = Sha256::hash(&[b"a"]);
        for message in [
            Message::Request {
                id: 7,
                known: vec![a],
                missing: vec![],
                cursor: 3,
                limit: 100,
            },
            Message::Response {
                id: 7,
                ops: vec![op(1), op(2)],
                next_cursor: 9,
                more: true,
            },
            Message::Busy {
                id: 1,
                retry_after_ms: 250,
            },
            Message::Rejected {
                id: 2,
                reason: RejectReason::BadCursor,
            },
            Message::OutputRequest {
                id: 3,
                digest: [7; 32],
            },
            Message::Output {
                id: 3,
                round: 12,
                output: bytes::Bytes::from(vec![1u8; 300]),
            },
            Message::HeadRequest { id: 4 },
            Message::Head {
                id: 4,
                seq: 1 << 40,
            },
        ] {
            let bytes = message.encode();
            assert_eq!(bytes.len(), message.encode_size());
            assert_eq!(Message::decode_cfg(bytes, &()).unwrap(), message);
        }
    }

    #[test]
    fn bounds_are_enforced_before_allocation() {
        // A request claiming more known ids than allowed.
        let mut frame = vec![TAG_REQUEST];
        frame.extend_from_slice(&1u64.to_be_bytes());
        UInt((MAX_KNOWN + 1) as u64).write(&mut frame);
        assert!(Message::decode_cfg(bytes::Bytes::from(frame), &()).is_err());
        // A response claiming more ops than a page holds.
        let mut frame = vec![TAG_RESPONSE];
        frame.extend_from_slice(&1u64.to_be_bytes());
        UInt(u32::MAX as u64).write(&mut frame);
        assert!(Message::decode_cfg(bytes::Bytes::from(frame), &()).is_err());
        // An oversized frame is refused outright.
        let frame = vec![TAG_BUSY; MAX_MESSAGE_BYTES + 1];
        assert!(Message::decode_cfg(bytes::Bytes::from(frame), &()).is_err());
        // Unknown tags and reasons, truncation.
        let mut frame = vec![9u8];
        frame.extend_from_slice(&1u64.to_be_bytes());
        assert!(Message::decode_cfg(bytes::Bytes::from(frame), &()).is_err());
        let bytes = Message::Rejected {
            id: 1,
            reason: RejectReason::BadLimit,
        }
        .encode();
        let mut bad = bytes.to_vec();
        *bad.last_mut().unwrap() = 7;
        assert!(Message::decode_cfg(bytes::Bytes::from(bad), &()).is_err());
        assert!(Message::decode_cfg(bytes.slice(..bytes.len() - 1), &()).is_err());
    }
}
