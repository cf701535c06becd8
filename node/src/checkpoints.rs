//! The node's `[checkpoint]` config section: the checkpoint protocol's timing and tolerances
//! (`../shared/SPEC.md` section 5), each field optional with the protocol's default.
//!
//! Decisions: checkpoints are part of the product, so a node runs them unless the section says
//! `enabled = false`; every duration is in milliseconds like the cluster file's timing; a value
//! the protocol cannot work with (`cohort_protocol::checkpoint::Settings::validate`) is a
//! one-line config error naming the field, checked before the runtime starts.

use cohort_protocol::checkpoint::{Settings, Tolerance};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[checkpoint]` of a node config (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// Run the checkpoint protocol (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How often a member proposes a checkpoint about itself (default 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// How often it checks whether one is due (default 15 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ms: Option<u64>,
    /// How long a round is open for votes (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// Votes go out after a delay drawn in `[0, jitter_ms]` (default 3 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    /// A proposal is sent again to missing voters this often (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_ms: Option<u64>,
    /// A member counts as online when an op of it arrived within this long (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_within_ms: Option<u64>,
    /// A proposal's `as_of` further than this from the voter's clock is refused (default 10 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_skew_ms: Option<u64>,
    /// Tolerances a voter approves within (defaults: 5 restarts, 60 s, 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_restarts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_uptime_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_first_seen_ms: Option<u64>,
}

impl CheckpointFile {
    /// The protocol settings the section gives (`None`: checkpoints disabled), or the first
    /// field the protocol cannot work with, as `checkpoint.FIELD: why`.
    pub fn settings(&self) -> Result<Option<Settings>, String> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let d = Settings::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        let settings = Settings {
            interval: ms(self.interval_ms, d.interval),
            check: ms(self.check_ms, d.check),
            window: ms(self.window_ms, d.window),
            jitter: ms(self.jitter_ms, d.jitter),
            resend: ms(self.resend_ms, d.resend),
            online_within: ms(self.online_within_ms, d.online_within),
            max_skew: ms(self.max_skew_ms, d.max_skew),
            tolerance: Tolerance {
                restarts: self.tolerance_restarts.unwrap_or(d.tolerance.restarts),
                uptime_ms: self.tolerance_uptime_ms.unwrap_or(d.tolerance.uptime_ms),
                first_seen_ms: self
                    .tolerance_first_seen_ms
                    .unwrap_or(d.tolerance.first_seen_ms),
            },
        };
        settings.validate().map_err(|e| e.to_string())?;
        Ok(Some(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_section_is_the_protocol_default_and_enabled() {
        assert_eq!(
            CheckpointFile::default().settings(),
            Ok(Some(Settings::default()))
        );
        let off = CheckpointFile {
            enabled: Some(false),
            ..CheckpointFile::default()
        };
        assert_eq!(off.settings(), Ok(None));
    }

    #[test]
    fn fields_override_and_bad_values_name_their_field() {
        let file: CheckpointFile =
            toml::from_str("interval_ms = 60000\ncheck_ms = 5000\nwindow_ms = 10000").unwrap();
        let settings = file.settings().unwrap().unwrap();
        assert_eq!(settings.interval, Duration::from_secs(60));
        assert_eq!(settings.check, Duration::from_secs(5));
        assert_eq!(settings.window, Duration::from_secs(10));
        let bad = CheckpointFile {
            interval_ms: Some(0),
            ..CheckpointFile::default()
        };
        let error = bad.settings().unwrap_err();
        assert!(error.starts_with("checkpoint.interval"), "{error}");
        assert!(toml::from_str::<CheckpointFile>("intervall_ms = 5").is_err());
    }
}
