//! The ceremony's side of the round's agreement: its messages, its outputs as effects, the
//! requests for logs, and the validity rules it judges fresh proposals by ([`LogJudge`]).

use super::{Ceremony, Effect, HeldLog, Record, To, describe};
use crate::{
    cluster::PublicKey,
    dkg::{
        agree::{
            AgreeMessage, Certified, Choice, Digest, Judge, Output as AgreeOutput, Recipient,
            Verdict,
        },
        ceremony::{ASK_PERIODS, Rejection},
        wire::{Message, Variant},
    },
};
use commonware_cryptography::bls12381::dkg::feldman_desmedt::SignedDealerLog;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::SystemTime,
};

impl Ceremony {
    pub(super) fn on_agree(
        &mut self,
        from: &PublicKey,
        message: AgreeMessage,
        now: SystemTime,
    ) -> Result<Vec<Effect>, Rejection> {
        if let AgreeMessage::Need { dealers } = &message {
            return Ok(self.answer_need(from, dealers));
        }
        let judge = LogJudge::of(self);
        let outputs = self
            .agreement
            .on_message(from, message, now, &judge)
            .map_err(|r| Rejection {
                reason: r.reason,
                misbehaviour: r.misbehaviour,
            })?;
        Ok(self.effects(outputs))
    }

    /// Every log we hold of the dealers `dealers` names, to `to`.
    fn answer_need(&self, to: &PublicKey, dealers: &[u32]) -> Vec<Effect> {
        let mut effects = Vec::new();
        for index in dealers {
            let Some(dealer) = self.spec.dealers.get(*index as usize) else {
                continue;
            };
            for log in self.versions(dealer) {
                effects.push(Effect::Send {
                    to: To::One(to.clone()),
                    message: Message::Log {
                        round: self.spec.round,
                        log: log.signed.clone(),
                    },
                });
            }
        }
        effects
    }

    /// Every version we hold of `dealer`'s log (ours, if it is us; a copy a peer sent of our
    /// own, if our journal lost the one we signed).
    pub(super) fn versions(&self, dealer: &PublicKey) -> Vec<HeldLog> {
        if *dealer == self.me_pk
            && let Some(own) = self.own_log()
        {
            return vec![own];
        }
        self.logs.get(dealer).cloned().unwrap_or_default()
    }

    /// Our own signed log, if we signed one.
    pub(super) fn own_log(&self) -> Option<HeldLog> {
        self.dealer.as_ref()?.held.clone()
    }

    /// The digests of every version we hold of `dealer`'s log.
    pub(super) fn digests(&self, dealer: &PublicKey) -> Vec<Digest> {
        if *dealer == self.me_pk
            && let Some(held) = self.dealer.as_ref().and_then(|side| side.held.as_ref())
        {
            return vec![held.digest];
        }
        self.logs
            .get(dealer)
            .map(|versions| versions.iter().map(|v| v.digest).collect())
            .unwrap_or_default()
    }

    /// The agreement's outputs as effects.
    fn effects(&self, outputs: Vec<AgreeOutput>) -> Vec<Effect> {
        let (epoch, round) = (self.spec.epoch, self.spec.round);
        outputs
            .into_iter()
            .map(|output| match output {
                AgreeOutput::Persist(persisted) => {
                    Effect::Persist(Record::agreed(epoch, persisted))
                }
                AgreeOutput::Sync => Effect::Sync,
                AgreeOutput::Send { to, message } => Effect::Send {
                    to: match to {
                        Recipient::One(peer) => To::One(peer),
                        Recipient::All => To::All,
                    },
                    message: Message::Agree {
                        round,
                        epoch,
                        message,
                    },
                },
                AgreeOutput::Voted {
                    view,
                    stage,
                    choice,
                    justified,
                } => Effect::Voted {
                    view,
                    stage,
                    choice: describe(&choice),
                    justified,
                },
                AgreeOutput::Refused { view, reason } => Effect::Refused { view, reason },
                AgreeOutput::View { view, leader } => Effect::View { view, leader },
                AgreeOutput::Decided(certified) => Effect::Decided {
                    view: certified.certificate.view,
                    choice: describe(&certified.choice),
                },
            })
            .collect()
    }

    /// Takes part in the agreement from now on (the agreement phase began here).
    pub fn start_agreement(&mut self, now: SystemTime) -> Vec<Effect> {
        self.agreeing = true;
        let judge = LogJudge::of(self);
        let outputs = self.agreement.start(now, &judge);
        self.effects(outputs)
    }

    /// The agreement's periodic work and resends, and our log again.
    pub fn agree_tick(&mut self, now: SystemTime) -> Vec<Effect> {
        let judge = LogJudge::of(self);
        let mut outputs = self.agreement.on_tick(now, &judge);
        outputs.extend(self.agreement.resend());
        let mut effects = self.effects(outputs);
        effects.extend(self.log_tick());
        if self.decided().is_some() {
            effects.extend(self.need_decided());
        }
        effects
    }

