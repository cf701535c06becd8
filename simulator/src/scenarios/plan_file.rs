//! Fault plans saved to files: `cohort-sim plan --out FILE` writes one, `cohort-sim run --plan
//! FILE` runs it (edited or not), and a failing run saves its own.
//!
//! A plan file is one JSON object: `scenario` (a catalogue name), `seed` (the runtime's scheduler
//! seed, and the seed of whatever the scenario derives from it: keys, the workload) and `plan`
//! (the [`FaultPlan`]: `core` and `family`). `run --scenario S --seed N` is exactly `run --plan`
//! of the file `plan --scenario S --seed N --out FILE` writes: the same run, the same digest.
//!
//! A file is read as hostile input: unknown fields are refused (a misspelt field is an error, not
//! a fault silently left out), and [`validate`] refuses, naming the field, any node that does not
//! exist, any time past the scenario's end, more faults than a run can hold, and values no run
//! can mean (a loss above 100 %, a plan of another family than its scenario's).

use super::{
    checkpoint::plan::ChangeKind,
    plan::{FamilyPlan, FaultPlan},
    spec::Scenario,
};
use crate::plan::{CorePlan, Loss};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, path::Path};

/// Most timed crashes one plan may hold.
pub const MAX_CRASHES: usize = 256;
/// Most crash-point crashes one plan may hold.
pub const MAX_POINT_CRASHES: usize = 64;
/// Most partition windows a plan may hold.
pub const MAX_PARTITIONS: usize = 64;
/// Largest link latency or jitter a plan may ask for (ms).
pub const MAX_LINK_MS: u64 = 60_000;
/// Largest clock offset (ms) and drift (parts per million, either way) a plan may ask for.
pub const MAX_OFFSET_MS: u64 = 24 * 3_600_000;
pub const MAX_DRIFT_PPM: i64 = 500_000;
/// Longest simulated run a plan may ask for (ms): a week.
pub const MAX_HORIZON_MS: u64 = 7 * 24 * 3_600_000;

/// A plan as saved: the scenario and seed it runs under, and the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub scenario: String,
    pub seed: u64,
    pub plan: FaultPlan,
}

impl PlanFile {
    pub fn new(scenario: Scenario, seed: u64, plan: FaultPlan) -> Self {
        Self {
            scenario: scenario.name().to_string(),
            seed,
            plan,
        }
    }

    /// The file's text (pretty JSON, one field per line, to be edited by hand).
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plan serializes");
        text.push('\n');
        text
    }

    /// Parses and validates a plan file's text.
    pub fn parse(text: &str) -> Result<(Scenario, u64, FaultPlan), String> {
        let file: PlanFile =
            serde_json::from_str(text).map_err(|e| format!("malformed plan: {e}"))?;
        let scenario = Scenario::from_name(&file.scenario).ok_or_else(|| {
            format!(
                "scenario: unknown scenario {:?}; known: {}",
                file.scenario,
                Scenario::names()
            )
        })?;
        validate(scenario, &file.plan)?;
        Ok((scenario, file.seed, file.plan))
    }

    /// Reads, parses and validates a plan file.
    pub fn load(path: &Path) -> Result<(Scenario, u64, FaultPlan), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read plan file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("plan file {}: {e}", path.display()))
    }

    /// Writes the file (creating its directory).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.to_text())
    }
}

/// `Err("FIELD: why")` unless `ok`.
fn check(
    ok: bool,
    field: impl FnOnce() -> String,
    why: impl FnOnce() -> String,
) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{}: {}", field(), why()))
    }
}

/// Refuses an index that names no node.
fn node(field: &str, index: usize, machines: usize) -> Result<(), String> {
    check(
        index < machines,
        || field.to_string(),
        || format!("node {index} does not exist (the plan has nodes 0..{machines})"),
    )
}

/// Refuses a DKG liar (`field`) or a victim of it that names no node.
fn byzantine(
    field: &str,
    b: &crate::scenarios::dkg::byzantine::Byzantine,
    machines: usize,
) -> Result<(), String> {
    node(&format!("{field}.node"), b.node, machines)?;
    for (i, v) in b.victims.iter().enumerate() {
        node(&format!("{field}.victims[{i}]"), *v, machines)?;
    }
    Ok(())
}

