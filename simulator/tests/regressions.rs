//! Seeds that campaigns found failing, each with the bug it exposed; every one must pass now.
//! A seed keeps its fault plan whatever the protocol code becomes (plans are drawn with the
//! plan RNG alone), so each stays a world that once broke an invariant.

use cohort_simulator::{RunOptions, Scenario, plan::Transport, run::run};

/// `(scenario, seed, transport, what it exposed)`.
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

#[test]
fn every_seed_a_campaign_found_failing_passes() {
    for &(name, seed, transport, bug) in FOUND {
        let report = run(&RunOptions {
            scenario: Scenario::named(name),
            seed,
            nodes: None,
            trace: None,
            transport,
            memo: true,
            plan: None,
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
