//! The operator of the `governance` scenario, and the governance invariants judged on every
//! honest member's final ledger, independently of the protocol's own counting: certificates
//! verified here under the group key, committees compared with what the operator asked.

use super::{
    checks::Member,
    observer::CheckpointObserver,
    plan::{ChangeKind, ChangePlan, GovernanceLiar, GovernanceMisbehaviour, RETRY_MS},
};
use crate::{
    invariant::{Checks, Invariant},
    trace::Sink,
    world::micros,
};
use cohort_protocol::{
    PublicKey,
    committee::{CERTIFICATE_NAMESPACE, CommitteeProposal, Refusal, output_digest},
    dkg::{self, wire::Variant},
    governance::{self, Change},
    ledger::{self, OpId, OpKind, dag::GroupKey},
    vote::tally,
};
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::deal_anonymous,
    primitives::{ops, sharing::Mode},
};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock as _, deterministic};
use commonware_utils::N3f1;
use rand::{RngExt as _, SeedableRng as _};
use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// The slot of a member's current governance mailbox.
pub type Slot = Arc<Mutex<Option<governance::Mailbox>>>;

/// The address the simulator gives node `i` (the network is keyed by public keys; the address
/// is what a proposal carries for a newcomer).
pub fn address(i: usize) -> String {
    format!("sim-node-{i}:9000")
}

/// `change` in keys (`keys[i]` is node `i`; the outsider is the last).
fn to_change(change: &ChangeKind, keys: &[PublicKey]) -> Change {
    match *change {
        ChangeKind::Add { node } => Change::Add {
            key: keys[node].clone(),
            address: Some(address(node)),
        },
        ChangeKind::Remove { node } => Change::Remove {
            key: keys[node].clone(),
        },
        ChangeKind::Replace { old, new } => Change::Replace {
            old: keys[old].clone(),
            new: keys[new].clone(),
            address: Some(address(new)),
        },
        ChangeKind::Reshare => Change::Reshare,
    }
}

/// The committee the operator asks for: `committee` (ascending) with `change` applied.
pub fn expected(
    committee: &[PublicKey],
    change: &ChangeKind,
    keys: &[PublicKey],
) -> Vec<PublicKey> {
    let mut members = committee.to_vec();
    match *change {
        ChangeKind::Add { node } => members.push(keys[node].clone()),
        ChangeKind::Remove { node } => members.retain(|k| *k != keys[node]),
        ChangeKind::Replace { old, new } => {
            members.retain(|k| *k != keys[old]);
            members.push(keys[new].clone());
        }
        ChangeKind::Reshare => {}
    }
    members.sort();
    members
}

/// Whether the member could not take the change *yet* (the operator asks again later).
fn retry(error: &governance::Error) -> bool {
    matches!(
        error,
        governance::Error::Closed
            | governance::Error::NotReady(_)
            | governance::Error::Ledger(_)
            | governance::Error::Refused(Refusal::NoLiveQuorum { .. })
    )
}

