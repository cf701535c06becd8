//! The node's `[governance]` config section: the governance actor's timing (see
//! `cohort_protocol::governance`), each field optional with the protocol's default.
//!
//! Decisions: membership changes are part of the product, so a node runs governance unless the
//! section says `enabled = false` (with it off the node neither proposes, votes, certifies nor
//! reshares beyond its `cluster.toml`, and ends its ceremony with the shutdown handshake; it
//! still verifies and keeps the governance ops it receives); durations are in milliseconds like the rest of the config; a value the actor cannot work
//! with is a one-line config error naming the field.

use cohort_protocol::committee::Settings;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[governance]` of a node config (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceFile {
    /// Run the governance actor and the reshares the certified committees call for (default
    /// true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How often the actor looks at the proposals and votes (default 1 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ms: Option<u64>,
    /// How long a voter waits after it first sees a proposal before it approves (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_ms: Option<u64>,
    /// How long a node other than the author waits before it appends a certificate itself
    /// (default 10 s, plus a random delay of at most as much).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certify_after_ms: Option<u64>,
    /// A member counts as live when an op of it arrived within this long (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_within_ms: Option<u64>,
}

impl GovernanceFile {
    /// The actor's settings (`None`: governance off), or the first field it cannot work with,
    /// as `governance.FIELD: why`.
    pub fn settings(&self) -> Result<Option<Settings>, String> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let d = Settings::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        let settings = Settings {
            check: ms(self.check_ms, d.check),
            settle: ms(self.settle_ms, d.settle),
            certify_after: ms(self.certify_after_ms, d.certify_after),
            online_within: ms(self.online_within_ms, d.online_within),
        };
        settings.validate().map_err(|e| e.to_string())?;
        Ok(Some(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_section_is_the_default_and_enabled_and_bad_values_name_their_field() {
        assert_eq!(
            GovernanceFile::default().settings(),
            Ok(Some(Settings::default()))
        );
        let off = GovernanceFile {
            enabled: Some(false),
            ..GovernanceFile::default()
        };
        assert_eq!(off.settings(), Ok(None));
        let file: GovernanceFile = toml::from_str("settle_ms = 2000").unwrap();
        assert_eq!(
            file.settings().unwrap().unwrap().settle,
            Duration::from_secs(2)
        );
        let bad = GovernanceFile {
            check_ms: Some(0),
            ..GovernanceFile::default()
        };
        assert!(bad.settings().unwrap_err().starts_with("governance.check"));
        assert!(toml::from_str::<GovernanceFile>("settle = 5").is_err());
    }
}
