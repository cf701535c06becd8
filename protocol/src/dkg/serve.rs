//! After the last epoch: the DKG channel keeps being answered, so a member that is still in a
//! round this node left (its decision or a log it needs was lost, it was down, it restarted
//! late) gets that round's decision and the decided logs, and finishes the epoch from them
//! (the observer path: a player whose share the decided logs reveal gets its share too).
//!
//! The server only answers: a frame of a round it holds a decision of gets that decision, a
//! request for logs of a round it finished gets the decided logs it holds. At most one answer per
//! member and sync period, so a member cannot make it send more than it is sent.

use super::{
    agree::{AgreeMessage, Certified},
    wire::{self, Message, Variant},
};
use crate::{cluster::Cluster, cluster::PublicKey};
use commonware_codec::Encode as _;
use commonware_cryptography::bls12381::dkg::feldman_desmedt::SignedDealerLog;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use std::{
    collections::BTreeMap,
    num::NonZeroU32,
    time::{Duration, SystemTime},
};

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
    pub async fn serve(mut self) {
        let members = NonZeroU32::new(self.cluster.members().len().max(1) as u32)
            .expect("a cluster has members");
        let mut answered: BTreeMap<PublicKey, SystemTime> = BTreeMap::new();
        loop {
            let Ok((peer, frame)) = self.receiver.recv().await else {
                return;
            };
            if !self.cluster.is_member(&peer) {
                continue;
            }
            let now = self.context.current();
            if answered
                .get(&peer)
                .is_some_and(|last| now < *last + self.sync_period)
            {
                continue;
            }
            let Ok(message) = wire::decode(frame, members) else {
                continue;
            };
            let answers = self.answers(&message);
            if answers.is_empty() {
                continue;
            }
            answered.insert(peer.clone(), now);
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
