//! The DKG actor's intake: every frame of the DKG channel is checked here before the ceremony
//! sees it (see the "Bad input" section of `actor`).
//!
//! Frames from non-members are refused and the sender blocked; frames of muted members are
//! dropped unread, except their logs; repeats (retransmitted dealings, echoed logs) are
//! recognised by digest before any decoding ([`MAX_HANDLED`] per round); the rest is decoded
//! with the cluster's bound and handed to the ceremony, whose rejections are refused here.

use super::{actor::Actor, ceremony::Ceremony, wire};
use crate::{channels::Channel, cluster::PublicKey, refusal, trace::Tracer};
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;

/// Most accepted frames remembered per round (a bound; honest traffic of 256 members stays far
/// below it).
pub(super) const MAX_HANDLED: usize = 1 << 16;

/// What identifies a repeat: a log is the same whoever relays it (echoes), a dealing or an ack
/// only from the same sender.
fn frame_digest(peer: &PublicKey, frame: &[u8]) -> [u8; 32] {
    use commonware_cryptography::{Hasher as _, Sha256};
    let digest = if frame.first() == Some(&wire::TAG_LOG) {
        Sha256::hash(&[frame])
    } else {
        Sha256::hash(&[peer.as_ref(), frame])
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl<E, S, R, B, T> Actor<E, S, R, B, T>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    T: Tracer,
{
    pub(super) async fn on_frame(
        &mut self,
        ceremony: &mut Ceremony,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), super::actor::Error> {
        if !self.cfg.cluster.is_member(&peer) {
            self.reject(peer, "frame from a non-member".into(), true);
            return Ok(());
        }
        // Repeats (retransmitted dealings, echoed logs) are recognised by digest before any
        // decoding: decoding checks every curve point, which would otherwise dominate the cost.
        let bytes = frame.copy_to_bytes(frame.remaining());
        // A muted member's logs still count (signed, so checkable from anyone): every member
        // must end with the same log set, whoever muted whom.
        if self.muted.contains(&peer) && bytes.first() != Some(&wire::TAG_LOG) {
            return Ok(());
        }
        let digest = frame_digest(&peer, &bytes);
        if self.handled.contains(&digest) {
            let effects = match bytes.first() {
                Some(&wire::TAG_DEALING) => ceremony.resend_ack(&peer),
                _ => Vec::new(),
            };
            return self.apply(ceremony, effects).await;
        }
        // Bounded by the cluster, not this round: a frame of another epoch (more participants)
        // must decode, then be refused as another round's, not taken for garbage.
        let message = match wire::decode(bytes, self.participants()) {
            Ok(message) => message,
            Err(error) => {
                self.reject(peer, format!("undecodable frame: {error}"), true);
                return Ok(());
            }
        };
        let round = message.round();
        match ceremony.on_message(&peer, message) {
            Ok(effects) => {
                if round == ceremony.round() && self.handled.len() < MAX_HANDLED {
                    self.handled.insert(digest);
                }
                self.apply(ceremony, effects).await
            }
            Err(rejection) => {
                self.reject(peer, rejection.reason, rejection.misbehaviour);
                Ok(())
            }
        }
    }

    /// Drops an input with its reason. A non-member that proved misbehaviour is blocked at the
    /// transport; a member is muted on this channel instead (see the module docs of `actor`).
    pub(super) fn reject(&mut self, peer: PublicKey, reason: String, misbehaviour: bool) {
        let member = self.cfg.cluster.is_member(&peer);
        let block = misbehaviour && !member;
        let mute = misbehaviour && member;
        let reason = if mute && self.muted.insert(peer.clone()) {
            self.metrics.muted.inc();
            format!("{reason} (member muted on the dkg channel)")
        } else {
            reason
        };
        refusal::refuse(
            &self.cfg.tracer,
            &self.metrics.rejected,
            &mut self.blocker,
            Channel::Dkg,
            peer,
            reason,
            block,
        );
    }
}
