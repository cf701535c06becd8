//! `GET /metrics`: every metric of the runtime, p2p, storage and protocol, as the runtime's
//! registry encodes them (OpenMetrics text: `_total` counter samples, a closing `# EOF`), served
//! with the OpenMetrics content type ([`CONTENT_TYPE`]).
//!
//! **Help texts.** Some metrics are registered by commonware-storage under our stores' contexts,
//! with the library's generic wording ("Number of blobs", "Number of syncs", "number of tracked
//! keys"), which does not say what they count here: a `cohort_ledger_ops_journal_tracked` that counts
//! blobs, not ops, reads as an op count. The page is served with those `# HELP` lines rewritten
//! from [`HELP`]; names, types and samples are untouched. The node can do this because it serves
//! `/metrics` itself (commonware-runtime's own telemetry server would not allow it, and serves
//! `text/plain; version=0.0.4`, the wrong type for this body). A fix at the source would be in
//! `cohort-storage`, which could register its own metrics with their meaning beside each store
//! (the library's help strings are fixed), and this table would go.

use axum::{Router, http::header, routing::get};
use commonware_runtime::{Metrics as _, tokio::Context};
use std::sync::Arc;

/// The content type of an OpenMetrics 1.0 text page.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Help text of metrics whose registered help does not say what they count here: `(metric
/// name, help)`. All are registered by commonware-storage under the context a store of ours is
/// opened with:
///
/// - `cohort_ledger_ops_journal_*` and `cohort_dkg_journal_*`: `tracked`, `synced`, `pruned` of
///   `commonware_storage::journal::segmented::manager` (`Manager::init_bounded`), under the op
///   store's journal (`ledger` actor, child `ops`, child `journal`: every generation of the
///   store, see `cohort_storage::ledger`) and the DKG journal's (`dkg` actor, child
///   `journal`). A section is a blob: `cohort_storage::ledger::RECORDS_PER_SECTION` (65536) ops
///   in the op store, one epoch in the DKG journal.
/// - `cohort_ledger_ops_generation_*`: the same metadata metrics, under the op store's record of
///   its current generation (`cohort_storage::ledger`, child `generation`).
/// - `cohort_meta_*`: `keys`, `sync_overwrites`, `sync_rewrites` of
///   `commonware_storage::metadata::storage`, under the node metadata's context (engine, child
///   `meta`).
pub const HELP: &[(&str, &str)] = &[
    (
        "cohort_ledger_ops_journal_tracked",
        "op store sections held (journal blobs of up to 65536 ops each).",
    ),
    (
        "cohort_ledger_ops_journal_synced",
        "op store section syncs (each makes the ops appended to one section durable).",
    ),
    (
        "cohort_ledger_ops_journal_pruned",
        "op store sections pruned (each removed whole, with its ops).",
    ),
    (
        "cohort_ledger_ops_generation_keys",
        "op store generation records held (1 once the store was rewritten by a compaction).",
    ),
    (
        "cohort_ledger_ops_generation_sync_overwrites",
        "op store generation commits written in place.",
    ),
    (
        "cohort_ledger_ops_generation_sync_rewrites",
        "op store generation commits written whole.",
    ),
    (
        "cohort_dkg_journal_tracked",
        "dkg journal epochs held (one journal blob per epoch).",
    ),
    (
        "cohort_dkg_journal_synced",
        "dkg journal syncs (each makes one epoch's appended records durable).",
    ),
    (
        "cohort_dkg_journal_pruned",
        "dkg journal epochs pruned (older than the last completed one).",
    ),
    (
        "cohort_meta_keys",
        "node metadata entries held (boot count, last barrier step announced, ceremony done).",
    ),
    (
        "cohort_meta_sync_overwrites",
        "node metadata syncs that overwrote entries in place.",
    ),
    (
        "cohort_meta_sync_rewrites",
        "node metadata syncs that rewrote the whole store.",
    ),
];

/// `page` with the `# HELP` lines of the metrics in `help` replaced.
pub fn rewrite_help(page: &str, help: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(page.len());
    for line in page.split_inclusive('\n') {
        let replaced = line.strip_prefix("# HELP ").and_then(|rest| {
            let name = rest.split(' ').next()?;
            let (_, text) = help.iter().find(|(n, _)| *n == name)?;
            Some(format!("# HELP {name} {text}\n"))
        });
        match replaced {
            Some(replaced) => out.push_str(&replaced),
            None => out.push_str(line),
        }
    }
    out
}

/// The metrics page of the runtime behind `context`.
pub fn page(context: &Context) -> String {
    rewrite_help(&context.encode(), HELP)
}

/// `GET /metrics`.
pub fn router(context: Context) -> Router {
    let context = Arc::new(context);
    Router::new().route(
        "/metrics",
        get(move || {
            let context = context.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], page(&context)) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{
        Runner as _, Supervisor as _, telemetry::metrics::raw::Counter, tokio,
    };

    #[test]
    fn help_lines_are_rewritten_and_nothing_else() {
        let page = "# HELP cohort_ledger_ops_journal_tracked Number of blobs.\n# TYPE cohort_ledger_ops_journal_tracked gauge\ncohort_ledger_ops_journal_tracked 1\n# HELP cohort_ledger_ops_journal_tracked_other Number of blobs.\n# HELP cohort_ledger_ops ops applied and stored.\n# EOF\n";
        let rewritten = rewrite_help(page, HELP);
        assert_eq!(
            rewritten,
            page.replacen(
                "cohort_ledger_ops_journal_tracked Number of blobs.",
                "cohort_ledger_ops_journal_tracked op store sections held (journal blobs of up to 65536 ops each).",
                1
            )
        );
        for (name, help) in HELP {
            assert!(name.starts_with("cohort_"), "{name}");
            assert!(
                !help.to_lowercase().starts_with("number of"),
                "{name}: {help}"
            );
            assert!(help.ends_with('.'), "like the encoder's own lines: {name}");
        }
    }

    #[test]
    fn the_page_is_openmetrics_with_our_help() {
        tokio::Runner::default().start(|context| async move {
            let ops = context
                .child("cohort")
                .child("ledger")
                .child("ops")
                .child("journal");
            let synced = ops.register("synced", "Number of syncs", Counter::<u64>::default());
            synced.inc();
            let page = page(&context);
            assert!(
                page.contains("cohort_ledger_ops_journal_synced_total 1"),
                "{page}"
            );
            assert!(page.trim_end().ends_with("# EOF"), "{page}");
            assert!(
                page.contains("# HELP cohort_ledger_ops_journal_synced op store section syncs"),
                "{page}"
            );
            assert!(!page.contains("Number of syncs"), "{page}");
        });
    }
}
