//! The canaries' campaigns: for each bug planted in the protocol code
//! (`cohort_protocol::canary`, built with `--features canary`), the scenario whose campaign must
//! catch it and the budget of seeds it must be caught within. `cohort-sim explore --canary NAME`
//! runs that campaign and stops at the first failing seed; a test (`tests/canaries.rs`, run by
//! CI with the feature) asserts every canary is caught within its budget.
//!
//! Budgets are at most 1,000 seeds. Each is stated with what was measured: the seed the
//! campaign first fails at, far below the budget, so a campaign that stops catching a canary
//! is a regression of the simulator, not bad luck.

pub use cohort_protocol::canary::Canary;

/// Where and how soon a canary must be caught.
#[derive(Clone, Copy, Debug)]
pub struct CanaryCampaign {
    pub canary: Canary,
    /// The scenario whose seeds catch it.
    pub scenario: &'static str,
    /// Node count (`None`: drawn from each seed).
    pub nodes: Option<usize>,
    /// It must be caught within seeds `1..=budget`.
    pub budget: u64,
    /// The planted bug, in one line.
    pub bug: &'static str,
    /// The first seed that caught it when the budget was set (release build, 2026-12-07).
    pub measured: u64,
}

/// Every canary's campaign.
pub const CAMPAIGNS: [CanaryCampaign; 5] = [
    CanaryCampaign {
        canary: Canary::RepeatedVote,
        scenario: "checkpoint-byzantine",
        nodes: None,
        budget: 200,
        bug: "a checkpoint voter's repeated approval is counted again",
        measured: 4,
    },
    CanaryCampaign {
        canary: Canary::AckBeforeSync,
        scenario: "dkg-crash",
        nodes: None,
        budget: 200,
        bug: "a DKG player acks a dealing it wrote but did not sync",
        measured: 1,
    },
    CanaryCampaign {
        canary: Canary::FirstPageOnly,
        scenario: "late-joiner",
        nodes: None,
        budget: 100,
        bug: "a backfill server says every page is the last",
        measured: 11,
    },
    CanaryCampaign {
        canary: Canary::PendingNotDrained,
        scenario: "ledger-partition",
        nodes: None,
        budget: 200,
        bug: "ops pending on a parent a backfill page brings are not released",
        measured: 1,
    },
    CanaryCampaign {
        canary: Canary::StepAfterRefusal,
        scenario: "barrier-byzantine",
        nodes: None,
        budget: 200,
        bug: "the barrier records the step of a sync it refuses",
        measured: 2,
    },
];

/// The campaign of `canary`.
pub fn campaign(canary: Canary) -> &'static CanaryCampaign {
    CAMPAIGNS
        .iter()
        .find(|c| c.canary == canary)
        .expect("every canary has a campaign")
}

/// The canary named `name`, or an error listing the names (and saying when this build has
/// none).
pub fn parse(name: &str) -> Result<Canary, String> {
    let canary = Canary::from_name(name)
        .ok_or_else(|| format!("unknown canary {name:?}; known: {}", Canary::names()))?;
    if !cohort_protocol::canary::COMPILED {
        return Err(format!(
            "canary {name}: this cohort-sim was built without canaries; build one with `cargo build --release -p cohort-simulator --features canary`"
        ));
    }
    Ok(canary)
}

/// The README's canary table (between its `canaries` markers; `cohort-sim list --canaries
/// --markdown`).
pub fn canary_table() -> String {
    let mut out = String::from(
        "| canary | planted bug | campaign | budget | first caught (measured) |\n| --- | --- | --- | --- | --- |\n",
    );
    for c in CAMPAIGNS {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} seeds | seed {} |\n",
            c.canary.name(),
            c.bug,
            c.scenario,
            c.budget,
            c.measured
        ));
    }
    out
}
