//! Running one seed of one scenario, and the report it yields.

use crate::{
    invariant::{Invariant, Violation},
    scenarios::{FaultPlan, Scenario},
    trace::{Sink, TraceLine},
    world::Transport,
};
use commonware_cryptography::{Hasher as _, Sha256};
use commonware_runtime::{Clock as _, Metrics as _, Runner as _, Supervisor as _, deterministic};
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Simulated time advanced per pass of the runtime's event loop. Small, so that latencies and
/// timeouts in scenarios are the configured ones rather than inflated by scheduling passes.
pub const CYCLE: Duration = Duration::from_micros(1);

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub scenario: Scenario,
    pub seed: u64,
    /// Node count; drawn from the seed when `None`.
    pub nodes: Option<usize>,
    /// Write one JSON line per protocol event here.
    pub trace: Option<PathBuf>,
    /// The transport the nodes talk over (it replaces the plan's drawn one; a given `plan`
    /// keeps its own).
    pub transport: Transport,
    /// Run this plan instead of the one the seed draws (`run --plan FILE`).
    pub plan: Option<FaultPlan>,
    /// The planted bug to run with (`--canary`; only in a build with the `canary` feature).
    pub canary: Option<cohort_protocol::canary::Canary>,
    /// Share a verification memo between the run's nodes (`cohort_protocol::verify`): the
    /// same digest either way, faster with it; `--no-memo` turns it off.
    pub memo: bool,
}

/// What a run showed.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub scenario: Scenario,
    pub seed: u64,
    /// `--nodes` as given (replay commands repeat it).
    pub nodes_arg: Option<usize>,
    pub plan: FaultPlan,
    pub violations: Vec<Violation>,
    /// sha256(auditor state || trace hash), hex.
    pub digest: String,
    /// The runtime auditor's own state.
    pub auditor: String,
    pub events: u64,
    pub sim_ms: u64,
    pub wall_ms: u64,
    /// The last trace events, oldest first.
    pub recent: Vec<TraceLine>,
    /// Measurements the scenario reported.
    pub notes: Vec<String>,
    /// Whether the plan is the one the seed draws (else it came from a file, edited or not, and
    /// only `run --plan` of the saved plan replays the run).
    pub drawn: bool,
    /// The planted bug it ran with.
    pub canary: Option<cohort_protocol::canary::Canary>,
    /// Each node's storage syncs over the run (by node index).
    pub syncs: Vec<(usize, u64)>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The one-line command that replays this run exactly.
    pub fn replay_command(&self) -> String {
        let mut command = format!(
            "cohort-sim run --scenario {} --seed {}",
            self.scenario.name(),
            self.seed
        );
        if let Some(nodes) = self.nodes_arg {
            command.push_str(&format!(" --nodes {nodes}"));
        }
        if !self.plan.core.transport.is_default() {
            command.push_str(&format!(" --transport {}", self.plan.core.transport));
        }
        if let Some(canary) = self.canary {
            command.push_str(&format!(" --canary {}", canary.name()));
        }
        command
    }

    /// The last line `cohort-sim run` prints.
    pub fn summary_line(&self) -> String {
        format!(
            "seed={} scenario={} outcome={} digest={} sim_ms={} wall_ms={}",
            self.seed,
            self.scenario.name(),
            if self.passed() { "pass" } else { "fail" },
            self.digest,
            self.sim_ms,
            self.wall_ms
        )
    }
}

/// Runs one seed once (its drawn plan, or `options.plan`).
pub fn run(options: &RunOptions) -> std::io::Result<RunReport> {
    let plan = match &options.plan {
        Some(plan) => plan.clone(),
        None => {
            let mut plan = options.scenario.plan(options.seed, options.nodes);
            plan.core.transport = options.transport;
            plan
        }
    };
    run_plan(options, plan)
}

/// Runs one seed once with the given plan (instead of the one the seed draws).
pub fn run_plan(options: &RunOptions, plan: FaultPlan) -> std::io::Result<RunReport> {
    run_inner(options, plan, false).map(|(report, _)| report)
}

/// As [`run_plan`], also returning every node's metrics at the end of the run (Prometheus
/// text, as the runtime encodes them).
pub fn run_plan_with_metrics(
    options: &RunOptions,
    plan: FaultPlan,
) -> std::io::Result<(RunReport, String)> {
    run_inner(options, plan, true)
}

