//! The simulator's tracer: hashes every protocol event into the run digest, keeps the last events
//! for failure reports, optionally writes JSON lines, and feeds the online invariant monitor.
//!
//! Each event is hashed as `time_us (u64 BE) || node (u32 BE) || name || 0x00 || sha256(detail)`,
//! where `detail` is the event's canonical text. The run digest is
//! `sha256(auditor_state || trace_hash)`: the runtime's CRC auditor alone is too weak.

use crate::scenarios::Violation;
use cohort_protocol::{Event, PublicKey, Tracer};
use commonware_cryptography::{Hasher as _, Sha256};
use commonware_runtime::{Clock as _, deterministic};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    io::Write as _,
    sync::{Arc, Mutex},
    time::UNIX_EPOCH,
};

/// Refusal reasons kept per (node, peer).
pub const REASONS_KEPT: usize = 16;

/// Events kept for a failure report.
pub const RECENT_EVENTS: usize = 40;

/// One traced event.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLine {
    /// Simulated microseconds since the start of the run.
    pub t_us: u64,
    pub node: u32,
    pub event: &'static str,
    pub detail: String,
}

/// What the trace showed, per node, for the invariant checks. Safety rules that can be judged
/// on one event (a step that regresses) are checked online and land in `violations`.
#[derive(Debug, Default)]
pub struct Observations {
    /// Each node's own step.
    pub own_step: BTreeMap<u32, u64>,
    /// Each node's view of each peer's step.
    pub peer_step: BTreeMap<(u32, PublicKey), u64>,
    /// Steps each node set.
    pub steps_set: BTreeMap<u32, BTreeSet<u64>>,
    /// Highest `AllAtStep` each node reported.
    pub all_at: BTreeMap<u32, u64>,
    /// Nodes that finished their walk.
    pub walk_complete: BTreeSet<u32>,
    /// Nodes whose shutdown handshake could not finish after their walk completed.
    pub shutdown_incomplete: BTreeSet<u32>,
    /// First barrier failure of each node: time and error text.
    pub failures: BTreeMap<u32, (u64, String)>,
    /// Network inputs dropped, over all nodes.
    pub rejected_inputs: u64,
    /// Commitment of each dealing, by (dealer node, round).
    pub dealt: BTreeMap<(u32, u64), String>,
    /// Digest of each ack sent, by (player node, round, dealer).
    pub acked: BTreeMap<(u32, u64, PublicKey), String>,
    /// Group key each node reported on finishing, by node (the last report).
    pub group_keys: BTreeMap<u32, String>,
    /// Group key each node reported for each epoch it finished, by (node, epoch).
    pub epoch_keys: BTreeMap<(u32, u64), String>,
    /// Failed DKG attempts of each node: (time, round, error).
    pub attempt_failures: BTreeMap<u32, Vec<(u64, u64, String)>>,
    /// Reasons of the inputs each node refused from each peer (the first few per pair).
    pub refused: BTreeMap<(u32, PublicKey), Vec<String>>,
    /// Ledger inputs (gossip, backfill) refused, over all nodes.
    pub ledger_rejected: u64,
    /// Authors some node caught equivocating.
    pub equivocators: BTreeSet<PublicKey>,
    /// Id (short hex) of each op each node appended, by (node, seq).
    pub appended: BTreeMap<(u32, u64), String>,
    /// Ops each node's op store held synced, as last reported.
    pub ops_synced: BTreeMap<u32, u64>,
    /// Each node's backfill runs, completed or failed: (pages, new ops).
    pub backfill_runs: BTreeMap<u32, Vec<(u64, u64)>>,
    /// Online violations.
    pub violations: Vec<Violation>,
}