    /// The log phase's periodic work: our log again, and now and then a request for the
    /// decision (see [`ASK_PERIODS`]).
    pub fn log_tick(&mut self) -> Vec<Effect> {
        let mut effects = self.resend_log();
        self.ticks += 1;
        if self.decided().is_none() && self.ticks.is_multiple_of(ASK_PERIODS) {
            effects.push(Effect::Send {
                to: To::All,
                message: Message::Agree {
                    round: self.spec.round,
                    epoch: self.spec.epoch,
                    message: AgreeMessage::Ask,
                },
            });
        }
        effects
    }

    /// The round's decided outcome, once there is one.
    pub fn decided(&self) -> Option<&Certified> {
        self.agreement.decided()
    }

    /// Whether the agreement phase began here.
    pub fn agreeing(&self) -> bool {
        self.agreeing
    }

    /// The current view of the agreement.
    pub fn view(&self) -> u64 {
        self.agreement.view()
    }

    /// The decided logs we do not hold yet (their dealers' indices).
    pub fn missing_decided(&self) -> Vec<u32> {
        match self.decided() {
            Some(decided) => LogJudge::of(self).missing(&decided.choice),
            None => Vec::new(),
        }
    }

    /// The decided logs we hold, by dealer index (what we serve to members still missing them).
    pub fn decided_logs(&self) -> BTreeMap<u32, SignedDealerLog<Variant, PublicKey>> {
        let Some(Choice::Logs(chosen)) = self.decided().map(|d| &d.choice) else {
            return BTreeMap::new();
        };
        chosen
            .iter()
            .filter_map(|(index, digest)| {
                let dealer = self.spec.dealers.get(*index as usize)?;
                let held = self
                    .versions(dealer)
                    .into_iter()
                    .find(|v| v.digest == *digest)?;
                Some((*index, held.signed))
            })
            .collect()
    }

    /// Asks everybody for the decided logs we lack.
    pub fn need_decided(&self) -> Vec<Effect> {
        let dealers = self.missing_decided();
        if dealers.is_empty() {
            return Vec::new();
        }
        vec![Effect::Send {
            to: To::All,
            message: Message::Agree {
                round: self.spec.round,
                epoch: self.spec.epoch,
                message: AgreeMessage::Need { dealers },
            },
        }]
    }
}

/// The ceremony's side of the agreement's validity rules (see `agree`'s docs), as a snapshot of
/// the logs held: their digests by dealer index (ours included) and the dealers proved to have
/// signed two.
pub(super) struct LogJudge {
    required: usize,
    held: BTreeMap<u32, Vec<Digest>>,
    equivocators: BTreeSet<u32>,
}

impl LogJudge {
    pub(super) fn of(ceremony: &Ceremony) -> Self {
        let mut held = BTreeMap::new();
        let mut equivocators = BTreeSet::new();
        for (index, dealer) in ceremony.spec.dealers.iter().enumerate() {
            let index = index as u32;
            let versions = ceremony.digests(dealer);
            if ceremony.equivocators.contains(dealer) {
                equivocators.insert(index);
            }
            if !versions.is_empty() {
                held.insert(index, versions);
            }
        }
        Self {
            required: ceremony.spec.required(),
            held,
            equivocators,
        }
    }

    /// The logs we would finalize over: one per dealer not proved to have signed two.
    fn usable(&self) -> Vec<(u32, Digest)> {
        self.held
            .iter()
            .filter(|(index, _)| !self.equivocators.contains(index))
            .filter_map(|(index, versions)| versions.first().map(|d| (*index, *d)))
            .collect()
    }
}

impl Judge for LogJudge {
    fn fresh(&self, choice: &Choice) -> Verdict {
        match choice {
            Choice::Abandon => {
                let usable = self.usable().len();
                if usable < self.required {
                    Verdict::Accept
                } else {
                    Verdict::Refuse(format!(
                        "giving up, but we hold {usable} logs and {} are enough",
                        self.required
                    ))
                }
            }
            Choice::Logs(logs) => {
                if let Some((index, _)) = logs.iter().find(|(d, _)| self.equivocators.contains(d)) {
                    return Verdict::Refuse(format!("dealer {index} signed two logs"));
                }
                let missing = self.missing(choice);
                if missing.is_empty() {
                    Verdict::Accept
                } else {
                    Verdict::Wait(missing)
                }
            }
        }
    }

    fn missing(&self, choice: &Choice) -> Vec<u32> {
        match choice {
            Choice::Abandon => Vec::new(),
            Choice::Logs(logs) => logs
                .iter()
                .filter(|(index, digest)| {
                    !self
                        .held
                        .get(index)
                        .is_some_and(|versions| versions.contains(digest))
                })
                .map(|(index, _)| *index)
                .collect(),
        }
    }

    fn propose(&self) -> Choice {
        let usable = self.usable();
        if usable.len() >= self.required {
            Choice::Logs(usable)
        } else {
            Choice::Abandon
        }
    }
}