/// Plays the operator: at each change's time, asks its member, again every [`RETRY_MS`] while
/// the member cannot take it yet. Each answer is a harness event of the trace.
pub async fn operator(
    context: deterministic::Context,
    start: SystemTime,
    changes: Vec<ChangePlan>,
    slots: Vec<Slot>,
    keys: Vec<PublicKey>,
    sink: Arc<Mutex<Sink>>,
) {
    for plan in changes {
        context
            .sleep_until(start + Duration::from_millis(plan.at_ms))
            .await;
        loop {
            let mailbox = slots[plan.by].lock().expect("governance slot").clone();
            let result = match mailbox {
                Some(mut mailbox) => {
                    mailbox
                        .propose(
                            to_change(&plan.change, &keys),
                            format!("operator: {:?}", plan.change),
                        )
                        .await
                }
                None => Err(governance::Error::Closed),
            };
            // Another member's proposal is open (a liar's, say): ask again later, unless it is
            // this member's own (an answer lost to a crash).
            let current = slots[plan.by].lock().expect("slot").clone();
            let own_open = match (&result, current) {
                (Err(governance::Error::Open { .. }), Some(mut mailbox)) => mailbox
                    .status()
                    .await
                    .map(|s| s.proposals.iter().any(|p| p.author == keys[plan.by]))
                    .unwrap_or(false),
                _ => false,
            };
            let t_us = micros(context.current());
            let (name, detail, again) = match &result {
                Ok(p) => (
                    "operator_proposed",
                    format!(
                        "epoch={} digest={}",
                        p.proposal.epoch,
                        commonware_formatting::hex(&p.digest[..8])
                    ),
                    false,
                ),
                Err(error @ governance::Error::Open { .. }) => {
                    ("operator_refused", error.to_string(), !own_open)
                }
                Err(error) => ("operator_refused", error.to_string(), retry(error)),
            };
            sink.lock()
                .expect("sink")
                .record_harness(t_us, plan.by as u32, name, detail);
            if !again {
                break;
            }
            context.sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }
}

/// The committee proposals and certificates of one ledger: each certified epoch's proposals
/// (by `Propose` op), each voter's approvals per epoch.
struct Governance<'a> {
    certified: BTreeMap<u64, BTreeSet<OpId>>,
    proposals: BTreeMap<OpId, &'a CommitteeProposal>,
    approvals: BTreeMap<(PublicKey, u64), BTreeSet<OpId>>,
}

/// Checks `one-committee-per-epoch` and `committee-change-certified` over the honest members'
/// final ledgers `held`: `genesis` is epoch 0's committee, `honest` the keys of honest members,
/// `changes` what the operator asked, `keys` every node's key (the outsider's last).
pub fn check_governance(
    held: &[Member],
    key: Option<&GroupKey>,
    genesis: &[PublicKey],
    honest: &BTreeSet<PublicKey>,
    changes: &[ChangePlan],
    keys: &[PublicKey],
    checks: &mut Checks,
) -> (String, Vec<Vec<PublicKey>>) {
    let Some(key) = key else {
        checks.fail(
            Invariant::OneCommitteePerEpoch,
            "no member traced a group key: the DKG did not finish",
        );
        return (String::new(), vec![genesis.to_vec()]);
    };
    // The committees of the first ledger's chain, epoch 0 first.
    let mut committees = vec![genesis.to_vec()];
    let mut chains: Vec<(usize, BTreeMap<u64, OpId>)> = Vec::new();
    let mut votes = 0;
    for member in held {
        let mut g = Governance {
            certified: BTreeMap::new(),
            proposals: BTreeMap::new(),
            approvals: BTreeMap::new(),
        };
        for op in &member.ops {
            if let OpKind::Propose(p) = &op.op().kind {
                g.proposals.insert(op.id(), p);
            }
        }
        for op in &member.ops {
            match &op.op().kind {
                OpKind::Certify {
                    proposal,
                    signature,
                } => {
                    let Some(p) = g.proposals.get(proposal) else {
                        checks.fail(
                            Invariant::OneCommitteePerEpoch,
                            format!(
                                "node {} holds a certificate of a proposal it lacks",
                                member.node
                            ),
                        );
                        continue;
                    };
                    if !tally::verify(key, CERTIFICATE_NAMESPACE, &p.digest(), signature) {
                        checks.fail(
                            Invariant::OneCommitteePerEpoch,
                            format!(
                                "node {} holds a committee certificate for epoch {} that does not verify",
                                member.node, p.epoch
                            ),
                        );
                        continue;
                    }
                    g.certified.entry(p.epoch).or_default().insert(*proposal);
                }
                OpKind::Vote { proposal, .. } => {
                    votes += 1;
                    if let Some(p) = g.proposals.get(proposal) {
                        let author = &op.op().author[..];
                        if let Some(voter) = keys.iter().find(|k| k.as_ref() == author) {
                            g.approvals
                                .entry((voter.clone(), p.epoch))
                                .or_default()
                                .insert(*proposal);
                        }
                    }
                }
                _ => {}
            }
        }
        for ((voter, epoch), approved) in &g.approvals {
            if approved.len() > 1 && honest.contains(voter) {
                checks.fail(
                    Invariant::OneCommitteePerEpoch,
                    format!(
                        "honest {voter} approved {} proposals for epoch {epoch} (node {}'s ledger)",
                        approved.len(),
                        member.node
                    ),
                );
            }
        }
        let mut chain = BTreeMap::new();
        for (epoch, certified) in &g.certified {
            if certified.len() > 1 {
                checks.fail(
                    Invariant::OneCommitteePerEpoch,
                    format!(
                        "node {} holds {} certified committees for epoch {epoch}",
                        member.node,
                        certified.len()
                    ),
                );
            }
            chain.insert(*epoch, *certified.iter().next().expect("non-empty"));
        }
        // What the operator asked, applied in order from the genesis committee.
        let mut committee = genesis.to_vec();
        for (i, change) in changes.iter().enumerate() {
            let epoch = i as u64 + 1;
            let wanted = expected(&committee, &change.change, keys);
            match chain.get(&epoch).and_then(|op| g.proposals.get(op)) {
                Some(p) if p.members == wanted => {}
                Some(p) => checks.fail(
                    Invariant::CommitteeChangeCertified,
                    format!(
                        "node {} certified for epoch {epoch} a committee of {} members, not the {} the operator asked for",
                        member.node,
                        p.members.len(),
                        wanted.len()
                    ),
                ),
                None => checks.fail(
                    Invariant::CommitteeChangeCertified,
                    format!(
                        "node {} holds no certified committee for epoch {epoch} at the end",
                        member.node
                    ),
                ),
            }
            committee = wanted;
        }
        if chains.is_empty() {
            for op in chain.values() {
                if let Some(p) = g.proposals.get(op) {
                    committees.push(p.members.clone());
                }
            }
        }
        chains.push((member.node, chain));
    }
    if chains.windows(2).any(|w| w[0].1 != w[1].1) {
        let sizes: Vec<(usize, usize)> = chains.iter().map(|(n, c)| (*n, c.len())).collect();
        checks.fail(
            Invariant::OneCommitteePerEpoch,
            format!("members hold different committee chains (node, epochs): {sizes:?}"),
        );
    }
    let note = format!(
        "governance: {} certified epochs, {} vote ops per ledger",
        chains.first().map_or(0, |(_, c)| c.len()),
        votes / held.len().max(1)
    );
    (note, committees)
}

