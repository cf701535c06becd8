//! A member that crashes anywhere in its ceremony and is back only after the others finished the
//! round without it still finishes it, with their key, on a clean network.
//!
//! Found on a loopback testnet, where TCP loses nothing and delays barely vary: a member killed
//! after it signed its log (the logs it had taken since were not synced, so lost) came back to
//! peers that had finished. Each period it sent its log and then its request for the decided
//! logs; the finished peers answered the log with the decision, and their one answer per member
//! and period was spent, so the request went unanswered for good. Loss and jitter hid it: now
//! and then the log was lost, or two periods' frames arrived less than a period apart, and the
//! request got through, so every lossy seed passed. This test failed (`no-hang`) before the fix.

use cohort_simulator::{
    RunOptions, Scenario,
    plan::{CrashPlan, PointCrash},
    run::run_plan,
};

/// Down long enough for the others to finish without it, back before they stop answering.
const DOWN_MS: u64 = 2_500;

/// Runs `dkg-crash` seed 1 at 4 nodes on a clean network with node 1 crashing as given.
fn run(crashes: Vec<CrashPlan>, point_crashes: Vec<PointCrash>) -> String {
    let scenario = Scenario::named("dkg-crash");
    let nodes = 4;
    let mut plan = scenario.plan(1, Some(nodes));
    for link in &mut plan.core.links {
        link.success_per_mille = 1000;
        link.jitter_ms = 0;
    }
    plan.core.crashes = crashes;
    plan.core.point_crashes = point_crashes;
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
    assert!(
        report.passed(),
        "{}\n{:?}",
        report.summary_line(),
        report.violations
    );
    report.digest
}

#[test]
fn a_member_crashed_at_any_moment_and_back_after_the_others_finished_finishes() {
    // Through the deal phase (about 150 ms here), the log phase and the agreement: every crash
    // loses what was not synced.
    for at_ms in (0..=320).step_by(3) {
        run(
            vec![CrashPlan {
                node: 1,
                at_ms,
                down_ms: DOWN_MS,
                loss: None,
            }],
            Vec::new(),
        );
    }
}

#[test]
fn a_member_crashed_at_any_crash_point_and_back_after_the_others_finished_finishes() {
    // Its seed, each dealing it accepts, its log, its votes, lock and decision.
    for hit in 1..=12 {
        run(
            Vec::new(),
            vec![PointCrash {
                node: 1,
                hit,
                down_ms: DOWN_MS,
            }],
        );
    }
}
