//! Partition windows (`plan.core.partitions`) in a plan of every family: arbitrary groups,
//! one-way and both ways, overlapping.

use cohort_simulator::{RunOptions, Scenario, plan::PartitionPlan, run, scenarios::plan_file};

#[test]
fn partition_windows_run_in_every_family_and_keep_its_invariants() {
    for name in ["barrier-crash", "dkg", "ledger", "checkpoint"] {
        let scenario = Scenario::from_name(name).expect("known scenario");
        let options = |plan| RunOptions {
            scenario,
            seed: 2,
            nodes: Some(4),
            trace: None,
            transport: Default::default(),
            plan: Some(plan),
            canary: None,
            memo: true,
        };
        let drawn = scenario.plan(2, Some(4));
        let mut plan = drawn.clone();
        plan.core.partitions = vec![
            PartitionPlan {
                at_ms: 100,
                for_ms: 1_500,
                groups: vec![vec![0]],
                one_way: false,
            },
            PartitionPlan {
                at_ms: 900,
                for_ms: 1_000,
                groups: vec![vec![2, 3]],
                one_way: true,
            },
        ];
        plan_file::validate(scenario, &plan).expect("a valid plan");
        let report = run(&options(plan.clone())).expect("run");
        assert!(
            report.violations.is_empty(),
            "{name}: {:?}",
            report.violations
        );
        assert_eq!(
            run(&options(plan)).expect("run").digest,
            report.digest,
            "{name}"
        );
        let plain = run(&options(drawn)).expect("run");
        assert_ne!(
            plain.digest, report.digest,
            "{name}: the windows changed nothing"
        );
    }
}