/// Refuses a time past the end of the run.
fn time(field: &str, at_ms: u64, horizon_ms: u64) -> Result<(), String> {
    check(
        at_ms <= horizon_ms,
        || field.to_string(),
        || format!("{at_ms} ms is past the end of the run ({horizon_ms} ms)"),
    )
}

/// Refuses a node listed twice where each may appear once.
fn unique(field: &str, nodes: impl IntoIterator<Item = usize>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, n) in nodes.into_iter().enumerate() {
        check(
            seen.insert(n),
            || format!("{field}[{i}]"),
            || format!("node {n} is listed twice"),
        )?;
    }
    Ok(())
}

/// Refuses a name listed twice.
fn unique_names<'a>(field: &str, names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, n) in names.into_iter().enumerate() {
        check(
            seen.insert(n),
            || format!("{field}[{i}]"),
            || format!("{n} is listed twice"),
        )?;
    }
    Ok(())
}

/// When the run of `plan` ends, in simulated ms from its start (what no fault may come after).
pub fn horizon_ms(plan: &FaultPlan) -> u64 {
    match &plan.family {
        FamilyPlan::Barrier(_) => super::barrier::run::SCENARIO_DEADLINE.as_millis() as u64,
        FamilyPlan::Dkg(_) => super::dkg::run::SCENARIO_DEADLINE.as_millis() as u64,
        FamilyPlan::Ledger(l) => l.workload.duration_ms.saturating_add(l.workload.quiesce_ms),
        FamilyPlan::Checkpoint(c) => c.duration_ms.saturating_add(c.quiesce_ms),
    }
}

/// Every node index the plan's network holds: the members, and in the checkpoint family the
/// joiners and an outsider liar.
pub fn machines(plan: &FaultPlan) -> usize {
    match &plan.family {
        FamilyPlan::Checkpoint(c) => {
            let outsider = c.liar.as_ref().is_some_and(|l| {
                l.misbehaviour == super::checkpoint::byzantine::CheckpointMisbehaviour::Outsider
            });
            plan.core.nodes + c.joiners.len() + usize::from(outsider)
        }
        _ => plan.core.nodes,
    }
}

/// Refuses a plan `scenario` cannot run, naming the first field at fault.
pub fn validate(scenario: Scenario, plan: &FaultPlan) -> Result<(), String> {
    let expected = scenario.plan(0, None);
    check(
        std::mem::discriminant(&expected.family) == std::mem::discriminant(&plan.family),
        || "plan.family".to_string(),
        || {
            format!(
                "scenario {} runs a {} plan, not a {} plan",
                scenario.name(),
                family_name(&expected.family),
                family_name(&plan.family)
            )
        },
    )?;
    let range = scenario.node_range();
    check(
        range.contains(&plan.core.nodes),
        || "plan.core.nodes".to_string(),
        || {
            format!(
                "scenario {} takes {}..={} nodes, not {}",
                scenario.name(),
                range.start(),
                range.end(),
                plan.core.nodes
            )
        },
    )?;
    let horizon = horizon_ms(plan);
    check(
        horizon <= MAX_HORIZON_MS,
        || "plan.family".to_string(),
        || format!("the run would last {horizon} ms, more than {MAX_HORIZON_MS} ms"),
    )?;
    validate_core(&plan.core, machines(plan), horizon)?;
    validate_family(plan, horizon)
}

fn family_name(family: &FamilyPlan) -> &'static str {
    match family {
        FamilyPlan::Barrier(_) => "barrier",
        FamilyPlan::Dkg(_) => "dkg",
        FamilyPlan::Ledger(_) => "ledger",
        FamilyPlan::Checkpoint(_) => "checkpoint",
    }
}

