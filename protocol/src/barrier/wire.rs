//! Barrier wire messages and their bounded codec.
//!
//! A barrier *session* is one node's outbound stream of updates to one peer, named by a random
//! 64-bit session id:
//!
//! ```text
//!   A -> B  Hello { version, cluster_hash, session, sig }     opens A's session to B
//!   B -> A  Welcome { session }                               B accepted it
//!   A -> B  Sync { session, step, seen, shutdown, shutdown_ack }  every period and on change
//!   B -> A  Reject { session, reason }                        B refused the hello or the session
//! ```
//!
//! Every message has a fixed upper size ([`MAX_MESSAGE_SIZE`]) and no variable-length field, so a
//! frame larger than that is refused before decoding and decoding never allocates.

use crate::cluster::{ClusterHash, ProtocolVersion};
use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::ed25519;
use std::fmt;

/// Signature namespace of barrier hellos.
pub const HELLO_NAMESPACE: &[u8] = b"_COHORT_BARRIER_HELLO";

/// Largest encoded barrier message, in bytes (a `Hello`). Larger frames are dropped undecoded.
pub const MAX_MESSAGE_SIZE: usize = 1 + 4 + 32 + 8 + ed25519::Signature::SIZE;

const _: () = assert!(MAX_MESSAGE_SIZE <= crate::channels::MAX_FRAME_BYTES);

/// Opens a session: proves the sender's identity and which cluster it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: ProtocolVersion,
    pub cluster_hash: ClusterHash,
    pub session: u64,
    /// Signature under [`HELLO_NAMESPACE`] over [`Hello::signed_payload`].
    pub signature: ed25519::Signature,
}

impl Hello {
    /// The bytes a hello signs: the cluster hash, then the session id (big endian). Binding the
    /// session id means a captured hello cannot be replayed to open another session.
    pub fn signed_payload(cluster_hash: &ClusterHash, session: u64) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..32].copy_from_slice(cluster_hash.as_ref());
        out[32..].copy_from_slice(&session.to_be_bytes());
        out
    }
}

/// A periodic step update on an open session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sync {
    pub session: u64,
    /// The sender's current step.
    pub step: u64,
    /// The receiver's step as the sender last observed it (0 before any observation).
    pub seen: u64,
    /// The sender has announced shutdown.
    pub shutdown: bool,
    /// The sender has seen the receiver's shutdown announcement.
    pub shutdown_ack: bool,
}

/// Why a hello or a session was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// `major.minor` differ.
    VersionMismatch {
        ours: ProtocolVersion,
        theirs: ProtocolVersion,
    },
    /// The cluster hashes differ.
    ClusterMismatch {
        ours: ClusterHash,
        theirs: ClusterHash,
    },
    /// The hello's signature does not verify under the sender's key.
    BadSignature,
    /// The session id is not the receiver's current session for the sender (it restarted, or
    /// never got the hello): open a new session.
    UnknownSession,
    /// The sender broke the step rules.
    StepViolation { previous: u64, got: u64 },
    /// The sender is not a member of the receiver's cluster *yet*: its hello is valid (this
    /// cluster's hash, a good signature), so it may have been admitted by a certified committee
    /// the receiver has not applied. It should catch up and try again later; it is not blocked.
    CatchUp,
    /// The sender opened a new session at a step below `seen`, the step the receiver had
    /// observed of it before: it restarted without its barrier position (its metadata was
    /// lost). Not a fault and not blocked: the sender should resume at `seen` or above (it
    /// adopts a step enough peers vouch for, see `barrier::state`) and open a new session.
    Behind { seen: u64 },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::VersionMismatch { ours, theirs } => {
                write!(f, "protocol version mismatch: ours {ours}, theirs {theirs}")
            }
            RejectReason::ClusterMismatch { ours, theirs } => {
                write!(f, "cluster hash mismatch: ours {ours}, theirs {theirs}")
            }
            RejectReason::BadSignature => write!(f, "hello signature does not verify"),
            RejectReason::UnknownSession => write!(f, "unknown session"),
            RejectReason::StepViolation { previous, got } => {
                write!(f, "step rule violated: {previous} -> {got}")
            }
            RejectReason::CatchUp => write!(f, "not a member here yet: catch up and retry"),
            RejectReason::Behind { seen } => {
                write!(
                    f,
                    "restarted below the step seen of it before ({seen}): resume there"
                )
            }
        }
    }
}

/// A barrier message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    Welcome { session: u64 },
    Sync(Sync),
    Reject { session: u64, reason: RejectReason },
}

const TAG_HELLO: u8 = 0;
const TAG_WELCOME: u8 = 1;
const TAG_SYNC: u8 = 2;
const TAG_REJECT: u8 = 3;

