//! One DKG or reshare attempt at one node, as a pure state machine (SPEC section 2).
//!
//! [`Ceremony`] drives commonware's Feldman-Desmedt `Dealer` and `Player` for this node's roles
//! in one round and answers every input with an ordered list of [`Effect`]s: records to persist,
//! sync points, messages to send. The actor must carry them out **in order**, finishing a
//! [`Effect::Sync`] before any later effect; that ordering is how the crash-safety rules hold:
//!
//! - A dealer's dealing randomness comes from a seed that is persisted and synced before any
//!   dealing leaves the node; after a restart the same seed deals the same polynomial, so a dealer
//!   never deals two different polynomials in one round.
//! - A player persists and syncs a dealing before its ack leaves the node. After a restart,
//!   `Player::resume` rebuilds the same (deterministically signed) acks, and a second dealing
//!   from a dealer it already holds is never acked: a player never sends two different acks for
//!   one dealer.
//! - A dealer persists and syncs its signed log before broadcasting it, and after a restart
//!   re-sends that very log rather than signing another.
//!
//! [`Ceremony::recover`] rebuilds the state from the records that survived, and returns the
//! effects to resend (dealings, acks, the own log); resending is idempotent for every receiver.
//!
//! Logs: every valid log a node receives for the first time is echoed to all members (a second,
//! different log of one dealer too: it is the proof that the dealer equivocated, and everyone
//! should see it). Which logs every member finalizes over is not left to what each one holds:
//! the members agree on it, or on giving the round up, through [`super::agree`] (the ceremony is
//! its [`Judge`](super::agree::Judge): it proposes the logs it holds, and takes a fresh proposal only when it holds
//! each listed log and knows none of their dealers to have signed two). [`Ceremony::finish`]
//! finalizes over exactly the decided logs.

pub use super::record::{
    KIND_ACK, KIND_DEALING, KIND_DECIDED, KIND_LOCK, KIND_LOG, KIND_OUTPUT, KIND_SEED, KIND_SHARE,
    KIND_VOTE, Record,
};
use super::{
    agree::{Agreement, Choice, Digest, Setup, Stage},
    wire::{Message, Variant},
};
use crate::cluster::PublicKey;
use commonware_codec::Encode as _;
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::{
            self, Dealer, DealerLog, DealerPrivMsg, DealerPubMsg, Info, Logs, Output, Player,
            PlayerAck, Reveal, SignedDealerLog, observe,
        },
        primitives::{group::Share, sharing::Mode},
    },
    ed25519,
};
use commonware_parallel::Sequential;
use commonware_utils::{Faults as _, N3f1, ordered::Set};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng as _};
use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    time::{Duration, SystemTime},
};
use thiserror::Error;

mod agreeing;

/// Signed logs kept per dealer: the first, and one more (the proof that it signed two); a
/// further one only if a decision names it.
const MAX_LOG_VERSIONS: usize = 2;

/// From the log phase on, a member asks everybody for the round's decision every this many
/// resend periods: members that decided and moved on answer it (a member that was down or slow
/// learns the decision even when nobody else talks about the round any more).
pub const ASK_PERIODS: u64 = 5;

/// Namespace of every DKG transcript of Cohort (fixed for the deployment's lifetime).
pub const NAMESPACE: &[u8] = b"_COHORT_DKG";

/// The fault model: `t = n - f` with `f = (n - 1) / 3`.
pub type Faults = N3f1;

/// What one attempt is: its epoch and round number, the previous output (reshare), dealers,
/// players, the agreement's voters and its timing.
#[derive(Clone, Debug)]
pub struct RoundSpec {
    /// Checks the agreement's signatures ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
    pub epoch: u64,
    /// Unique per attempt, never reused (see `dkg::round_of`).
    pub round: u64,
    /// The output of the previous epoch, for a reshare.
    pub previous: Option<Output<Variant, PublicKey>>,
    pub dealers: Set<PublicKey>,
    pub players: Set<PublicKey>,
    /// Who agrees on the round's log set: every cluster member, in canonical order.
    pub voters: Vec<PublicKey>,
    /// The agreement's first view deadline (see [`Setup::view_timeout`]).
    pub view_timeout: Duration,
    /// The resend period.
    pub sync_period: Duration,
}