impl Observations {
    fn observe(&mut self, t_us: u64, node: u32, event: &Event) {
        match event {
            Event::StepSet { step } => {
                let previous = self.own_step.insert(node, *step);
                if previous.is_some_and(|p| p > *step) {
                    self.violations.push(Violation::new(
                        "step-never-regresses",
                        format!("node {node} set step {step} after {previous:?}"),
                    ));
                }
                self.steps_set.entry(node).or_default().insert(*step);
            }
            Event::PeerStep { peer, step } => {
                let previous = self.peer_step.insert((node, peer.clone()), *step);
                if previous.is_some_and(|p| p > *step) {
                    self.violations.push(Violation::new(
                        "step-never-regresses",
                        format!("node {node} saw peer {peer} go from {previous:?} to {step}"),
                    ));
                }
            }
            Event::AllAtStep { step } => {
                self.all_at.insert(node, *step);
            }
            Event::WalkComplete { .. } => {
                self.walk_complete.insert(node);
            }
            Event::ShutdownIncomplete { .. } => {
                self.shutdown_incomplete.insert(node);
            }
            Event::BarrierFailed { error } => {
                self.failures.entry(node).or_insert((t_us, error.clone()));
            }
            Event::InputRejected {
                peer,
                reason,
                channel,
                ..
            } => {
                self.rejected_inputs += 1;
                if channel.is_ledger() {
                    self.ledger_rejected += 1;
                }
                let reasons = self.refused.entry((node, peer.clone())).or_default();
                if reasons.len() < REASONS_KEPT {
                    reasons.push(reason.clone());
                }
            }
            Event::OpAppended { seq, id, .. } => {
                if let Some(previous) = self.appended.insert((node, *seq), id.clone())
                    && previous != *id
                {
                    self.violations.push(Violation::new(
                        "honest-never-equivocates",
                        format!("node {node} appended ops {previous} and {id} with seq {seq}"),
                    ));
                }
            }
            Event::Equivocation { author } => {
                self.equivocators.insert(author.clone());
            }
            Event::BackfillRunDone { pages, ops, .. }
            | Event::BackfillRunFailed { pages, ops, .. } => {
                self.backfill_runs
                    .entry(node)
                    .or_default()
                    .push((*pages, *ops));
            }
            Event::OpsSynced { total } => {
                self.ops_synced.insert(node, *total);
            }
            Event::LedgerOpened { ops } => {
                let synced = self.ops_synced.get(&node).copied().unwrap_or(0);
                if *ops < synced {
                    self.violations.push(Violation::new(
                        "no-synced-op-lost",
                        format!(
                            "node {node} reopened its ledger with {ops} ops after syncing {synced}"
                        ),
                    ));
                }
                self.ops_synced.insert(node, *ops);
            }
            Event::Dealt { round, commitment } => {
                if let Some(previous) = self.dealt.insert((node, *round), commitment.clone())
                    && previous != *commitment
                {
                    self.violations.push(Violation::new(
                        "one-polynomial-per-dealer",
                        format!(
                            "node {node} dealt {previous} and then {commitment} in round {round}"
                        ),
                    ));
                }
            }
            Event::Acked {
                round,
                dealer,
                digest,
            } => {
                if let Some(previous) = self
                    .acked
                    .insert((node, *round, dealer.clone()), digest.clone())
                    && previous != *digest
                {
                    self.violations.push(Violation::new(
                        "one-ack-per-dealer",
                        format!(
                            "node {node} sent ack {previous} and then {digest} to dealer {dealer} in round {round}"
                        ),
                    ));
                }
            }
            Event::DkgComplete {
                epoch, group_key, ..
            } => {
                self.group_keys.insert(node, group_key.clone());
                self.epoch_keys.insert((node, *epoch), group_key.clone());
            }
            Event::DkgAttemptFailed { round, error, .. } => {
                self.attempt_failures
                    .entry(node)
                    .or_default()
                    .push((t_us, *round, error.clone()));
            }
            _ => {}
        }
    }
}

/// Shared state of every node's tracer in one run.
pub struct Sink {
    hasher: Sha256,
    count: u64,
    recent: VecDeque<TraceLine>,
    writer: Option<Box<dyn std::io::Write + Send>>,
    /// What the checks need from the trace.
    pub observations: Observations,
    /// Measurements a scenario reports next to its verdict (`cohort-sim run` prints them).
    pub notes: Vec<String>,
}

