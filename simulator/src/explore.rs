//! `explore`: run every seed of a range, in parallel, and list the failures.
//!
//! Seeds are independent deterministic runs, so they are spread over worker threads (one per core
//! by default); results are reported in seed order whatever order they finish in.

use crate::run::{RunOptions, RunReport, run_checked};
use indicatif::{ProgressBar, ProgressStyle};
use std::{
    io::IsTerminal as _,
    ops::Range,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

/// What an exploration showed.
#[derive(Debug)]
pub struct Exploration {
    pub explored: u64,
    pub failures: Vec<RunReport>,
    /// Every seed's run digest, in seed order.
    pub digests: Vec<(u64, String)>,
    pub seconds: f64,
}

impl Exploration {
    pub fn seeds_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.explored as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The last line `cohort-sim explore` prints.
    pub fn summary_line(&self) -> String {
        format!(
            "explored={} failed={} seeds_per_sec={:.1}",
            self.explored,
            self.failures.len(),
            self.seeds_per_sec()
        )
    }
}

/// The text of a digests file: `seed digest`, one line per seed.
pub fn digests_text(digests: &[(u64, String)]) -> String {
    digests
        .iter()
        .map(|(seed, digest)| format!("{seed} {digest}\n"))
        .collect()
}

/// Parses a digests file (`seed digest` per line; blank lines and `#` comments skipped).
pub fn parse_digests(text: &str) -> Result<std::collections::BTreeMap<u64, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: expected `seed digest`, got {line:?}", i + 1);
        let (seed, digest) = line.split_once(' ').ok_or_else(bad)?;
        let seed: u64 = seed.parse().map_err(|_| bad())?;
        let digest = digest.trim();
        if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        if out.insert(seed, digest.to_string()).is_some() {
            return Err(format!("line {}: seed {seed} is listed twice", i + 1));
        }
    }
    Ok(out)
}

/// The differences between an exploration's digests and `expected` (a digests file): one line
/// per seed whose digest differs or that the file lacks. Seeds of the file this exploration did
/// not run are not compared (a slice may be compared with a longer file).
pub fn compare_digests(
    digests: &[(u64, String)],
    expected: &std::collections::BTreeMap<u64, String>,
) -> Vec<String> {
    digests
        .iter()
        .filter_map(|(seed, digest)| match expected.get(seed) {
            Some(e) if e == digest => None,
            Some(e) => Some(format!("seed {seed}: digest {digest}, the file has {e}")),
            None => Some(format!("seed {seed}: not in the file")),
        })
        .collect()
}

/// Parses `A..B` (B excluded) or `A..=B` (B included).
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let bad = || format!("seed range {text:?} is not of the form A..B or A..=B");
    if let Some((a, b)) = text.split_once("..=") {
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        let end = b.checked_add(1).ok_or_else(bad)?;
        return if a < end { Ok(a..end) } else { Err(bad()) };
    }
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a < b { Ok(a..b) } else { Err(bad()) }
}

/// Runs every seed in `seeds` as `template` says (its scenario, nodes, transport, memo and
/// canary; its seed and trace are ignored) on `jobs` threads (each twice, digests compared, with
/// `check_determinism`); `on_failure` sees each failure as it happens.
///
/// With `stop_at_first`, no seed is started after one failed (a canary hunt): seeds are taken
/// in order, so every seed below the first failing one has run, and the first failure reported
/// is the same whatever `jobs` is. `explored` counts the seeds that ran.
pub fn explore(
    template: &RunOptions,
    seeds: Range<u64>,
    jobs: usize,
    check_determinism: bool,
    stop_at_first: bool,
    on_failure: impl Fn(&RunReport) + Sync,
) -> Exploration {
    let started = Instant::now();
    let total = seeds.end - seeds.start;
    let next = AtomicU64::new(seeds.start);
    let failures = Mutex::new(Vec::new());
    let digests = Mutex::new(Vec::new());
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} seeds, {msg}",
            )
            .expect("valid template"),
        );
        bar.set_message("0 failed");
        Some(bar)
    } else {
        None
    };
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let step = (total / 10).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if stop_at_first && stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let options = RunOptions {
                        seed,
                        trace: None,
                        ..template.clone()
                    };
                    let report = run_checked(&options, check_determinism)
                        .expect("a run without trace file does no I/O");
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    digests
                        .lock()
                        .expect("digests")
                        .push((seed, report.digest.clone()));
                    if !report.passed() {
                        stop.store(true, Ordering::Relaxed);
                        on_failure(&report);
                        failures.lock().expect("failures").push(report);
                    }
                    let failed = failures.lock().expect("failures").len();
                    match &progress {
                        Some(bar) => {
                            bar.inc(1);
                            bar.set_message(format!("{failed} failed"));
                        }
                        None if finished.is_multiple_of(step) || finished == total => {
                            eprintln!("explored {finished}/{total} seeds, {failed} failed");
                        }
                        None => {}
                    }
                }
            });
        }
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut failures = failures.into_inner().expect("failures");
    failures.sort_by_key(|r| r.seed);
    if stop_at_first {
        // Seeds above the first failure that were already running when it came: dropped, so
        // the report is the same whatever the number of jobs.
        if let Some(first) = failures.first().map(|r| r.seed) {
            failures.retain(|r| r.seed == first);
        }
    }
    let mut digests = digests.into_inner().expect("digests");
    digests.sort();
    if let Some(first) = failures.first().map(|r| r.seed).filter(|_| stop_at_first) {
        digests.retain(|(seed, _)| *seed <= first);
    }
    Exploration {
        explored: digests.len() as u64,
        failures,
        digests,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("1..100"), Ok(1..100));
        assert_eq!(parse_seeds("1..=100"), Ok(1..101));
        assert_eq!(parse_seeds(" 5 ..=5"), Ok(5..6));
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("9..2").is_err());
        assert!(parse_seeds("x..2").is_err());
        assert!(parse_seeds("12").is_err());
        assert!(parse_seeds(&format!("0..={}", u64::MAX)).is_err());
    }

    #[test]
    fn digests_files_round_trip_and_differences_are_listed() {
        let digests = vec![(1, "aa".to_string()), (2, "bb".to_string())];
        let text = digests_text(&digests);
        assert_eq!(text, "1 aa\n2 bb\n");
        let parsed = parse_digests(&format!("# a comment\n\n{text}3 cc\n")).unwrap();
        assert!(compare_digests(&digests, &parsed).is_empty());
        let other = parse_digests("1 aa\n2 bc\n").unwrap();
        assert_eq!(
            compare_digests(&digests, &other),
            vec!["seed 2: digest bb, the file has bc".to_string()]
        );
        let short = parse_digests("2 bb\n").unwrap();
        assert_eq!(
            compare_digests(&digests, &short),
            vec!["seed 1: not in the file".to_string()]
        );
        assert!(parse_digests("1 aa\n1 aa\n").is_err());
        assert!(parse_digests("x aa\n").is_err());
        assert!(parse_digests("1 zz\n").is_err());
        assert!(parse_digests("1\n").is_err());
    }
}
