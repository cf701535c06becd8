//! What an engine runs ([`Task`]), and every decision that depends on it.

use crate::dkg;

/// What the engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The DKG of every epoch the cluster lists.
    Dkg,
    /// A barrier walk through steps `1..=steps` (exercises the barrier alone).
    Walk { steps: u64 },
    /// No ceremony: the node only serves its other actors (the ledger).
    Serve,
}

impl Task {
    /// The barrier step to resume at, given the step recorded before this start.
    pub fn resume_step(self, recorded: u64) -> u64 {
        match self {
            Task::Walk { steps } => recorded.min(steps),
            Task::Dkg => recorded,
            Task::Serve => 0,
        }
    }

    /// The highest barrier step the ceremony may use.
    pub fn max_step(self) -> u64 {
        match self {
            Task::Walk { steps } => steps,
            Task::Dkg => dkg::MAX_STEP,
            Task::Serve => 0,
        }
    }

    /// Barrier steps per attempt block (peers may jump to a block start; 0: no blocks).
    pub fn block(self) -> u64 {
        match self {
            Task::Walk { .. } | Task::Serve => 0,
            Task::Dkg => dkg::PHASES,
        }
    }

    /// The last barrier step the finished ceremony reached.
    pub fn steps_walked(self, completed: Option<&dkg::Completed>) -> u64 {
        match (self, completed) {
            (Task::Walk { steps }, _) => steps,
            (Task::Dkg, Some(c)) => dkg::step_of(c.round, dkg::Phase::Done),
            (Task::Dkg, None) | (Task::Serve, _) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_per_task() {
        let walk = Task::Walk { steps: 5 };
        assert_eq!(walk.resume_step(9), 5);
        assert_eq!(Task::Dkg.resume_step(9), 9);
        assert_eq!(Task::Serve.resume_step(9), 0);
        assert_eq!((walk.max_step(), Task::Serve.max_step()), (5, 0));
        assert_eq!((walk.block(), Task::Dkg.block()), (0, dkg::PHASES));
        assert_eq!(walk.steps_walked(None), 5);
        assert_eq!(Task::Dkg.steps_walked(None), 0);
    }
}
