//! The DKG actor's intake: every frame of the DKG channel is checked here before the ceremony
//! sees it (see the "Bad input" section of `actor`).
//!
//! Frames from non-members are refused and the sender blocked; frames of muted members are
//! dropped unread, except their logs and decisions (signed: checkable whoever sends them);
//! repeats (retransmitted dealings, echoed logs, resent votes) are recognised by digest before
//! any decoding ([`MAX_HANDLED`] per round), except requests for logs or for the decision, which
//! are answered once per sync period, member and kind of answer ([`Answer`]); the rest is
//! decoded with the cluster's bound and handed to the ceremony, whose rejections are refused
//! here.
//!
//! Frames of another round: a member still in a round we left gets that round's decision
//! (once per sync period); a decision of a later round of this epoch, once verified, is
//! persisted and ends the current attempt for that round (see `round`).

use super::{
    actor::{Actor, Error},
    agree::{AgreeMessage, Certified},
    ceremony::{Ceremony, Record},
    serve::Answer,
    wire::{self, Message},
};
use crate::{channels::Channel, cluster::PublicKey, refusal, trace::Tracer};
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;

/// Most accepted frames remembered per round (a bound; honest traffic of 256 members stays far
/// below it).
pub(super) const MAX_HANDLED: usize = 1 << 16;

/// Offset of an agreement message's own tag in a DKG frame (tag, round, epoch).
const AGREE_TAG_AT: usize = 1 + 8 + 8;

/// The agreement tag of a frame, if it is an agreement message.
pub(super) fn agree_tag(frame: &[u8]) -> Option<u8> {
    (frame.first() == Some(&wire::TAG_AGREE))
        .then(|| frame.get(AGREE_TAG_AT).copied())
        .flatten()
}

