//! A seed replays bit for bit: same seed and build, same run digest; another seed, another run.

use cohort_simulator::{
    RunOptions, Scenario, run, run_checked,
    scenarios::{FamilyPlan, PlanFile, barrier::BarrierPlan},
};

fn options(scenario: Scenario, seed: u64) -> RunOptions {
    RunOptions {
        scenario,
        seed,
        // DKG scenarios at a small committee, so the debug-build test stays quick (the release
        // campaign in CI draws 4..=16).
        nodes: match scenario.name() {
            "dkg" | "dkg-crash" | "dkg-absent" | "dkg-byzantine" => Some(5),
            "reshare" => Some(6),
            "ledger" | "ledger-crash" | "ledger-partition" | "ledger-byzantine" => Some(4),
            "late-joiner" => Some(3),
            // Checkpoint worlds run 4-5 scaled days: the smallest committees.
            "checkpoint"
            | "checkpoint-byzantine"
            | "checkpoint-skew"
            | "checkpoint-late-joiner" => Some(4),
            "checkpoint-reshare" => Some(6),
            // A removal keeps four members: five is the smallest world drawing every change.
            "governance" | "membership-byzantine" => Some(5),
            _ => None,
        },
        trace: None,
        transport: Default::default(),
        memo: true,
        plan: None,
        canary: None,
    }
}

/// Every scenario's seeds replay; for seed 7 the second run is `run --plan` of the plan file
/// `plan --out` writes (through its text), so a seed's run is exactly its printed plan's run.
#[test]
fn same_seed_same_digest() {
    for scenario in Scenario::all() {
        for seed in [1, 7, 42] {
            let a = run(&options(scenario, seed)).unwrap();
            let again = options(scenario, seed);
            let again = if seed == 7 {
                let text = PlanFile::new(scenario, seed, a.plan.clone()).to_text();
                let (read, read_seed, plan) = PlanFile::parse(&text).unwrap();
                assert_eq!((read, read_seed), (scenario, seed));
                RunOptions {
                    scenario: read,
                    seed: read_seed,
                    nodes: None,
                    plan: Some(plan),
                    ..again
                }
            } else {
                again
            };
            let b = run(&again).unwrap();
            assert!(a.drawn && b.drawn, "{scenario} seed {seed}");
            // The plan file's run replays as the seed's (with `--nodes` when it must say so).
            assert!(
                b.replay_command().starts_with(&format!(
                    "cohort-sim run --scenario {scenario} --seed {seed}"
                )),
                "{}",
                b.replay_command()
            );
            assert!(a.passed(), "{}: {:?}", a.summary_line(), a.violations);
            assert_eq!(a.digest, b.digest, "{} seed {seed}", scenario.name());
            assert_eq!(a.events, b.events);
            assert_eq!(a.sim_ms, b.sim_ms);
            assert!(a.events > 0);
        }
    }
}

#[test]
fn different_seeds_differ() {
    let a = run(&options(Scenario::named("barrier"), 1)).unwrap();
    let b = run(&options(Scenario::named("barrier"), 2)).unwrap();
    assert_ne!(a.digest, b.digest);
}

#[test]
fn check_determinism_passes_and_trace_file_has_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    let report = run_checked(
        &RunOptions {
            trace: Some(path.clone()),
            nodes: Some(5),
            ..options(Scenario::named("barrier"), 7)
        },
        true,
    )
    .unwrap();
    assert!(report.passed(), "{:?}", report.violations);
    assert_eq!(report.plan.core.nodes, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count() as u64, report.events);
    let first = text.lines().next().unwrap();
    for field in ["\"t_us\"", "\"node\"", "\"event\"", "\"detail\""] {
        assert!(first.contains(field), "{first}");
    }
    // The summary line has the documented shape.
    let line = report.summary_line();
    assert!(line.starts_with("seed=7 scenario=barrier outcome=pass digest="));
    assert!(line.contains(" sim_ms=") && line.contains(" wall_ms="));
    assert_eq!(
        report.replay_command(),
        "cohort-sim run --scenario barrier --seed 7 --nodes 5"
    );
}

#[test]
fn plans_are_printable_and_drawn_from_the_seed() {
    let mismatch = Scenario::named("barrier-mismatch");
    let a = mismatch.plan(9, None);
    let b = mismatch.plan(9, None);
    assert_eq!(a, b);
    assert!(matches!(
        a.family,
        FamilyPlan::Barrier(BarrierPlan {
            odd_node: Some(_),
            ..
        })
    ));
    assert!(a.to_json().contains("\"links\""));
    assert_eq!(Scenario::named("barrier").plan(9, Some(3)).core.nodes, 3);
}