impl Sink {
    pub fn new(writer: Option<Box<dyn std::io::Write + Send>>) -> Self {
        Self {
            hasher: Sha256::default(),
            count: 0,
            recent: VecDeque::with_capacity(RECENT_EVENTS),
            writer,
            observations: Observations::default(),
            notes: Vec::new(),
        }
    }

    fn record(&mut self, t_us: u64, node: u32, event: Event) {
        self.observations.observe(t_us, node, &event);
        self.hash_line(t_us, node, event.name(), event.to_string());
    }

    /// Records an event of the harness itself (a crash, a restart): hashed and traced like a
    /// protocol event, so replays show and check it too.
    pub fn record_harness(&mut self, t_us: u64, node: u32, name: &'static str, detail: String) {
        self.hash_line(t_us, node, name, detail);
    }

    fn hash_line(&mut self, t_us: u64, node: u32, name: &'static str, detail: String) {
        self.hasher.update(&t_us.to_be_bytes());
        self.hasher.update(&node.to_be_bytes());
        self.hasher.update(name.as_bytes());
        self.hasher.update(&[0]);
        self.hasher
            .update(Sha256::hash(&[detail.as_bytes()]).as_ref());
        self.count += 1;
        let line = TraceLine {
            t_us,
            node,
            event: name,
            detail,
        };
        if let Some(writer) = self.writer.as_mut() {
            // A trace file that cannot be written is reported once by the caller's flush.
            let _ = serde_json::to_writer(&mut *writer, &line);
            let _ = writer.write_all(b"\n");
        }
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// The hash over every event so far, and their number.
    pub fn finish(&mut self) -> ([u8; 32], u64) {
        if let Some(writer) = self.writer.as_mut() {
            let _ = writer.flush();
        }
        let hasher = std::mem::take(&mut self.hasher);
        let (_, digest) = commonware_cryptography::Hasher::finalize(hasher);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        (out, self.count)
    }

    /// The last events, oldest first.
    pub fn recent(&self) -> Vec<TraceLine> {
        self.recent.iter().cloned().collect()
    }
}

/// One node's tracer.
#[derive(Clone)]
pub struct SimTracer {
    node: u32,
    clock: Arc<deterministic::Context>,
    sink: Arc<Mutex<Sink>>,
    points: Arc<Mutex<CrashPoints>>,
}

/// The crash points armed for one node (shared by all its lives).
#[derive(Default)]
struct CrashPoints {
    hits: u64,
    /// Hit numbers at which to halt, ascending.
    at: VecDeque<u64>,
    halt: Option<futures::channel::mpsc::UnboundedSender<()>>,
}

impl SimTracer {
    pub fn new(node: u32, clock: Arc<deterministic::Context>, sink: Arc<Mutex<Sink>>) -> Self {
        Self {
            node,
            clock,
            sink,
            points: Arc::default(),
        }
    }

    /// Makes the node halt at each of the given crash-point hits (counted over all its lives),
    /// telling `halt` each time.
    pub fn arm_crash_points(
        &self,
        mut hits: Vec<u64>,
        halt: futures::channel::mpsc::UnboundedSender<()>,
    ) {
        hits.sort_unstable();
        let mut points = self.points.lock().expect("crash points");
        points.at = hits.into();
        points.halt = Some(halt);
    }
}

impl Tracer for SimTracer {
    fn record(&self, event: Event) {
        let t_us = self
            .clock
            .current()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        self.sink
            .lock()
            .expect("trace sink poisoned")
            .record(t_us, self.node, event);
    }

    fn crash_point(&self, _point: &'static str) -> bool {
        let mut points = self.points.lock().expect("crash points");
        points.hits += 1;
        if points.at.front() != Some(&points.hits) {
            return false;
        }
        points.at.pop_front();
        if let Some(halt) = &points.halt {
            let _ = halt.unbounded_send(());
        }
        true
    }
}