fn validate_core(core: &CorePlan, machines: usize, horizon: u64) -> Result<(), String> {
    let mut pairs = BTreeSet::new();
    for (i, link) in core.links.iter().enumerate() {
        let f = |name: &str| format!("plan.core.links[{i}].{name}");
        node(&f("from"), link.from, machines)?;
        node(&f("to"), link.to, machines)?;
        check(
            link.from != link.to,
            || f("to"),
            || "a link joins two nodes".into(),
        )?;
        check(
            pairs.insert((link.from, link.to)),
            || f("to"),
            || format!("link {} -> {} is listed twice", link.from, link.to),
        )?;
        check(
            link.latency_ms <= MAX_LINK_MS,
            || f("latency_ms"),
            || format!("at most {MAX_LINK_MS}"),
        )?;
        check(
            link.jitter_ms <= MAX_LINK_MS,
            || f("jitter_ms"),
            || format!("at most {MAX_LINK_MS}"),
        )?;
        check(
            link.success_per_mille <= 1000,
            || f("success_per_mille"),
            || "a probability in per-mille: at most 1000".into(),
        )?;
    }
    check(
        core.crashes.len() <= MAX_CRASHES,
        || "plan.core.crashes".into(),
        || format!("{} crashes, at most {MAX_CRASHES}", core.crashes.len()),
    )?;
    // When each node is up again after its last crash.
    let mut up_again = vec![0u64; machines];
    let mut last_at = 0;
    for (i, crash) in core.crashes.iter().enumerate() {
        let f = |name: &str| format!("plan.core.crashes[{i}].{name}");
        node(&f("node"), crash.node, machines)?;
        time(&f("at_ms"), crash.at_ms, horizon)?;
        check(
            crash.at_ms >= last_at,
            || f("at_ms"),
            || "crashes are listed in time order".into(),
        )?;
        check(
            crash.down_ms >= 1,
            || f("down_ms"),
            || "a crashed node is down at least 1 ms".into(),
        )?;
        check(
            crash.at_ms >= up_again[crash.node],
            || f("at_ms"),
            || {
                format!(
                    "node {} is still down from its previous crash until {} ms",
                    crash.node, up_again[crash.node]
                )
            },
        )?;
        if let Some(Loss::OpTail { bytes }) = crash.loss {
            check(
                bytes <= 1 << 30,
                || f("loss.op_tail.bytes"),
                || "at most 1 GiB".into(),
            )?;
        }
        last_at = crash.at_ms;
        up_again[crash.node] = crash.at_ms.saturating_add(crash.down_ms);
    }
    check(
        core.point_crashes.len() <= MAX_POINT_CRASHES,
        || "plan.core.point_crashes".into(),
        || {
            format!(
                "{} crashes, at most {MAX_POINT_CRASHES}",
                core.point_crashes.len()
            )
        },
    )?;
    for (i, crash) in core.point_crashes.iter().enumerate() {
        let f = |name: &str| format!("plan.core.point_crashes[{i}].{name}");
        node(&f("node"), crash.node, machines)?;
        check(
            crash.hit >= 1,
            || f("hit"),
            || "crash points are counted from 1".into(),
        )?;
        check(
            crash.down_ms >= 1,
            || f("down_ms"),
            || "a crashed node is down at least 1 ms".into(),
        )?;
    }
    for (i, late) in core.late_starts.iter().enumerate() {
        let f = |name: &str| format!("plan.core.late_starts[{i}].{name}");
        node(&f("node"), late.node, machines)?;
        time(&f("at_ms"), late.at_ms, horizon)?;
    }
    unique(
        "plan.core.late_starts",
        core.late_starts.iter().map(|l| l.node),
    )?;
    if let Some(partition) = &core.partition {
        for (i, n) in partition.iter().enumerate() {
            node(&format!("plan.core.partition[{i}]"), *n, machines)?;
        }
        unique("plan.core.partition", partition.iter().copied())?;
        check(
            !partition.is_empty() && partition.len() < machines,
            || "plan.core.partition".into(),
            || "a partition cuts off some of the nodes, not none or all".into(),
        )?;
    }
    check(
        core.partitions.len() <= MAX_PARTITIONS,
        || "plan.core.partitions".into(),
        || {
            format!(
                "{} windows, at most {MAX_PARTITIONS}",
                core.partitions.len()
            )
        },
    )?;
    for (i, w) in core.partitions.iter().enumerate() {
        let f = |name: &str| format!("plan.core.partitions[{i}].{name}");
        time(&f("at_ms"), w.at_ms, horizon)?;
        time(&f("for_ms"), w.at_ms.saturating_add(w.for_ms), horizon)?;
        check(
            !w.groups.is_empty(),
            || f("groups"),
            || "a partition names at least one group".into(),
        )?;
        for (g, group) in w.groups.iter().enumerate() {
            check(
                !group.is_empty(),
                || f(&format!("groups[{g}]")),
                || "a group holds at least one node".into(),
            )?;
            for (k, n) in group.iter().enumerate() {
                node(&f(&format!("groups[{g}][{k}]")), *n, machines)?;
            }
        }
        unique(&f("groups"), w.groups.iter().flatten().copied())?;
    }
    for (i, clock) in core.clocks.iter().enumerate() {
        let f = |name: &str| format!("plan.core.clocks[{i}].{name}");
        node(&f("node"), clock.node, machines)?;
        check(
            clock.offset_ms <= MAX_OFFSET_MS,
            || f("offset_ms"),
            || format!("at most {MAX_OFFSET_MS}"),
        )?;
        check(
            clock.drift_ppm.abs() <= MAX_DRIFT_PPM,
            || f("drift_ppm"),
            || format!("between -{MAX_DRIFT_PPM} and {MAX_DRIFT_PPM}"),
        )?;
    }
    unique("plan.core.clocks", core.clocks.iter().map(|c| c.node))?;
    for (i, repair) in core.repairs.iter().enumerate() {
        let f = |name: &str| format!("plan.core.repairs[{i}].{name}");
        node(&f("node"), repair.node, machines)?;
        time(&f("at_ms"), repair.at_ms, horizon)?;
    }
    unique("plan.core.repairs", core.repairs.iter().map(|r| r.node))?;
    for (i, c) in core.sync_crashes.iter().enumerate() {
        let f = |name: &str| format!("plan.core.sync_crashes[{i}].{name}");
        node(&f("node"), c.node, machines)?;
        check(
            c.sync >= 1,
            || f("sync"),
            || "syncs are counted from 1".into(),
        )?;
        check(
            c.down_ms >= 1,
            || f("down_ms"),
            || "a crashed node is down at least 1 ms".into(),
        )?;
    }
    unique(
        "plan.core.sync_crashes",
        core.sync_crashes.iter().map(|c| c.node),
    )?;
    for (i, w) in core.storage_faults.iter().enumerate() {
        let f = |name: &str| format!("plan.core.storage_faults[{i}].{name}");
        node(&f("node"), w.node, machines)?;
        time(&f("at_ms"), w.at_ms, horizon)?;
        time(&f("for_ms"), w.at_ms.saturating_add(w.for_ms), horizon)?;
        for (name, value) in [
            ("read_per_mille", w.read_per_mille),
            ("write_per_mille", w.write_per_mille),
            ("sync_per_mille", w.sync_per_mille),
            ("torn_per_mille", w.torn_per_mille),
        ] {
            check(
                value <= 1000,
                || f(name),
                || "a probability in per-mille: at most 1000".into(),
            )?;
        }
    }
    unique(
        "plan.core.storage_faults",
        core.storage_faults.iter().map(|w| w.node),
    )?;
    for (i, b) in core.buggify.iter().enumerate() {
        let f = |name: &str| format!("plan.core.buggify[{i}].{name}");
        check(
            cohort_protocol::buggify::Point::from_name(&b.point).is_some(),
            || f("point"),
            || {
                format!(
                    "unknown buggify point {:?}; known: {}",
                    b.point,
                    cohort_protocol::buggify::Point::ALL
                        .map(|p| p.name())
                        .join(", ")
                )
            },
        )?;
        check(
            b.per_mille <= 1000,
            || f("per_mille"),
            || "a probability in per-mille: at most 1000".into(),
        )?;
    }
    unique_names(
        "plan.core.buggify",
        core.buggify.iter().map(|b| b.point.as_str()),
    )?;
    if let Some(ms) = core.block_expiry_ms {
        time("plan.core.block_expiry_ms", ms, MAX_HORIZON_MS)?;
    }
    Ok(())
}