/// Checks the reshares the certified committees called for: every honest node finished the
/// last epoch `committees` defines (`dkg-completes`), with the group key of epoch 0
/// (`key-unchanged-by-reshare`), holding a share exactly when it is in that epoch's committee
/// (`shares-follow-committee`). `committees` are the epochs' committees, epoch 0 first;
/// `nodes` the honest nodes' indices and keys.
pub fn check_reshares(
    observations: &CheckpointObserver,
    committees: &[Vec<PublicKey>],
    nodes: &[(usize, PublicKey)],
    checks: &mut Checks,
) {
    let last = committees.len().saturating_sub(1) as u64;
    let Some(key) = nodes.iter().find_map(|(i, _)| {
        observations
            .completions
            .get(&(*i as u32))
            .and_then(|c| c.get(&0))
            .map(|(k, _)| k.clone())
    }) else {
        checks.fail(Invariant::DkgCompletes, "no honest node finished epoch 0");
        return;
    };
    for (i, member) in nodes {
        let done = observations.completions.get(&(*i as u32));
        for (epoch, (other, _)) in done.into_iter().flatten() {
            if *other != key {
                checks.fail(
                    Invariant::KeyUnchangedByReshare,
                    format!("node {i} finished epoch {epoch} with group key {other}, not {key}"),
                );
            }
        }
        match done.and_then(|d| d.get(&last)) {
            None => checks.fail(
                Invariant::DkgCompletes,
                format!("node {i} never finished epoch {last}, the last the chain certified"),
            ),
            Some((_, share)) => {
                let player = committees[last as usize].contains(member);
                if *share != player {
                    checks.fail(
                        Invariant::SharesFollowCommittee,
                        format!(
                            "node {i} (in epoch {last}'s committee: {player}) holds a share: {share}"
                        ),
                    );
                }
            }
        }
    }
}

