//! After the last epoch (until the next reshare, with governance): the DKG channel keeps being
//! answered, so a member that is still in a
//! round this node left (its decision or a log it needs was lost, it was down, it restarted
//! late) gets that round's decision and the decided logs, and finishes the epoch from them
//! (the observer path: a player whose share the decided logs reveal gets its share too).
//!
//! The server only answers: a frame of a round it holds a decision of gets that decision, a
//! request for logs of a round it finished gets the decided logs it holds. At most one answer of
//! each kind ([`Answer`]) per member and sync period, so a member cannot make it send more than
//! it is sent. The two kinds are limited apart: a member that sends its log (or a vote) and its
//! request for logs in the same period must get both the decision and the logs, or it would be
//! answered the decision, which it holds already, period after period and never get the logs.

use super::{
    agree::{AgreeMessage, Certified},
    wire::{self, Message, Variant},
};
use crate::{cluster::Cluster, cluster::PublicKey};
use bytes::Buf as _;
use commonware_codec::Encode as _;
use commonware_cryptography::bls12381::dkg::feldman_desmedt::SignedDealerLog;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use std::{
    collections::BTreeMap,
    num::NonZeroU32,
    time::{Duration, SystemTime},
};

/// What a member is answered about a round it is still in: limited apart, each to one answer
/// per member and sync period (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Answer {
    /// The round's decision (to any frame of the round, an `Ask` included).
    Decision,
    /// The decided logs a `Need` names.
    Logs,
}

impl Answer {
    /// What the frame `frame` would be answered with (read off its tags, before decoding).
    pub(super) fn of(frame: &[u8]) -> Self {
        match super::intake::agree_tag(frame) {
            Some(wire::TAG_NEED) => Answer::Logs,
            _ => Answer::Decision,
        }
    }
}

/// One answer of each kind per member and sync period.
#[derive(Default)]
pub(super) struct Limiter {
    last: BTreeMap<(PublicKey, Answer), SystemTime>,
}

impl Limiter {
    /// Whether `peer` may be answered `what` at `now` (nothing noted).
    pub(super) fn ready(
        &self,
        peer: &PublicKey,
        what: Answer,
        now: SystemTime,
        period: Duration,
    ) -> bool {
        self.last
            .get(&(peer.clone(), what))
            .is_none_or(|last| now >= *last + period)
    }

    /// Notes that `peer` was answered `what` at `now`.
    pub(super) fn note(&mut self, peer: &PublicKey, what: Answer, now: SystemTime) {
        self.last.insert((peer.clone(), what), now);
    }

    /// Whether `peer` may be answered `what` at `now` (noted if so).
    pub(super) fn allow(
        &mut self,
        peer: &PublicKey,
        what: Answer,
        now: SystemTime,
        period: Duration,
    ) -> bool {
        let ready = self.ready(peer, what, now, period);
        if ready {
            self.note(peer, what, now);
        }
        ready
    }
}

/// The logs of `dealers` (indices) among the decided logs of `round`, as messages.
pub(super) fn logs_for(
    finished: &BTreeMap<u64, BTreeMap<u32, SignedDealerLog<Variant, PublicKey>>>,
    round: u64,
    dealers: &[u32],
) -> Vec<Message> {
    let Some(logs) = finished.get(&round) else {
        return Vec::new();
    };
    dealers
        .iter()
        .filter_map(|d| logs.get(d))
        .map(|log| Message::Log {
            round,
            log: log.clone(),
        })
        .collect()
}

/// What the server needs of the finished actor.
pub struct Server<E, S, R> {
    pub(super) context: E,
    pub(super) cluster: Cluster,
    pub(super) sender: S,
    pub(super) receiver: R,
    pub(super) sync_period: Duration,
    /// Every decision held, by round: (epoch, decision).
    pub(super) decisions: BTreeMap<u64, (u64, Certified)>,
    /// The decided logs of every round finished here, by dealer index.
    pub(super) finished_logs: BTreeMap<u64, BTreeMap<u32, SignedDealerLog<Variant, PublicKey>>>,
}