impl RoundSpec {
    /// The crate's round parameters.
    pub fn info(&self) -> Result<Info<Variant, PublicKey>, DkgError> {
        Info::new::<Faults>(
            NAMESPACE,
            self.round,
            self.previous.clone(),
            Mode::NonZeroCounter,
            Reveal::V1,
            self.dealers.clone(),
            self.players.clone(),
        )
        .map_err(|e| DkgError::Setup(e.to_string()))
    }

    /// Usable logs finalizing needs: a quorum of the dealers, and of the previous players on a
    /// reshare.
    pub fn required(&self) -> usize {
        let dealers = Faults::quorum(self.dealers.len()) as usize;
        let previous = self
            .previous
            .as_ref()
            .map_or(0, |p| p.quorum::<Faults>() as usize);
        dealers.max(previous)
    }

    /// The agreement's set-up for this round.
    pub fn agreement(&self) -> Setup {
        Setup {
            epoch: self.epoch,
            round: self.round,
            voters: self.voters.clone(),
            dealers: self.dealers.len() as u32,
            required: self.required(),
            view_timeout: self.view_timeout,
            sync_period: self.sync_period,
            verifier: self.verifier.clone(),
        }
    }

    /// Every participant (dealers and players), bounding message sizes.
    pub fn participants(&self) -> NonZeroU32 {
        let all: BTreeSet<&PublicKey> = self.dealers.iter().chain(self.players.iter()).collect();
        NonZeroU32::new(all.len().max(1) as u32).expect("at least one")
    }
}

/// Who a message goes to.
#[derive(Clone, Debug, PartialEq)]
pub enum To {
    One(PublicKey),
    /// Every participant but this node.
    All,
}

/// One thing the actor must do, in order.
// Effects live for one pass of the actor loop; see `wire::Message` on boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Append a record to this round's journal (sealed when [`Record::secret`]).
    Persist(Record),
    /// Make every record appended so far durable before doing anything that follows.
    Sync,
    /// Send a message.
    Send { to: To, message: Message },
    /// A dealing was produced (`commitment` is the sha256 of the encoded public dealing): traced
    /// so the simulator can check a dealer never deals two polynomials in one round.
    Dealt { commitment: [u8; 32] },
    /// An ack left this node (`digest` is the sha256 of the encoded ack): traced so the
    /// simulator can check a player never sends two different acks to one dealer.
    Acked { dealer: PublicKey, digest: [u8; 32] },
    /// This node now holds two different signed logs of `dealer` (traced).
    Equivocation { dealer: PublicKey },
    /// The agreement entered `view` (traced).
    View { view: u64, leader: PublicKey },
    /// This node voted (traced; `choice` as [`describe`] gives it).
    Voted {
        view: u64,
        stage: Stage,
        choice: String,
        justified: bool,
    },
    /// This node refused the proposal of `view` (traced).
    Refused { view: u64, reason: String },
    /// The round's outcome is decided (traced; act on [`Ceremony::decided`]).
    Decided { view: u64, choice: String },
}

/// A choice for traces: `abandon`, or `logs` and the dealers' indices.
pub fn describe(choice: &Choice) -> String {
    match choice {
        Choice::Abandon => "abandon".into(),
        Choice::Logs(logs) => {
            let dealers: Vec<String> = logs.iter().map(|(d, _)| d.to_string()).collect();
            format!("logs {}", dealers.join(","))
        }
    }
}

/// Why an input was refused; `misbehaviour` inputs justify blocking the sender.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{reason}")]
pub struct Rejection {
    pub reason: String,
    pub misbehaviour: bool,
}