/// `key-recovered` (`dkg-disk-loss`): node `lost`, whose DKG journal was lost, traced the epoch
/// it held as finished without its share, and ends the last certified epoch (a later one) with
/// a share and the group key of epoch 0.
pub fn check_key_recovered(
    lost: usize,
    observations: &CheckpointObserver,
    last: Option<&dkg::Completed>,
    committees: &[Vec<PublicKey>],
    checks: &mut Checks,
) -> String {
    let node = lost as u32;
    let lost_epochs = observations.share_lost.get(&node);
    let Some(&lost_epoch) = lost_epochs.and_then(|e| e.iter().next()) else {
        checks.fail(
            Invariant::KeyRecovered,
            format!(
                "node {lost} lost its DKG journal but never finished an epoch without its share"
            ),
        );
        return format!("node {lost}: no share lost traced");
    };
    let last_epoch = committees.len().saturating_sub(1) as u64;
    let epoch0_key = observations
        .completions
        .values()
        .find_map(|c| c.get(&0))
        .map(|(k, _)| k.clone());
    match last {
        Some(c) if c.epoch > lost_epoch && c.share.is_some() => {
            if Some(c.group_key_hex()) != epoch0_key {
                checks.fail(
                    Invariant::KeyRecovered,
                    format!("node {lost} recovered a share of another group key"),
                );
            }
        }
        Some(c) => checks.fail(
            Invariant::KeyRecovered,
            format!(
                "node {lost} lost its share in epoch {lost_epoch} and ends epoch {} (last certified {last_epoch}) with a share: {}",
                c.epoch,
                c.share.is_some()
            ),
        ),
        None => checks.fail(
            Invariant::KeyRecovered,
            format!("node {lost} ends without a DKG result"),
        ),
    }
    format!("node {lost}: share lost in epoch {lost_epoch}, recovered by epoch {last_epoch}")
}

/// The removed member of a change (a removal, or the old member of a replacement).
pub fn removed(change: &ChangeKind) -> Option<usize> {
    match *change {
        ChangeKind::Remove { node } | ChangeKind::Replace { old: node, .. } => Some(node),
        ChangeKind::Add { .. } | ChangeKind::Reshare => None,
    }
}

/// `removed-member-cannot-sign`: the member a change removed holds no share of the last epoch,
/// and its epoch 0 partial signature does not combine with `t - 1` partials of the last
/// epoch's shares into a signature that verifies under the group key (while `t` of them do:
/// the check is not vacuous). `first` is each node's epoch 0 result, `last` each node's final
/// one.
pub fn check_removed(
    removed: usize,
    first: &BTreeMap<usize, dkg::Completed>,
    last: &BTreeMap<usize, dkg::Completed>,
    checks: &mut Checks,
) -> Option<String> {
    let old = first.get(&removed)?;
    let old_share = old.share.as_ref()?;
    let (_, newest) = last.iter().max_by_key(|(_, c)| c.epoch)?;
    if newest.epoch == old.epoch {
        return None;
    }
    if last.get(&removed).is_some_and(|c| c.share.is_some()) {
        checks.fail(
            Invariant::RemovedMemberCannotSign,
            format!("removed node {removed} still holds a share after the reshare"),
        );
    }
    let message = b"removed-member-cannot-sign";
    let namespace = CERTIFICATE_NAMESPACE;
    let sharing = newest.output.public();
    let required = sharing.required() as usize;
    let partials: Vec<_> = last
        .iter()
        .filter(|(i, c)| **i != removed && c.epoch == newest.epoch)
        .filter_map(|(_, c)| c.share.as_ref())
        .map(|share| ops::threshold::sign_message::<Variant>(share, namespace, message))
        .collect();
    if partials.len() + 1 < required {
        return None;
    }
    let stale = ops::threshold::sign_message::<Variant>(old_share, namespace, message);
    let mixed: Vec<_> = partials[..required - 1]
        .iter()
        .cloned()
        .chain([stale])
        .collect();
    let key = sharing.public();
    let combined = ops::threshold::recover::<Variant, _>(sharing, mixed.iter(), &Sequential)
        .ok()
        .is_some_and(|signature| tally::verify(key, namespace, message, &signature));
    if combined {
        checks.fail(
            Invariant::RemovedMemberCannotSign,
            format!(
                "removed node {removed}'s epoch {} partial combined with {} partials of epoch {} into a valid signature",
                old.epoch,
                required - 1,
                newest.epoch
            ),
        );
    }
    let honest_only = partials.len() >= required
        && ops::threshold::recover::<Variant, _>(sharing, partials[..required].iter(), &Sequential)
            .ok()
            .is_some_and(|signature| tally::verify(key, namespace, message, &signature));
    Some(format!(
        "removed node {removed}: its old partial with {} new ones verifies: {combined}; {required} new ones verify: {honest_only}",
        required - 1
    ))
}

