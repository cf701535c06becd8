//! A member's view of a subject's presence: the [`Observation`] derived from the ledger.
//!
//! The view of subject S at a *cutoff* (a time on S's clock, since it is read from S's ops)
//! starts from S's latest certified checkpoint, or from S's first op when it has none, and walks
//! S's author chain from there in seq order, stopping at the first op after the cutoff. A
//! subject's own ops have strictly increasing times (the ledger makes them so), and a subject
//! proposes `as_of` = the time of its newest op, so the view at `as_of` holds exactly the ops
//! the subject saw, and the life running at `as_of` is counted without a gap on both sides of
//! the checkpoint:
//!
//! - **lives**: S's chain is cut into lives by its `Boot` ops. A life is up from its `Boot` to
//!   its last op (any kind: a heartbeat, data, a checkpoint), so its uptime is the difference
//!   of those ops' `time_ms`. The life that was running when the base checkpoint was taken
//!   (the ops after the checkpoint op before the next `Boot`; the checkpoint op itself is one of
//!   them, since the subject appends its own checkpoints) counts from the checkpoint's `as_of`,
//!   as the checkpoint already counted it up to there;
//! - **restarts**: the base's restarts plus one per `Boot` after it (with no base, every `Boot`
//!   but the first);
//! - **first seen**: the base's, or the `time_ms` of S's first op.
//!
//! Why a voter's view differs from the subject's: the voter evaluates a proposal at
//! `min(as_of, its own clock)`, so it credits nothing S claims after the voter's now (a subject
//! whose clock runs ahead is credited less), and it only has the ops it received (a lagging
//! voter sees fewer heartbeats and boots). Nothing else differs: the rest is read from S's own
//! signed ops, so honest members with the same ops derive the same view.
//!
//! **Compaction never changes a view**: the walk reads nothing before the latest checkpoint op
//! in S's chain, which is exactly what compaction may prune.

use super::op::{Certified, Op, OpKind};
use crate::vote::Observation;

/// The view of a subject from its base checkpoint (`None`: from its first op) and its chain
/// `ops` from there in seq order (the checkpoint op first, or the first op), at `cutoff_ms`.
/// `None` when there is nothing to see: no base, and the chain does not start at seq 1, or its
/// first op is after the cutoff.
pub fn observe<'a>(
    base: Option<&Certified>,
    ops: impl IntoIterator<Item = &'a Op>,
    cutoff_ms: u64,
) -> Option<Observation> {
    let mut ops = ops.into_iter().peekable();
    let (mut observation, mut start, mut last) = match base {
        Some(c) => (c.observation, c.as_of_ms, c.as_of_ms),
        None => {
            let first = ops.peek()?;
            if first.seq != 1 || first.time_ms > cutoff_ms {
                return None;
            }
            let t = first.time_ms;
            let observation = Observation {
                first_seen_ms: t,
                ..Observation::default()
            };
            // The first op starts the first life (it is a `Boot`; no restart).
            ops.next();
            (observation, t, t)
        }
    };
    for op in ops {
        if op.time_ms > cutoff_ms {
            break;
        }
        if let OpKind::Boot { .. } = op.kind {
            observation.uptime_ms = observation
                .uptime_ms
                .saturating_add(last.saturating_sub(start));
            observation.restarts = observation.restarts.saturating_add(1);
            start = op.time_ms;
        }
        last = last.max(op.time_ms);
    }
    observation.uptime_ms = observation
        .uptime_ms
        .saturating_add(last.saturating_sub(start));
    Some(observation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dkg::wire::Variant, vote::tally::Signature};
    use commonware_cryptography::bls12381::primitives::ops;
    use rand::SeedableRng as _;

    fn op(seq: u64, kind: OpKind, time_ms: u64) -> Op {
        Op {
            author: [0; 32],
            seq,
            parents: vec![],
            kind,
            time_ms,
        }
    }

    fn boot(seq: u64, t: u64) -> Op {
        op(seq, OpKind::Boot { boot_count: seq }, t)
    }

    fn beat(seq: u64, t: u64) -> Op {
        op(seq, OpKind::Heartbeat { uptime_ms: 0 }, t)
    }

    fn signature() -> Signature {
        // Any valid point will do: the view never checks it.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let (private, _) = ops::keypair::<_, Variant>(&mut rng);
        ops::sign_message::<Variant>(&private, b"test", b"any")
    }

    /// A life from 1000 to 31000 (heartbeats every 10 s), a crash, a second life from 50000.
    fn history() -> Vec<Op> {
        vec![
            boot(1, 1_000),
            beat(2, 11_000),
            beat(3, 21_000),
            beat(4, 31_000),
            boot(5, 50_000),
            beat(6, 60_000),
            beat(7, 70_000),
        ]
    }

    #[test]
    fn lives_add_up_and_boots_after_the_first_are_restarts() {
        let ops = history();
        let seen = observe(None, &ops, u64::MAX).unwrap();
        assert_eq!(
            seen,
            Observation {
                restarts: 1,
                uptime_ms: 30_000 + 20_000,
                first_seen_ms: 1_000,
            }
        );
        // A cutoff ignores what comes after it.
        let early = observe(None, &ops, 25_000).unwrap();
        assert_eq!(early.uptime_ms, 20_000);
        assert_eq!(early.restarts, 0);
        assert_eq!(observe(None, &ops, 500), None);
        // A chain that does not start at seq 1 and has no base says nothing.
        assert_eq!(observe(None, &ops[1..], u64::MAX), None);
    }

    #[test]
    fn a_checkpoint_base_gives_the_same_view_as_the_whole_history() {
        let ops = history();
        // A checkpoint taken at 21000 (round 1, during the first life), appended at 26000.
        let at_21 = observe(None, &ops, 21_000).unwrap();
        let certified = Certified {
            round: 1,
            as_of_ms: 21_000,
            observation: at_21,
            previous: None,
            signature: signature(),
        };
        let mut chain = ops.clone();
        chain.insert(
            3,
            op(4, OpKind::Checkpoint(Box::new(certified.clone())), 26_000),
        );
        for (i, o) in chain.iter_mut().enumerate() {
            o.seq = i as u64 + 1;
        }
        let whole = observe(None, &chain, u64::MAX).unwrap();
        assert_eq!(whole, observe(None, &ops, u64::MAX).unwrap());
        // From the checkpoint op on (what is left after compaction): the same view.
        let compacted = observe(Some(&certified), &chain[3..], u64::MAX).unwrap();
        assert_eq!(compacted, whole);
        for cutoff in [26_000, 31_000, 49_000, 50_000, 65_000] {
            assert_eq!(
                observe(Some(&certified), &chain[3..], cutoff),
                observe(None, &chain, cutoff),
                "cutoff {cutoff}"
            );
        }
    }
}