impl Rejection {
    fn benign(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            misbehaviour: false,
        }
    }

    fn hostile(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            misbehaviour: true,
        }
    }
}

/// Why the ceremony cannot go on.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DkgError {
    #[error("invalid round set-up: {0}")]
    Setup(String),
    #[error("persisted state is inconsistent: {0}")]
    Recovery(String),
    #[error("cannot finalize: {0}")]
    Finalize(String),
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use commonware_cryptography::{Hasher as _, Sha256};
    let digest = Sha256::hash(&[bytes]);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The dealer side of this node.
struct DealerSide {
    /// `None` once the log is signed.
    dealer: Option<Dealer<Variant, ed25519::PrivateKey>>,
    public: DealerPubMsg<Variant>,
    private: BTreeMap<PublicKey, DealerPrivMsg>,
    acked: BTreeSet<PublicKey>,
    log: Option<SignedDealerLog<Variant, PublicKey>>,
    /// The signed log as held (its digest and check), once signed.
    held: Option<HeldLog>,
}

/// A dealer's signed log as received, its sha256, and what its signature check gave (kept, so
/// finalizing does not check every log again).
#[derive(Clone)]
struct HeldLog {
    signed: SignedDealerLog<Variant, PublicKey>,
    digest: Digest,
    checked: DealerLog<Variant, PublicKey>,
}

impl HeldLog {
    fn new(
        signed: SignedDealerLog<Variant, PublicKey>,
        checked: DealerLog<Variant, PublicKey>,
    ) -> Self {
        Self {
            digest: sha256(&signed.encode()),
            signed,
            checked,
        }
    }
}

/// The result of a finished ceremony.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub output: Output<Variant, PublicKey>,
    /// This node's share, if it is a player (and kept what it needs to compute it).
    pub share: Option<Share>,
    /// This node is a player of the round but lost the dealings its share is made of (its DKG
    /// journal was lost or damaged after it acknowledged them, so no dealer revealed them):
    /// the round succeeded for everyone else, and this node holds the output without a share
    /// until a reshare gives it a new one (see `dkg::actor`, key recovery).
    pub share_lost: bool,
}

/// One attempt at one node.
pub struct Ceremony {
    spec: RoundSpec,
    info: Info<Variant, PublicKey>,
    me: ed25519::PrivateKey,
    me_pk: PublicKey,
    dealer: Option<DealerSide>,
    player: Option<Player<Variant, ed25519::PrivateKey>>,
    /// This node is a player of the round, but the dealings its acks stand for are not in its
    /// journal (lost with it): it goes on as an observer and finishes without a share.
    share_lost: bool,
    /// Acks this node sent, by dealer (resent on request; never replaced).
    acks: BTreeMap<PublicKey, PlayerAck<PublicKey>>,
    /// Valid logs received, by dealer (checked once, on arrival): the first, then further
    /// versions (see [`MAX_LOG_VERSIONS`]).
    logs: BTreeMap<PublicKey, Vec<HeldLog>>,
    /// Dealers caught with two different valid logs.
    equivocators: BTreeSet<PublicKey>,
    /// sha256 of every valid log already handled.
    seen_logs: BTreeSet<[u8; 32]>,
    /// The agreement on the round's log set.
    agreement: Agreement,
    /// The agreement phase began here.
    agreeing: bool,
    /// Resend ticks since the log was signed (every [`ASK_PERIODS`]-th asks for the decision).
    ticks: u64,
}

impl Ceremony {
    /// Starts a fresh attempt. A dealer persists `seed` (and syncs) before dealing with it.
    pub fn start(
        spec: RoundSpec,
        me: ed25519::PrivateKey,
        share: Option<Share>,
        seed: [u8; 32],
    ) -> Result<(Self, Vec<Effect>), DkgError> {
        Self::build(spec, me, share, Some(seed), Vec::new())
    }

