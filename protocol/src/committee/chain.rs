//! The cluster definition as history: the genesis definition (its committees, epoch 0 first)
//! followed by the committees certified in the ledger, one per epoch.
//!
//! A [`Chain`] is a pure function of the genesis definition and the certified proposals a node
//! holds (in any order), so two nodes holding the same certificates derive the same
//! committees. Epoch `e` is defined when every epoch before it is: a certificate for an epoch
//! beyond a gap waits, counted, until the gap is filled.
//!
//! **One committee per epoch.** Honest voters approve at most one proposal per epoch and the
//! threshold is the committee's BFT quorum, so two proposals of one epoch cannot both be
//! certified while at most `f` voters are hostile. Should it happen anyway (beyond the fault
//! bound), every node takes the same one, the lowest proposal digest, and reports the epoch
//! as a conflict ([`Chain::conflicts`]).
//!
//! **Members.** Up to the genesis definition's last epoch, the members are its members (a
//! member outside an epoch's committee observes it). From the first certified epoch on, the
//! members of epoch `e` are its committee: a genesis observer that a proposal leaves out is no
//! longer a member. While epoch `e` is being reshared, its *participants* are the dealers
//! (committee `e - 1`) and the players (committee `e`).

use super::proposal::{CommitteeProposal, Digest, threshold_for};
use crate::cluster::{Cluster, PublicKey};
use commonware_cryptography::sha256;
use std::collections::{BTreeMap, BTreeSet};

/// Where a committee comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The genesis definition (`cluster.toml`).
    Genesis,
    /// A certified proposal: its digest and the id of its `Propose` op.
    Certified {
        proposal: Digest,
        op: sha256::Digest,
    },
}

/// The committee of one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    pub epoch: u64,
    /// Ascending.
    pub members: Vec<PublicKey>,
    pub threshold: u32,
    pub source: Source,
}

/// What adding a certified proposal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The first certified proposal of its epoch.
    New,
    /// Already held.
    Duplicate,
    /// A second certified proposal for an epoch that has one (see the module docs).
    Conflict,
    /// An epoch the genesis definition fixes: ignored.
    Genesis,
}

/// The genesis definition and the certified committees after it.
#[derive(Clone, Debug)]
pub struct Chain {
    genesis: Cluster,
    /// Certified proposals by epoch, then by digest, with their `Propose` op ids.
    certified: BTreeMap<u64, BTreeMap<Digest, (sha256::Digest, CommitteeProposal)>>,
}

impl Chain {
    pub fn new(genesis: Cluster) -> Self {
        Self {
            genesis,
            certified: BTreeMap::new(),
        }
    }

    /// The genesis definition.
    pub fn genesis(&self) -> &Cluster {
        &self.genesis
    }

    /// The last epoch the genesis definition fixes.
    pub fn genesis_epochs(&self) -> u64 {
        self.genesis.last_epoch()
    }

    /// Records a certified proposal (its certificate verified) whose `Propose` op is `op`.
    pub fn add(&mut self, op: sha256::Digest, proposal: CommitteeProposal) -> Added {
        if proposal.epoch <= self.genesis.last_epoch() {
            return Added::Genesis;
        }
        let digest = proposal.digest();
        let epoch = self.certified.entry(proposal.epoch).or_default();
        if epoch.contains_key(&digest) {
            return Added::Duplicate;
        }
        let first = epoch.is_empty();
        epoch.insert(digest, (op, proposal));
        if first { Added::New } else { Added::Conflict }
    }

    /// The winning certified proposal of `epoch` (the lowest digest), if any.
    fn winner(&self, epoch: u64) -> Option<(&Digest, &(sha256::Digest, CommitteeProposal))> {
        self.certified.get(&epoch)?.iter().next()
    }

    /// The committee of `epoch`, if it is defined (every epoch before it is).
    pub fn committee(&self, epoch: u64) -> Option<Committee> {
        if epoch <= self.genesis.last_epoch() {
            let members = self.genesis.committee(epoch)?.to_vec();
            return Some(Committee {
                epoch,
                threshold: threshold_for(members.len()),
                members,
                source: Source::Genesis,
            });
        }
        if epoch > self.last_epoch() {
            return None;
        }
        let (digest, (op, proposal)) = self.winner(epoch)?;
        Some(Committee {
            epoch,
            members: proposal.members.clone(),
            threshold: proposal.threshold,
            source: Source::Certified {
                proposal: *digest,
                op: *op,
            },
        })
    }

    /// The winning certified proposal of a defined epoch after the genesis ones.
    pub fn proposal(&self, epoch: u64) -> Option<&CommitteeProposal> {
        (epoch <= self.last_epoch())
            .then(|| self.winner(epoch).map(|(_, (_, p))| p))
            .flatten()
    }

    /// The last defined epoch: the genesis definition's last, then every certified epoch that
    /// follows without a gap.
    pub fn last_epoch(&self) -> u64 {
        let mut last = self.genesis.last_epoch();
        while self.certified.contains_key(&(last + 1)) {
            last += 1;
        }
        last
    }

    /// The cluster definition up to the last defined epoch: the genesis one extended with each
    /// certified committee ([`Cluster::extended`]: newcomers become members; the hash stays the
    /// genesis one). What the DKG runs the next reshare from. Epochs beyond what a definition
    /// holds ([`crate::cluster::MAX_EPOCHS`]) are left out.
    pub fn cluster(&self) -> Cluster {
        let mut cluster = self.genesis.clone();
        for epoch in self.genesis.last_epoch() + 1..=self.last_epoch() {
            let Some(committee) = self.committee(epoch) else {
                break;
            };
            match cluster.extended(&committee.members) {
                Ok(next) => cluster = next,
                Err(_) => break,
            }
        }
        cluster
    }

