//! `cohort-sim crash-points`: one run per dangerous moment of one node instead of sampled
//! crashes. A survey run of the seed counts the node's storage syncs; then, for each sync `k`
//! (up to `--limit`), three runs of the same plan crash the node immediately before sync `k`,
//! immediately after it, and immediately after the first frame it sends once it completed
//! ([`SyncMoment`]), each followed by a restart from its storage ([`DOWN_MS`] later). Every run
//! must keep every invariant of the scenario.
//!
//! The crash is the same as any other (`world::life`): the node's tasks stop, what it had not
//! synced is lost. Each point's run is deterministic: a failing point replays with `run
//! --plan` of the plan it saves.

use crate::{
    plan::{SyncCrash, SyncMoment},
    run::{RunOptions, RunReport, run},
};
use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering},
};

/// How long a node crashed at a crash point stays down.
pub const DOWN_MS: u64 = 500;

/// One crash point's run.
pub struct Point {
    pub sync: u64,
    pub at: SyncMoment,
    pub report: RunReport,
}

/// The survey: the plan `options` runs, and how many syncs `node` made in it.
pub fn survey(options: &RunOptions, node: usize) -> Result<(RunReport, u64), String> {
    let report = run(options).map_err(|e| e.to_string())?;
    if node >= report.plan.core.nodes {
        return Err(format!(
            "--node {node}: the plan has nodes 0..{}",
            report.plan.core.nodes
        ));
    }
    let syncs = report
        .syncs
        .iter()
        .find(|(n, _)| *n == node)
        .map_or(0, |(_, s)| *s);
    Ok((report, syncs))
}

/// Runs every crash point of `node` around its syncs `1..=syncs` on `jobs` threads; `on_point`
/// sees each as it finishes. Points come back in order (sync, then moment).
pub fn enumerate(
    options: &RunOptions,
    survey: &RunReport,
    node: usize,
    syncs: u64,
    jobs: usize,
    on_point: impl Fn(&Point) + Sync,
) -> Vec<Point> {
    let points: Vec<(u64, SyncMoment)> = (1..=syncs)
        .flat_map(|k| SyncMoment::ALL.map(|at| (k, at)))
        .collect();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(sync, at)) = points.get(i) else {
                        break;
                    };
                    let mut plan = survey.plan.clone();
                    plan.core.sync_crashes.retain(|c| c.node != node);
                    plan.core.sync_crashes.push(SyncCrash {
                        node,
                        sync,
                        at,
                        down_ms: DOWN_MS,
                    });
                    let report = run(&RunOptions {
                        plan: Some(plan),
                        trace: None,
                        ..options.clone()
                    })
                    .expect("a run without trace file does no I/O");
                    let point = Point { sync, at, report };
                    on_point(&point);
                    done.lock().expect("points").push(point);
                }
            });
        }
    });
    let mut done = done.into_inner().expect("points");
    done.sort_by_key(|p| (p.sync, p.at));
    done
}
