//! The campaigns catch the bugs planted in the protocol code (`cohort_protocol::canary`).
//!
//! With `--features canary` (CI runs `cargo test --release -p cohort-simulator --features
//! canary --test canaries`): every canary's campaign fails within its budget, on an invariant
//! its scenario lists. In the default build: the canaries are not in the binary, and asking
//! for one is refused.

#[cfg(feature = "canary")]
#[test]
fn every_canary_is_caught_within_its_budget() {
    use cohort_simulator::{
        RunOptions, Scenario,
        canaries::{CAMPAIGNS, Canary},
        explore::explore,
    };
    let only = std::env::var("CANARY").ok();
    let mut lines = Vec::new();
    for campaign in CAMPAIGNS {
        if only.as_deref().is_some_and(|o| o != campaign.canary.name()) {
            continue;
        }
        assert!(campaign.budget <= 1000, "{:?}", campaign);
        let scenario = Scenario::named(campaign.scenario);
        let template = RunOptions {
            scenario,
            seed: 0,
            nodes: campaign.nodes,
            trace: None,
            transport: Default::default(),
            memo: true,
            plan: None,
            canary: Some(campaign.canary),
        };
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let found = explore(&template, 1..campaign.budget + 1, jobs, false, true, |_| {});
        let Some(report) = found.failures.first() else {
            panic!(
                "canary {} not caught in {} seeds of {}",
                campaign.canary.name(),
                campaign.budget,
                campaign.scenario
            );
        };
        for violation in &report.violations {
            assert!(scenario.invariants().contains(&violation.invariant));
        }
        lines.push(format!(
            "{} caught at seed {} of {} by {}",
            campaign.canary.name(),
            report.seed,
            campaign.scenario,
            report.violations[0].invariant.name()
        ));
        assert_eq!(report.canary, Some(campaign.canary));
        assert!(Canary::from_name(campaign.canary.name()).is_some());
    }
    println!("{}", lines.join("\n"));
}

/// A default build has no canary: the marker the `canary` feature compiles in is not in the
/// binary, and `--canary` is refused with how to get one.
#[cfg(not(feature = "canary"))]
#[test]
fn the_default_binary_contains_no_canary() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_cohort-sim")).expect("the binary");
    let marker = b"cohort-canary-planted-bugs-compiled-in";
    assert!(
        !binary.windows(marker.len()).any(|w| w == marker),
        "the default cohort-sim has the canaries compiled in"
    );
    const { assert!(!cohort_protocol::canary::COMPILED) };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cohort-sim"))
        .args(["explore", "--canary", "repeated-vote"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built without canaries"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cohort-sim"))
        .args(["explore", "--canary", "nope"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown canary") && err.contains("step-after-refusal"),
        "{err}"
    );
}
