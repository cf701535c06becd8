//! `cohort-sim`: list scenarios, run or replay one seed, explore a range of seeds.

use clap::{Parser, Subcommand};
use cohort_simulator::{
    DEFAULT_SCENARIO, Invariant, RunOptions, RunReport, Scenario, canaries, crash_points,
    explore::{compare_digests, digests_text, explore, parse_digests, parse_seeds},
    run_checked,
    scenarios::{PlanFile, invariant_table, scenario_table},
    world::Transport,
};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

#[derive(Parser)]
#[command(
    name = "cohort-sim",
    version,
    about = "Deterministic simulator of Cohort clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenarios, one per line.
    List {
        /// Print the README's table instead (of the scenarios, or with `--invariants` of the
        /// invariants).
        #[arg(long)]
        markdown: bool,
        /// List the invariants (name and meaning) instead of the scenarios.
        #[arg(long)]
        invariants: bool,
        /// List the canaries (planted bugs, `explore --canary`) and their campaigns instead.
        #[arg(long, conflicts_with = "invariants")]
        canaries: bool,
    },
    /// Print the fault plan a seed of a scenario draws (a plan file: JSON), without running it.
    Plan {
        #[arg(long, default_value = DEFAULT_SCENARIO.name(), help = scenario_help())]
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Number of nodes (drawn from the seed if absent).
        #[arg(long)]
        nodes: Option<usize>,
        /// Write the plan file here instead of printing it (`run --plan FILE` runs it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run (or replay) one seed of one scenario, or a saved plan.
    Run {
        #[arg(long, default_value = DEFAULT_SCENARIO.name(), help = scenario_help())]
        scenario: String,
        #[arg(long, required_unless_present = "plan")]
        seed: Option<u64>,
        /// Number of nodes (drawn from the seed if absent).
        #[arg(long)]
        nodes: Option<usize>,
        /// Run this plan file (from `plan --out`, or saved by a failing run; edited or not)
        /// instead of a seed's drawn plan: the file names the scenario and the seed.
        #[arg(long, conflicts_with_all = ["scenario", "seed", "nodes", "transport"])]
        plan: Option<PathBuf>,
        /// Where a failing run saves its plan file.
        #[arg(long, default_value = DEFAULT_FAILURES_DIR)]
        failures: PathBuf,
        /// Run with a planted bug (a build with `--features canary`; see `explore --canary`).
        #[arg(long)]
        canary: Option<String>,
        /// Write one JSON line per protocol event to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Run the seed twice and fail if the run digests differ.
        #[arg(long)]
        check_determinism: bool,
        /// The transport: `lean` (per-link FIFO delivery) or `commonware` (commonware-p2p's
        /// simulated network, with its TCP and bandwidth model).
        #[arg(long, default_value_t = Transport::default())]
        transport: Transport,
        /// Verify every signature and decode every frame on every node, without the memo the
        /// run's nodes share otherwise (the digest is the same either way).
        #[arg(long)]
        no_memo: bool,
    },
    /// Benchmark: `bench dkg --nodes 4,8,16` times a whole simulated ceremony (zero latency)
    /// next to the same cryptography done directly, and prints the ratio; `bench ledger` times
    /// applying backfilled pages next to raw ed25519 verification of the same ops, and a late
    /// joiner catching up a ledger in the simulator; `bench checkpoint --nodes 7,16,32 --days
    /// 30` measures proposal-to-certificate time, traffic and certificate size, and a member's
    /// ledger over the days with compaction and without; `bench transport` runs a 4-node
    /// ping-pong and seeds of barrier, dkg, ledger and checkpoint on both transports.
    Bench {
        /// What to benchmark (`dkg`, `ledger`, `checkpoint` or `transport`).
        what: String,
        /// Committee sizes, comma separated (`dkg`: default 4,8,16; `checkpoint`: 7,16,32).
        #[arg(long)]
        nodes: Option<String>,
        /// Scaled days of the growth measurement (`checkpoint`).
        #[arg(long, default_value_t = 30)]
        days: u64,
        /// Repetitions per size (medians are reported; `dkg`).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Ops applied (`ledger`).
        #[arg(long, default_value_t = 20_000)]
        ops: u64,
        /// Ops the late joiner catches up (`ledger`).
        #[arg(long, default_value_t = 100_000)]
        catch_up: u64,
        /// Round trips per pair of the ping-pong (`transport`).
        #[arg(long, default_value_t = 20_000)]
        rounds: u64,
        /// Seeds each scenario runs on each transport (`transport`; `A..B` or `A..=B`).
        #[arg(long, default_value = "1..=5")]
        seeds: String,
    },
    /// Crash one node at every dangerous moment of one seed: immediately before and after each
    /// of its storage syncs, and after the first frame it sends once a sync completed; one run
    /// per point, each followed by a restart; every point must keep every invariant.
    CrashPoints {
        #[arg(long, default_value = DEFAULT_SCENARIO.name(), help = scenario_help())]
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Number of nodes (drawn from the seed if absent).
        #[arg(long)]
        nodes: Option<usize>,
        /// The node to crash.
        #[arg(long, default_value_t = 0)]
        node: usize,
        /// Only the first this many syncs (default: all of them).
        #[arg(long)]
        limit: Option<u64>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where a failing point saves its plan file.
        #[arg(long, default_value = DEFAULT_FAILURES_DIR)]
        failures: PathBuf,
    },
    /// Run every seed of a range (`A..B`, or `A..=B` to include B).
    Explore {
        /// The scenario (default: the canary's campaign with `--canary`, else `all`).
        #[arg(long, help = scenario_help())]
        scenario: Option<String>,
        /// `A..B` or `A..=B` (default with `--canary`: `1..=BUDGET` of its campaign).
        #[arg(long, required_unless_present = "canary")]
        seeds: Option<String>,
        #[arg(long)]
        nodes: Option<usize>,
        /// Hunt a planted bug (a build with `--features canary`): run its campaign's scenario
        /// with it planted and stop at the first failing seed; exit status 0 if caught.
        #[arg(long)]
        canary: Option<String>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run each seed twice and fail it if the two digests differ.
        #[arg(long)]
        check_determinism: bool,
        /// The transport (`lean` or `commonware`; see `run --help`).
        #[arg(long, default_value_t = Transport::default())]
        transport: Transport,
        /// Without the verification memo (see `run --help`).
        #[arg(long)]
        no_memo: bool,
        /// Where each failing seed's plan file is saved.
        #[arg(long, default_value = DEFAULT_FAILURES_DIR)]
        failures: PathBuf,
        /// Write `seed digest` for every seed, one per line in seed order, to this file.
        #[arg(long)]
        digests: Option<PathBuf>,
        /// Compare every seed's digest with this file (as `--digests` writes it) and fail on
        /// any difference or any seed missing from it.
        #[arg(long)]
        compare: Option<PathBuf>,
    },
}