    /// Rebuilds an attempt from the records that survived a crash; `fresh_seed` is used only if
    /// no seed was persisted (then no dealing ever left this node).
    pub fn recover(
        spec: RoundSpec,
        me: ed25519::PrivateKey,
        share: Option<Share>,
        records: Vec<Record>,
        fresh_seed: [u8; 32],
    ) -> Result<(Self, Vec<Effect>), DkgError> {
        Self::build(spec, me, share, Some(fresh_seed), records)
    }

    fn build(
        spec: RoundSpec,
        me: ed25519::PrivateKey,
        share: Option<Share>,
        fresh_seed: Option<[u8; 32]>,
        records: Vec<Record>,
    ) -> Result<(Self, Vec<Effect>), DkgError> {
        let info = spec.info()?;
        let me_pk = me.public_key();
        let mut effects = Vec::new();

        // Sort what survived.
        let mut seed = None;
        let mut dealings = Vec::new();
        let mut received_acks = Vec::new();
        let mut logs: BTreeMap<PublicKey, Vec<HeldLog>> = BTreeMap::new();
        let mut own_log = None;
        let mut agreed = Vec::new();
        for record in records {
            match record {
                Record::Seed(s) => seed = seed.or(Some(s)),
                Record::Dealing {
                    dealer,
                    public,
                    private,
                } => dealings.push((dealer, public, private)),
                Record::Ack { player, ack } => received_acks.push((player, ack)),
                Record::Output { .. } | Record::Share(_) => {}
                Record::Vote(_) | Record::Lock(_) | Record::Decided { .. } => {
                    agreed.extend(record.persisted())
                }
                Record::Log(log) => {
                    if let Some((dealer, checked)) = log.clone().check(&info) {
                        if dealer == me_pk {
                            own_log = Some((log, checked));
                        } else {
                            let held = HeldLog::new(log, checked);
                            let versions = logs.entry(dealer).or_default();
                            if versions.iter().all(|v| v.digest != held.digest) {
                                versions.push(held);
                            }
                        }
                    }
                }
            }
        }

        // Player side: resume from the persisted dealings.
        let is_player = spec.players.position(&me_pk).is_some();
        let mut acks = BTreeMap::new();
        let mut share_lost = false;
        let player = if is_player {
            let checked: BTreeMap<_, _> = logs
                .iter()
                .filter_map(|(dealer, versions)| {
                    versions
                        .first()
                        .map(|held| (dealer.clone(), held.checked.clone()))
                })
                .chain(own_log.iter().map(|(_, log)| (me_pk.clone(), log.clone())))
                .collect();
            match Player::resume::<Faults>(info.clone(), me.clone(), &checked, dealings) {
                Ok((player, resumed)) => {
                    acks = resumed;
                    Some(player)
                }
                // Logs name acks of ours whose dealings the journal does not hold: it lost
                // them (key recovery). Our share of this round is gone; observe it.
                Err(
                    feldman_desmedt::Error::MissingPlayerDealing
                    | feldman_desmedt::Error::InvalidPersistedDealing { .. },
                ) => {
                    share_lost = true;
                    None
                }
                Err(e) => return Err(DkgError::Recovery(e.to_string())),
            }
        } else {
            None
        };

        let equivocators = logs
            .iter()
            .filter(|(_, versions)| versions.len() > 1)
            .map(|(dealer, _)| dealer.clone())
            .collect();
        let seen_logs = logs.values().flatten().map(|held| held.digest).collect();
        let agreement = Agreement::new(spec.agreement(), me.clone(), agreed)
            .map_err(|e| DkgError::Setup(format!("agreement: {e}")))?;
        let mut ceremony = Self {
            spec,
            info,
            me,
            me_pk,
            dealer: None,
            player,
            share_lost,
            acks,
            logs,
            equivocators,
            seen_logs,
            agreement,
            agreeing: false,
            ticks: 0,
        };

        // Dealer side: same seed, same polynomial. A dealer of a reshare without a share of
        // the previous round (it missed that round: down, or admitted while it ran, or its
        // share was lost) deals nothing and only plays: the round finishes without its
        // dealing, as without any absent dealer's.
        let dealer = ceremony.spec.dealers.position(&ceremony.me_pk).is_some();
        let started = if dealer {
            match Dealer::start::<Faults>(
                ChaCha20Rng::from_seed(
                    seed.or(fresh_seed)
                        .expect("a fresh seed is always supplied"),
                ),
                ceremony.info.clone(),
                ceremony.me.clone(),
                share,
            ) {
                Ok(started) => Some(started),
                Err(feldman_desmedt::Error::MissingDealerShare) => {
                    tracing::warn!(
                        round = ceremony.spec.round,
                        "a dealer of this reshare without a share of the previous round: playing only"
                    );
                    None
                }
                Err(e) => return Err(DkgError::Setup(e.to_string())),
            }
        } else {
            None
        };
        if let Some((dealer, public, private)) = started {
            if seed.is_none() {
                let seed = fresh_seed.expect("a fresh seed is always supplied");
                effects.push(Effect::Persist(Record::Seed(seed)));
                effects.push(Effect::Sync);
            }
            effects.push(Effect::Dealt {
                commitment: sha256(&public.encode()),
            });
            let mut side = DealerSide {
                dealer: Some(dealer),
                public,
                private: private.into_iter().collect(),
                acked: BTreeSet::new(),
                log: None,
                held: None,
            };
            for (player, ack) in received_acks {
                if let Some(dealer) = side.dealer.as_mut()
                    && dealer.receive_player_ack(player.clone(), ack).is_ok()
                {
                    side.acked.insert(player);
                }
            }
            if let Some((log, checked)) = own_log {
                side.dealer = None;
                side.held = Some(HeldLog::new(log.clone(), checked));
                side.log = Some(log);
            }
            ceremony.dealer = Some(side);
            // Our own dealing to ourselves, if we are also a player and do not hold it yet.
            effects.extend(ceremony.self_deal()?);
        }

        // Resend what others may still need: acks we sent, and our log.
        for (dealer, ack) in &ceremony.acks {
            if *dealer != ceremony.me_pk {
                effects.push(Effect::Send {
                    to: To::One(dealer.clone()),
                    message: Message::Ack {
                        round: ceremony.spec.round,
                        ack: ack.clone(),
                    },
                });
            }
        }
        effects.extend(ceremony.resend_log());
        Ok((ceremony, effects))
    }

