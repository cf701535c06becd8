//! Seeds that campaigns found failing, each with the bug it exposed; every one must pass now.
//! A seed keeps its fault plan whatever the protocol code becomes (plans are drawn with the
//! plan RNG alone), so each stays a world that once broke an invariant. Seeds found before
//! plans drew buggify points run without them (their world as it was found).

use cohort_simulator::{RunOptions, Scenario, plan::Transport, run::run};

/// `(scenario, seed, transport, what it exposed)`, found before buggify points.
const FOUND: &[(&str, u64, Transport, &str)] = &[
    (
        "checkpoint-byzantine",
        11,
        Transport::Lean,
        "a liar every honest node blocks stayed a backfill suspect for ever: every round ended \
         without catching up and held the node at the overall backoff's cap, so ops the liar \
         relayed through honest peers reached the others a round (13 s) late, for ever",
    ),
    ("checkpoint-byzantine", 18, Transport::Lean, "as seed 11"),
    (
        "checkpoint-late-joiner",
        19,
        Transport::Lean,
        "the checks read the ledgers and then the views while members kept authoring: a \
         heartbeat appended at the snapshot's instant was in its author's view alone",
    ),
    ("checkpoint-late-joiner", 28, Transport::Lean, "as seed 19"),
];

/// As [`FOUND`], with the plans as drawn now (buggify points, storage faults).
const FOUND_SINCE_BUGGIFY: &[(&str, u64, Transport, &str)] = &[(
    "checkpoint",
    4,
    Transport::Lean,
    "storage faults: an own op reached the store and was synced, then the store's mark of it \
     failed; the restarted node replayed it, and the harness's archive (the history the \
     checks judge against) lacked it: a certified uptime differed from the history",
)];

#[test]
fn every_seed_a_campaign_found_failing_passes() {
    let before = FOUND.iter().map(|f| (f, false));
    let since = FOUND_SINCE_BUGGIFY.iter().map(|f| (f, true));
    for (&(name, seed, transport, bug), buggify) in before.chain(since) {
        let scenario = Scenario::named(name);
        let mut plan = scenario.plan(seed, None);
        plan.core.transport = transport;
        if !buggify {
            plan.core.buggify.clear();
            plan.core.buggify_seed = 0;
        }
        let report = run(&RunOptions {
            scenario,
            seed,
            nodes: None,
            trace: None,
            transport,
            memo: true,
            plan: Some(plan),
            canary: None,
        })
        .expect("no trace file");
        assert!(
            report.passed(),
            "{name} seed {seed} on {} fails again ({bug}):\n{}",
            transport.name(),
            report
                .violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