/// Where failing runs save their plan files unless `--failures` says otherwise.
const DEFAULT_FAILURES_DIR: &str = "cohort-sim-failures";

/// The help of `--scenario`: every name of the catalogue.
fn scenario_help() -> String {
    format!(
        "The scenario ({}; `cohort-sim list` describes them)",
        Scenario::names()
    )
}

fn scenario(name: &str, nodes: Option<usize>) -> Result<Scenario, String> {
    let scenario = Scenario::from_name(name)
        .ok_or_else(|| format!("unknown scenario {name:?}; known: {}", Scenario::names()))?;
    if let Some(nodes) = nodes
        && !scenario.node_range().contains(&nodes)
    {
        let range = scenario.node_range();
        return Err(format!(
            "scenario {} takes {}..={} nodes, not {nodes}",
            scenario.name(),
            range.start(),
            range.end()
        ));
    }
    Ok(scenario)
}

/// Saves a failing run's plan file under `dir`; returns its path.
fn save_plan(report: &RunReport, dir: &Path) -> Result<PathBuf, String> {
    let name = format!(
        "{}-seed{}{}.plan.json",
        report.scenario.name(),
        report.seed,
        if report.drawn { "" } else { "-edited" }
    );
    let path = dir.join(name);
    PlanFile::new(report.scenario, report.seed, report.plan.clone())
        .save(&path)
        .map_err(|e| format!("cannot save plan file {}: {e}", path.display()))?;
    Ok(path)
}