    /// Delivers our own dealing to our own player (no network involved).
    fn self_deal(&mut self) -> Result<Vec<Effect>, DkgError> {
        let mut effects = Vec::new();
        let Some(side) = self.dealer.as_ref() else {
            return Ok(effects);
        };
        let Some(private) = side.private.get(&self.me_pk).cloned() else {
            return Ok(effects);
        };
        if self.acks.contains_key(&self.me_pk) || side.dealer.is_none() {
            return Ok(effects);
        }
        let public = side.public.clone();
        let me = self.me_pk.clone();
        effects.extend(
            self.accept_dealing(&me, public, private)
                .map_err(|r| DkgError::Setup(format!("own dealing refused: {}", r.reason)))?,
        );
        Ok(effects)
    }

    /// The round of this attempt.
    pub fn round(&self) -> u64 {
        self.spec.round
    }

    /// The set-up of this attempt.
    pub fn spec(&self) -> &RoundSpec {
        &self.spec
    }

    /// (Re)sends our dealing to every player whose ack we lack (deal phase; call periodically).
    pub fn deal(&self) -> Vec<Effect> {
        let Some(side) = &self.dealer else {
            return Vec::new();
        };
        if side.dealer.is_none() {
            return Vec::new();
        }
        side.private
            .iter()
            .filter(|(player, _)| **player != self.me_pk && !side.acked.contains(*player))
            .map(|(player, private)| Effect::Send {
                to: To::One(player.clone()),
                message: Message::Dealing {
                    round: self.spec.round,
                    public: side.public.clone(),
                    private: private.clone(),
                },
            })
            .collect()
    }

