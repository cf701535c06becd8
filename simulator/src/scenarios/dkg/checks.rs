//! The DKG's checks after a run that are more than a line: `dkg-absent`'s, `reshare`'s,
//! `dkg-byzantine`'s and `barrier-repair`'s (see the family's docs).

use super::{
    byzantine::{Byzantine, Misbehaviour},
    observer::DkgObserver,
    plan::ABSENT_PHASE_TIMEOUT,
};
use crate::{
    invariant::{Checks, Invariant},
    plan::CorePlan,
};
use cohort_protocol::PublicKey;
use std::{collections::BTreeMap, time::Duration};

/// How late a missing member may be reported after a phase timeout ran out.
const REPORT_MARGIN: Duration = Duration::from_secs(2);
/// How long after its faults expired (or its repair) a repaired member may take to be seen
/// again: its new life's hellos and first syncs, over lossy links with retries.
pub const ADMIT_SLACK: Duration = Duration::from_secs(10);

/// `no-permanent-block` (`barrier-repair`): every repaired member is admitted again by every
/// honest peer that still runs by the deadline (see [`Invariant::NoPermanentBlock`]). A peer
/// that never started (`absent`) owes nothing; nor does one whose engine ended before its
/// deadline (it finished without the member, which `dkg-completes` judges), nor one whose
/// deadline is after `now_us` (the run stopped first: `no-hang` judges that).
pub fn check_repairs(
    plan: &CorePlan,
    now_us: u64,
    absent: &[usize],
    members: &[PublicKey],
    observations: &DkgObserver,
    checks: &mut Checks,
) {
    let expiry_us = plan.block_expiry().as_micros() as u64;
    let slack_us = ADMIT_SLACK.as_micros() as u64;
    for repair in &plan.repairs {
        let key = &members[repair.node];
        let Some(&repaired_us) = observations.repaired_us.get(&(repair.node as u32)) else {
            checks.fail(
                Invariant::NoPermanentBlock,
                format!("node {} was never repaired", repair.node),
            );
            continue;
        };
        for peer in (0..plan.nodes).filter(|p| *p != repair.node && !absent.contains(p)) {
            let spans = observations
                .fault_spans
                .get(&(peer as u32, key.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let last_fault = spans.last();
            let from_us = repaired_us.max(last_fault.map_or(0, |(at, _)| *at));
            let deadline_us = from_us + expiry_us + slack_us;
            if deadline_us > now_us
                || observations
                    .ended_us
                    .get(&(peer as u32))
                    .is_some_and(|ended| *ended < deadline_us)
            {
                continue;
            }
            let cleared_us = match last_fault {
                None => Some(0),
                Some((_, expired)) => *expired,
            };
            // Both ways: the peer saw the member's step, and the member the peer's (the peer
            // opened a session to it again; a closed one would leave the member deaf to it).
            let seen = |node: usize, of: &PublicKey| {
                observations
                    .sightings
                    .get(&(node as u32, of.clone()))
                    .and_then(|times| times.iter().find(|t| **t > repaired_us))
                    .copied()
            };
            let seen_us = seen(peer, key);
            let seen_back_us = seen(repair.node, &members[peer]);
            let admitted_us = cleared_us
                .zip(seen_us)
                .zip(seen_back_us)
                .map(|((c, s), b)| c.max(s).max(b));
            if admitted_us.is_none_or(|t| t > deadline_us) {
                checks.fail(
                    Invariant::NoPermanentBlock,
                    format!(
                        "node {peer} had not admitted repaired node {} by {deadline_us} us (repaired at {repaired_us} us, faults {spans:?}, its step first seen since at {seen_us:?} us, the peer's by it at {seen_back_us:?} us)",
                        repair.node
                    ),
                );
            }
        }
    }
}

/// `absent-reported` and `absent-waited-for` (see the module docs).
pub fn check_absence(
    plan: &CorePlan,
    members: &[PublicKey],
    start_us: u64,
    observations: &DkgObserver,
    checks: &mut Checks,
) {
    if plan.late_starts.len() <= (plan.nodes - 1) / 3 {
        // The other worlds of `dkg-absent`: up to f members that never start, or start after
        // the others finished (the others finish without them, and they from the others'
        // decision, which `dkg-completes` and `same-log-set` check).
        return;
    }
    let first_back_us = plan.late_starts.iter().map(|l| l.at_ms).min().unwrap_or(0) * 1000;
    let late: Vec<&PublicKey> = plan.late_starts.iter().map(|l| &members[l.node]).collect();
    let bound_us = (ABSENT_PHASE_TIMEOUT + REPORT_MARGIN).as_micros() as u64;
    for node in 0..plan.nodes {
        if plan.late_starts.iter().any(|l| l.node == node) {
            continue;
        }
        let reported = observations
            .waiting
            .get(&(node as u32))
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .find(|(_, missing)| missing.iter().any(|m| late.contains(&m)));
        match reported {
            None => checks.fail(
                Invariant::AbsentReported,
                format!("live node {node} never reported a late member missing"),
            ),
            Some((t_us, _)) => {
                let after = t_us.saturating_sub(start_us);
                if after > bound_us {
                    checks.fail(
                        Invariant::AbsentReported,
                        format!(
                            "live node {node} first reported a late member {after} us into the run (bound {bound_us} us)"
                        ),
                    );
                }
            }
        }
    }
    for (node, events) in &observations.completions {
        for (t_us, round) in events {
            if t_us.saturating_sub(start_us) < first_back_us {
                checks.fail(
                    Invariant::AbsentWaitedFor,
                    format!(
                        "node {node} finished round {round} {} us into the run, before the first late member started ({first_back_us} us)",
                        t_us.saturating_sub(start_us)
                    ),
                );
            }
        }
    }
}

/// `key-unchanged-by-reshare` and `shares-follow-committee` (see the module docs).
pub fn check_reshare(
    cluster: &cohort_protocol::Cluster,
    byzantine: Option<usize>,
    absent: &[usize],
    members: &[PublicKey],
    observations: &DkgObserver,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    checks: &mut Checks,
) {
    // Every epoch every node finished reported the key of the first epoch-0 finisher.
    // The liar, and members that never start, are left out.
    let honest = |node: u32| Some(node as usize) != byzantine && !absent.contains(&(node as usize));
    let Some(((first_node, _), key)) = observations
        .epoch_keys
        .iter()
        .find(|((n, e), _)| *e == 0 && honest(*n))
    else {
        checks.fail(
            Invariant::KeyUnchangedByReshare,
            "no node traced finishing epoch 0",
        );
        return;
    };
    for ((node, epoch), other) in &observations.epoch_keys {
        if honest(*node) && other != key {
            checks.fail(
                Invariant::KeyUnchangedByReshare,
                format!(
                    "node {node} finished epoch {epoch} with group key {other}, node {first_node} finished epoch 0 with {key}"
                ),
            );
        }
    }
    for node in (0..members.len() as u32).filter(|n| honest(*n)) {
        for epoch in 0..=cluster.last_epoch() {
            if !observations.epoch_keys.contains_key(&(node, epoch)) {
                checks.fail(
                    Invariant::DkgCompletes,
                    format!("node {node} never traced finishing epoch {epoch}"),
                );
            }
        }
    }
    let committee = cluster.committee(cluster.last_epoch()).unwrap_or_default();
    for (index, c) in completed {
        let player = committee.contains(&members[*index]);
        if c.share.is_some() != player {
            checks.fail(
                Invariant::SharesFollowCommittee,
                format!(
                    "node {index} (in the last committee: {player}) holds a share: {}",
                    c.share.is_some()
                ),
            );
        }
    }
}

/// `misbehaviour-detected` and `honest-never-muted` (see the module docs).
pub fn check_byzantine(
    byzantine: &Byzantine,
    plan: &CorePlan,
    cluster: &cohort_protocol::Cluster,
    members: &[PublicKey],
    observations: &DkgObserver,
    checks: &mut Checks,
) {
    let liar = &members[byzantine.node];
    // Rounds go on with a quorum, so a victim that was down (or the liar, down) may never have
    // been sent the lie; and a lie about dealings reaches players only, one about acks dealers.
    let crashed = |node: usize| {
        plan.crashes.iter().any(|c| c.node == node)
            || plan.point_crashes.iter().any(|c| c.node == node)
    };
    let last = cluster.last_epoch();
    let dealers: Vec<PublicKey> = (0..=last.saturating_sub(1))
        .flat_map(|e| cluster.committee(e).unwrap_or_default().iter().cloned())
        .collect();
    let players: Vec<PublicKey> = (0..=last)
        .flat_map(|e| cluster.committee(e).unwrap_or_default().iter().cloned())
        .collect();
    let reachable = |victim: usize| {
        let key = &members[victim];
        !crashed(victim)
            && !crashed(byzantine.node)
            && match byzantine.misbehaviour {
                Misbehaviour::BadShares | Misbehaviour::TwoDealings => players.contains(key),
                Misbehaviour::WrongAck => dealers.contains(key),
                _ => true,
            }
    };
    // What each victim must have refused from the liar (two dealings are each valid alone: the
    // victims cannot tell, the liar's log settles it).
    let expected = match byzantine.misbehaviour {
        Misbehaviour::BadShares => Some("invalid dealing"),
        Misbehaviour::WrongAck => Some("invalid ack"),
        Misbehaviour::Garbage => Some("undecodable"),
        Misbehaviour::BadHello => Some("cluster"),
        Misbehaviour::TwoDealings
        | Misbehaviour::TwoLogs
        | Misbehaviour::LateLog
        | Misbehaviour::PartialLog => None,
    };
    if let Some(expected) = expected {
        for victim in byzantine.victims.iter().filter(|v| reachable(**v)) {
            let refused = observations
                .refused
                .get(&(*victim as u32, liar.clone()))
                .is_some_and(|reasons| reasons.iter().any(|r| r.contains(expected)))
                // A refused hello: whichever side's hello went first, the victim's barrier
                // holds the liar faulty.
                || (byzantine.misbehaviour == Misbehaviour::BadHello
                    && observations
                        .faulty
                        .get(&(*victim as u32))
                        .is_some_and(|peers| peers.contains(liar)));
            if !refused {
                checks.fail(
                    Invariant::MisbehaviourDetected,
                    format!(
                        "victim node {victim} never refused an input of byzantine node {} as {expected:?}",
                        byzantine.node
                    ),
                );
            }
        }
    }
    for ((node, peer), reasons) in &observations.refused {
        if *node as usize == byzantine.node || peer == liar {
            continue;
        }
        if let Some(reason) = reasons.iter().find(|r| r.contains("muted")) {
            checks.fail(
                Invariant::HonestNeverMuted,
                format!("node {node} muted honest member {peer}: {reason}"),
            );
        }
    }
}

/// `same-log-set` and `equivocating-dealer-excluded` over the honest members (see the module
/// docs): every honest member decided the same in every round, and finalized a round over the
/// same dealers; no honest member voted for a fresh set with a dealer it had proved to sign two
/// logs, and a dealer every honest member had proved so before the round's first honest vote is
/// in no decided set.
pub fn check_log_sets(
    cluster: &cohort_protocol::Cluster,
    byzantine: Option<usize>,
    observations: &DkgObserver,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    checks: &mut Checks,
) {
    let honest = |node: u32| Some(node as usize) != byzantine;
    // Every round's decision, the same at every honest member.
    let mut decided: BTreeMap<u64, (u32, &String)> = BTreeMap::new();
    for ((node, round), choice) in &observations.decided {
        if !honest(*node) {
            continue;
        }
        match decided.get(round) {
            Some((first, other)) if *other != choice => checks.fail(
                Invariant::SameLogSet,
                format!(
                    "in round {round} node {node} decided {choice:?}, node {first} decided {other:?}"
                ),
            ),
            Some(_) => {}
            None => {
                decided.insert(*round, (*node, choice));
            }
        }
    }
    if let Some((first, reference)) = completed.first() {
        let names = |c: &cohort_protocol::dkg::Completed| -> Vec<String> {
            c.output.dealers().iter().map(|k| k.to_string()).collect()
        };
        for (index, c) in completed {
            if (c.epoch, c.round) == (reference.epoch, reference.round)
                && c.output.dealers() != reference.output.dealers()
            {
                checks.fail(
                    Invariant::SameLogSet,
                    format!(
                        "node {index} finalized round {} over dealers {:?}, node {first} over {:?}",
                        c.round,
                        names(c),
                        names(reference)
                    ),
                );
            }
        }
    }
    if !checks.covers(Invariant::EquivocatingDealerExcluded) {
        return;
    }
    // The dealers of a round, by index: those of the epoch it belongs to (rounds up to an
    // epoch's final round are that epoch's).
    let finals: BTreeMap<u64, u64> = completed.iter().map(|(_, c)| (c.epoch, c.round)).collect();
    let dealers_of = |round: u64| -> Vec<PublicKey> {
        let epoch = finals
            .iter()
            .find(|(_, last)| round <= **last)
            .map_or(cluster.last_epoch(), |(e, _)| *e);
        let committee = cluster
            .committee(epoch.saturating_sub(1))
            .unwrap_or_default();
        let mut dealers = committee.to_vec();
        dealers.sort();
        dealers.dedup();
        dealers
    };
    let listed = |choice: &str| -> Vec<usize> {
        choice
            .strip_prefix("logs ")
            .map(|list| list.split(',').filter_map(|d| d.parse().ok()).collect())
            .unwrap_or_default()
    };
    // When each honest node proved each dealer of each round to equivocate.
    let mut proved: BTreeMap<(u64, PublicKey), BTreeMap<u32, u64>> = BTreeMap::new();
    for (node, t_us, round, dealer) in &observations.equivocation_times {
        if honest(*node) {
            proved
                .entry((*round, dealer.clone()))
                .or_default()
                .entry(*node)
                .or_insert(*t_us);
        }
    }
    let mut first_vote: BTreeMap<u64, u64> = BTreeMap::new();
    for vote in observations.votes.iter().filter(|v| honest(v.node)) {
        first_vote.entry(vote.round).or_insert(vote.t_us);
        if vote.justified {
            continue;
        }
        let dealers = dealers_of(vote.round);
        for index in listed(&vote.choice) {
            let Some(dealer) = dealers.get(index) else {
                continue;
            };
            let known = proved
                .get(&(vote.round, dealer.clone()))
                .and_then(|by| by.get(&vote.node))
                .is_some_and(|t| *t < vote.t_us);
            if known {
                checks.fail(
                    Invariant::EquivocatingDealerExcluded,
                    format!(
                        "node {} voted in round {} for a set with dealer {dealer}, which it had proved to sign two logs",
                        vote.node, vote.round
                    ),
                );
            }
        }
    }
    let honest_count = (0..cluster.members().len() as u32)
        .filter(|n| honest(*n))
        .count();
    for ((round, dealer), by) in &proved {
        let Some(first) = first_vote.get(round) else {
            continue;
        };
        let everyone_before = by.len() == honest_count && by.values().all(|t| t < first);
        let Some((_, choice)) = decided.get(round) else {
            continue;
        };
        let index = dealers_of(*round).iter().position(|d| d == dealer);
        if everyone_before && index.is_some_and(|i| listed(choice).contains(&i)) {
            checks.fail(
                Invariant::EquivocatingDealerExcluded,
                format!(
                    "round {round} decided a set with dealer {dealer}, which every honest member had proved to sign two logs before voting"
                ),
            );
        }
    }
}
