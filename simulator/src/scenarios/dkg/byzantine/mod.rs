//! Byzantine members of `dkg-byzantine`: one file per misbehaviour, each a
//! [`Tamper`] that rewrites what an otherwise honest node
//! sends on the DKG channel (its ceremony, journal and barrier stay honest, so the only lie is on
//! the wire).
//!
//! - [`bad_shares`]: dealings to the victims carry a share that does not match the commitment;
//! - [`two_dealings`]: the victims get a dealing of a second polynomial, the others the first;
//! - [`wrong_ack`]: acks to the victim dealers are validly signed, but for another dealing;
//! - [`garbage`]: besides its real messages, random bytes, truncated frames and oversized frames;
//! - [`two_logs`]: a drawn half of the members get a second, validly signed log, the rest the
//!   real one;
//! - [`late_log`]: its log only at the very end of the log phase, to a drawn subset;
//! - [`partial_log`]: its log to at most `f` drawn members only;
//! - `BadHello` (no file: its cluster definition differs, so every hello of its barrier is
//!   refused): a member that breaks the barrier's rules, which must count as absent rather than
//!   stop every round.
//!
//! Everything a tamper draws comes from a ChaCha RNG seeded from the plan, so runs replay
//! ([`frames`] holds that RNG and the frame rewriting they share).

pub mod bad_shares;
pub mod frames;
pub mod garbage;
pub mod late_log;
pub mod partial_log;
pub mod two_dealings;
pub mod two_logs;
pub mod wrong_ack;

use cohort_protocol::{PublicKey, dkg::Tamper};
use commonware_cryptography::ed25519;
use commonware_runtime::{Supervisor as _, deterministic};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

/// What the byzantine member does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Misbehaviour {
    BadShares,
    TwoDealings,
    WrongAck,
    Garbage,
    TwoLogs,
    LateLog,
    PartialLog,
    BadHello,
}

impl Misbehaviour {
    /// Lies about dealings, acks and frames (`dkg-byzantine`).
    pub const WIRE: [Misbehaviour; 4] = [
        Misbehaviour::BadShares,
        Misbehaviour::TwoDealings,
        Misbehaviour::WrongAck,
        Misbehaviour::Garbage,
    ];

    /// Lies about the dealer's own log (`dkg-log-liars`).
    pub const LOG: [Misbehaviour; 3] = [
        Misbehaviour::TwoLogs,
        Misbehaviour::LateLog,
        Misbehaviour::PartialLog,
    ];

    /// A member whose hellos the barrier refuses (`dkg-log-liars`).
    pub const BARRIER: [Misbehaviour; 1] = [Misbehaviour::BadHello];

    /// Every misbehaviour (`reshare-byzantine`).
    pub const ALL: [Misbehaviour; 8] = [
        Misbehaviour::BadShares,
        Misbehaviour::TwoDealings,
        Misbehaviour::WrongAck,
        Misbehaviour::Garbage,
        Misbehaviour::TwoLogs,
        Misbehaviour::LateLog,
        Misbehaviour::PartialLog,
        Misbehaviour::BadHello,
    ];
}

/// The byzantine member of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Byzantine {
    pub node: usize,
    pub misbehaviour: Misbehaviour,
    /// The members it targets (node indices; all for [`Misbehaviour::Garbage`]).
    pub victims: Vec<usize>,
    /// Seed of everything it draws.
    pub seed: u64,
}

impl Byzantine {
    /// The tamper of node `key` (the byzantine member) in a cluster of `members` (by index);
    /// `clock` and `phase_timeout` time the late log.
    pub fn tamper(
        &self,
        key: &ed25519::PrivateKey,
        members: &[PublicKey],
        clock: &deterministic::Context,
        phase_timeout: Duration,
    ) -> Arc<dyn Tamper> {
        let victims = self.victims.iter().map(|i| members[*i].clone()).collect();
        match self.misbehaviour {
            Misbehaviour::BadShares => Arc::new(bad_shares::BadShares::new(victims, self.seed)),
            Misbehaviour::TwoDealings => Arc::new(two_dealings::TwoDealings::new(
                key.clone(),
                victims,
                self.seed,
            )),
            Misbehaviour::WrongAck => {
                Arc::new(wrong_ack::WrongAck::new(key.clone(), victims, self.seed))
            }
            Misbehaviour::Garbage => Arc::new(garbage::Garbage::new(self.seed)),
            Misbehaviour::TwoLogs => {
                Arc::new(two_logs::TwoLogs::new(key.clone(), victims, self.seed))
            }
            Misbehaviour::LateLog => Arc::new(late_log::LateLog::new(
                key,
                victims,
                clock.child("late_log"),
                phase_timeout,
            )),
            Misbehaviour::PartialLog => Arc::new(partial_log::PartialLog::new(key, victims)),
            // Its lie is its cluster definition (see `run`); its DKG messages are its own.
            Misbehaviour::BadHello => Arc::new(frames::Honest),
        }
    }
}