    /// True once every player acked our dealing (the dealer has nothing more to wait for).
    pub fn all_acked(&self) -> bool {
        self.dealer
            .as_ref()
            .is_none_or(|side| side.private.keys().all(|p| side.acked.contains(p)))
    }

    /// True once we hold a log from every dealer (or caught it equivocating): the log phase has
    /// nothing left to wait for.
    pub fn logs_complete(&self) -> bool {
        self.missing_logs().is_empty()
    }

    /// Dealers whose log we still lack (for reports).
    pub fn missing_logs(&self) -> Vec<PublicKey> {
        self.spec
            .dealers
            .iter()
            .filter(|dealer| {
                !(self.logs.contains_key(*dealer)
                    || self.equivocators.contains(*dealer)
                    || (**dealer == self.me_pk
                        && self.dealer.as_ref().is_some_and(|side| side.log.is_some())))
            })
            .cloned()
            .collect()
    }

    /// Signs our log (revealing the shares of players whose acks we lack), persists and syncs it,
    /// then broadcasts it. Idempotent: a signed log is resent, never signed again.
    pub fn finalize_log(&mut self) -> Vec<Effect> {
        let Some(side) = self.dealer.as_mut() else {
            return Vec::new();
        };
        let Some(dealer) = side.dealer.take() else {
            return self.resend_log();
        };
        let log = dealer.finalize::<Faults>();
        side.held = log
            .clone()
            .check(&self.info)
            .map(|(_, checked)| HeldLog::new(log.clone(), checked));
        side.log = Some(log.clone());
        vec![
            Effect::Persist(Record::Log(log.clone())),
            Effect::Sync,
            Effect::Send {
                to: To::All,
                message: Message::Log {
                    round: self.spec.round,
                    log,
                },
            },
        ]
    }

    /// The ack we already sent `dealer`, again (for a repeated dealing; nothing if we never
    /// acked it).
    pub fn resend_ack(&self, dealer: &PublicKey) -> Vec<Effect> {
        match self.acks.get(dealer) {
            Some(ack) if *dealer != self.me_pk => vec![Effect::Send {
                to: To::One(dealer.clone()),
                message: Message::Ack {
                    round: self.spec.round,
                    ack: ack.clone(),
                },
            }],
            _ => Vec::new(),
        }
    }

    /// Our signed log again, if we have one (log phase; call periodically).
    pub fn resend_log(&self) -> Vec<Effect> {
        match self.dealer.as_ref().and_then(|side| side.log.clone()) {
            Some(log) => vec![Effect::Send {
                to: To::All,
                message: Message::Log {
                    round: self.spec.round,
                    log,
                },
            }],
            None => Vec::new(),
        }
    }

    /// Handles one message from `from` at `now`.
    pub fn on_message(
        &mut self,
        from: &PublicKey,
        message: Message,
        now: SystemTime,
    ) -> Result<Vec<Effect>, Rejection> {
        if message.round() != self.spec.round {
            return Err(Rejection::benign(format!(
                "round {} is not the current round {}",
                message.round(),
                self.spec.round
            )));
        }
        match message {
            Message::Dealing {
                public, private, ..
            } => {
                if self.spec.dealers.position(from).is_none() {
                    return Err(Rejection::hostile("dealing from a non-dealer"));
                }
                self.accept_dealing(from, public, private)
            }
            Message::Ack { ack, .. } => self.accept_ack(from, ack),
            Message::Log { log, .. } => self.accept_log(from, log),
            Message::Agree { epoch, message, .. } => {
                if epoch != self.spec.epoch {
                    return Err(Rejection::benign(format!(
                        "epoch {epoch} is not the current epoch {}",
                        self.spec.epoch
                    )));
                }
                self.on_agree(from, message, now)
            }
        }
    }