fn run_inner(
    options: &RunOptions,
    plan: FaultPlan,
    want_metrics: bool,
) -> std::io::Result<(RunReport, String)> {
    let wall = Instant::now();
    let writer: Option<Box<dyn std::io::Write + Send>> = match &options.trace {
        Some(path) => Some(Box::new(std::io::BufWriter::new(std::fs::File::create(
            path,
        )?))),
        None => None,
    };
    let mut sink = Sink::new(writer, options.scenario.observers());
    if options.memo {
        sink.verifier = cohort_protocol::Verifier::memoized();
    }
    let sink = Arc::new(Mutex::new(sink));
    // The run is on this thread: plant its canary here (and none for the next run's sake
    // below). A build without canaries refuses one (the CLI says so before it gets here).
    cohort_protocol::canary::plant(options.canary)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::Unsupported, e))?;
    // And arm its buggify points (a plan file's are validated: every name is a point).
    let points: Vec<_> = plan
        .core
        .buggify
        .iter()
        .filter_map(|b| {
            cohort_protocol::buggify::Point::from_name(&b.point).map(|p| (p, b.per_mille))
        })
        .collect();
    cohort_protocol::buggify::arm(&points, plan.core.buggify_seed);
    let executor = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(options.seed)
            .with_cycle(CYCLE),
    );
    let scenario = options.scenario;
    let seed = options.seed;
    // Whether the seed draws this plan (with `--nodes` as given, or as the plan has it: a
    // plan file does not say whether its node count was asked for), for the replay command.
    let drawn_with = |nodes: Option<usize>| {
        let mut drawn = scenario.plan(seed, nodes);
        drawn.core.transport = plan.core.transport;
        drawn == plan
    };
    let (drawn, nodes_arg) = if drawn_with(options.nodes) {
        (true, options.nodes)
    } else if drawn_with(Some(plan.core.nodes)) {
        (true, Some(plan.core.nodes))
    } else {
        (false, options.nodes)
    };
    let run_plan = plan.clone();
    let run_sink = sink.clone();
    let (violations, sim_ms, auditor, metrics) = executor.start(|context| async move {
        let start = context.current();
        let violations = scenario
            .run(context.child("sim"), seed, &run_plan, run_sink)
            .await;
        let elapsed = context
            .current()
            .duration_since(start)
            .unwrap_or_default()
            .as_millis() as u64;
        let metrics = if want_metrics {
            context.encode()
        } else {
            String::new()
        };
        (violations, elapsed, context.auditor().state(), metrics)
    });
    cohort_protocol::canary::plant(None).expect("planting none always works");
    let fired = cohort_protocol::buggify::disarm();
    let mut sink = sink.lock().expect("sink");
    let mut violations = violations;
    violations.append(&mut sink.harness_violations);
    let mut syncs: Vec<(usize, u64)> = sink
        .sync_counters
        .iter()
        .map(|(node, count)| (*node, count()))
        .collect();
    syncs.sort_unstable();
    if !fired.is_empty() {
        let fired: Vec<String> = fired
            .iter()
            .map(|(point, n)| format!("{}x{n}", point.name()))
            .collect();
        sink.notes
            .push(format!("buggify fired: {}", fired.join(" ")));
    }
    let (trace_hash, events) = sink.finish();
    let digest = Sha256::hash(&[auditor.as_bytes(), &trace_hash]);
    let report = RunReport {
        scenario,
        seed,
        nodes_arg,
        plan,
        violations,
        digest: commonware_formatting::hex(digest.as_ref()),
        auditor,
        events,
        sim_ms,
        wall_ms: wall.elapsed().as_millis() as u64,
        recent: sink.recent(),
        notes: sink.notes.clone(),
        drawn,
        canary: options.canary,
        syncs,
    };
    Ok((report, metrics))
}

/// Runs one seed; with `check_determinism`, runs it a second time (without a trace file, and
/// with the verification memo turned the other way, so the check also proves the memo
/// invisible) and adds a `determinism` violation when the two digests differ.
pub fn run_checked(options: &RunOptions, check_determinism: bool) -> std::io::Result<RunReport> {
    let mut report = run(options)?;
    if check_determinism {
        let again = run(&RunOptions {
            trace: None,
            memo: !options.memo,
            ..options.clone()
        })?;
        if again.digest != report.digest {
            let memo = |on: bool| if on { "with" } else { "without" };
            report.violations.push(Violation::new(
                Invariant::Determinism,
                format!(
                    "same seed, different runs: digest {} ({} the memo) then {} ({} it) (auditor {} then {}; events {} then {}); run both with --no-memo to tell nondeterminism from a memo that changed an answer",
                    report.digest,
                    memo(options.memo),
                    again.digest,
                    memo(!options.memo),
                    report.auditor,
                    again.auditor,
                    report.events,
                    again.events
                ),
            ));
        }
        report.wall_ms += again.wall_ms;
    }
    Ok(report)
}
