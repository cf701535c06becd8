//! The ledger scenarios (`ledger`, `ledger-crash`, `ledger-disk-loss`, `ledger-partition`,
//! `late-joiner`, `ledger-byzantine`).
//!
//! `ledger`: n members (4..=10 drawn unless `--nodes`) run only the ledger (no ceremony) over
//! lossy, jittery links. Each member appends signed `Data` ops at a drawn rate for 4 to 8 s (plus
//! its `Boot` op and a `Heartbeat` every [`run::HEARTBEAT`]). Ops spread by gossip; the digest
//! exchange and paginated backfill repair what gossip lost. Then every link heals (no loss) and
//! the cluster is left alone for the quiesce period ([`plan::QUIESCE`]), after which the
//! invariants are checked on every member's ledger.
//!
//! `ledger-crash`: the same while members crash at drawn times during the workload and at drawn
//! crash points (right after the op store synced, before the ops are broadcast or acknowledged),
//! losing what they had not synced, and restart from their own storage.
//!
//! `ledger-disk-loss`: as `ledger-crash` (time crashes only), where one or two of the crashes,
//! on at most a third of the members (at least one), also damage what the member had synced
//! while it is down: its whole disk (boot counter included), its op store, or the newest 1 to
//! 8192 bytes of its op store's journal (`plan::Loss`). The member must tell the damage at
//! its next open, recover its own chain from its peers before it authors again
//! (`cohort_protocol::ledger::own`), never equivocate, and converge.
//!
//! `ledger-partition`: a drawn half of the members is cut off from the other half for the whole
//! workload; both halves append independently, then the heal joins them.
//!
//! `late-joiner`: 3..=6 members; before anything runs, the members that start on time hold a
//! ledger of [`plan::PRELOAD_OPS`] ops (written to their op stores); one drawn member starts 1 to 3 s late with
//! an empty store while the others append, and must catch up through many backfill pages.
//!
//! `ledger-byzantine`: as `ledger`, with one drawn member replaced by a liar running no honest
//! engine (see [`byzantine`]): an equivocator (every third op forks its chain, one fork to each
//! half of the members), a forger (ops claiming another member as author, ops of a non-member),
//! a replayer of old honest ops, or a backfill flooder (500 requests a second to every member).
//!
//! Invariants:
//! - `ledger-converges`: after the quiesce, every member reports the same state digest and op
//!   count, with nothing pending, and has completed boot recovery. Heartbeats go on meanwhile
//!   (and a crash point may still take a member down), so the check looks (every 20 ms, for up
//!   to 10 s) for an instant with every member up and recovered, and no op in flight;
//! - `no-acked-op-lost`: every op a member acknowledged (its submit returned an id) is in every
//!   member's ledger; with storage loss, an op acknowledged by a member that later lost its
//!   storage and held by no member at the end is excused and counted in a note (an ack means
//!   durable on its author: the author alone held it);
//! - `honest-never-rejected`: no member refused a ledger input from another (they are all
//!   honest here), and nobody was caught equivocating;
//! - `honest-never-equivocates` (online, from the trace, across restarts): no member appended two
//!   different ops with one seq; after the harness damaged a member's storage, a seq it appends
//!   again is judged at the end instead: a violation if any ledger holds the first op (if none
//!   does, every copy was destroyed and nobody can see both; counted in a note);
//! - `pending-bounded`: no member's pending buffer ever held more than its bound (checked on the
//!   final status: the bound is enforced on every insert);
//! - `no-synced-op-lost` (online, from the trace): a restarted member's op store holds at least
//!   every op it had synced before the crash (it matters where members crash: `ledger-crash`);
//! - `step-never-regresses` (online): the barrier runs beside the ledger, idle at step 0;
//! - `honest-never-flagged` (`ledger-disk-loss`): no member flagged another as an equivocator,
//!   in the trace or in the final ledgers (no evidence held);
//! - `recovered-node-rejoins` (`ledger-disk-loss`): a member whose op store was deleted opened
//!   it as `lost` (after a replaced disk: `fresh`, the most it can tell alone), authored an op
//!   after its recovery, authors at the end and is running (`ledger-converges` judges its
//!   ledger);
//! - `equivocation-detected` (`ledger-byzantine`): every honest member flagged the equivocator;
//!   `forgeries-rejected`: no honest ledger holds a forged op, and every honest member refused
//!   the forger; `replays-are-duplicates`: no honest member refused the replayer (its old ops are
//!   duplicates, not misbehaviour); `flooder-gets-busy`: every honest member answered the
//!   flooder `Busy`, while `ledger-converges` shows the honest rounds were not starved. In this
//!   scenario `honest-never-rejected` concerns honest pairs only, the convergence checks run
//!   over the honest members, and ops may stay pending (a liar's op whose parent only the liar
//!   had, lost on the way);
//! - `late-joiner-pages` (`late-joiner`): the late member fetched the preloaded ledger through
//!   more than one page (over one run, or several when a lost request cut a run short: the next
//!   run starts where it stopped); pages and runs are printed as a note.
//!
//! Parts: [`mod@plan`] (the family's part of the fault plan and its draw), [`mod@run`] (the workload,
//! heal, quiesce and final snapshot), [`checks`] (the checks over the snapshot and the trace),
//! [`preload`] (a ledger that exists before the run), [`observer`] (what the checks need from
//! the trace), [`byzantine`] (the liars, one file per misbehaviour).

pub mod byzantine;
pub mod checks;
pub mod observer;
pub mod plan;
pub mod preload;
pub mod run;

pub use observer::{LedgerObserver, observers};
pub use plan::{Kind, LedgerPlan, Workload, plan};
pub use preload::{preload_history, preload_store};
pub use run::{run, settings};