    fn accept_dealing(
        &mut self,
        dealer: &PublicKey,
        public: DealerPubMsg<Variant>,
        private: DealerPrivMsg,
    ) -> Result<Vec<Effect>, Rejection> {
        let Some(player) = self.player.as_mut() else {
            return Err(Rejection::hostile("dealing sent to a non-player"));
        };
        if let Some(ack) = self.acks.get(dealer) {
            // Already acked this dealer: resend that very ack, never a new one.
            return Ok(self.ack_effects(dealer, ack.clone(), None));
        }
        let record = Record::Dealing {
            dealer: dealer.clone(),
            public: public.clone(),
            private: private.clone(),
        };
        match player.dealer_message::<Faults>(dealer.clone(), public, private) {
            Ok(Some(ack)) => {
                self.acks.insert(dealer.clone(), ack.clone());
                Ok(self.ack_effects(dealer, ack, Some(record)))
            }
            Ok(None) => Err(Rejection::benign("dealer already handled")),
            Err(e) => Err(Rejection::hostile(format!("invalid dealing: {e}"))),
        }
    }

    /// Persist + sync the dealing (when new), then the ack: to ourselves directly, else sent.
    fn ack_effects(
        &mut self,
        dealer: &PublicKey,
        ack: PlayerAck<PublicKey>,
        record: Option<Record>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let fresh = record.is_some();
        if let Some(record) = record {
            effects.push(Effect::Persist(record));
            // Canary: the dealing is written, not synced, before the ack leaves.
            if !crate::canary!(AckBeforeSync) {
                effects.push(Effect::Sync);
            }
        }
        if *dealer == self.me_pk {
            if let Some(side) = self.dealer.as_mut()
                && let Some(d) = side.dealer.as_mut()
                && d.receive_player_ack(self.me_pk.clone(), ack).is_ok()
            {
                side.acked.insert(self.me_pk.clone());
            }
            return effects;
        }
        if fresh {
            effects.push(Effect::Acked {
                dealer: dealer.clone(),
                digest: sha256(&ack.encode()),
            });
        }
        effects.push(Effect::Send {
            to: To::One(dealer.clone()),
            message: Message::Ack {
                round: self.spec.round,
                ack,
            },
        });
        effects
    }

    fn accept_ack(
        &mut self,
        player: &PublicKey,
        ack: PlayerAck<PublicKey>,
    ) -> Result<Vec<Effect>, Rejection> {
        let Some(side) = self.dealer.as_mut() else {
            return Err(Rejection::hostile("ack sent to a non-dealer"));
        };
        let Some(dealer) = side.dealer.as_mut() else {
            // Log already signed: a late ack changes nothing.
            return Ok(Vec::new());
        };
        if side.acked.contains(player) {
            return Ok(Vec::new());
        }
        dealer
            .receive_player_ack(player.clone(), ack.clone())
            .map_err(|e| Rejection::hostile(format!("invalid ack: {e}")))?;
        side.acked.insert(player.clone());
        Ok(vec![Effect::Persist(Record::Ack {
            player: player.clone(),
            ack,
        })])
    }