/// Plays the governance liar (see [`GovernanceMisbehaviour`]) through the liar node's own
/// ledger, around the operator's change at `at_ms`; what it did is a harness event, and
/// `appended_flag` says whether it got its ops into its ledger.
#[allow(clippy::too_many_arguments)]
pub async fn liar(
    context: deterministic::Context,
    start: SystemTime,
    liar: GovernanceLiar,
    at_ms: u64,
    ledger: Arc<Mutex<Option<ledger::Mailbox>>>,
    keys: dkg::Keys,
    me: PublicKey,
    sink: Arc<Mutex<Sink>>,
    appended_flag: Arc<Mutex<bool>>,
) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(liar.seed);
    let early = match liar.misbehaviour {
        GovernanceMisbehaviour::BadVotes => at_ms,
        _ => at_ms.saturating_sub(3_000),
    };
    context
        .sleep_until(start + Duration::from_millis(early))
        .await;
    for _ in 0..120 {
        let mailbox = ledger.lock().expect("ledger slot").clone();
        let (Some(mut mailbox), Some(completed)) = (mailbox, keys.current()) else {
            context.sleep(Duration::from_secs(1)).await;
            continue;
        };
        let Ok(gov) = mailbox.governance(Duration::from_secs(60)).await else {
            context.sleep(Duration::from_secs(1)).await;
            continue;
        };
        let epoch = completed.epoch;
        let Some(committee) = gov.chain.committee(epoch) else {
            return;
        };
        if !gov.boot_recovered || gov.chain.last_epoch() != epoch {
            context.sleep(Duration::from_secs(1)).await;
            continue;
        }
        let previous = output_digest(completed.round, &completed.output);
        let others: Vec<PublicKey> = committee
            .members
            .iter()
            .filter(|k| **k != me)
            .cloned()
            .collect();
        let without = |k: &PublicKey| -> Vec<PublicKey> {
            committee
                .members
                .iter()
                .filter(|m| *m != k)
                .cloned()
                .collect()
        };
        let kinds: Vec<OpKind> = match liar.misbehaviour {
            GovernanceMisbehaviour::Equivocate => {
                let a = rng.random_range(0..others.len());
                let b = (a + 1 + rng.random_range(0..others.len() - 1)) % others.len();
                [a, b]
                    .iter()
                    .filter_map(|i| {
                        CommitteeProposal::new(
                            epoch + 1,
                            without(&others[*i]),
                            Vec::new(),
                            format!("liar: remove {i}"),
                            previous,
                        )
                        .ok()
                    })
                    .map(|p| OpKind::Propose(Box::new(p)))
                    .collect()
            }
            GovernanceMisbehaviour::BadProposal => {
                let proposal = match rng.random_range(0..2u8) {
                    // Down to three members: below the safe size.
                    0 => CommitteeProposal::new(
                        epoch + 1,
                        committee.members.iter().take(3).cloned().collect(),
                        Vec::new(),
                        "liar: too small".into(),
                        previous,
                    ),
                    // Resharing an output nobody holds.
                    _ => CommitteeProposal::new(
                        epoch + 1,
                        without(&others[0]),
                        Vec::new(),
                        "liar: wrong output".into(),
                        [0xAB; 32],
                    ),
                };
                proposal
                    .ok()
                    .map(|p| OpKind::Propose(Box::new(p)))
                    .into_iter()
                    .collect()
            }
            GovernanceMisbehaviour::BadVotes => {
                let Some(target) = gov
                    .proposals
                    .iter()
                    .find(|p| p.proposal.epoch == epoch + 1 && p.author != me)
                else {
                    context.sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let Some(share) = completed.share.clone() else {
                    return;
                };
                let players = completed.output.players().len() as u32;
                let (_, foreign) = deal_anonymous::<Variant, N3f1>(
                    rand_chacha::ChaCha8Rng::seed_from_u64(liar.seed),
                    Mode::NonZeroCounter,
                    NonZeroU32::new(players.max(1)).expect("non-zero"),
                );
                let digest = target.proposal.digest();
                let forged = foreign.iter().find(|s| s.index == share.index).map(|s| {
                    ops::threshold::sign_message::<Variant>(s, CERTIFICATE_NAMESPACE, &digest)
                });
                let elsewhere = ops::threshold::sign_message::<Variant>(
                    &share,
                    CERTIFICATE_NAMESPACE,
                    &[0xAA; 32],
                );
                forged
                    .into_iter()
                    .chain([elsewhere])
                    .map(|partial| OpKind::Vote {
                        proposal: target.op,
                        partial: Box::new(partial),
                    })
                    .collect()
            }
        };
        let mut appended = 0;
        for kind in kinds {
            if mailbox.append_governance(kind).await.is_ok() {
                appended += 1;
            }
        }
        *appended_flag.lock().expect("flag") = appended > 0;
        let t_us = micros(context.current());
        sink.lock().expect("sink").record_harness(
            t_us,
            liar.node as u32,
            "governance_liar",
            format!("{:?} ops={appended}", liar.misbehaviour),
        );
        return;
    }
}

