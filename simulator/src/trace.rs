//! The simulator's tracer: hashes every protocol event into the run digest, keeps the last events
//! for failure reports, optionally writes JSON lines, and feeds every event to the scenario's
//! [`Observer`]s (one per protocol family); it also arms each node's crash points.
//!
//! Each event is hashed as `time_us (u64 BE) || node (u32 BE) || name || 0x00 || sha256(detail)`,
//! where `detail` is the event's canonical text. The run digest is
//! `sha256(auditor_state || trace_hash)`: the runtime's CRC auditor alone is too weak.

use crate::invariant::{Invariant, Violation};
use cohort_protocol::{Event, PublicKey, Tracer};
use commonware_cryptography::{Hasher as _, Sha256};
use commonware_runtime::{Clock as _, deterministic};
use std::{
    any::Any,
    collections::{BTreeMap, VecDeque},
    io::Write as _,
    sync::{Arc, Mutex},
    time::UNIX_EPOCH,
};

/// Simulated microseconds since the Unix epoch.
pub fn micros(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

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

/// Watches the trace for one protocol family's invariants: safety rules that can be judged on one
/// event (a step that regresses) are judged online; the rest is kept for the scenario's checks
/// after the run. One implementation per family lives next to its scenarios
/// (`scenarios/{barrier,dkg,ledger}/observer.rs`).
pub trait Observer: Any + Send {
    /// Takes one event of node `node` at `t_us` simulated microseconds.
    fn observe(&mut self, t_us: u64, node: u32, event: &Event);

    /// Takes one harness event (`crashed`, `restarted`, `storage_lost`, ...): what the world
    /// did to node `node`, which no protocol event says.
    fn harness(&mut self, _t_us: u64, _node: u32, _name: &str, _detail: &str) {}

    /// The invariants it judges online (the scenarios it is installed for must list them).
    fn online(&self) -> &'static [Invariant];

    /// The online violations so far, in trace order.
    fn violations(&self) -> &[Violation];
}

/// Reasons of the inputs each node refused from each peer (the first [`REASONS_KEPT`] per
/// pair), for the families whose checks look at refusals.
pub type Refusals = BTreeMap<(u32, PublicKey), Vec<String>>;

/// Keeps the reason of `event` in `refused` if it is an `InputRejected`.
pub fn keep_refusal(refused: &mut Refusals, node: u32, event: &Event) {
    if let Event::InputRejected { peer, reason, .. } = event {
        let reasons = refused.entry((node, peer.clone())).or_default();
        if reasons.len() < REASONS_KEPT {
            reasons.push(reason.clone());
        }
    }
}

/// Shared state of every node's tracer in one run.
pub struct Sink {
    hasher: Sha256,
    count: u64,
    recent: VecDeque<TraceLine>,
    writer: Option<Box<dyn std::io::Write + Send>>,
    /// What the checks need from the trace, one observer per protocol family of the scenario.
    observers: Vec<Box<dyn Observer>>,
    /// Measurements a scenario reports next to its verdict (`cohort-sim run` prints them).
    pub notes: Vec<String>,
    /// Every op any node authored, once durable (`Some` when the scenario asked for it): the
    /// whole history, to check what compaction pruned. Not part of the trace or its digest.
    pub archive: Option<Vec<cohort_protocol::ledger::op::SignedOp>>,
    /// The verifier every node of the run shares (a memo unless the run turned it off; see
    /// `cohort_protocol::verify`). Not part of the trace or its digest.
    pub verifier: cohort_protocol::Verifier,
    /// Violations the harness itself saw (a storage error a node ignored), of invariants every
    /// scenario checks.
    pub harness_violations: Vec<crate::invariant::Violation>,
    /// The ids in `archive`.
    archived: std::collections::BTreeSet<cohort_protocol::ledger::OpId>,
    /// Each node's count of storage syncs so far (`cohort-sim crash-points` enumerates them).
    pub sync_counters: Vec<(usize, SyncCounter)>,
}

/// Reads a node's storage sync count.
pub type SyncCounter = std::sync::Arc<dyn Fn() -> u64 + Send + Sync>;

impl Sink {
    pub fn new(
        writer: Option<Box<dyn std::io::Write + Send>>,
        observers: Vec<Box<dyn Observer>>,
    ) -> Self {
        Self {
            hasher: Sha256::default(),
            count: 0,
            recent: VecDeque::with_capacity(RECENT_EVENTS),
            writer,
            observers,
            notes: Vec::new(),
            archive: None,
            verifier: cohort_protocol::Verifier::direct(),
            harness_violations: Vec::new(),
            archived: std::collections::BTreeSet::new(),
            sync_counters: Vec::new(),
        }
    }

    fn record(&mut self, t_us: u64, node: u32, event: Event) {
        for observer in &mut self.observers {
            observer.observe(t_us, node, &event);
        }
        self.hash_line(t_us, node, event.name(), event.to_string());
    }

    /// The installed observer of type `O`.
    ///
    /// # Panics
    ///
    /// If the scenario did not install one (its catalogue entry names its observers).
    pub fn observer<O: Observer>(&self) -> &O {
        self.observers
            .iter()
            .find_map(|o| (&**o as &dyn Any).downcast_ref::<O>())
            .expect("the scenario installs this observer")
    }

    /// The installed observer of type `O`, to take its findings after a run.
    pub fn observer_mut<O: Observer>(&mut self) -> &mut O {
        self.observers
            .iter_mut()
            .find_map(|o| (&mut **o as &mut dyn Any).downcast_mut::<O>())
            .expect("the scenario installs this observer")
    }

    /// Every observer's online violations (observer by observer, each in trace order).
    pub fn online_violations(&self) -> Vec<Violation> {
        self.observers
            .iter()
            .flat_map(|o| o.violations().iter().cloned())
            .collect()
    }

    /// The invariants the installed observers judge online.
    pub fn online_invariants(&self) -> Vec<Invariant> {
        self.observers
            .iter()
            .flat_map(|o| o.online().iter().copied())
            .collect()
    }

    /// Records an event of the harness itself (a crash, a restart): hashed and traced like a
    /// protocol event, so replays show and check it too.
    pub fn record_harness(&mut self, t_us: u64, node: u32, name: &'static str, detail: String) {
        for observer in &mut self.observers {
            observer.harness(t_us, node, name, &detail);
        }
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

    fn archive(&self, op: &bytes::Bytes) {
        // The node's own op, just encoded by it: it parses.
        let Ok(op) = cohort_protocol::ledger::op::SignedOp::parse(op.clone()) else {
            return;
        };
        let mut sink = self.sink.lock().expect("trace sink poisoned");
        // Once per op: a restarted node archives again the own ops its store kept.
        if sink.archive.is_some() && sink.archived.insert(op.id()) {
            sink.archive.as_mut().expect("checked").push(op);
        }
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