const REASON_VERSION: u8 = 0;
const REASON_CLUSTER: u8 = 1;
const REASON_SIGNATURE: u8 = 2;
const REASON_SESSION: u8 = 3;
const REASON_STEP: u8 = 4;
const REASON_CATCH_UP: u8 = 5;
const REASON_BEHIND: u8 = 6;

/// Flag bits of a `Sync`.
const FLAG_SHUTDOWN: u8 = 1;
const FLAG_SHUTDOWN_ACK: u8 = 2;

impl Write for RejectReason {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            RejectReason::VersionMismatch { ours, theirs } => {
                REASON_VERSION.write(buf);
                ours.write(buf);
                theirs.write(buf);
            }
            RejectReason::ClusterMismatch { ours, theirs } => {
                REASON_CLUSTER.write(buf);
                ours.write(buf);
                theirs.write(buf);
            }
            RejectReason::BadSignature => REASON_SIGNATURE.write(buf),
            RejectReason::UnknownSession => REASON_SESSION.write(buf),
            RejectReason::StepViolation { previous, got } => {
                REASON_STEP.write(buf);
                previous.write(buf);
                got.write(buf);
            }
            RejectReason::CatchUp => REASON_CATCH_UP.write(buf),
            RejectReason::Behind { seen } => {
                REASON_BEHIND.write(buf);
                seen.write(buf);
            }
        }
    }
}

impl EncodeSize for RejectReason {
    fn encode_size(&self) -> usize {
        1 + match self {
            RejectReason::VersionMismatch { .. } => 8,
            RejectReason::ClusterMismatch { .. } => 64,
            RejectReason::BadSignature | RejectReason::UnknownSession | RejectReason::CatchUp => 0,
            RejectReason::StepViolation { .. } => 16,
            RejectReason::Behind { .. } => 8,
        }
    }
}

impl Read for RejectReason {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            REASON_VERSION => RejectReason::VersionMismatch {
                ours: ProtocolVersion::read(buf)?,
                theirs: ProtocolVersion::read(buf)?,
            },
            REASON_CLUSTER => RejectReason::ClusterMismatch {
                ours: ClusterHash::read(buf)?,
                theirs: ClusterHash::read(buf)?,
            },
            REASON_SIGNATURE => RejectReason::BadSignature,
            REASON_SESSION => RejectReason::UnknownSession,
            REASON_CATCH_UP => RejectReason::CatchUp,
            REASON_BEHIND => RejectReason::Behind {
                seen: u64::read(buf)?,
            },
            REASON_STEP => RejectReason::StepViolation {
                previous: u64::read(buf)?,
                got: u64::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Message::Hello(hello) => {
                TAG_HELLO.write(buf);
                hello.version.write(buf);
                hello.cluster_hash.write(buf);
                hello.session.write(buf);
                hello.signature.write(buf);
            }
            Message::Welcome { session } => {
                TAG_WELCOME.write(buf);
                session.write(buf);
            }
            Message::Sync(sync) => {
                TAG_SYNC.write(buf);
                sync.session.write(buf);
                sync.step.write(buf);
                sync.seen.write(buf);
                let mut flags = 0u8;
                if sync.shutdown {
                    flags |= FLAG_SHUTDOWN;
                }
                if sync.shutdown_ack {
                    flags |= FLAG_SHUTDOWN_ACK;
                }
                flags.write(buf);
            }
            Message::Reject { session, reason } => {
                TAG_REJECT.write(buf);
                session.write(buf);
                reason.write(buf);
            }
        }
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        1 + match self {
            Message::Hello(_) => 4 + 32 + 8 + ed25519::Signature::SIZE,
            Message::Welcome { .. } => 8,
            Message::Sync(_) => 8 + 8 + 8 + 1,
            Message::Reject { reason, .. } => 8 + reason.encode_size(),
        }
    }
}

