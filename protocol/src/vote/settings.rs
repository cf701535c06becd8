//! The checkpoint protocol's settings: its knobs (SPEC section 5's defaults), and
//! [`Settings::validate`], which refuses values the protocol cannot work with, with a message
//! naming the field.

use super::observation::Tolerance;
use std::time::Duration;
use thiserror::Error;

/// Timing and tolerances of the checkpoint protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How often a member proposes a checkpoint about itself (default 24 h).
    pub interval: Duration,
    /// How often the member checks whether a proposal is due (default 15 min).
    pub check: Duration,
    /// How long a proposal's round is open for votes (default 60 s).
    pub window: Duration,
    /// Votes are sent after a delay drawn uniformly in `[0, jitter]` (default 3 s).
    pub jitter: Duration,
    /// A proposal is sent again to members whose vote is still missing this often.
    pub resend: Duration,
    /// A member counts as online when an op of it arrived within this long (default 60 s).
    pub online_within: Duration,
    /// A proposal whose `as_of` is further than this from the voter's clock is refused as
    /// stale or from the future (default 10 min).
    pub max_skew: Duration,
    pub tolerance: Tolerance,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(24 * 3600),
            check: Duration::from_secs(15 * 60),
            window: Duration::from_secs(60),
            jitter: Duration::from_secs(3),
            resend: Duration::from_secs(10),
            online_within: Duration::from_secs(60),
            max_skew: Duration::from_secs(600),
            tolerance: Tolerance::default(),
        }
    }
}

/// A setting the protocol cannot work with.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("checkpoint.{field}: {why}")]
pub struct SettingsError {
    pub field: &'static str,
    pub why: &'static str,
}

impl Settings {
    /// Refuses settings the protocol cannot work with.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |field, why| Err(SettingsError { field, why });
        if self.interval.is_zero() {
            return fail("interval", "must be positive");
        }
        if self.check.is_zero() || self.check > self.interval {
            return fail("check", "must be positive and at most the interval");
        }
        if self.window.is_zero() || self.window.saturating_mul(2) >= self.interval {
            return fail("window", "must be positive and less than half the interval");
        }
        if self.jitter >= self.window {
            return fail("jitter", "must be shorter than the vote window");
        }
        if self.resend.is_zero() {
            return fail("resend", "must be positive");
        }
        if self.online_within.is_zero() {
            return fail("online_within", "must be positive");
        }
        if self.max_skew.is_zero() {
            return fail("max_skew", "must be positive");
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
        let bad = |edit: fn(&mut Settings)| {
            let mut s = Settings::default();
            edit(&mut s);
            s.validate().unwrap_err().field
        };
        assert_eq!(bad(|s| s.interval = Duration::ZERO), "interval");
        assert_eq!(bad(|s| s.check = s.interval * 2), "check");
        assert_eq!(bad(|s| s.window = s.interval), "window");
        assert_eq!(bad(|s| s.jitter = s.window), "jitter");
        assert_eq!(bad(|s| s.resend = Duration::ZERO), "resend");
    }
}
