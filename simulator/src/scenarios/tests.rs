//! The catalogue's consistency: names, invariants, observers.

use super::{SCENARIOS, Scenario};
use crate::invariant::Invariant;
use std::collections::BTreeSet;

#[test]
fn names_are_unique_and_found() {
    let names: BTreeSet<_> = Scenario::all().map(|s| s.name()).collect();
    assert_eq!(names.len(), SCENARIOS.len());
    for scenario in Scenario::all() {
        assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        assert!(!scenario.description().is_empty());
        assert!(!scenario.node_range().is_empty());
    }
    assert!(Scenario::from_name("nonsense").is_none());
}

#[test]
fn every_invariant_is_checked_somewhere_and_listed_once() {
    for invariant in Invariant::ALL {
        if matches!(
            invariant,
            Invariant::Determinism | Invariant::StorageErrorsFatal
        ) {
            continue;
        }
        assert!(
            Scenario::all().any(|s| s.invariants().contains(invariant)),
            "no scenario checks {invariant}"
        );
    }
    for scenario in Scenario::all() {
        let unique: BTreeSet<_> = scenario.invariants().iter().collect();
        assert_eq!(unique.len(), scenario.invariants().len(), "{scenario}");
    }
}

/// An observer judges its online invariants in every scenario it is installed for: those
/// scenarios must list them.
#[test]
fn online_invariants_are_listed_by_every_scenario_observing_them() {
    for scenario in Scenario::all() {
        for observer in scenario.observers() {
            for invariant in observer.online() {
                assert!(
                    scenario.invariants().contains(invariant),
                    "{scenario} installs an observer judging {invariant} but does not list it"
                );
            }
        }
    }
}

/// The invariants a family's code names are listed by some scenario of the family (the run path
/// also asserts, in debug builds, that each reported violation is listed by its scenario).
#[test]
fn invariants_a_family_names_are_listed_by_its_scenarios() {
    let families: [(&str, &[&str]); 4] = [
        (
            "barrier",
            &[
                include_str!("barrier/run.rs"),
                include_str!("barrier/observer.rs"),
            ],
        ),
        (
            "dkg",
            &[
                include_str!("dkg/run.rs"),
                include_str!("dkg/checks.rs"),
                include_str!("dkg/observer.rs"),
            ],
        ),
        (
            "ledger",
            &[
                include_str!("ledger/run.rs"),
                include_str!("ledger/checks.rs"),
                include_str!("ledger/observer.rs"),
            ],
        ),
        (
            "checkpoint",
            &[
                include_str!("checkpoint/run.rs"),
                include_str!("checkpoint/checks.rs"),
                include_str!("checkpoint/observer.rs"),
                include_str!("checkpoint/governance.rs"),
            ],
        ),
    ];
    for (family, sources) in families {
        let plan_of = |s: &Scenario| s.plan(1, None).family;
        let listed: BTreeSet<Invariant> = Scenario::all()
            .filter(|s| match plan_of(s) {
                super::FamilyPlan::Barrier(_) => family == "barrier",
                super::FamilyPlan::Dkg(_) => family == "dkg",
                super::FamilyPlan::Ledger(_) => family == "ledger",
                super::FamilyPlan::Checkpoint(_) => family == "checkpoint",
            })
            .flat_map(|s| s.invariants().iter().copied())
            .collect();
        let mut named = 0;
        for source in sources {
            for invariant in Invariant::ALL {
                let token = format!("Invariant::{invariant:?}");
                let used = source.match_indices(&token).any(|(i, _)| {
                    !source[i + token.len()..].starts_with(|c: char| c.is_alphanumeric())
                });
                if used {
                    named += 1;
                    assert!(
                        listed.contains(invariant),
                        "the {family} family reports {invariant}, which none of its scenarios lists"
                    );
                }
            }
        }
        assert!(named > 0, "{family}");
    }
}

#[test]
fn plans_are_drawn_from_the_seed_within_the_node_range() {
    for scenario in Scenario::all() {
        let a = scenario.plan(3, None);
        assert_eq!(a, scenario.plan(3, None), "{scenario}");
        assert!(scenario.node_range().contains(&a.core.nodes), "{scenario}");
        let min = *scenario.node_range().start();
        let nodes = min.max(4);
        assert_eq!(
            scenario.plan(3, Some(nodes)).core.nodes,
            nodes,
            "{scenario}"
        );
        assert!(a.to_json().contains("\"links\""));
    }
}

#[test]
fn a_partition_window_cuts_its_groups_one_way_or_both() {
    use crate::plan::PartitionPlan;
    let window = |one_way| PartitionPlan {
        at_ms: 0,
        for_ms: 1,
        groups: vec![vec![0, 3], vec![1]],
        one_way,
    };
    // Nodes in no group (2, 4) form the last group.
    let both = window(false);
    assert!(both.cuts(0, 1) && both.cuts(1, 0) && both.cuts(3, 2) && both.cuts(2, 3));
    assert!(!both.cuts(0, 3) && !both.cuts(2, 4));
    let one = window(true);
    assert!(one.cuts(0, 1) && one.cuts(1, 2) && one.cuts(0, 4));
    assert!(!one.cuts(1, 0) && !one.cuts(2, 1) && !one.cuts(4, 3));
}

/// `all` with eight nodes: the seeds without a checkpoint liar have a member lying in the DKG
/// and the reshare instead (of both committees, never by refused hellos); fewer nodes, none.
#[test]
fn all_draws_a_dkg_liar_when_its_committees_tolerate_two_faults() {
    use super::checkpoint::{Kind, plan};
    use super::dkg::byzantine::Misbehaviour;
    let mut lies = BTreeSet::new();
    for seed in 1..=40 {
        let (_, cp) = plan(Kind::All, seed, Some(8));
        assert_eq!(cp.liar.is_none(), cp.dkg_liar.is_some(), "seed {seed}");
        if let Some(liar) = cp.dkg_liar {
            assert!(cp.committees.iter().all(|c| c.contains(&liar.node)));
            assert_ne!(liar.misbehaviour, Misbehaviour::BadHello);
            lies.insert(format!("{:?}", liar.misbehaviour));
        }
        let (_, small) = plan(Kind::All, seed, Some(7));
        assert!(small.dkg_liar.is_none(), "seed {seed}");
    }
    assert!(lies.len() >= 4, "{lies:?}");
}
