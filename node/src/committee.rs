//! Membership changes through the admin API, and the client `cohort committee` uses.
//!
//! ```text
//!   GET  /committee                 the committee chain (every epoch's committee, genesis then
//!                                   certified), the proposals open and their approvals, and
//!                                   whether a reshare is pending (a certified epoch this node
//!                                   has not finished yet)
//!   POST /committee  body: JSON     {"add": KEY, "address": ADDR} | {"remove": KEY} |
//!                                   {"replace": OLD, "with": NEW, "address": ADDR} |
//!                                   {"reshare": true}, and an optional "reason": proposes
//!                                   the change for the next epoch (`reshare`: the same
//!                                   committee, whose reshare gives every member a fresh share:
//!                                   key recovery for a member that lost its DKG journal)
//! ```
//!
//! A proposal the rules refuse (the committee would fall below the safe size, too few of its
//! members are live, a key is not or already a member, a newcomer has no address) is answered
//! 422 with the reason; another proposal for the epoch is open, or this node is not in the
//! current committee: 409; the node cannot propose yet (no DKG output, boot recovery, a reshare
//! pending): 503; governance off in the node's config: 404.

use crate::{config::parse_public_key, hex};
use cohort_protocol::{
    committee::Source,
    governance::{Change, Error, Proposed, Status},
};
use serde::{Deserialize, Serialize};

/// A committee of the chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitteeJson {
    pub epoch: u64,
    /// Identities, hex, ascending.
    pub members: Vec<String>,
    pub threshold: u32,
    /// `genesis`, or the digest of the certified proposal.
    pub source: String,
}

/// A newcomer and its address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoiningJson {
    pub key: String,
    pub address: String,
}

/// An open proposal.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProposalJson {
    /// Its `Propose` op.
    pub op: String,
    pub author: String,
    pub digest: String,
    pub epoch: u64,
    pub members: Vec<String>,
    pub joining: Vec<JoiningJson>,
    pub threshold: u32,
    pub reason: String,
    /// Approvals that count, of the `required` the current committee's threshold asks for.
    pub approvals: usize,
    pub required: usize,
    /// Votes that do not count (another epoch's share, a non-member, a repeat).
    pub refused: usize,
    pub certified: bool,
}

/// `GET /committee`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GovernanceJson {
    /// The epoch of this node's latest DKG output.
    pub epoch: Option<u64>,
    /// The last epoch the chain defines.
    pub last_epoch: u64,
    /// A certified epoch this node has not finished resharing to yet.
    pub reshare_pending: bool,
    pub committees: Vec<CommitteeJson>,
    pub proposals: Vec<ProposalJson>,
    /// Epochs with more than one certificate (beyond the fault bound).
    pub conflicts: Vec<u64>,
    /// Votes and certificates this node appended since it started.
    pub voted: u64,
    pub certified: u64,
}

/// `POST /committee`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProposeJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    /// Where the others reach a newcomer (`host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keep the committee and reshare (key recovery).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reshare: bool,
}

/// The answer to `POST /committee`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProposedJson {
    pub op: String,
    pub digest: String,
    pub epoch: u64,
    pub members: Vec<String>,
    pub threshold: u32,
}

fn key_hex(key: &impl AsRef<[u8]>) -> String {
    hex::encode(key.as_ref())
}

fn parse(what: &str, text: &str) -> Result<cohort_protocol::PublicKey, String> {
    parse_public_key(text).ok_or_else(|| format!("{what} {text:?} is not a hex public key"))
}

impl ProposeJson {
    /// The change asked for, and its reason; exactly one of `add`, `remove`, `replace` (with
    /// `with`) or `reshare` must be given.
    pub fn change(&self) -> Result<(Change, String), String> {
        let change = match (&self.add, &self.remove, &self.replace, &self.with) {
            (None, None, None, None) if self.reshare => {
                if self.address.is_some() {
                    return Err("a reshare takes no address".into());
                }
                Change::Reshare
            }
            _ if self.reshare => {
                return Err("give exactly one of add, remove, replace with, or reshare".into());
            }
            (Some(key), None, None, None) => Change::Add {
                key: parse("add", key)?,
                address: self.address.clone(),
            },
            (None, Some(key), None, None) => {
                if self.address.is_some() {
                    return Err("a removal takes no address".into());
                }
                Change::Remove {
                    key: parse("remove", key)?,
                }
            }
            (None, None, Some(old), Some(new)) => Change::Replace {
                old: parse("replace", old)?,
                new: parse("with", new)?,
                address: self.address.clone(),
            },
            (None, None, Some(_), None) => return Err("replace needs the new key (with)".into()),
            _ => return Err("give exactly one of add, remove, replace with, or reshare".into()),
        };
        let reason = self.reason.clone().unwrap_or_else(|| match &change {
            Change::Add { .. } => "add a member".to_string(),
            Change::Remove { .. } => "remove a member".to_string(),
            Change::Replace { .. } => "replace a member".to_string(),
            Change::Reshare => "reshare the committee (key recovery)".to_string(),
        });
        Ok((change, reason))
    }
}