impl Read for Message {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            TAG_HELLO => Message::Hello(Hello {
                version: ProtocolVersion::read(buf)?,
                cluster_hash: ClusterHash::read(buf)?,
                session: u64::read(buf)?,
                signature: ed25519::Signature::read(buf)?,
            }),
            TAG_WELCOME => Message::Welcome {
                session: u64::read(buf)?,
            },
            TAG_SYNC => {
                let session = u64::read(buf)?;
                let step = u64::read(buf)?;
                let seen = u64::read(buf)?;
                let flags = u8::read(buf)?;
                if flags & !(FLAG_SHUTDOWN | FLAG_SHUTDOWN_ACK) != 0 {
                    return Err(CodecError::Invalid("Sync", "unknown flag bits"));
                }
                Message::Sync(Sync {
                    session,
                    step,
                    seen,
                    shutdown: flags & FLAG_SHUTDOWN != 0,
                    shutdown_ack: flags & FLAG_SHUTDOWN_ACK != 0,
                })
            }
            TAG_REJECT => Message::Reject {
                session: u64::read(buf)?,
                reason: RejectReason::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// Decodes one frame, refusing frames above [`MAX_MESSAGE_SIZE`] before looking inside.
pub fn decode(mut frame: impl Buf) -> Result<Message, CodecError> {
    let len = frame.remaining();
    if len > MAX_MESSAGE_SIZE {
        return Err(CodecError::InvalidLength(len));
    }
    let message = Message::read(&mut frame)?;
    if frame.has_remaining() {
        return Err(CodecError::ExtraData(frame.remaining()));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;
    use commonware_cryptography::{Hasher, Sha256, Signer as _};
    use rand::{Rng as _, RngExt as _, SeedableRng};

    fn samples() -> Vec<Message> {
        let key = ed25519::PrivateKey::from_seed(1);
        let hash = Sha256::hash(&[b"cluster"]);
        let signature = key.sign(HELLO_NAMESPACE, &Hello::signed_payload(&hash, 9));
        let other = Sha256::hash(&[b"other"]);
        let v1 = ProtocolVersion { major: 1, minor: 0 };
        let v2 = ProtocolVersion { major: 1, minor: 3 };
        vec![
            Message::Hello(Hello {
                version: v1,
                cluster_hash: hash,
                session: 9,
                signature,
            }),
            Message::Welcome { session: u64::MAX },
            Message::Sync(Sync {
                session: 3,
                step: 7,
                seen: 6,
                shutdown: true,
                shutdown_ack: false,
            }),
            Message::Sync(Sync {
                session: 3,
                step: 0,
                seen: 0,
                shutdown: false,
                shutdown_ack: true,
            }),
            Message::Reject {
                session: 1,
                reason: RejectReason::VersionMismatch {
                    ours: v1,
                    theirs: v2,
                },
            },
            Message::Reject {
                session: 1,
                reason: RejectReason::ClusterMismatch {
                    ours: hash,
                    theirs: other,
                },
            },
            Message::Reject {
                session: 2,
                reason: RejectReason::BadSignature,
            },
            Message::Reject {
                session: 2,
                reason: RejectReason::UnknownSession,
            },
            Message::Reject {
                session: 3,
                reason: RejectReason::CatchUp,
            },
            Message::Reject {
                session: 4,
                reason: RejectReason::Behind { seen: 12 },
            },
            Message::Reject {
                session: 2,
                reason: RejectReason::StepViolation {
                    previous: 1,
                    got: 9,
                },
            },
        ]
    }

    #[test]
    fn round_trip_and_size_bound() {
        for message in samples() {
            let encoded = message.encode();
            assert!(encoded.len() <= MAX_MESSAGE_SIZE, "{message:?}");
            assert_eq!(decode(encoded).unwrap(), message);
        }
    }

    #[test]
    fn truncated_frames_fail() {
        for message in samples() {
            let encoded = message.encode();
            for cut in 0..encoded.len() {
                assert!(
                    decode(bytes::Bytes::copy_from_slice(&encoded[..cut])).is_err(),
                    "{message:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn oversized_unknown_and_trailing_frames_fail() {
        assert!(matches!(
            decode(bytes::Bytes::from(vec![0u8; MAX_MESSAGE_SIZE + 1])),
            Err(CodecError::InvalidLength(_))
        ));
        assert!(matches!(
            decode(bytes::Bytes::from_static(&[9u8])),
            Err(CodecError::InvalidEnum(9))
        ));
        let mut sync = Message::Sync(Sync {
            session: 1,
            step: 1,
            seen: 0,
            shutdown: false,
            shutdown_ack: false,
        })
        .encode()
        .to_vec();
        sync.push(0);
        assert!(matches!(
            decode(bytes::Bytes::from(sync.clone())),
            Err(CodecError::ExtraData(1))
        ));
        // Unknown flag bits.
        let mut bad_flags = sync.clone();
        bad_flags.pop();
        *bad_flags.last_mut().unwrap() = 0x80;
        assert!(decode(bytes::Bytes::from(bad_flags)).is_err());
        // Unknown reject reason.
        let bad_reason = [TAG_REJECT, 0, 0, 0, 0, 0, 0, 0, 1, 42];
        assert!(matches!(
            decode(bytes::Bytes::copy_from_slice(&bad_reason)),
            Err(CodecError::InvalidEnum(42))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.random_range(0..=MAX_MESSAGE_SIZE + 4);
            let mut frame = vec![0u8; len];
            rng.fill_bytes(&mut frame);
            if len > 0 {
                frame[0] %= 5;
            }
            let _ = decode(bytes::Bytes::from(frame));
        }
    }
}