    /// Certified epochs held beyond a gap (waiting for an earlier certificate).
    pub fn waiting(&self) -> usize {
        let last = self.last_epoch();
        self.certified.range(last.saturating_add(1)..).count()
    }

    /// Epochs with more than one certified proposal.
    pub fn conflicts(&self) -> Vec<u64> {
        self.certified
            .iter()
            .filter(|(_, p)| p.len() > 1)
            .map(|(e, _)| *e)
            .collect()
    }

    /// The members of `epoch` (see the module docs): the genesis members up to the genesis
    /// definition's last epoch, its committee after it.
    pub fn members(&self, epoch: u64) -> Vec<PublicKey> {
        if epoch <= self.genesis.last_epoch() {
            return self.genesis.members().to_vec();
        }
        self.committee(epoch).map(|c| c.members).unwrap_or_default()
    }

    /// Who takes part in epoch `epoch`'s ceremony: its members and, from the first certified
    /// epoch on, the dealers of the committee before (ascending).
    pub fn participants(&self, epoch: u64) -> Vec<PublicKey> {
        let mut all: BTreeSet<PublicKey> = self.members(epoch).into_iter().collect();
        if epoch > self.genesis.last_epoch() {
            all.extend(self.members(epoch - 1));
        }
        all.into_iter().collect()
    }

    /// Every key that was ever a member: the genesis members and every certified committee's
    /// (a removed member's old ops stay valid ledger history).
    pub fn known(&self) -> BTreeSet<PublicKey> {
        let mut all: BTreeSet<PublicKey> = self.genesis.members().iter().cloned().collect();
        for proposals in self.certified.values() {
            for (_, p) in proposals.values() {
                all.extend(p.members.iter().cloned());
            }
        }
        all
    }

    /// Where to reach `key`, if a certified proposal admitted it with an address (the latest).
    pub fn address_of(&self, key: &PublicKey) -> Option<&str> {
        self.certified
            .values()
            .rev()
            .flat_map(|p| p.values())
            .find_map(|(_, p)| p.address_of(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::committee::testing::{keys, op};
    use crate::{
        PROTOCOL_VERSION, Timing,
        committee::proposal::{Joining, threshold_for},
    };

    fn proposal(epoch: u64, members: &[PublicKey], reason: &str) -> CommitteeProposal {
        let joining = members
            .iter()
            .map(|k| Joining {
                key: k.clone(),
                address: format!("10.0.0.{epoch}:1"),
            })
            .take(1)
            .collect();
        CommitteeProposal::new(epoch, members.to_vec(), joining, reason.into(), [0; 32]).unwrap()
    }

    #[test]
    fn committees_follow_the_certificates_in_epoch_order_whatever_the_arrival_order() {
        let k = keys(7);
        let genesis = Cluster::new(k[..4].to_vec(), 3, PROTOCOL_VERSION, Timing::default())
            .unwrap()
            .with_committees(vec![k[..4].to_vec(), k[1..4].to_vec()])
            .unwrap();
        let mut chain = Chain::new(genesis);
        assert_eq!(chain.last_epoch(), 1);
        assert_eq!(chain.committee(1).unwrap().members, k[1..4].to_vec());
        assert_eq!(
            chain.members(1),
            k[..4].to_vec(),
            "genesis observers stay members"
        );
        // Epoch 3 arrives before epoch 2: it waits.
        let p3 = proposal(3, &k[2..7], "three");
        let p2 = proposal(2, &k[1..5], "two");
        assert_eq!(chain.add(op(3), p3.clone()), Added::New);
        assert_eq!(chain.last_epoch(), 1);
        assert_eq!(chain.waiting(), 1);
        assert!(chain.committee(3).is_none());
        assert_eq!(chain.add(op(2), p2.clone()), Added::New);
        assert_eq!(chain.last_epoch(), 3);
        assert_eq!(chain.waiting(), 0);
        let c3 = chain.committee(3).unwrap();
        assert_eq!(c3.members, k[2..7].to_vec());
        assert_eq!(c3.threshold, threshold_for(5));
        assert_eq!(
            c3.source,
            Source::Certified {
                proposal: p3.digest(),
                op: op(3)
            }
        );
        assert_eq!(chain.participants(3), k[1..7].to_vec());
        let cluster = chain.cluster();
        assert_eq!(cluster.last_epoch(), 3);
        assert_eq!(cluster.committee(3), Some(&k[2..7]));
        assert_eq!(cluster.members(), &k[..7]);
        assert_eq!(cluster.hash(), chain.genesis().hash(), "the genesis hash");
        assert_eq!(chain.members(3), k[2..7].to_vec());
        assert_eq!(chain.known(), k.iter().cloned().collect());
        assert_eq!(chain.address_of(&k[2]), Some("10.0.0.3:1"));
        // A genesis epoch, a duplicate, a conflict: the lowest digest wins everywhere.
        assert_eq!(chain.add(op(9), proposal(1, &k[..4], "x")), Added::Genesis);
        assert_eq!(chain.add(op(2), p2.clone()), Added::Duplicate);
        let rival = proposal(2, &k[..5], "rival");
        assert_eq!(chain.add(op(8), rival.clone()), Added::Conflict);
        assert_eq!(chain.conflicts(), vec![2]);
        let winner = if rival.digest() < p2.digest() {
            &rival
        } else {
            &p2
        };
        assert_eq!(chain.committee(2).unwrap().members, winner.members);
        let mut other = Chain::new(chain.genesis().clone());
        other.add(op(8), rival);
        other.add(op(3), p3);
        other.add(op(2), p2);
        assert_eq!(other.committee(2), chain.committee(2));
    }
}