impl<E, S, R> Server<E, S, R>
where
    E: Clock,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    /// Answers until the channel closes (the node stops).
    pub async fn serve(self) {
        let _ = self.serve_until(futures::future::pending::<()>()).await;
    }

    /// Answers until `stop` resolves (the node's next reshare starts), then hands the channel
    /// back for it; `None` if the channel closed first.
    pub async fn serve_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Option<crate::channels::Duplex<S, R>> {
        let members = NonZeroU32::new(self.cluster.members().len().max(1) as u32)
            .expect("a cluster has members");
        let mut limiter = Limiter::default();
        let mut stop = std::pin::pin!(stop);
        loop {
            let received = {
                let recv = self.receiver.recv();
                commonware_macros::select! {
                    _ = &mut stop => None,
                    received = recv => Some(received),
                }
            };
            let Some(received) = received else {
                return Some(crate::channels::Duplex {
                    sender: self.sender,
                    receiver: self.receiver,
                });
            };
            let Ok((peer, frame)) = received else {
                return None;
            };
            if !self.cluster.is_member(&peer) {
                continue;
            }
            // Limited before any decoding (decoding checks curve points): a member flooding
            // us costs a digest-free tag peek per frame beyond its one answer per period.
            let mut frame = frame;
            let bytes = frame.copy_to_bytes(frame.remaining());
            let what = Answer::of(&bytes);
            let now = self.context.current();
            if !limiter.ready(&peer, what, now, self.sync_period) {
                continue;
            }
            let Ok(message) = wire::decode(bytes, members) else {
                continue;
            };
            let answers = self.answers(&message);
            if answers.is_empty() {
                continue;
            }
            limiter.note(&peer, what, now);
            for answer in answers {
                self.sender
                    .send(Recipients::One(peer.clone()), answer.encode(), false);
            }
        }
    }

    /// What to answer `message` with.
    fn answers(&self, message: &Message) -> Vec<Message> {
        let round = message.round();
        if let Message::Agree {
            message: AgreeMessage::Need { dealers },
            ..
        } = message
        {
            return logs_for(&self.finished_logs, round, dealers);
        }
        match self.decisions.get(&round) {
            Some((epoch, decided)) => vec![Message::Agree {
                round,
                epoch: *epoch,
                message: AgreeMessage::Decided(decided.clone()),
            }],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer as _, ed25519};

    #[test]
    fn a_decision_and_logs_are_limited_apart() {
        let peer = ed25519::PrivateKey::from_seed(1).public_key();
        let other = ed25519::PrivateKey::from_seed(2).public_key();
        let period = Duration::from_millis(100);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let mut limiter = Limiter::default();
        // A log (answered with the decision) then a request for logs, in one period: both.
        assert!(limiter.allow(&peer, Answer::Decision, t0, period));
        assert!(limiter.allow(&peer, Answer::Logs, t0, period));
        // Repeats within the period are not; another member is limited on its own.
        assert!(!limiter.allow(&peer, Answer::Decision, t0 + period / 2, period));
        assert!(!limiter.allow(&peer, Answer::Logs, t0 + period / 2, period));
        assert!(limiter.allow(&other, Answer::Logs, t0 + period / 2, period));
        // A period later, again.
        assert!(limiter.allow(&peer, Answer::Logs, t0 + period, period));
    }

    #[test]
    fn a_request_for_logs_is_answered_with_logs() {
        let need = Message::Agree {
            round: 0,
            epoch: 0,
            message: AgreeMessage::Need { dealers: vec![1] },
        };
        let ask = Message::Agree {
            round: 0,
            epoch: 0,
            message: AgreeMessage::Ask,
        };
        assert_eq!(Answer::of(&need.encode()), Answer::Logs);
        assert_eq!(Answer::of(&ask.encode()), Answer::Decision);
    }
}
