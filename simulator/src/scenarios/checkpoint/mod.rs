//! The checkpoint scenarios (`checkpoint`, `checkpoint-byzantine`, `checkpoint-skew`,
//! `checkpoint-reshare`, `checkpoint-late-joiner`, `governance`, `membership-byzantine`, `join`,
//! `replace-dead`, `remove`).
//!
//! `checkpoint`: n members (4..=10 drawn unless `--nodes`) run the epoch 0 DKG, the ledger
//! (heartbeats every [`run::HEARTBEAT`]) and the checkpoint protocol over lossy, jittery links
//! for 3 or 4 simulated "days" after the first, with a day scaled to
//! [`plan::INTERVAL_MS`] (the vote window to [`plan::WINDOW_MS`], the proposal check to
//! [`plan::CHECK_MS`]), while members crash at drawn times (unsynced writes lost, as in
//! `ledger-crash`) and restart from their storage. Then every link heals and the cluster
//! quiesces for two windows and a check, and the invariants are judged on every member's
//! final ledger.
//!
//! `checkpoint-byzantine`: the same world with one liar ([`byzantine`]): a member whose DKG
//! and ledger are honest but whose checkpoint protocol repeats or contradicts its votes, forges
//! approvals, inflates its own uptime or proposes about other members; or an outsider, a key
//! on the network outside the cluster. Honest members must block what proves the liar hostile,
//! never count it twice, and still certify each other every day; the liar subject is judged
//! by what honest ledgers hold of it (within tolerance, verified, chained), not by liveness.
//!
//! `checkpoint-skew`: every node's clock drifts (up to 0.2 %), and all but `f + 1` run 70 to
//! 90 s ahead ([`plan::draw_clocks`], seen by that node's protocol code only through
//! [`crate::world::skew`]). The `f + 1` behind cut their views of an ahead subject off before
//! its `as_of`, so its round 1 fails; round 2's trimmed mean is certified.
//!
//! `checkpoint-reshare`: epoch 0's committee is every node but two newcomers, which start
//! after the first day. The genesis definition lists epoch 1's committee (one member replaced,
//! the newcomers in), so the reshare runs right after the DKG, while the newcomers are still
//! down (measured: epoch 1 completes about 16 s in); they take their shares from the decision
//! when they start. Every certificate must verify under the one group key and chain. Until a
//! newcomer starts, epoch 1's committee may hold more absent members than it tolerates (two
//! of five or six): no day is expected to certify then (see `checks::over_budget`). A reshare
//! in the middle of certified days, with certificates of both epochs, is what the governance
//! scenarios (`governance`, `join`, `replace-dead`, `remove`, `dkg-disk-loss`) run.
//!
//! `checkpoint-late-joiner`: one member of the committee is absent from the start (the DKG
//! finishes without it) and starts after three certified days ([`plan::LATE_JOINER_FROM_MS`]),
//! when its peers have compacted their ledgers and rewritten their op stores. It gets its share
//! from the DKG's decision, backfills the certified checkpoints, the frontier compaction kept
//! and the tail, verifies every certificate on apply, and must derive the same observations;
//! then it waits out its first interval and is certified itself.
//!
//! `governance`: an operator asks a member (through its governance actor, as the admin API
//! does) to add a member (a key on no machine yet: the outsider), remove one or replace one
//! with the outsider, at a drawn moment after the DKG; it asks again every
//! [`plan::RETRY_MS`] while the member cannot take it yet (down, recovering, too few members
//! live). The members vote with ledger ops and certify the change in their ledgers; then the
//! engines reshare to the certified committee (epoch 0's committee deals, the new one plays;
//! an outsider added is a player that never comes, whose share the dealers reveal).
//!
//! `membership-byzantine`: `governance` with a governance liar ([`plan::GovernanceLiar`]), a
//! member whose DKG, ledger and checkpoints are honest but which, through its own ledger, just
//! before the operator proposes two different committees for the next epoch (its proposals
//! are then skipped by every honest voter: `author_equivocated`), or a committee breaking the
//! rules (`below_safe_size`, `wrong_previous`), or, once the operator's proposal is in, votes
//! on it with a partial of another dealing's share and with one over another digest
//! (`invalid_partial`: never counted). The operator asks again while another member's proposal
//! is open.
//!
//! `join`: the operator adds a node that runs with only the genesis definition, its key and the
//! members' addresses (a joiner), from the start or started after the change; half the time a
//! second joiner is added after the first (it must learn the group key while the first one's
//! votes are still ops it cannot check). Each catches up as a ledger candidate, learns the key
//! from an output its admission's voters vouch for, and plays the reshare.
//!
//! `replace-dead`: a member goes down for good (its last crash never ends) shortly before the
//! operator replaces it with a joiner; the reshare runs among the live members. The dead member
//! is left out of the ledger checks; its checkpoint liveness allows the outage.
//!
//! `remove`: the operator removes a member, which keeps running and observes.
//!
//! Every checkpoint scenario compacts: each node prunes a subject's presence ops below its
//! latest certificate and rewrites its op store after most compactions (a small
//! `rewrite_slack`), so crashes land in and around rewrites.
//!
//! `honest-never-rejected` here judges every refusal of a ledger or checkpoint input and
//! every refusal that blocked its sender (a benign DKG refusal of a round another member left
//! behind is the DKG family's business).
//!
//! Invariants (besides the ledger's):
//! - `checkpoints-verify`: every checkpoint op in every ledger carries a certificate that
//!   verifies under the group key over its proposal's digest, names the subject's previous
//!   checkpoint and has a later `as_of`;
//! - `one-checkpoint-per-position`: every ledger holds the same checkpoints at each position of
//!   each subject's chain;
//! - `certified-within-tolerance`: every certified value is within tolerance of the honest
//!   members' view at its `as_of` (derived from the final ledger from the previous
//!   checkpoint, independently of the protocol code), and a round 1 value is that view exactly;
//! - `observations-agree`: every member's ledger gives the same view of every subject at the
//!   end, equal to the one derived from the subject's history here;
//! - `checkpoint-liveness`: no subject goes longer than an interval (plus the check period,
//!   two windows, 20 s, and each outage within the gap with a window and a check; plus 60 s
//!   for the DKG on the first day) between its first op, its checkpoints and the end.
//!
//! - `compaction-sound`: in every ledger each op has all its parents or is a presence op below
//!   a held checkpoint of its author (the frontier), and no checkpoint or data op any member
//!   authored is missing (the simulator keeps every authored op, so it judges compaction
//!   against the whole history, not against another compacted ledger);
//! - `checkpoint-late-joiner-caught-up` (`checkpoint-late-joiner`): the late member holds every
//!   checkpoint, and backfilled fewer ops than half the presence history authored before it
//!   started (it was served compacted ledgers);
//! - `no-voter-counted-twice`: every certification an honest subject traced counted at least
//!   `t` approvals and no more than the distinct voters that approved its proposal before it
//!   (from the trace: the subject, honest voters, the liar's valid partials);
//! - `checkpoint-liar-blocked` (`checkpoint-byzantine`): a liar whose inputs prove it hostile
//!   is blocked by every honest member when it sends to all (impostor, outsider) and by one at
//!   least when it answers proposals (conflicter, forger); a repeater (a repeat may be a
//!   retransmission) and an inflater (a view may differ) by none.
//!
//! - `one-committee-per-epoch` (`governance`): every ledger holds at most one certified
//!   committee per epoch, each certificate verifying under the group key (checked here, not
//!   by the protocol's code), the same chain in every ledger, and no honest member approved
//!   two proposals of one epoch;
//! - `committee-change-certified` (`governance`): the change the operator asked for is
//!   certified, exactly as asked, in every honest ledger by the end;
//! - `dkg-completes`, `key-unchanged-by-reshare`, `shares-follow-committee` (`governance`):
//!   every honest node finished the last certified epoch's reshare, with epoch 0's group key,
//!   holding a share exactly when it is in that epoch's committee; and once the nodes are
//!   stopped at the end, no honest node's DKG journal holds the share of a round older than its
//!   latest output (old shares are erased from the disk);
//! - `removed-member-cannot-sign` (`governance`, a removal or a replacement): the member the
//!   change removed holds no share after the reshare (in memory nor in its DKG journal), and
//!   its epoch 0 partial signature does
//!   not combine with `t - 1` partials of the new epoch's shares into a signature that
//!   verifies under the group key (while `t` new ones do, so the check is not vacuous).
//!
//! - `joiner-catches-up` (`join`, `replace-dead`): each joiner ends with the honest members'
//!   ledger digest, authored ops in it (it was admitted), finished the last certified epoch with
//!   a share exactly when that epoch's committee lists it, and no honest node refused it for
//!   anything but not listing it yet (those drops are counted apart, never blamed).
//!
//! - `governance-liar-refused` (`membership-byzantine`): an honest member refused the liar's
//!   hostile governance ops with the reason they prove (and `one-committee-per-epoch`,
//!   `committee-change-certified` hold: they were never approved nor counted).
//!
//! Parts: [`mod@plan`], [`mod@run`], [`checks`], [`observer`], [`byzantine`],
//! [`mod@governance`] (the operator and the governance checks).

pub mod byzantine;
pub mod checks;
pub mod governance;
pub mod observer;
pub mod plan;
pub mod run;

pub use observer::{CheckpointObserver, observers};
pub use plan::{CheckpointPlan, Kind, plan};
pub use run::{run, settings};
