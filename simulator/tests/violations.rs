//! A failing run reports only invariants its scenario lists (the run path also asserts it in
//! debug builds, which this test exercises).

use cohort_simulator::{
    FaultPlan, Invariant, RunOptions, Scenario, plan::CrashPlan, run::run_plan,
};

/// Runs `plan` of `scenario` (seed 1, `nodes` nodes) and checks that it fails, reporting only
/// invariants the scenario lists.
fn fails_with_listed_invariants(
    scenario: Scenario,
    nodes: usize,
    plan: FaultPlan,
) -> Vec<Invariant> {
    let options = RunOptions {
        scenario,
        seed: 1,
        nodes: Some(nodes),
        trace: None,
        transport: Default::default(),
        memo: true,
        plan: None,
        canary: None,
    };
    let report = run_plan(&options, plan).expect("no trace file");
    assert!(!report.passed(), "{}", report.summary_line());
    for violation in &report.violations {
        assert!(
            scenario.invariants().contains(&violation.invariant),
            "{violation}"
        );
    }
    report.violations.iter().map(|v| v.invariant).collect()
}

/// `name` at `nodes` with every link dropping every message: nothing can finish.
fn cut_off(name: &str, nodes: usize) -> Vec<Invariant> {
    let scenario = Scenario::named(name);
    let mut plan = scenario.plan(1, Some(nodes));
    for link in &mut plan.core.links {
        link.success_per_mille = 0;
    }
    fails_with_listed_invariants(scenario, nodes, plan)
}

/// `name` at `nodes` with node 0 crashing early and staying down for `down_ms`.
fn long_outage(name: &str, nodes: usize, down_ms: u64) -> Vec<Invariant> {
    let scenario = Scenario::named(name);
    let mut plan = scenario.plan(1, Some(nodes));
    plan.core.crashes = vec![CrashPlan {
        node: 0,
        at_ms: 100,
        down_ms,
        loss: None,
    }];
    plan.core.point_crashes.clear();
    fails_with_listed_invariants(scenario, nodes, plan)
}

#[test]
fn a_cut_off_barrier_hangs() {
    assert_eq!(cut_off("barrier", 3), [Invariant::NoHang]);
}

#[test]
fn a_cut_off_dkg_hangs() {
    assert_eq!(cut_off("dkg", 4), [Invariant::NoHang]);
}

#[test]
fn a_member_down_for_minutes_fails_the_walk() {
    // Far beyond the downtime the barrier is specified to wait for.
    assert!(!long_outage("barrier-crash", 3, 120_000).is_empty());
}

#[test]
fn a_member_down_at_the_end_fails_the_ledger_checks() {
    assert!(long_outage("ledger-crash", 3, 600_000).contains(&Invariant::LedgerConverges));
}