/// The HTTP status a refused proposal is answered with (see the module docs).
pub fn error_status(error: &Error) -> u16 {
    match error {
        Error::Closed | Error::NotReady(_) => 503,
        Error::NotAMember { .. } | Error::Open { .. } => 409,
        Error::BadChange { .. } | Error::Refused(_) => 422,
        Error::Ledger(_) => 500,
    }
}

/// `GET /committee` from the actor's status.
pub fn status_json(status: Status) -> GovernanceJson {
    GovernanceJson {
        reshare_pending: status.epoch.is_some_and(|e| status.last_epoch > e),
        epoch: status.epoch,
        last_epoch: status.last_epoch,
        committees: status
            .committees
            .into_iter()
            .map(|c| CommitteeJson {
                epoch: c.epoch,
                members: c.members.iter().map(key_hex).collect(),
                threshold: c.threshold,
                source: match c.source {
                    Source::Genesis => "genesis".into(),
                    Source::Certified { proposal, .. } => hex::encode(&proposal),
                },
            })
            .collect(),
        proposals: status
            .proposals
            .into_iter()
            .map(|p| ProposalJson {
                op: key_hex(&p.op),
                author: key_hex(&p.author),
                digest: hex::encode(&p.digest),
                epoch: p.proposal.epoch,
                members: p.proposal.members.iter().map(key_hex).collect(),
                joining: p
                    .proposal
                    .joining
                    .iter()
                    .map(|j| JoiningJson {
                        key: key_hex(&j.key),
                        address: j.address.clone(),
                    })
                    .collect(),
                threshold: p.proposal.threshold,
                reason: p.proposal.reason.clone(),
                approvals: p.approvals,
                required: p.required,
                refused: p.refused,
                certified: p.certified,
            })
            .collect(),
        conflicts: status.conflicts,
        voted: status.voted,
        certified: status.certified,
    }
}

/// The answer to `POST /committee`.
pub fn proposed_json(proposed: &Proposed) -> ProposedJson {
    ProposedJson {
        op: key_hex(&proposed.op),
        digest: hex::encode(&proposed.digest),
        epoch: proposed.proposal.epoch,
        members: proposed.proposal.members.iter().map(key_hex).collect(),
        threshold: proposed.proposal.threshold,
    }
}

/// The chain and the open proposals, one line each.
pub fn table(status: &GovernanceJson) -> String {
    let short = |k: &String| k[..16.min(k.len())].to_string();
    let mut out = format!(
        "epoch {} held, last certified epoch {}{}\n",
        status.epoch.map_or("none".into(), |e| e.to_string()),
        status.last_epoch,
        if status.reshare_pending {
            " (reshare pending)"
        } else {
            ""
        }
    );
    for c in &status.committees {
        out.push_str(&format!(
            "epoch {:>3}  t={:<3} n={:<3} {:<16}  {}\n",
            c.epoch,
            c.threshold,
            c.members.len(),
            short(&c.source),
            c.members.iter().map(short).collect::<Vec<_>>().join(" ")
        ));
    }
    for p in &status.proposals {
        out.push_str(&format!(
            "proposal for epoch {} by {}: {}/{} approvals{}, n={} ({})\n",
            p.epoch,
            short(&p.author),
            p.approvals,
            p.required,
            if p.certified { ", certified" } else { "" },
            p.members.len(),
            p.reason
        ));
    }
    for e in &status.conflicts {
        out.push_str(&format!(
            "WARNING: epoch {e} has more than one certificate (the lowest digest wins)\n"
        ));
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_exactly_one_change() {
        use commonware_cryptography::{Signer as _, ed25519};
        let key = key_hex(&ed25519::PrivateKey::from_seed(1).public_key());
        let other = key_hex(&ed25519::PrivateKey::from_seed(2).public_key());
        let add = ProposeJson {
            add: Some(key.clone()),
            address: Some("10.0.0.9:9000".into()),
            ..ProposeJson::default()
        };
        assert!(matches!(add.change(), Ok((Change::Add { .. }, _))));
        let both = ProposeJson {
            add: Some(key.clone()),
            remove: Some(other.clone()),
            ..ProposeJson::default()
        };
        assert!(both.change().is_err());
        let half = ProposeJson {
            replace: Some(key.clone()),
            ..ProposeJson::default()
        };
        assert!(half.change().unwrap_err().contains("with"));
        let bad = ProposeJson {
            remove: Some("zz".into()),
            ..ProposeJson::default()
        };
        assert!(bad.change().unwrap_err().contains("not a hex public key"));
        assert!(ProposeJson::default().change().is_err());
        assert!(serde_json::from_str::<ProposeJson>(r#"{"ad": "x"}"#).is_err());
    }
}