/// What identifies a repeat: a log or a decision is the same whoever relays it (echoes), any
/// other frame only from the same sender.
pub(super) fn frame_digest(peer: &PublicKey, frame: &[u8]) -> [u8; 32] {
    use commonware_cryptography::{Hasher as _, Sha256};
    // A decision too proves itself: the same from whoever relays it.
    let relayed =
        frame.first() == Some(&wire::TAG_LOG) || agree_tag(frame) == Some(wire::TAG_DECIDED);
    let digest = if relayed {
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
            let block = !self.cfg.catch_up;
            self.reject(peer, "frame from a non-member".into(), block);
            return Ok(());
        }
        // Repeats (retransmitted dealings, echoed logs) are recognised by digest before any
        // decoding: decoding checks every curve point, which would otherwise dominate the cost.
        let bytes = frame.copy_to_bytes(frame.remaining());
        // A muted member's logs and decisions still count (signed, so checkable from anyone):
        // every member must end with the same log set, whoever muted whom.
        let tag = agree_tag(&bytes);
        let signed = bytes.first() == Some(&wire::TAG_LOG) || tag == Some(wire::TAG_DECIDED);
        if self.muted.contains(&peer) && !signed {
            return Ok(());
        }
        // Requests (for logs, for the decision) are answered again when repeated.
        let need = tag == Some(wire::TAG_NEED) || tag == Some(wire::TAG_ASK);
        let what = Answer::of(&bytes);
        if need && !self.may_answer(&peer, what) {
            return Ok(());
        }
        let digest = frame_digest(&peer, &bytes);
        if !need && self.handled.contains(&digest) {
            let effects = match bytes.first() {
                Some(&wire::TAG_DEALING) => ceremony.resend_ack(&peer),
                _ => Vec::new(),
            };
            return self.apply(ceremony, effects).await;
        }
        // Bounded by the cluster, not this round: a frame of another epoch (more participants)
        // must decode, then be refused as another round's, not taken for garbage.
        let message = match self.decode_frame(bytes) {
            Ok(message) => message,
            Err(error) => {
                self.reject(peer, format!("undecodable frame: {error}"), true);
                return Ok(());
            }
        };
        let round = message.round();
        if round != ceremony.round() {
            return self.other_round(ceremony, peer, message, need).await;
        }
        match ceremony.on_message(&peer, message, self.context.current()) {
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

    /// Decodes a frame through the verifier ([`crate::verify`]): logs (the same for every
    /// node) whole, and a dealing's commitment (the same for every player) apart from its
    /// private share; exactly what [`wire::decode`] gives.
    fn decode_frame(&self, bytes: bytes::Bytes) -> Result<Message, commonware_codec::Error> {
        use commonware_codec::Decode as _;
        use commonware_cryptography::bls12381::dkg::feldman_desmedt::DealerPubMsg;
        let members = self.participants();
        let bound = members.get().to_be_bytes();
        let verifier = &self.cfg.verifier;
        if verifier.is_memoized()
            && let Some(message) = wire::decode_dealing(&bytes, members, |public| {
                verifier.decode(b"dkg-commitment", &bound, public, |b| {
                    DealerPubMsg::<wire::Variant>::decode_cfg(b, &members)
                })
            })
        {
            return Ok(message);
        }
        verifier.decode(b"dkg", &bound, bytes, |frame| wire::decode(frame, members))
    }

    /// Whether `peer` may be answered `what` now (once per kind and sync period), noting it if
    /// so.
    fn may_answer(&mut self, peer: &PublicKey, what: Answer) -> bool {
        let now = self.context.current();
        self.answered.allow(peer, what, now, self.sync_period)
    }

    /// A frame of a round other than the current one (see the module docs).
    /// `request`: the frame asks for something, and was rate-limited on arrival.
    async fn other_round(
        &mut self,
        ceremony: &Ceremony,
        peer: PublicKey,
        message: Message,
        request: bool,
    ) -> Result<(), Error> {
        let (current, epoch) = (ceremony.round(), ceremony.spec().epoch);
        let round = message.round();
        match message {
            Message::Agree {
                epoch: theirs,
                message: AgreeMessage::Decided(certified),
                ..
            } if round > current && theirs == epoch => {
                self.later_decision(ceremony, peer, round, certified).await
            }
            Message::Agree {
                message: AgreeMessage::Need { dealers },
                ..
            } if round < current => {
                // Already rate-limited on arrival.
                let effects = super::serve::logs_for(&self.finished_logs, round, &dealers)
                    .into_iter()
                    .map(|message| super::ceremony::Effect::Send {
                        to: super::ceremony::To::One(peer.clone()),
                        message,
                    })
                    .collect();
                self.apply(ceremony, effects).await
            }
            _ if round < current => {
                if let Some((epoch, decided)) = self.decisions.get(&round).cloned()
                    && (request || self.may_answer(&peer, Answer::Decision))
                {
                    let frame = Message::Agree {
                        round,
                        epoch,
                        message: AgreeMessage::Decided(decided),
                    };
                    let effect = super::ceremony::Effect::Send {
                        to: super::ceremony::To::One(peer),
                        message: frame,
                    };
                    return self.apply(ceremony, vec![effect]).await;
                }
                Ok(())
            }
            _ => {
                self.reject(
                    peer,
                    format!("round {round} is not the current round {current}"),
                    false,
                );
                Ok(())
            }
        }
    }

    /// A decision of `round`, later than the current one: verified, persisted (synced) in that
    /// round's section, then the current attempt gives way to it.
    async fn later_decision(
        &mut self,
        ceremony: &Ceremony,
        peer: PublicKey,
        round: u64,
        certified: Certified,
    ) -> Result<(), Error> {
        let mut spec = ceremony.spec().clone();
        spec.round = round;
        if let Err(reason) = spec
            .agreement()
            .check_certified(&certified, super::agree::Stage::Precommit)
        {
            self.reject(peer, format!("decision of round {round}: {reason}"), true);
            return Ok(());
        }
        let epoch = spec.epoch;
        let record = Record::Decided {
            epoch,
            certified: certified.clone(),
        };
        self.journal
            .append(
                round,
                &super::actor::stored(&record),
                false,
                &mut self.context,
            )
            .await?;
        self.journal.sync(round).await?;
        self.decisions.insert(round, (epoch, certified));
        self.jump = Some(self.jump.map_or(round, |j| j.max(round)));
        Ok(())
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
