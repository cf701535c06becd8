//! The governance actor's settings, and [`Settings::validate`], which refuses values it cannot
//! work with, naming the field. They live below the ledger (in [`crate::committee`]) because
//! the ledger's settings carry them, as they carry the checkpoint protocol's.

use std::time::Duration;
use thiserror::Error;

/// Timing of the governance actor (`crate::governance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How often the actor looks at the ledger's proposals and votes (default 1 s).
    pub check: Duration,
    /// How long a voter waits after it first sees a proposal for the next epoch before it
    /// approves one, so that proposals racing it arrive first and every honest voter picks the
    /// same (the lowest valid digest) (default 10 s).
    pub settle: Duration,
    /// How long a node that is not a proposal's author waits, once it holds `t` approvals of
    /// it, before it appends the certificate itself: the author goes first, and another node
    /// steps in only when the author is slow or gone. A random delay in `[0, certify_after]`
    /// is added, so that not every node steps in at once (default 10 s).
    pub certify_after: Duration,
    /// A member counts as live when an op of it arrived within this long (default 60 s): a
    /// proposal needs a quorum of live members in its committee.
    pub online_within: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            check: Duration::from_secs(1),
            settle: Duration::from_secs(10),
            certify_after: Duration::from_secs(10),
            online_within: Duration::from_secs(60),
        }
    }
}

/// A setting the governance actor cannot work with.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("governance.{field}: {why}")]
pub struct SettingsError {
    pub field: &'static str,
    pub why: &'static str,
}

impl Settings {
    /// Refuses settings the actor cannot work with.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |field, why| Err(SettingsError { field, why });
        if self.check.is_zero() {
            return fail("check", "must be positive");
        }
        if self.online_within.is_zero() {
            return fail("online_within", "must be positive");
        }
        if self.settle > Duration::from_secs(24 * 3600) {
            return fail("settle", "must be at most a day");
        }
        if self.certify_after > Duration::from_secs(24 * 3600) {
            return fail("certify_after", "must be at most a day");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let zero_check = Settings {
            check: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(zero_check.validate().unwrap_err().field, "check");
        let zero_online = Settings {
            online_within: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(zero_online.validate().unwrap_err().field, "online_within");
        let long_settle = Settings {
            settle: Duration::from_secs(2 * 24 * 3600),
            ..Settings::default()
        };
        assert_eq!(long_settle.validate().unwrap_err().field, "settle");
    }
}
