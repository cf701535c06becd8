//! The phases of one DKG round and the barrier steps they own (see `actor` for the table).
//!
//! Round `r` owns the barrier steps `4r+1..=4r+4` ([`PHASES`] per round): `deal`, `log`,
//! `agree`, `done`. These are pure functions, shared by the actor and the engine.

/// Barrier steps per round.
pub const PHASES: u64 = 4;

/// The highest barrier step the DKG may use.
pub const MAX_STEP: u64 = u32::MAX as u64;

/// A phase of one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Deal = 1,
    Log = 2,
    Agree = 3,
    Done = 4,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Deal => "deal",
            Phase::Log => "log",
            Phase::Agree => "agree",
            Phase::Done => "done",
        }
    }
}

/// The barrier step of `phase` of round `round`.
pub fn step_of(round: u64, phase: Phase) -> u64 {
    round * PHASES + phase as u64
}

/// The round and phase a barrier step belongs to (`None` for step 0: nothing started).
pub fn position(step: u64) -> Option<(u64, Phase)> {
    let index = step.checked_sub(1)?;
    let phase = match index % PHASES {
        0 => Phase::Deal,
        1 => Phase::Log,
        2 => Phase::Agree,
        _ => Phase::Done,
    };
    Some((index / PHASES, phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_positions_are_inverse() {
        assert_eq!(position(0), None);
        for round in 0..5 {
            for phase in [Phase::Deal, Phase::Log, Phase::Agree, Phase::Done] {
                assert_eq!(position(step_of(round, phase)), Some((round, phase)));
            }
        }
    }
}