fn print_failure(report: &RunReport, failures: &Path) {
    println!(
        "FAILED: scenario {} seed {}",
        report.scenario.name(),
        report.seed
    );
    for violation in &report.violations {
        println!("  {violation}");
    }
    println!("  fault plan: {}", report.plan.to_json());
    println!("  last {} trace events:", report.recent.len());
    for line in &report.recent {
        println!("    t={}us node={} {}", line.t_us, line.node, line.detail);
    }
    match save_plan(report, failures) {
        Ok(path) => {
            println!("  saved plan: {}", path.display());
            if report.drawn {
                println!("  replay: {}", report.replay_command());
            }
            println!(
                "  replay the saved plan: cohort-sim run --plan {}",
                path.display()
            );
        }
        Err(e) => {
            println!("  {e}");
            println!("  replay: {}", report.replay_command());
        }
    }
}

fn main() -> ExitCode {
    // Protocol logs on stderr when asked for (RUST_LOG=cohort_protocol=trace, say): replaying a
    // failing seed with them shows every message of the run.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .without_time()
            .try_init();
    }
    match execute(Cli::parse().command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command; `Err` is a usage or I/O error (exit status 2).
fn execute(command: Command) -> Result<ExitCode, String> {
    let verdict = |passed: bool| {
        if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    };
    match command {
        Command::List {
            markdown,
            canaries: true,
            ..
        } => {
            if markdown {
                print!("{}", canaries::canary_table());
            } else {
                for c in canaries::CAMPAIGNS {
                    println!(
                        "{:<20} {} (campaign: {}, budget {} seeds)",
                        c.canary.name(),
                        c.bug,
                        c.scenario,
                        c.budget
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            markdown,
            invariants,
            canaries: false,
        } => {
            match (markdown, invariants) {
                (true, false) => print!("{}", scenario_table()),
                (true, true) => print!("{}", invariant_table()),
                (false, false) => {
                    for scenario in Scenario::all() {
                        println!("{:<18} {}", scenario.name(), scenario.description());
                    }
                }
                (false, true) => {
                    for invariant in Invariant::ALL {
                        println!("{:<30} {}", invariant.name(), invariant.meaning());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            scenario: name,
            seed,
            nodes,
            out,
        } => {
            let scenario = scenario(&name, nodes)?;
            let file = PlanFile::new(scenario, seed, scenario.plan(seed, nodes));
            match out {
                Some(path) => {
                    file.save(&path)
                        .map_err(|e| format!("cannot write plan file {}: {e}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => print!("{}", file.to_text()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario: name,
            seed,
            nodes,
            plan,
            failures,
            canary,
            trace,
            check_determinism,
            transport,
            no_memo,
        } => {
            let canary = canary.as_deref().map(canaries::parse).transpose()?;
            let mut options = match plan {
                Some(path) => {
                    let (scenario, seed, plan) = PlanFile::load(&path)?;
                    RunOptions {
                        scenario,
                        seed,
                        nodes: None,
                        trace: trace.clone(),
                        transport: plan.core.transport,
                        memo: !no_memo,
                        plan: Some(plan),
                        canary: None,
                    }
                }
                None => RunOptions {
                    scenario: scenario(&name, nodes)?,
                    seed: seed.ok_or("--seed or --plan is required")?,
                    nodes,
                    trace: trace.clone(),
                    transport,
                    memo: !no_memo,
                    plan: None,
                    canary: None,
                },
            };
            options.canary = canary;
            let report = run_checked(&options, check_determinism)
                .map_err(|e| format!("cannot write trace file {trace:?}: {e}"))?;
            println!(
                "nodes={} steps={} events={}{}",
                report.plan.core.nodes,
                report.plan.steps(),
                report.events,
                if check_determinism {
                    " determinism=checked"
                } else {
                    ""
                }
            );
            for note in &report.notes {
                println!("note: {note}");
            }
            if !report.passed() {
                print_failure(&report, &failures);
            }
            println!("{}", report.summary_line());
            Ok(verdict(report.passed()))
        }
        Command::Bench {
            what,
            ops,
            catch_up,
            ..
        } if what == "ledger" => {
            let a = cohort_simulator::bench::ledger::apply(ops)?;
            println!(
                "apply: ops={} pages={} raw_single_ops_per_s={:.0} raw_batch_ops_per_s={:.0} apply_ops_per_s={:.0} ratio_apply_over_single={:.2}",
                a.ops,
                a.pages,
                a.rate(a.raw_single),
                a.rate(a.raw_batch),
                a.rate(a.apply),
                a.ratio()
            );
            let c = cohort_simulator::bench::ledger::catch_up(catch_up)?;
            println!(
                "catch_up: ops={} wall_ms={:.0} ops_per_s={:.0} sim_ms={:.0} peak_rss_mb={}",
                c.ops,
                c.wall.as_secs_f64() * 1e3,
                c.ops as f64 / c.wall.as_secs_f64().max(1e-9),
                c.sim.as_secs_f64() * 1e3,
                c.peak_rss_kb.map_or("unknown".to_string(), |kb| format!(
                    "{:.0}",
                    kb as f64 / 1024.0
                ))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what,
            rounds,
            seeds,
            ..
        } if what == "transport" => {
            bench_transport(rounds, &seeds)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what, nodes, days, ..
        } if what == "checkpoint" => {
            let sizes = sizes(nodes.as_deref().unwrap_or("7,16,32"), 4)?;
            if !(1..=365).contains(&days) {
                return Err("--days must be within 1..=365".into());
            }
            bench_checkpoint(&sizes, days)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what, nodes, reps, ..
        } => {
            if what != "dkg" {
                return Err(format!(
                    "unknown benchmark {what:?}; known: dkg, ledger, checkpoint, transport"
                ));
            }
            let sizes = sizes(nodes.as_deref().unwrap_or("4,8,16"), 1)?;
            println!(
                "{:>5} {:>9} {:>9} {:>11} {:>9} {:>9} {:>13} {:>10}",
                "nodes",
                "sim_ms",
                "raw_ms",
                "dealings_ms",
                "logs_ms",
                "ratio_raw",
                "ratio_dealings",
                "ratio_fair"
            );
            let results = cohort_simulator::bench::dkg::run(&sizes, reps)?;
            for result in &results {
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                println!(
                    "{:>5} {:>9.1} {:>9.1} {:>11.1} {:>9.1} {:>9.2} {:>13.2} {:>10.2}",
                    result.nodes,
                    ms(result.sim),
                    ms(result.raw),
                    ms(result.decode_dealings),
                    ms(result.decode_logs),
                    result.ratio(),
                    result.ratio_dealings(),
                    result.ratio_fair()
                );
            }
            println!();
            println!(
                "{:>5} {:>8} {:>8} {:>10} {:>8}",
                "nodes", "kind", "frames", "kB", "share"
            );
            for result in &results {
                let bytes: u64 = result.traffic.values().map(|(_, b)| b).sum();
                let frames: u64 = result.traffic.values().map(|(f, _)| f).sum();
                let mut rows: Vec<(&str, u64, u64)> = result
                    .traffic
                    .iter()
                    .map(|(kind, (f, b))| (kind.as_str(), *f, *b))
                    .collect();
                rows.push(("all", frames, bytes));
                for (kind, f, b) in rows {
                    println!(
                        "{:>5} {:>8} {:>8} {:>10.1} {:>7.1}%",
                        result.nodes,
                        kind,
                        f,
                        b as f64 / 1e3,
                        100.0 * b as f64 / bytes.max(1) as f64
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CrashPoints {
            scenario: name,
            seed,
            nodes,
            node,
            limit,
            jobs,
            failures,
        } => {
            let options = RunOptions {
                scenario: scenario(&name, nodes)?,
                seed,
                nodes,
                trace: None,
                transport: Transport::default(),
                memo: true,
                plan: None,
                canary: None,
            };
            let (survey, syncs) = crash_points::survey(&options, node)?;
            if !survey.passed() {
                print_failure(&survey, &failures);
                return Err(format!(
                    "seed {seed} of {name} fails without a crash point: fix that first"
                ));
            }
            let points = limit.map_or(syncs, |l| l.min(syncs));
            println!(
                "node {node} made {syncs} storage syncs in seed {seed} of {name}: {} crash points{}",
                points * 3,
                if points < syncs {
                    format!(" (the first {points} syncs; --limit)")
                } else {
                    String::new()
                }
            );
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let started = std::time::Instant::now();
            let total = points * 3;
            let done = std::sync::atomic::AtomicU64::new(0);
            let step = (total / 20).max(1);
            let results = crash_points::enumerate(&options, &survey, node, points, jobs, |p| {
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if !p.report.passed() {
                    eprintln!("sync={} at={} failed", p.sync, p.at.name());
                }
                if n.is_multiple_of(step) || n == total {
                    eprintln!("ran {n}/{total} crash points");
                }
            });
            let mut failed = 0;
            for point in &results {
                let outcome = if point.report.passed() {
                    "pass".to_string()
                } else {
                    failed += 1;
                    format!(
                        "FAIL {}",
                        point
                            .report
                            .violations
                            .iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                };
                println!("sync={} at={} {outcome}", point.sync, point.at.name());
                if !point.report.passed() {
                    let path = failures.join(format!(
                        "{}-seed{}-node{node}-sync{}-{}.plan.json",
                        name,
                        seed,
                        point.sync,
                        point.at.name()
                    ));
                    PlanFile::new(point.report.scenario, seed, point.report.plan.clone())
                        .save(&path)
                        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
                    println!("  replay: cohort-sim run --plan {}", path.display());
                }
            }
            println!(
                "crash_points={} failed={failed} seconds={:.1}",
                results.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(verdict(failed == 0))
        }
        Command::Explore {
            scenario: name,
            seeds,
            nodes,
            canary,
            jobs,
            check_determinism,
            transport,
            no_memo,
            failures,
            digests,
            compare,
        } => {
            let canary = canary.as_deref().map(canaries::parse).transpose()?;
            let campaign = canary.map(canaries::campaign);
            let name = name
                .or_else(|| campaign.map(|c| c.scenario.to_string()))
                .unwrap_or_else(|| DEFAULT_SCENARIO.name().to_string());
            let nodes = nodes.or_else(|| campaign.and_then(|c| c.nodes));
            let scenario = scenario(&name, nodes)?;
            let seeds = match (seeds, campaign) {
                (Some(seeds), _) => parse_seeds(&seeds)?,
                (None, Some(c)) => 1..c.budget + 1,
                (None, None) => return Err("--seeds is required".to_string()),
            };
            // Read the file to compare with before spending the campaign on it.
            let expected = match &compare {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                        .and_then(|text| {
                            parse_digests(&text).map_err(|e| format!("{}: {e}", path.display()))
                        })?,
                ),
                None => None,
            };
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let first_violation = |report: &RunReport| {
                report
                    .violations
                    .first()
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let template = RunOptions {
                scenario,
                seed: 0,
                nodes,
                trace: None,
                transport,
                memo: !no_memo,
                plan: None,
                canary,
            };
            let exploration = explore(
                &template,
                seeds,
                jobs,
                check_determinism,
                canary.is_some(),
                |report| {
                    eprintln!("seed {} failed: {}", report.seed, first_violation(report));
                },
            );
            let flag = if check_determinism {
                " --check-determinism"
            } else {
                ""
            };
            for report in &exploration.failures {
                println!("failed seed={} {}", report.seed, first_violation(report));
                println!("  replay: {}{flag}", report.replay_command());
                match save_plan(report, &failures) {
                    Ok(path) => println!("  saved plan: {}", path.display()),
                    Err(e) => println!("  {e}"),
                }
            }
            if let Some(path) = &digests {
                std::fs::write(path, digests_text(&exploration.digests))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!(
                    "wrote {} digests to {}",
                    exploration.digests.len(),
                    path.display()
                );
            }
            let mut same = true;
            if let (Some(expected), Some(path)) = (&expected, &compare) {
                let differences = compare_digests(&exploration.digests, expected);
                for line in &differences {
                    println!("digest differs: {line}");
                }
                println!(
                    "compared {} digests with {}: {} differ",
                    exploration.digests.len(),
                    path.display(),
                    differences.len()
                );
                same = differences.is_empty();
            }
            println!("{}", exploration.summary_line());
            if let Some(canary) = canary {
                // A hunt: caught is success.
                return Ok(match exploration.failures.first() {
                    Some(report) => {
                        println!(
                            "canary {} caught at seed {} by {} ({} seeds run)",
                            canary.name(),
                            report.seed,
                            report
                                .violations
                                .first()
                                .map_or("?", |v| v.invariant.name()),
                            exploration.explored
                        );
                        ExitCode::SUCCESS
                    }
                    None => {
                        println!(
                            "canary {} NOT caught in {} seeds of {}",
                            canary.name(),
                            exploration.explored,
                            scenario.name()
                        );
                        ExitCode::from(1)
                    }
                });
            }
            Ok(verdict(exploration.failures.is_empty() && same))
        }
    }
}

/// `bench transport`: the ping-pong on both transports, then seeds per second.
fn bench_transport(rounds: u64, seeds: &str) -> Result<(), String> {
    use cohort_simulator::bench::transport::{ping_pong, seed_rates};
    if !(1..=10_000_000).contains(&rounds) {
        return Err("--rounds must be within 1..=10000000".into());
    }
    let seeds = parse_seeds(seeds)?;
    let lean = ping_pong(Transport::Lean, rounds);
    let commonware = ping_pong(Transport::Commonware, rounds);
    println!(
        "{:>11} {:>9} {:>9} {:>13}",
        "transport", "frames", "wall_ms", "frames_per_s"
    );
    for p in [&commonware, &lean] {
        println!(
            "{:>11} {:>9} {:>9.0} {:>13.0}",
            p.transport.name(),
            p.frames,
            p.wall.as_secs_f64() * 1e3,
            p.rate()
        );
    }
    println!(
        "ping_pong ratio lean/commonware = {:.2}",
        lean.rate() / commonware.rate().max(1e-9)
    );
    if let Some(s) = lean.stats {
        println!(
            "lean frames: sent {} delivered {} lost {} blocked {} unlinked {} overflowed {} stale {}",
            s.sent, s.delivered, s.lost, s.blocked, s.unlinked, s.overflowed, s.stale
        );
        // The last answers may still be in flight when the pings stop: only drops are errors.
        if s.lost + s.blocked + s.unlinked + s.overflowed + s.stale > 0 {
            return Err("the lean transport dropped ping-pong frames on lossless links".into());
        }
    }
    println!();
    let rates = seed_rates(seeds).map_err(|e| e.to_string())?;
    println!(
        "{:>11} {:>11} {:>6} {:>7} {:>9} {:>8}",
        "scenario", "transport", "seeds", "failed", "wall_ms", "seeds/s"
    );
    for r in &rates {
        println!(
            "{:>11} {:>11} {:>6} {:>7} {:>9.0} {:>8.2}",
            r.scenario,
            r.transport.name(),
            r.seeds,
            r.failed,
            r.wall.as_secs_f64() * 1e3,
            r.rate()
        );
    }
    for pair in rates.chunks(2) {
        if let [lean, commonware] = pair {
            println!(
                "{} seeds/s ratio lean/commonware = {:.2}",
                lean.scenario,
                lean.rate() / commonware.rate().max(1e-9)
            );
        }
    }
    Ok(())
}

/// Committee sizes from `--nodes` (comma separated, each within `min..=64`).
fn sizes(nodes: &str, min: usize) -> Result<Vec<usize>, String> {
    let sizes: Vec<usize> = nodes
        .split(',')
        .map(|n| n.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--nodes {nodes:?}: {e}"))?;
    if sizes.is_empty() || sizes.iter().any(|n| !(min..=64).contains(n)) {
        return Err(format!("--nodes: each size must be within {min}..=64"));
    }
    Ok(sizes)
}

/// `bench checkpoint`: prints the certification table and the growth table.
fn bench_checkpoint(sizes: &[usize], days: u64) -> Result<(), String> {
    use cohort_simulator::bench::checkpoint::{
        self as cb, OLD_CERTIFICATE_BYTES, OLD_WINDOW, SCALED_WINDOW,
    };
    println!(
        "certify: proposal to certificate (simulated), next to the replaced design's {} s window (scaled world's window: {} s); traffic per certified checkpoint",
        OLD_WINDOW.as_secs(),
        SCALED_WINDOW.as_secs()
    );
    println!(
        "{:>5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8} {:>8}",
        "nodes",
        "certified",
        "median_ms",
        "max_ms",
        "x_window",
        "frames",
        "kB",
        "cert_B",
        "op_B",
        "wall_s"
    );
    for c in cb::certification(sizes)? {
        let cert = match c.certificate_bytes {
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}..{b}"),
        };
        println!(
            "{:>5} {:>9} {:>10.0} {:>10.0} {:>10.1} {:>10.1} {:>10.2} {:>9} {:>8} {:>8.1}",
            c.nodes,
            c.certified,
            c.median.as_secs_f64() * 1e3,
            c.max.as_secs_f64() * 1e3,
            cb::speedup(c.median),
            c.frames_per_checkpoint,
            c.bytes_per_checkpoint / 1e3,
            cert,
            c.op_bytes,
            c.wall.as_secs_f64()
        );
    }
    println!("(the replaced design's certificate: up to {OLD_CERTIFICATE_BYTES} bytes)");
    println!();
    let growth = cb::growth(days)?;
    println!(
        "growth: member 0 of {} over {days} scaled days ({} presence ops authored by all)",
        cb::GROWTH_NODES,
        growth.presence_authored
    );
    println!(
        "{:>4} {:>11} {:>12} {:>9} {:>10} {:>11} {:>12} {:>9} {:>10} {:>12}",
        "day",
        "held_ops",
        "held_kB",
        "store_rec",
        "store_kB",
        "full_ops",
        "full_kB",
        "full_rec",
        "full_st_kB",
        "checkpoints"
    );
    for (c, u) in growth.compacted.iter().zip(&growth.uncompacted) {
        println!(
            "{:>4} {:>11} {:>12.1} {:>9} {:>10.1} {:>11} {:>12.1} {:>9} {:>10.1} {:>12}",
            c.day,
            c.held_ops,
            c.held_bytes as f64 / 1e3,
            c.store_records,
            c.store_bytes as f64 / 1e3,
            u.held_ops,
            u.held_bytes as f64 / 1e3,
            u.store_records,
            u.store_bytes as f64 / 1e3,
            c.checkpoints
        );
    }
    if let (Some(c), Some(u)) = (growth.compacted.last(), growth.uncompacted.last()) {
        println!(
            "compacted / full at the end: memory {:.3}, store {:.3}",
            c.held_bytes as f64 / u.held_bytes.max(1) as f64,
            c.store_bytes as f64 / u.store_bytes.max(1) as f64
        );
    }
    Ok(())
}