/// `governance-liar-refused`: an honest member refused the liar's hostile governance ops with
/// the reason they prove (`refused`: per author, each reason and the nodes that traced it), when
/// the liar got to append them (`appended`).
pub fn check_liar(
    liar: &GovernanceLiar,
    key: &PublicKey,
    refused: &BTreeMap<PublicKey, BTreeMap<&'static str, BTreeSet<u32>>>,
    appended: bool,
    checks: &mut Checks,
) -> String {
    // What the honest members refused (the liar's own actor refuses its lies too).
    let reasons: Option<BTreeMap<&str, BTreeSet<u32>>> = refused.get(key).map(|r| {
        r.iter()
            .map(|(reason, nodes)| {
                let honest = nodes.iter().filter(|n| **n as usize != liar.node).copied();
                (*reason, honest.collect::<BTreeSet<u32>>())
            })
            .filter(|(_, nodes)| !nodes.is_empty())
            .collect()
    });
    let reasons = reasons.as_ref();
    let expected: &[&str] = match liar.misbehaviour {
        GovernanceMisbehaviour::Equivocate => &["author_equivocated"],
        GovernanceMisbehaviour::BadVotes => &["invalid_partial"],
        GovernanceMisbehaviour::BadProposal => &["below_safe_size", "wrong_previous"],
    };
    let seen = reasons.is_some_and(|r| expected.iter().any(|e| r.contains_key(e)));
    if appended && !seen {
        checks.fail(
            Invariant::GovernanceLiarRefused,
            format!(
                "no honest member refused governance liar node {} ({:?}) for {expected:?}; refusals: {reasons:?}",
                liar.node, liar.misbehaviour
            ),
        );
    }
    format!(
        "governance liar node {} {:?}: appended={appended} refused={:?}",
        liar.node, liar.misbehaviour, reasons
    )
}