    fn accept_log(
        &mut self,
        _from: &PublicKey,
        log: SignedDealerLog<Variant, PublicKey>,
    ) -> Result<Vec<Effect>, Rejection> {
        // Echoes repeat every log n times: skip the signature checks of a log already seen.
        let digest = sha256(&log.encode());
        if self.seen_logs.contains(&digest) {
            return Ok(Vec::new());
        }
        let Some((dealer, checked)) = log.clone().check(&self.info) else {
            return Err(Rejection::hostile(
                "log with an invalid signature or dealer",
            ));
        };
        self.seen_logs.insert(digest);
        // Our own log comes back from peers: ignored while we hold the one we signed. A node
        // whose journal lost it (key recovery) keeps the copies, as of any dealer: the
        // decision names one of them, and finishing the round needs it.
        if dealer == self.me_pk && self.own_log().is_some() {
            return Ok(Vec::new());
        }
        let wanted = self.wanted(&dealer, &digest);
        let versions = self.logs.entry(dealer.clone()).or_default();
        if versions.len() >= MAX_LOG_VERSIONS && !wanted {
            return Ok(Vec::new());
        }
        versions.push(HeldLog::new(log.clone(), checked));
        let mut effects = vec![
            Effect::Persist(Record::Log(log.clone())),
            // Echo on first sight, so every member ends up with every log (and every proof).
            Effect::Send {
                to: To::All,
                message: Message::Log {
                    round: self.spec.round,
                    log,
                },
            },
        ];
        if versions.len() > 1 && self.equivocators.insert(dealer.clone()) {
            // Two different logs signed by one dealer: proof of equivocation, made durable at
            // once so that a restart does not forget it (and vote for the dealer after all).
            effects.insert(1, Effect::Sync);
            effects.push(Effect::Equivocation { dealer });
        }
        Ok(effects)
    }

    /// Whether a decision or the current proposal names this log.
    fn wanted(&self, dealer: &PublicKey, digest: &Digest) -> bool {
        let Some(index) = self.spec.dealers.position(dealer) else {
            return false;
        };
        self.agreement
            .wanted()
            .iter()
            .any(|choice| matches!(choice, Choice::Logs(logs) if logs.contains(&(index as u32, *digest))))
    }

    /// Dealers caught signing two different logs.
    pub fn equivocators(&self) -> &BTreeSet<PublicKey> {
        &self.equivocators
    }

    /// Number of dealers whose log we hold (ours included).
    pub fn logs_held(&self) -> usize {
        self.logs.values().filter(|v| !v.is_empty()).count()
            + usize::from(self.dealer.as_ref().is_some_and(|s| s.log.is_some()))
    }

    /// Finalizes over exactly the decided logs: the output, and our share if we are a player.
    /// Fails if nothing is decided, the decision is to give the round up, or a decided log is
    /// missing here (see [`Ceremony::missing_decided`]).
    pub fn finish(self, rng: &mut impl CryptoRng) -> Result<Outcome, DkgError> {
        let Some(decided) = self.decided() else {
            return Err(DkgError::Finalize("nothing decided".into()));
        };
        let Choice::Logs(chosen) = &decided.choice else {
            return Err(DkgError::Finalize("the round was given up".into()));
        };
        let mut logs = Logs::<Variant, PublicKey, Faults>::new(self.info.clone());
        for (index, digest) in chosen {
            let dealer = self
                .spec
                .dealers
                .get(*index as usize)
                .ok_or_else(|| DkgError::Finalize(format!("no dealer {index}")))?;
            let held = self
                .versions(dealer)
                .into_iter()
                .find(|v| v.digest == *digest)
                .ok_or_else(|| {
                    DkgError::Finalize(format!("decided log of dealer {index} missing"))
                })?;
            logs.record(dealer.clone(), held.checked);
        }
        let share_lost = match self.player {
            Some(player) => match player.finalize::<Faults>(rng, logs.clone(), &Sequential) {
                Ok((output, share)) => {
                    return Ok(Outcome {
                        output,
                        share: Some(share),
                        share_lost: false,
                    });
                }
                // Our own dealings are gone (commonware: the round succeeded, our share is not
                // recoverable without outside help): finish as an observer of the round.
                Err(feldman_desmedt::FinalizeError::Error(
                    feldman_desmedt::Error::MissingPlayerDealing
                    | feldman_desmedt::Error::InvalidPersistedDealing { .. },
                )) => true,
                Err(error) => return Err(DkgError::Finalize(error.to_string())),
            },
            None => self.share_lost,
        };
        let output = observe::<Variant, PublicKey, Faults>(rng, logs, &Sequential)
            .map_err(|e| DkgError::Finalize(e.to_string()))?;
        Ok(Outcome {
            output,
            share: None,
            share_lost,
        })
    }
}
