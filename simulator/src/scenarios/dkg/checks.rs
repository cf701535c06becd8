//! The DKG's checks after a run that are more than a line: `dkg-absent`'s, `reshare`'s and
//! `dkg-byzantine`'s (see the family's docs).

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
use std::time::Duration;

/// How late an attempt's failure may be reported after its phase timeout ran out.
const FAILURE_MARGIN: Duration = Duration::from_secs(2);

/// `absent-attempt-fails` and `absent-later-attempt-succeeds` (see the module docs).
pub fn check_absence(
    plan: &CorePlan,
    members: &[PublicKey],
    start_us: u64,
    observations: &DkgObserver,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    checks: &mut Checks,
) {
    let first_back = plan.late_starts.iter().map(|l| l.at_ms).min().unwrap_or(0);
    let late: Vec<String> = plan
        .late_starts
        .iter()
        .map(|l| members[l.node].to_string())
        .collect();
    let bound_us = (ABSENT_PHASE_TIMEOUT + FAILURE_MARGIN).as_micros() as u64;
    for node in 0..plan.nodes {
        if plan.late_starts.iter().any(|l| l.node == node) {
            continue;
        }
        let failures = observations
            .attempt_failures
            .get(&(node as u32))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match failures.first() {
            None => checks.fail(
                Invariant::AbsentAttemptFails,
                format!("live node {node} never reported a failed attempt"),
            ),
            Some((t_us, round, error)) => {
                let after = t_us.saturating_sub(start_us);
                if after > bound_us || after > first_back * 1000 {
                    checks.fail(
                        Invariant::AbsentAttemptFails,
                        format!(
                            "live node {node}'s first attempt failed {after} us into the run (bound {bound_us} us, first late start {first_back} ms)"
                        ),
                    );
                }
                if *round != 0 {
                    checks.fail(
                        Invariant::AbsentAttemptFails,
                        format!("live node {node}'s first failure is of round {round}: {error}"),
                    );
                }
            }
        }
    }
    // Someone's own deadline ended round 0, naming a late member (the others may have followed
    // it rather than wait for their own).
    let named = observations.attempt_failures.values().any(|failures| {
        failures.first().is_some_and(|(_, round, error)| {
            *round == 0
                && error.contains("missed its deadline")
                && late.iter().any(|k| error.contains(k.as_str()))
        })
    });
    if !named {
        checks.fail(
            Invariant::AbsentAttemptFails,
            "no member's round 0 failed with a deadline error naming a late member",
        );
    }
    for (index, c) in completed {
        if c.round == 0 {
            checks.fail(
                Invariant::AbsentLaterAttemptSucceeds,
                format!("node {index} finished round 0, which could not have had a quorum"),
            );
        }
    }
}

/// `key-unchanged-by-reshare` and `shares-follow-committee` (see the module docs).
pub fn check_reshare(
    cluster: &cohort_protocol::Cluster,
    members: &[PublicKey],
    observations: &DkgObserver,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    checks: &mut Checks,
) {
    // Every epoch every node finished reported the key of the first epoch-0 finisher.
    let Some(((first_node, _), key)) = observations.epoch_keys.iter().find(|((_, e), _)| *e == 0)
    else {
        checks.fail(
            Invariant::KeyUnchangedByReshare,
            "no node traced finishing epoch 0",
        );
        return;
    };
    for ((node, epoch), other) in &observations.epoch_keys {
        if other != key {
            checks.fail(
                Invariant::KeyUnchangedByReshare,
                format!(
                    "node {node} finished epoch {epoch} with group key {other}, node {first_node} finished epoch 0 with {key}"
                ),
            );
        }
    }
    for node in 0..members.len() as u32 {
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
    members: &[PublicKey],
    observations: &DkgObserver,
    checks: &mut Checks,
) {
    let liar = &members[byzantine.node];
    // What each victim must have refused from the liar (two dealings are each valid alone: the
    // victims cannot tell, the liar's log settles it).
    let expected = match byzantine.misbehaviour {
        Misbehaviour::BadShares => Some("invalid dealing"),
        Misbehaviour::WrongAck => Some("invalid ack"),
        Misbehaviour::Garbage => Some("undecodable"),
        Misbehaviour::TwoDealings
        | Misbehaviour::TwoLogs
        | Misbehaviour::LateLog
        | Misbehaviour::PartialLog => None,
    };
    if let Some(expected) = expected {
        for victim in &byzantine.victims {
            let refused = observations
                .refused
                .get(&(*victim as u32, liar.clone()))
                .is_some_and(|reasons| reasons.iter().any(|r| r.contains(expected)));
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

/// `same-log-set` and `equivocating-dealer-excluded` over the honest members that finished
/// (see the module docs).
pub fn check_log_sets(
    byzantine: Option<usize>,
    observations: &DkgObserver,
    completed: &[(usize, cohort_protocol::dkg::Completed)],
    checks: &mut Checks,
) {
    let Some((first, reference)) = completed.first() else {
        return;
    };
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
    if !checks.covers(Invariant::EquivocatingDealerExcluded) {
        return;
    }
    for ((node, round), dealers) in &observations.equivocations {
        if Some(*node as usize) == byzantine {
            continue;
        }
        for (index, c) in completed {
            if c.round != *round {
                continue;
            }
            for dealer in dealers {
                if c.output.dealers().position(dealer).is_some() {
                    checks.fail(
                        Invariant::EquivocatingDealerExcluded,
                        format!(
                            "node {index} finalized round {round} over dealer {dealer}, which node {node} proved to have signed two logs"
                        ),
                    );
                }
            }
        }
    }
}