fn validate_family(plan: &FaultPlan, horizon: u64) -> Result<(), String> {
    let nodes = plan.core.nodes;
    let machines = machines(plan);
    let committees = |field: &str, committees: &[Vec<usize>]| -> Result<(), String> {
        for (e, committee) in committees.iter().enumerate() {
            check(
                !committee.is_empty(),
                || format!("{field}[{e}]"),
                || "a committee has members".into(),
            )?;
            for (i, n) in committee.iter().enumerate() {
                node(&format!("{field}[{e}][{i}]"), *n, machines)?;
            }
            unique(&format!("{field}[{e}]"), committee.iter().copied())?;
        }
        Ok(())
    };
    match &plan.family {
        FamilyPlan::Barrier(b) => {
            check(
                (1..=1000).contains(&b.steps),
                || "plan.family.barrier.steps".into(),
                || "between 1 and 1000".into(),
            )?;
            if let Some((odd, _)) = b.odd_node {
                node("plan.family.barrier.odd_node", odd, nodes)?;
            }
            if let Some(liar) = &b.liar {
                node("plan.family.barrier.liar.node", liar.node, nodes)?;
            }
        }
        FamilyPlan::Dkg(d) => {
            committees("plan.family.dkg.committees", &d.committees)?;
            if let Some(b) = &d.byzantine {
                byzantine("plan.family.dkg.byzantine", b, nodes)?;
            }
            for (i, n) in d.absent.iter().enumerate() {
                node(&format!("plan.family.dkg.absent[{i}]"), *n, nodes)?;
            }
            unique("plan.family.dkg.absent", d.absent.iter().copied())?;
            let f = nodes.saturating_sub(1) / 3;
            check(
                d.absent.len() <= f,
                || "plan.family.dkg.absent".into(),
                || {
                    format!(
                        "{} absent members, at most f = {f} of {nodes} (the others could not finish)",
                        d.absent.len()
                    )
                },
            )?;
        }
        FamilyPlan::Ledger(l) => {
            let w = &l.workload;
            let f = |name: &str| format!("plan.family.ledger.workload.{name}");
            check(
                w.ops_per_sec <= 10_000,
                || f("ops_per_sec"),
                || "at most 10000".into(),
            )?;
            check(
                (1..=65_536).contains(&w.max_payload),
                || f("max_payload"),
                || "between 1 and 65536 bytes".into(),
            )?;
            check(
                w.preload_ops <= 1_000_000,
                || f("preload_ops"),
                || "at most 1000000".into(),
            )?;
            if let Some(liar) = &l.liar {
                node("plan.family.ledger.liar.node", liar.node, nodes)?;
            }
        }
        FamilyPlan::Checkpoint(c) => {
            let f = |name: &str| format!("plan.family.checkpoint.{name}");
            for (name, value) in [
                ("interval_ms", c.interval_ms),
                ("check_ms", c.check_ms),
                ("window_ms", c.window_ms),
            ] {
                check(
                    (1..=horizon.max(1)).contains(&value),
                    || f(name),
                    || format!("between 1 and the run's length ({horizon} ms)"),
                )?;
            }
            if let Some(liar) = &c.liar {
                // An outsider is the node after the members.
                node(&f("liar.node"), liar.node, nodes + 1)?;
            }
            committees(&f("committees"), &c.committees)?;
            if let Some(late) = c.late_joiner {
                node(&f("late_joiner"), late, nodes)?;
            }
            for (i, change) in c.changes.iter().enumerate() {
                let g = |name: &str| f(&format!("changes[{i}].{name}"));
                time(&g("at_ms"), change.at_ms, horizon)?;
                node(&g("by"), change.by, nodes)?;
                // A change may name the key after the members (an outsider's) even when no
                // joiner runs it.
                let keys = machines.max(nodes + 1);
                match change.change {
                    ChangeKind::Add { node: n } => node(&g("change.add.node"), n, keys)?,
                    ChangeKind::Remove { node: n } => node(&g("change.remove.node"), n, nodes)?,
                    ChangeKind::Replace { old, new } => {
                        node(&g("change.replace.old"), old, nodes)?;
                        node(&g("change.replace.new"), new, keys)?;
                    }
                    ChangeKind::Reshare => {}
                }
            }
            if let Some(liar) = &c.governance_liar {
                node(&f("governance_liar.node"), liar.node, nodes)?;
            }
            for (i, joiner) in c.joiners.iter().enumerate() {
                check(
                    *joiner == nodes + i,
                    || f(&format!("joiners[{i}]")),
                    || format!("joiners are the nodes after the members: {}", nodes + i),
                )?;
            }
            if let Some(dead) = c.dead {
                node(&f("dead"), dead, nodes)?;
            }
            if let Some(b) = &c.dkg_liar {
                byzantine(&f("dkg_liar"), b, nodes)?;
                check(
                    b.misbehaviour != crate::scenarios::dkg::byzantine::Misbehaviour::BadHello,
                    || f("dkg_liar.misbehaviour"),
                    || {
                        "not BadHello here (its refused hellos need another cluster definition: the dkg family's)".into()
                    },
                )?;
                check(
                    c.liar.is_none(),
                    || f("dkg_liar"),
                    || "not with a checkpoint liar (one liar is judged at a time)".into(),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(scenario: &str, seed: u64) -> Result<(Scenario, u64, FaultPlan), String> {
        let scenario = Scenario::named(scenario);
        let text = PlanFile::new(scenario, seed, scenario.plan(seed, None)).to_text();
        PlanFile::parse(&text)
    }

    #[test]
    fn every_drawn_plan_is_valid_and_reads_back_equal() {
        for scenario in Scenario::all() {
            for seed in 1..=20 {
                let plan = scenario.plan(seed, None);
                let (again, s, read) = round_trip(scenario.name(), seed)
                    .unwrap_or_else(|e| panic!("{scenario} seed {seed}: {e}"));
                assert_eq!((again, s, &read), (scenario, seed, &plan));
            }
        }
    }

    /// Edits the JSON of `dkg` seed 3's plan file with `edit` and returns the error.
    fn refused(scenario: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let scenario = Scenario::named(scenario);
        let text = PlanFile::new(scenario, 3, scenario.plan(3, None)).to_text();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(&mut value);
        PlanFile::parse(&value.to_string()).expect_err("refused")
    }

    #[test]
    fn bad_plans_are_refused_naming_the_field() {
        let e = refused("dkg", |v| v["plan"]["core"]["crashez"] = 1.into());
        assert!(e.contains("unknown field `crashez`"), "{e}");
        let e = refused("dkg", |v| v["scenario"] = "nope".into());
        assert!(e.starts_with("scenario:") && e.contains("dkg-crash"), "{e}");
        let e = refused("dkg", |v| v["plan"]["core"]["links"][0]["to"] = 99.into());
        assert!(
            e.starts_with("plan.core.links[0].to: node 99 does not exist"),
            "{e}"
        );
        let e = refused("dkg", |v| {
            v["plan"]["core"]["links"][1]["success_per_mille"] = 1001.into()
        });
        assert!(e.starts_with("plan.core.links[1].success_per_mille"), "{e}");
        let e = refused("dkg-crash", |v| {
            v["plan"]["core"]["crashes"][0]["at_ms"] = 10_000_000.into()
        });
        assert!(
            e.starts_with("plan.core.crashes[0].at_ms") && e.contains("past the end"),
            "{e}"
        );
        let e = refused("dkg-crash", |v| {
            let crash = v["plan"]["core"]["crashes"][0].clone();
            v["plan"]["core"]["crashes"] = vec![crash; MAX_CRASHES + 1].into();
        });
        assert!(
            e.starts_with("plan.core.crashes:") && e.contains("at most"),
            "{e}"
        );
        let e = refused("ledger", |v| v["plan"]["core"]["nodes"] = 0.into());
        assert!(e.starts_with("plan.core.nodes"), "{e}");
        let e = refused("ledger", |v| {
            v["plan"]["family"] = serde_json::json!({"barrier": {"steps": 3}})
        });
        assert!(
            e.starts_with("plan.family: scenario ledger runs a ledger plan"),
            "{e}"
        );
        let e = refused("dkg", |v| v["plan"]["core"]["nodes"] = "four".into());
        assert!(e.starts_with("malformed plan: invalid type"), "{e}");
        let e = PlanFile::parse("{\"scenario\": \"dkg\"").expect_err("refused");
        assert!(e.starts_with("malformed plan"), "{e}");
    }
}