/// Old shares are erased from the disk: in every honest node's DKG journal (read once the node
/// stopped) only the round of its latest output may hold a share (`shares-follow-committee`),
/// and a member the last committee leaves out holds none at all (`removed-member-cannot-sign`).
/// `committees` are the epochs' committees, epoch 0 first; `members` every node's key.
pub fn check_journals(
    journals: &BTreeMap<usize, BTreeMap<u64, dkg::StoredRound>>,
    committees: &[Vec<PublicKey>],
    members: &[PublicKey],
    checks: &mut Checks,
) {
    let last = committees.last();
    for (node, rounds) in journals {
        let Some(latest) = rounds
            .iter()
            .filter(|(_, r)| r.output)
            .map(|(round, _)| *round)
            .max()
        else {
            continue;
        };
        let old: Vec<u64> = rounds
            .iter()
            .filter(|(round, r)| r.share && **round < latest)
            .map(|(round, _)| *round)
            .collect();
        if !old.is_empty() {
            checks.fail(
                Invariant::SharesFollowCommittee,
                format!("node {node}'s DKG journal still holds the shares of rounds {old:?} (latest {latest})"),
            );
        }
        let player = last.is_none_or(|c| c.contains(&members[*node]));
        if !player && rounds.values().any(|r| r.share) {
            checks.fail(
                Invariant::RemovedMemberCannotSign,
                format!("removed node {node}'s DKG journal still holds a share"),
            );
        }
    }
}

/// `joiner-catches-up` (`join`, `replace-dead`): the joiner, started with only the genesis
/// definition, ends with the honest members' ledger (the same digest), authored ops in it (it
/// was admitted), finished the last certified epoch with the group key and a share exactly
/// when that epoch's committee lists it, and no honest node refused or blocked it for anything
/// but not listing it yet (those drops are counted in the note).
#[allow(clippy::too_many_arguments)]
pub fn check_joiner<X>(
    joiner: usize,
    key: &PublicKey,
    statuses: &[(usize, ledger::Status, X)],
    held: &[Member],
    last: Option<&dkg::Completed>,
    committees: &[Vec<PublicKey>],
    observations: &CheckpointObserver,
    checks: &mut Checks,
) -> String {
    let fail = |checks: &mut Checks, detail: String| {
        checks.fail(
            Invariant::JoinerCatchesUp,
            format!("joiner node {joiner}: {detail}"),
        )
    };
    let digest = |node: usize| {
        statuses
            .iter()
            .find(|(n, _, _)| *n == node)
            .map(|(_, s, _)| s.digest)
    };
    let mine = digest(joiner);
    match mine {
        None => fail(checks, "not running at the end".into()),
        Some(mine) => {
            if let Some((other, _, _)) = statuses
                .iter()
                .find(|(n, s, _)| *n != joiner && s.digest != mine)
            {
                fail(checks, format!("its ledger differs from node {other}'s"));
            }
        }
    }
    let authored = held.iter().find(|m| m.node == joiner).map_or(0, |m| {
        m.ops
            .iter()
            .filter(|o| o.op().author[..] == key.as_ref()[..])
            .count()
    });
    if authored == 0 {
        fail(
            checks,
            "authored no op: never admitted as a ledger author".into(),
        );
    }
    let epoch = committees.len().saturating_sub(1) as u64;
    let member = committees.last().is_some_and(|c| c.contains(key));
    match last {
        None => fail(checks, "finished no DKG epoch".into()),
        Some(c) if c.epoch != epoch => fail(
            checks,
            format!(
                "finished epoch {}, not {epoch}, the last certified",
                c.epoch
            ),
        ),
        Some(c) if c.share.is_some() != member => fail(
            checks,
            format!(
                "in epoch {epoch}'s committee: {member}, holds a share: {}",
                c.share.is_some()
            ),
        ),
        Some(_) => {}
    }
    let refused: Vec<_> = observations
        .refused
        .iter()
        .filter(|((_, peer), _)| peer == key)
        .collect();
    if !refused.is_empty() {
        fail(checks, format!("refused by honest nodes: {refused:?}"));
    }
    format!(
        "joiner node {joiner}: {authored} ops authored, share in epoch {epoch}: {}, {} inputs dropped before its admission was known",
        last.is_some_and(|c| c.share.is_some()),
        observations.catch_up.get(key).copied().unwrap_or(0)
    )
}
