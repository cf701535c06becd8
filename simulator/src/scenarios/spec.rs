//! What one catalogue entry is ([`ScenarioSpec`]), the handle the rest of the crate passes
//! around ([`Scenario`]), and the README tables rendered from the catalogue.

use super::plan::FaultPlan;
use crate::{
    invariant::{Checks, Invariant, Violation},
    trace::{Observer, Sink},
};
use commonware_runtime::deterministic;
use futures::future::LocalBoxFuture;
use std::{
    ops::RangeInclusive,
    sync::{Arc, Mutex},
};

/// Draws the fault plan of a seed (with that many nodes if given, else drawn).
pub type PlanFn = fn(u64, Option<usize>) -> FaultPlan;

/// Runs a plan on a deterministic runtime context, reporting into the [`Checks`] of the
/// scenario's invariants; returns them.
pub type RunFn = fn(
    deterministic::Context,
    u64,
    FaultPlan,
    Arc<Mutex<Sink>>,
    Checks,
) -> LocalBoxFuture<'static, Checks>;

/// One scenario of the catalogue.
#[derive(Debug)]
pub struct ScenarioSpec {
    /// What `--scenario` takes.
    pub name: &'static str,
    /// One line: what the scenario does.
    pub description: &'static str,
    /// Node counts it accepts.
    pub nodes: RangeInclusive<usize>,
    pub plan: PlanFn,
    pub run: RunFn,
    /// The observers its sink feeds (one per protocol family its nodes run).
    pub observers: fn() -> Vec<Box<dyn Observer>>,
    /// Every invariant it checks: the only ones it may report.
    pub invariants: &'static [Invariant],
}

/// A scenario: a handle on its catalogue entry.
#[derive(Clone, Copy)]
pub struct Scenario(&'static ScenarioSpec);

impl Scenario {
    pub const fn of(spec: &'static ScenarioSpec) -> Self {
        Self(spec)
    }

    pub const fn spec(self) -> &'static ScenarioSpec {
        self.0
    }

    pub const fn name(self) -> &'static str {
        self.0.name
    }

    pub const fn description(self) -> &'static str {
        self.0.description
    }

    /// Smallest and largest node count the scenario accepts.
    pub fn node_range(self) -> RangeInclusive<usize> {
        self.0.nodes.clone()
    }

    /// The invariants it checks.
    pub const fn invariants(self) -> &'static [Invariant] {
        self.0.invariants
    }

    /// A fresh set of its observers.
    pub fn observers(self) -> Vec<Box<dyn Observer>> {
        (self.0.observers)()
    }

    /// Draws the fault plan of `seed` (with `nodes` members if given, else drawn).
    pub fn plan(self, seed: u64, nodes: Option<usize>) -> FaultPlan {
        let mut plan = (self.0.plan)(seed, nodes);
        // Buggify points come from their own RNG, after the family's draws.
        let (points, buggify_seed) = crate::plan::draw_buggify(seed);
        plan.core.buggify = points;
        plan.core.buggify_seed = buggify_seed;
        plan
    }

    /// Runs the scenario; returns the violated invariants (empty: pass).
    pub async fn run(
        self,
        context: deterministic::Context,
        seed: u64,
        plan: &FaultPlan,
        sink: Arc<Mutex<Sink>>,
    ) -> Vec<Violation> {
        let checks = Checks::new(self.0.invariants);
        let violations = (self.0.run)(context, seed, plan.clone(), sink, checks)
            .await
            .into_violations();
        debug_assert!(
            violations
                .iter()
                .all(|v| self.0.invariants.contains(&v.invariant)),
            "{} reported an invariant it does not list: {violations:?}",
            self.0.name
        );
        violations
    }
}

impl PartialEq for Scenario {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Scenario {}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scenario({})", self.0.name)
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

/// `a, b, c` of names.
fn names(invariants: impl IntoIterator<Item = &'static str>) -> String {
    invariants
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The README's scenario table (between its `scenarios` markers).
pub fn scenario_table(scenarios: impl IntoIterator<Item = Scenario>) -> String {
    let mut out =
        String::from("| name | nodes | what it does | invariants |\n| --- | --- | --- | --- |\n");
    for scenario in scenarios {
        let range = scenario.node_range();
        out.push_str(&format!(
            "| `{}` | {}..={} | {} | {} |\n",
            scenario.name(),
            range.start(),
            range.end(),
            scenario.description(),
            names(scenario.invariants().iter().map(|i| i.name()))
        ));
    }
    out
}

/// The README's invariant table (between its `invariants` markers): every invariant, its
/// meaning, and the scenarios that check it.
pub fn invariant_table(scenarios: impl IntoIterator<Item = Scenario> + Clone) -> String {
    let mut out =
        String::from("| invariant | kind | meaning | checked by |\n| --- | --- | --- | --- |\n");
    for invariant in Invariant::ALL {
        let by = if matches!(
            invariant,
            Invariant::Determinism | Invariant::StorageErrorsFatal
        ) {
            "every scenario".to_string()
        } else {
            names(
                scenarios
                    .clone()
                    .into_iter()
                    .filter(|s| s.invariants().contains(invariant))
                    .map(|s| s.name()),
            )
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            invariant.name(),
            invariant.kind().name(),
            invariant.meaning(),
            by
        ));
    }
    out
}
