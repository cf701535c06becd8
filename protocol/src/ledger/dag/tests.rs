use super::*;
use crate::ledger::op::{Op, OpKind};
use bytes::Bytes;
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519};
use rand::{RngExt as _, seq::SliceRandom as _};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng as _;

fn keys(n: u64) -> Vec<ed25519::PrivateKey> {
    (0..n)
        .map(|i| ed25519::PrivateKey::from_seed(500 + i))
        .collect()
}

fn publics(keys: &[ed25519::PrivateKey]) -> Vec<PublicKey> {
    keys.iter().map(|k| k.public_key()).collect()
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(3)
}

/// Signs `author`'s next op on top of `dag` (not applied).
fn next(dag: &Dag, keys: &[ed25519::PrivateKey], author: usize, payload: &str) -> SignedOp {
    let kind = OpKind::Data(Bytes::from(payload.to_string()));
    SignedOp::sign(&keys[author], dag.next_op(author, kind, 0))
}

/// Appends `author`'s next op to `dag`.
fn append(dag: &mut Dag, keys: &[ed25519::PrivateKey], author: usize) -> SignedOp {
    let op = next(dag, keys, author, "x");
    let report = dag.apply(vec![op.clone()], &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Applied]);
    op
}

/// A DAG built by `ops` appends from random authors, each on top of a random earlier view.
fn random_history(seed: u64, n: usize, ops: usize) -> (Vec<ed25519::PrivateKey>, Vec<SignedOp>) {
    let keys = keys(n as u64);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    // Each author appends on its own view, which merges the global history now and then.
    let mut views: Vec<Dag> = (0..n)
        .map(|_| Dag::new(&publics(&keys), Config::default()))
        .collect();
    let mut all = Vec::new();
    for _ in 0..ops {
        let author = r.random_range(0..n);
        if r.random_bool(0.5) {
            views[author].apply(all.clone(), &mut rng());
        }
        let op = append(&mut views[author], &keys, author);
        all.push(op);
    }
    (keys, all)
}

#[test]
fn apply_is_idempotent_and_tracks_heads() {
    let keys = keys(3);
    let mut dag = Dag::new(&publics(&keys), Config::default());
    let empty = dag.digest();
    let a = append(&mut dag, &keys, 0);
    assert_eq!(dag.heads().copied().collect::<Vec<_>>(), vec![a.id()]);
    let b = append(&mut dag, &keys, 1);
    assert_eq!(b.op().parents, vec![a.id()]);
    assert_eq!(dag.head_count(), 1);
    let c = append(&mut dag, &keys, 0);
    assert_eq!(c.op().seq, 2);
    assert_eq!(dag.len(), 3);
    assert_ne!(dag.digest(), empty);
    let report = dag.apply(vec![a.clone(), c.clone()], &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Duplicate; 2]);
    assert!(report.applied.is_empty());
    assert_eq!(dag.position(&c.id()), Some(2));
    assert_eq!(dag.at(1).map(|o| o.id()), Some(b.id()));
}

#[test]
fn strangers_and_forgeries_are_rejected_without_spoiling_the_batch() {
    let keys = keys(3);
    let mut dag = Dag::new(&publics(&keys), Config::default());
    let good = next(&dag, &keys, 0, "good");
    let stranger = ed25519::PrivateKey::from_seed(99);
    let alien = SignedOp::sign(
        &stranger,
        Op {
            author: [0; 32],
            seq: 1,
            parents: vec![],
            kind: OpKind::Boot { boot_count: 1 },
            time_ms: 0,
        },
    );
    // Signed by the stranger but claiming member 1 as its author.
    let mut forged_op = next(&dag, &keys, 1, "forged").op().clone();
    forged_op
        .author
        .copy_from_slice(keys[1].public_key().as_ref());
    let mut encoded = forged_op.encode().to_vec();
    let signature = stranger.sign(crate::ledger::op::NAMESPACE, &encoded);
    encoded.extend_from_slice(signature.as_ref());
    let forged = SignedOp::parse(Bytes::from(encoded)).expect("decodes");
    let other = next(&dag, &keys, 2, "other");
    let report = dag.apply(vec![good, alien, forged, other], &mut rng());
    assert_eq!(
        report.outcomes,
        vec![
            Outcome::Applied,
            Outcome::Rejected(Reason::UnknownAuthor),
            Outcome::Rejected(Reason::BadSignature),
            Outcome::Applied,
        ]
    );
    assert_eq!(dag.len(), 2);
}

/// The ops without parents, and the others.
fn split_roots(history: &[SignedOp]) -> (Vec<SignedOp>, Vec<SignedOp>) {
    history
        .iter()
        .cloned()
        .partition(|op| op.op().parents.is_empty())
}

#[test]
fn pending_ops_drain_when_their_parents_arrive() {
    let (keys, history) = random_history(1, 4, 60);
    let (roots, mut rest) = split_roots(&history);
    let mut dag = Dag::new(&publics(&keys), Config::default());
    // Children first: everything but the roots waits.
    rest.reverse();
    let report = dag.apply(rest.clone(), &mut rng());
    assert!(report.outcomes.iter().all(|o| *o == Outcome::Pending));
    assert_eq!(dag.pending_len(), rest.len());
    let mut root_ids: Vec<OpId> = roots.iter().map(|r| r.id()).collect();
    root_ids.sort();
    assert_eq!(dag.missing(100), root_ids);
    let report = dag.apply(roots.clone(), &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Applied; roots.len()]);
    assert_eq!(report.applied.len(), 60);
    assert_eq!(dag.pending_len(), 0);
    // Positions put parents before children.
    for op in &history {
        for parent in &op.op().parents {
            assert!(dag.position(parent) < dag.position(&op.id()));
        }
    }
}

#[test]
fn every_arrival_order_gives_the_same_digest() {
    for seed in 0..8 {
        let (keys, history) = random_history(seed, 5, 80);
        let mut reference = Dag::new(&publics(&keys), Config::default());
        reference.apply(history.clone(), &mut rng());
        assert_eq!(reference.len(), 80);
        let mut r = ChaCha8Rng::seed_from_u64(seed + 100);
        for _ in 0..4 {
            let mut shuffled = history.clone();
            shuffled.shuffle(&mut r);
            let mut dag = Dag::new(&publics(&keys), Config::default());
            for chunk in shuffled.chunks(7) {
                dag.apply(chunk.to_vec(), &mut rng());
            }
            assert_eq!(dag.len(), 80);
            assert_eq!(dag.digest(), reference.digest());
            assert_eq!(dag.pending_len(), 0);
        }
    }
}

#[test]
fn the_pending_buffer_is_bounded() {
    let (keys, history) = random_history(2, 3, 40);
    let (_, rest) = split_roots(&history);
    let mut dag = Dag::new(&publics(&keys), Config { max_pending: 10 });
    let report = dag.apply(rest.clone(), &mut rng());
    assert_eq!(dag.pending_len(), 10);
    assert_eq!(report.evicted, rest.len() - 10);
    assert_eq!(dag.evicted_total(), rest.len() as u64 - 10);
    // The evicted ops come again later (gossip or backfill) and everything applies.
    dag.apply(history.clone(), &mut rng());
    assert_eq!(dag.len(), 40);
    assert_eq!(dag.pending_len(), 0);
}

#[test]
fn a_broken_author_chain_is_rejected_with_its_waiters() {
    let keys = keys(2);
    let mut dag = Dag::new(&publics(&keys), Config::default());
    let first = append(&mut dag, &keys, 0);
    // Seq 2 without its own seq 1 as parent.
    let orphan = SignedOp::sign(
        &keys[0],
        Op {
            author: [0; 32],
            seq: 2,
            parents: vec![],
            kind: OpKind::Boot { boot_count: 2 },
            time_ms: 0,
        },
    );
    // Seq 1 claiming a parent of its own author.
    let early = SignedOp::sign(
        &keys[0],
        Op {
            author: [0; 32],
            seq: 1,
            parents: vec![first.id()],
            kind: OpKind::Boot { boot_count: 2 },
            time_ms: 0,
        },
    );
    let report = dag.apply(vec![orphan.clone(), early], &mut rng());
    assert_eq!(
        report.outcomes,
        vec![Outcome::Rejected(Reason::BadChain); 2]
    );

    // A bad op that waited, and an op waiting on it: both go once the parent arrives.
    let mut other = Dag::new(&publics(&keys), Config::default());
    let bad_child = SignedOp::sign(
        &keys[1],
        Op {
            author: [0; 32],
            seq: 1,
            parents: vec![orphan.id()],
            kind: OpKind::Boot { boot_count: 1 },
            time_ms: 0,
        },
    );
    let lost = SignedOp::sign(
        &keys[0],
        Op {
            author: [0; 32],
            seq: 2,
            parents: vec![first.id()],
            kind: OpKind::Boot { boot_count: 2 },
            time_ms: 0,
        },
    );
    let report = other.apply(vec![lost.clone(), bad_child.clone()], &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Pending; 2]);
    // `lost` waits for a parent this ledger does not hold at all.
    assert!(other.waits_for_unknown(&lost.id()));
    // `lost` is fine; orphan (seq 2 with no own parent) is not, nor its waiter.
    let report = other.apply(vec![first.clone()], &mut rng());
    assert_eq!(report.applied.len(), 2);
    let report = other.apply(vec![orphan.clone()], &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Rejected(Reason::BadChain)]);
    assert_eq!(
        report.rejected_later,
        vec![(bad_child.id(), Reason::RejectedParent)]
    );
    assert_eq!(other.pending_len(), 0);
}

#[test]
fn equivocation_keeps_both_forks_and_flags_the_author() {
    let keys = keys(3);
    let mut base = Dag::new(&publics(&keys), Config::default());
    let a1 = append(&mut base, &keys, 0);
    let fork_a = next(&base, &keys, 0, "left");
    let fork_b = next(&base, &keys, 0, "right");
    assert_eq!(fork_a.op().seq, fork_b.op().seq);
    let mut digests = Vec::new();
    for order in [[&fork_a, &fork_b], [&fork_b, &fork_a]] {
        let mut dag = Dag::new(&publics(&keys), Config::default());
        dag.apply(vec![a1.clone(), order[0].clone()], &mut rng());
        let report = dag.apply(vec![order[1].clone()], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Applied]);
        assert_eq!(report.flagged, vec![keys[0].public_key()]);
        assert!(dag.is_flagged(0) && !dag.is_flagged(1));
        let evidence: Vec<_> = dag.equivocations().collect();
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].1[0].seq, 2);
        assert_eq!(dag.head_count(), 2);
        digests.push(dag.digest());
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn ops_stranded_by_a_lost_op_are_counted_and_kept_for_a_fork() {
    let keys = keys(3);
    // The author's own view: a1, then a2 (lost with every copy), then a3 on it.
    let mut author = Dag::new(&publics(&keys), Config::default());
    let a1 = append(&mut author, &keys, 0);
    let mut lost = author.clone();
    let a2 = append(&mut lost, &keys, 0);
    let a3 = append(&mut lost, &keys, 0);
    // A peer got a1 and a3 only: a3 waits for a2, not stranded yet.
    let mut peer = Dag::new(&publics(&keys), Config::default());
    peer.apply(vec![a1.clone(), a3.clone()], &mut rng());
    assert_eq!((peer.pending_len(), peer.stranded_len()), (1, 0));
    assert_eq!(peer.highest_seq(0), 3);
    // The author, recovered without a2, goes on from a1: a3 is stranded on a fork at seq 2.
    let a2b = next(&author, &keys, 0, "again");
    assert_eq!(
        author.apply(vec![a2b.clone()], &mut rng()).outcomes,
        vec![Outcome::Applied]
    );
    let report = peer.apply(vec![a2b.clone()], &mut rng());
    assert_eq!(report.outcomes, vec![Outcome::Applied]);
    assert!(report.rejected_later.is_empty());
    assert_eq!((peer.pending_len(), peer.stranded_len()), (1, 1));
    assert!(!peer.is_flagged(0));
    // Another member's op naming a3 is stranded with it.
    let mut holder = lost.clone();
    let b1 = append(&mut holder, &keys, 1);
    peer.apply(vec![b1.clone()], &mut rng());
    assert_eq!((peer.pending_len(), peer.stranded_len()), (2, 2));
    // Had the fork been an equivocator's, its arrival applies everything that waited for it.
    let report = peer.apply(vec![a2], &mut rng());
    assert!(report.outcomes.iter().all(|o| *o == Outcome::Applied));
    assert_eq!((peer.pending_len(), peer.stranded_len()), (0, 0));
    assert!(peer.is_flagged(0) && peer.contains(&a3.id()) && peer.contains(&b1.id()));
    // A child of the op that was applied is never stranded.
    let a3b = next(&author, &keys, 0, "y");
    let mut late = Dag::new(&publics(&keys), Config::default());
    late.apply(vec![a1, a3b.clone()], &mut rng());
    let report = late.apply(vec![a2b], &mut rng());
    assert!(report.rejected_later.is_empty());
    assert_eq!((late.pending_len(), late.stranded_len()), (0, 0));
    assert!(late.contains(&a3b.id()));
}

#[test]
fn parents_are_bounded_and_include_the_previous_op() {
    let n = MAX_PARENTS as u64 + 6;
    let keys = keys(n);
    let mut dag = Dag::new(&publics(&keys), Config::default());
    let first = append(&mut dag, &keys, 0);
    // Everyone else appends concurrently on top of `first` only.
    let concurrent: Vec<SignedOp> = (1..n as usize).map(|a| next(&dag, &keys, a, "c")).collect();
    dag.apply(concurrent, &mut rng());
    assert_eq!(dag.head_count(), n as usize - 1);
    let parents = dag.parents_for(0);
    assert_eq!(parents.len(), MAX_PARENTS);
    // Author 0's own previous op is a head no longer, but is a parent.
    assert!(parents.contains(&first.id()));
    append(&mut dag, &keys, 0);
    assert_eq!(dag.head_count(), n as usize - MAX_PARENTS + 1);
}

/// Brute force: positions of every applied op that is not an ancestor-or-self of `known`.
fn brute_unknown(dag: &Dag, known: &[OpId]) -> Vec<u64> {
    let mut covered = BTreeSet::new();
    let mut work: Vec<OpId> = known.iter().filter(|k| dag.contains(k)).copied().collect();
    while let Some(id) = work.pop() {
        if covered.insert(id) {
            work.extend(dag.get(&id).unwrap().op().parents.iter().copied());
        }
    }
    (0..dag.len())
        .filter(|p| !covered.contains(&dag.at(*p).unwrap().id()))
        .collect()
}

#[test]
fn unknown_to_matches_brute_force() {
    for seed in 0..6 {
        let (keys, history) = random_history(seed, 4, 70);
        let mut full = Dag::new(&publics(&keys), Config::default());
        full.apply(history.clone(), &mut rng());
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..10 {
            // A peer holding a random causally closed prefix of some arrival order.
            let cut = r.random_range(0..=history.len());
            let mut peer = Dag::new(&publics(&keys), Config::default());
            peer.apply(history[..cut].to_vec(), &mut rng());
            let known = peer.known();
            let unknown = full.unknown_to(&known, &[]);
            assert_eq!(
                unknown,
                brute_unknown(&full, &known),
                "seed {seed} cut {cut}"
            );
            // Sending those makes the peer equal.
            let ops = unknown
                .iter()
                .map(|p| full.at(*p).unwrap().clone())
                .collect();
            let report = peer.apply(ops, &mut rng());
            assert!(report.outcomes.iter().all(|o| *o == Outcome::Applied));
            assert_eq!(peer.digest(), full.digest());
        }
        // An op asked for by id is sent even to a peer whose known ops descend from it (with
        // at most some of its ancestors that only it names: the walk cannot tell those known).
        let root = history[35].id();
        let at = full.position(&root).unwrap();
        let unknown = full.unknown_to(&full.known(), &[root]);
        assert!(unknown.contains(&at));
        assert!(unknown.iter().all(|p| *p <= at));
        // To a peer that knows nothing, everything.
        assert_eq!(full.unknown_to(&[], &[root]).len() as u64, full.len());
    }
}

mod checkpoints {
    use super::*;
    use crate::{
        dkg::wire::Variant,
        ledger::op::Certified,
        vote::{Observation, wire::CERTIFICATE_NAMESPACE},
    };
    use commonware_cryptography::bls12381::primitives::{group::Private, ops};

    fn group() -> (Private, GroupKey) {
        ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(9))
    }

    /// `author`'s next op on `dag`: a checkpoint after `previous`, certified by `private`.
    fn checkpoint(
        dag: &Dag,
        keys: &[ed25519::PrivateKey],
        author: usize,
        as_of_ms: u64,
        previous: Option<crate::vote::wire::Digest>,
        private: &Private,
    ) -> SignedOp {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(keys[author].public_key().as_ref());
        let mut certified = Certified {
            round: 1,
            as_of_ms,
            observation: Observation {
                restarts: 0,
                uptime_ms: as_of_ms,
                first_seen_ms: 0,
            },
            previous,
            signature: ops::sign_message::<Variant>(private, b"x", b"x"),
        };
        certified.signature =
            ops::sign_message::<Variant>(private, CERTIFICATE_NAMESPACE, &certified.id(raw));
        let op = dag.next_op(author, OpKind::Checkpoint(Box::new(certified)), as_of_ms);
        SignedOp::sign(&keys[author], op)
    }

    fn id_of(op: &SignedOp) -> crate::vote::wire::Digest {
        match &op.op().kind {
            OpKind::Checkpoint(c) => c.id(op.op().author),
            _ => panic!("not a checkpoint"),
        }
    }

    #[test]
    fn certified_and_chained_checkpoints_apply_and_others_are_rejected() {
        let keys = keys(2);
        let (private, public) = group();
        let (forger, _) = ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(10));
        let mut dag = Dag::new(&publics(&keys), Config::default());
        dag.set_group_key(public);
        append(&mut dag, &keys, 0);
        // Signed by another key: rejected on arrival.
        let forged = checkpoint(&dag, &keys, 0, 10, None, &forger);
        let report = dag.apply(vec![forged], &mut rng());
        assert_eq!(
            report.outcomes,
            vec![Outcome::Rejected(Reason::BadCertificate)]
        );
        // A first checkpoint naming a previous one: a broken chain.
        let orphan = checkpoint(&dag, &keys, 0, 10, Some([7; 32]), &private);
        let report = dag.apply(vec![orphan], &mut rng());
        assert_eq!(
            report.outcomes,
            vec![Outcome::Rejected(Reason::BadCheckpointChain)]
        );
        let first = checkpoint(&dag, &keys, 0, 10, None, &private);
        assert_eq!(
            dag.apply(vec![first.clone()], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        assert_eq!(
            dag.latest_checkpoint(0).map(|(id, _)| id),
            Some(id_of(&first))
        );
        assert!(dag.latest_checkpoint(1).is_none());
        append(&mut dag, &keys, 1);
        append(&mut dag, &keys, 0);
        // The next one must name the first, with a later as_of.
        for (previous, as_of) in [(None, 20), (Some(id_of(&first)), 10), (Some([7; 32]), 20)] {
            let bad = checkpoint(&dag, &keys, 0, as_of, previous, &private);
            assert_eq!(
                dag.apply(vec![bad], &mut rng()).outcomes,
                vec![Outcome::Rejected(Reason::BadCheckpointChain)]
            );
        }
        let second = checkpoint(&dag, &keys, 0, 20, Some(id_of(&first)), &private);
        assert_eq!(
            dag.apply(vec![second.clone()], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        // The history starts at the latest checkpoint op.
        let (base, ops) = dag.history(0);
        assert_eq!(base.map(|c| c.as_of_ms), Some(20));
        let ids: Vec<OpId> = ops.map(|o| o.id()).collect();
        assert_eq!(ids, vec![second.id()]);
        // The codec round-trips a checkpoint op.
        assert_eq!(SignedOp::parse(second.encoded().clone()).unwrap(), second);
    }

    #[test]
    fn a_checkpoint_waits_for_the_group_key_then_applies_or_is_rejected() {
        let keys = keys(2);
        let (private, public) = group();
        let (forger, _) = ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(10));
        let mut source = Dag::new(&publics(&keys), Config::default());
        source.set_group_key(public);
        let boot = append(&mut source, &keys, 0);
        let good = checkpoint(&source, &keys, 0, 10, None, &private);
        let other = append(&mut source, &keys, 1);
        let bad = checkpoint(&source, &keys, 1, 10, None, &forger);
        // Without the key: both wait, and what builds on them too.
        let mut dag = Dag::new(&publics(&keys), Config::default());
        let report = dag.apply(
            vec![boot.clone(), good.clone(), other.clone(), bad.clone()],
            &mut rng(),
        );
        assert_eq!(
            report.outcomes,
            vec![
                Outcome::Applied,
                Outcome::Pending,
                Outcome::Applied,
                Outcome::Pending
            ]
        );
        // Waiting for the key is not waiting for an unknown parent: a backfill page that served
        // these in order is not to blame.
        assert!(!dag.waits_for_unknown(&good.id()));
        assert!(!dag.waits_for_unknown(&bad.id()));
        let report = dag.set_group_key(public);
        assert_eq!(report.applied, vec![good.id()]);
        assert_eq!(
            report.rejected_later,
            vec![(bad.id(), Reason::BadCertificate)]
        );
        assert_eq!(dag.pending_len(), 0);
        // Replaying a store (trusted) needs no key.
        let mut replay = Dag::new(&publics(&keys), Config::default());
        let report = replay.apply_trusted(vec![boot, good, other]);
        assert_eq!(report.applied.len(), 3);
        assert_eq!(replay.digest(), dag.digest());
    }
}

mod compaction {
    use super::*;
    use crate::{
        dkg::wire::Variant,
        ledger::{op::Certified, view},
        vote::{Observation, wire::CERTIFICATE_NAMESPACE},
    };
    use commonware_cryptography::bls12381::primitives::{group::Private, ops};

    /// `author`'s next op on `dag` of `kind` at `time_ms`, signed.
    fn signed(
        dag: &Dag,
        keys: &[ed25519::PrivateKey],
        author: usize,
        kind: OpKind,
        time_ms: u64,
    ) -> SignedOp {
        SignedOp::sign(&keys[author], dag.next_op(author, kind, time_ms))
    }

    /// A certified checkpoint of `author` on its own view `dag`, after its latest one.
    fn checkpoint(
        dag: &Dag,
        keys: &[ed25519::PrivateKey],
        author: usize,
        time_ms: u64,
        private: &Private,
    ) -> SignedOp {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(keys[author].public_key().as_ref());
        let (base, history) = dag.history(author);
        let observation = view::observe(base, history.map(|o| o.op()), time_ms).unwrap();
        let mut certified = Certified {
            round: 1,
            as_of_ms: time_ms,
            observation,
            previous: dag.latest_checkpoint(author).map(|(id, _)| id),
            signature: ops::sign_message::<Variant>(private, b"x", b"x"),
        };
        certified.signature =
            ops::sign_message::<Variant>(private, CERTIFICATE_NAMESPACE, &certified.id(raw));
        signed(
            dag,
            keys,
            author,
            OpKind::Checkpoint(Box::new(certified)),
            time_ms + 1,
        )
    }

    /// Every author's view at `cutoff`.
    fn views(dag: &Dag, n: usize, cutoff: u64) -> Vec<Option<Observation>> {
        (0..n)
            .map(|a| {
                let (base, ops) = dag.history(a);
                view::observe(base, ops.map(|o| o.op()), cutoff)
            })
            .collect()
    }

    /// A random history of `n` authors: boots, heartbeats, some data, and certified
    /// checkpoints now and then, each author appending on its own view.
    fn history(
        seed: u64,
        n: usize,
        steps: usize,
    ) -> (Vec<ed25519::PrivateKey>, GroupKey, Vec<SignedOp>) {
        history_with(seed, n, steps, 0.05)
    }

    /// As [`history`], with a Data op at each step with probability `data` (of the steps that
    /// are not a boot or a checkpoint).
    fn history_with(
        seed: u64,
        n: usize,
        steps: usize,
        data: f64,
    ) -> (Vec<ed25519::PrivateKey>, GroupKey, Vec<SignedOp>) {
        let keys = keys(n as u64);
        let (private, public) = ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(9));
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let mut views: Vec<Dag> = (0..n)
            .map(|_| {
                let mut d = Dag::new(&publics(&keys), Config::default());
                d.set_group_key(public);
                d
            })
            .collect();
        let mut all: Vec<SignedOp> = Vec::new();
        for step in 0..steps {
            let author = r.random_range(0..n);
            if r.random_bool(0.6) {
                views[author].apply(all.clone(), &mut rng());
            }
            let time = 1_000 + step as u64 * 1_000;
            let view = &views[author];
            let op = if view.next_seq(author) == 1 || r.random_bool(0.03) {
                signed(view, &keys, author, OpKind::Boot { boot_count: 1 }, time)
            } else if r.random_bool(0.06) {
                checkpoint(view, &keys, author, time, &private)
            } else if r.random_bool(data) {
                signed(
                    view,
                    &keys,
                    author,
                    OpKind::Data(Bytes::from_static(b"d")),
                    time,
                )
            } else {
                signed(
                    view,
                    &keys,
                    author,
                    OpKind::Heartbeat { uptime_ms: 0 },
                    time,
                )
            };
            let report = views[author].apply(vec![op.clone()], &mut rng());
            assert_eq!(report.outcomes, vec![Outcome::Applied], "step {step}");
            all.push(op);
        }
        (keys, public, all)
    }

    fn full(keys: &[ed25519::PrivateKey], public: GroupKey, all: &[SignedOp]) -> Dag {
        let mut dag = Dag::new(&publics(keys), Config::default());
        dag.set_group_key(public);
        let report = dag.apply(all.to_vec(), &mut rng());
        assert!(report.outcomes.iter().all(|o| *o == Outcome::Applied));
        dag
    }

    /// What `server` sends a peer that knows `known`, as its backfill server does: every op
    /// the peer lacks in position order, each op held without its parents right after the
    /// checkpoint that covers it.
    fn served(server: &Dag, known: &[OpId]) -> Vec<SignedOp> {
        let mut sent = BTreeSet::new();
        let mut page = Vec::new();
        for position in server.unknown_to(known, &[]) {
            let op = server.at(position).unwrap();
            if let Some(cover) = server.cover(&op.id())
                && sent.insert(cover.id())
            {
                page.push(cover.clone());
            }
            sent.insert(op.id());
            page.push(op.clone());
        }
        page
    }

    /// Every held op has all its parents held, or is a presence op below its author's floor.
    fn sound(dag: &Dag) {
        for (id, e) in &dag.ops {
            let complete = e.op.op().parents.iter().all(|p| dag.ops.contains_key(p));
            assert!(
                complete || dag.covered(&e.op, e.author),
                "op {id:?} lacks a parent and is not covered"
            );
        }
    }

    #[test]
    fn compaction_changes_no_view_head_or_digest_and_a_joiner_and_a_replay_reach_the_same_ledger() {
        let n = 4;
        for seed in 0..12 {
            let (keys, public, all) = history(seed, n, 600);
            let reference = full(&keys, public, &all);
            let mut compacted = reference.clone();
            let pruned = compacted.compact();
            assert!(pruned > 0, "seed {seed}: nothing pruned");
            assert!(compacted.held() < reference.held());
            sound(&compacted);
            assert_eq!(compacted.digest(), reference.digest(), "seed {seed}");
            assert_eq!(
                compacted.heads().collect::<Vec<_>>(),
                reference.heads().collect::<Vec<_>>()
            );
            for cutoff in [u64::MAX, 300_000, 450_000] {
                assert_eq!(views(&compacted, n, cutoff), views(&reference, n, cutoff));
            }
            // Compacting again removes nothing more.
            assert_eq!(compacted.clone().compact(), 0);
            // Paging through the held ops skips the freed positions: every held op once, in
            // position order, no empty page before the end.
            let mut paged = Vec::new();
            let mut from = 0;
            loop {
                let (page, next) = compacted.held_from(from, 7);
                if page.is_empty() {
                    assert_eq!(next, from);
                    break;
                }
                assert!(page.windows(2).all(|w| w[0].0 < w[1].0));
                assert!(next > from);
                paged.extend(page.into_iter().map(|(_, op)| op.id()));
                from = next;
            }
            assert_eq!(paged.len(), compacted.held(), "seed {seed}");

            // A late joiner backfills from the compacted node in position order, each op
            // after its cover, in pages of random size.
            let mut joiner = Dag::new(&publics(&keys), Config::default());
            joiner.set_group_key(public);
            let mut page: Vec<SignedOp> = Vec::new();
            let mut sent = BTreeSet::new();
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            let positions = compacted.unknown_to(&[], &[]);
            for (i, position) in positions.iter().enumerate() {
                let op = compacted.at(*position).unwrap();
                if let Some(cover) = compacted.cover(&op.id())
                    && sent.insert(cover.id())
                {
                    page.push(cover.clone());
                }
                sent.insert(op.id());
                page.push(op.clone());
                if r.random_bool(0.1) || i + 1 == positions.len() {
                    let ids: Vec<OpId> = page.iter().map(|o| o.id()).collect();
                    let report = joiner.apply(std::mem::take(&mut page), &mut rng());
                    assert!(
                        !report
                            .outcomes
                            .iter()
                            .any(|o| matches!(o, Outcome::Rejected(_))),
                        "seed {seed}: {:?}",
                        report.outcomes
                    );
                    assert!(report.rejected_later.is_empty());
                    // A page in this order is never blamed.
                    assert!(
                        ids.iter().all(|id| !joiner.waits_for_unknown(id)),
                        "seed {seed}"
                    );
                }
            }
            assert_eq!(joiner.pending_len(), 0, "seed {seed}");
            assert_eq!(joiner.digest(), reference.digest(), "seed {seed}");
            assert_eq!(views(&joiner, n, u64::MAX), views(&reference, n, u64::MAX));
            sound(&joiner);
            // The joiner compacts to no more than it holds, and keeps agreeing.
            joiner.compact();
            assert_eq!(joiner.digest(), reference.digest());

            // A lagging peer (it holds a prefix of the history) catches up from the compacted
            // node through its own `known` list.
            let mut lagging = full(&keys, public, &all[..all.len() * 2 / 5]);
            let page = served(&compacted, &lagging.known());
            let report = lagging.apply(page, &mut rng());
            assert!(report.rejected_later.is_empty());
            assert!(
                !report
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Rejected(_)))
            );
            assert_eq!(lagging.pending_len(), 0, "seed {seed}");
            assert_eq!(lagging.digest(), reference.digest(), "seed {seed}");
            assert_eq!(views(&lagging, n, u64::MAX), views(&reference, n, u64::MAX));
            // Every data op reached it, pruning or not.
            for op in all
                .iter()
                .filter(|o| matches!(o.op().kind, OpKind::Data(_)))
            {
                assert!(lagging.contains(&op.id()), "seed {seed}: a data op missed");
            }

            // The rewritten store replays (trusted) into the same ledger.
            let mut replay = Dag::new(&publics(&keys), Config::default());
            let order: Vec<SignedOp> = compacted.replay_order().into_iter().cloned().collect();
            let report = replay.apply_trusted(order);
            assert!(report.rejected_later.is_empty());
            assert_eq!(replay.pending_len(), 0, "seed {seed}");
            assert_eq!(replay.held(), compacted.held());
            assert_eq!(replay.digest(), reference.digest());
            assert_eq!(views(&replay, n, u64::MAX), views(&reference, n, u64::MAX));

            // A node that saw everything and a compacted one keep agreeing as the ledger goes
            // on: a new op of every author applies on both.
            let mut a = reference.clone();
            let mut b = compacted.clone();
            for author in 0..n {
                let op = signed(
                    &a,
                    &keys,
                    author,
                    OpKind::Heartbeat { uptime_ms: 0 },
                    10_000_000,
                );
                assert_eq!(
                    a.apply(vec![op.clone()], &mut rng()).outcomes,
                    vec![Outcome::Applied]
                );
                assert_eq!(
                    b.apply(vec![op], &mut rng()).outcomes,
                    vec![Outcome::Applied]
                );
            }
            assert_eq!(a.digest(), b.digest());
        }
    }

    #[test]
    fn a_joiner_without_the_group_key_yet_blames_no_page_and_catches_up_once_it_has_it() {
        let n = 4;
        for seed in 0..6 {
            let (keys, public, all) = history(seed, n, 500);
            let reference = full(&keys, public, &all);
            let mut compacted = reference.clone();
            compacted.compact();
            // The joiner's DKG has not finished: checkpoints wait for the key, and the presence
            // ops they cover wait for their pruned parents. Neither is the server's fault.
            let mut joiner = Dag::new(&publics(&keys), Config::default());
            let page = served(&compacted, &[]);
            let ids: Vec<OpId> = page.iter().map(|o| o.id()).collect();
            let report = joiner.apply(page, &mut rng());
            assert!(
                !report
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Rejected(_)))
            );
            assert!(
                joiner.pending_len() > 0,
                "seed {seed}: checkpoints wait for the key"
            );
            assert!(
                ids.iter().all(|id| !joiner.waits_for_unknown(id)),
                "seed {seed}: a compacted server's page was blamed"
            );
            let report = joiner.set_group_key(public);
            assert!(report.rejected_later.is_empty(), "seed {seed}");
            assert_eq!(joiner.pending_len(), 0, "seed {seed}");
            assert!(joiner.keyless.is_empty());
            assert_eq!(joiner.digest(), reference.digest(), "seed {seed}");
            assert_eq!(views(&joiner, n, u64::MAX), views(&reference, n, u64::MAX));
            sound(&joiner);
        }
    }

    #[test]
    fn a_compacted_peer_with_many_kept_ops_is_sent_only_what_it_lacks() {
        // Half the ops are Data (kept by compaction); most presence ops between them are
        // pruned, so no walk from the peer's heads reaches the old Data ops. A peer that holds
        // the same compacted ledger but for the server's newest op must be sent that op only,
        // not every kept op again (its backfill would stall on pages of duplicates).
        for seed in 0..4 {
            let (keys, public, all) = history_with(seed, 5, 600, 0.5);
            let mut server = full(&keys, public, &all);
            server.compact();
            let client = server.clone();
            let op = SignedOp::sign(
                &keys[1],
                server.next_op(1, OpKind::Data(Bytes::from_static(b"new")), 9_000_000),
            );
            server.apply(vec![op.clone()], &mut rng());
            let page: Vec<OpId> = server
                .unknown_to(&client.known(), &client.wanted(256))
                .into_iter()
                .map(|p| server.at(p).unwrap().id())
                .collect();
            assert_eq!(page, vec![op.id()], "seed {seed}");
            // A server that lags the peer (it lacks the peer's newest op of every author, so
            // it holds none of its heads or tips) still sends nothing the peer holds.
            let mut ahead = server.clone();
            for (author, key) in keys.iter().enumerate() {
                let op = SignedOp::sign(
                    key,
                    ahead.next_op(author, OpKind::Data(Bytes::from_static(b"n")), 9_100_000),
                );
                ahead.apply(vec![op], &mut rng());
            }
            let lagging = server.clone();
            let page = lagging.unknown_to(&ahead.known(), &ahead.wanted(256));
            assert!(page.is_empty(), "seed {seed}: sent {} ops", page.len());
        }
    }

    #[test]
    fn a_data_op_a_checkpoint_covered_before_it_arrived_is_asked_for_by_id() {
        let (keys, public, all) = history(11, 3, 200);
        let (private, _) = ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(9));
        let mut server = full(&keys, public, &all);
        // Author 0 appends a Data op, a heartbeat above it, and a checkpoint covering both.
        let data = signed(
            &server,
            &keys,
            0,
            OpKind::Data(Bytes::from_static(b"d")),
            8_000_000,
        );
        server.apply(vec![data.clone()], &mut rng());
        let beat = signed(
            &server,
            &keys,
            0,
            OpKind::Heartbeat { uptime_ms: 0 },
            8_001_000,
        );
        server.apply(vec![beat.clone()], &mut rng());
        let cp = checkpoint(&server, &keys, 0, 8_002_000, &private);
        server.apply(vec![cp.clone()], &mut rng());
        // A node that lost the Data op's frame gets the checkpoint, then the heartbeat: covered,
        // it applies without its parent, below its author's floor.
        let mut node = full(&keys, public, &all);
        node.apply(vec![cp.clone(), beat.clone()], &mut rng());
        assert!(node.contains(&beat.id()) && node.contains(&cp.id()));
        assert!(!node.contains(&data.id()));
        // It asks for the Data op by id, and the server sends it.
        let wanted = node.wanted(256);
        assert!(wanted.contains(&data.id()));
        let page: Vec<SignedOp> = server
            .unknown_to(&node.known(), &wanted)
            .into_iter()
            .map(|p| server.at(p).unwrap().clone())
            .collect();
        assert!(page.iter().any(|o| o.id() == data.id()));
        node.apply(page, &mut rng());
        assert!(node.contains(&data.id()));
        assert!(!node.wanted(256).contains(&data.id()));
        // A parent no peer holds any more is given up after a few complete runs.
        let mut pruned = full(&keys, public, &all);
        pruned.apply(vec![cp.clone(), beat.clone()], &mut rng());
        for _ in 0..MAX_UNRESOLVED_ASKS {
            assert!(pruned.wanted(256).contains(&data.id()));
            pruned.asked_without(&[data.id()]);
        }
        assert!(!pruned.wanted(256).contains(&data.id()));
    }

    #[test]
    fn an_op_naming_a_pruned_op_blames_nobody_and_is_asked_for_by_id() {
        let (keys, public, all) = history(5, 3, 400);
        let reference = full(&keys, public, &all);
        let mut compacted = reference.clone();
        compacted.compact();
        let pruned = all
            .iter()
            .find(|op| !compacted.contains(&op.id()))
            .expect("something was pruned")
            .clone();
        // Author 0's next op names it (its author had not seen the checkpoint yet, say).
        let mut op = reference.next_op(0, OpKind::Heartbeat { uptime_ms: 0 }, 9_000_000);
        op.parents.push(pruned.id());
        op.parents.sort_unstable();
        op.parents.dedup();
        let late = SignedOp::sign(&keys[0], op);
        let report = compacted.apply(vec![late.clone()], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Pending]);
        // The sender is not to blame, and the node asks for the pruned op by id.
        assert!(!compacted.waits_for_unknown(&late.id()));
        assert!(compacted.wanted(256).contains(&pruned.id()));
        // A server that holds everything sends it though the node's known ops descend from it.
        let mut server = reference.clone();
        server.apply(vec![late.clone()], &mut rng());
        let page: Vec<SignedOp> = server
            .unknown_to(&compacted.known(), &compacted.wanted(256))
            .into_iter()
            .map(|p| server.at(p).unwrap().clone())
            .collect();
        assert!(page.iter().any(|o| o.id() == pruned.id()));
        compacted.apply(page, &mut rng());
        assert!(compacted.contains(&late.id()));
        assert_eq!(compacted.pending_len(), 0);
        assert_eq!(compacted.digest(), server.digest());
    }

    #[test]
    fn a_pruned_op_comes_back_as_frontier_when_a_late_op_names_it() {
        let (keys, public, all) = history(3, 3, 400);
        let reference = full(&keys, public, &all);
        let mut compacted = reference.clone();
        compacted.compact();
        // A pruned presence op (below a floor, named by nothing held).
        let pruned = all
            .iter()
            .find(|op| !compacted.contains(&op.id()))
            .expect("something was pruned")
            .clone();
        // It arrives again (a lagging peer still holds it): covered, it applies parentless,
        // and changes nothing.
        let report = compacted.apply(vec![pruned.clone()], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Applied]);
        assert_eq!(compacted.digest(), reference.digest());
        sound(&compacted);
        // Named by nothing, the next compaction drops it again.
        compacted.compact();
        assert!(!compacted.contains(&pruned.id()));
    }

    #[test]
    fn a_parent_that_a_frontier_op_lacks_is_asked_for_without_blame() {
        // Author 1 boots; author 0 boots naming it, then checkpoints (its boot below the
        // floor); author 1 lags and appends its next op on its boot.
        let keys = keys(2);
        let (private, public) = ops::keypair::<_, Variant>(&mut ChaCha8Rng::seed_from_u64(9));
        let mut world = Dag::new(&publics(&keys), Config::default());
        world.set_group_key(public);
        let b1 = signed(&world, &keys, 1, OpKind::Boot { boot_count: 1 }, 1_000);
        world.apply(vec![b1.clone()], &mut rng());
        let a1 = signed(&world, &keys, 0, OpKind::Boot { boot_count: 1 }, 2_000);
        world.apply(vec![a1.clone()], &mut rng());
        let a2 = checkpoint(&world, &keys, 0, 3_000, &private);
        world.apply(vec![a2.clone()], &mut rng());
        let b2 = signed(&world, &keys, 1, OpKind::Heartbeat { uptime_ms: 5 }, 4_000);
        assert!(b2.op().parents.contains(&b1.id()));
        // A joiner gets author 0's frontier from a compacted server: the checkpoint covers
        // the boot, which applies without author 1's boot.
        let mut joiner = Dag::new(&publics(&keys), Config::default());
        joiner.set_group_key(public);
        let report = joiner.apply(vec![a2.clone(), a1.clone()], &mut rng());
        assert!(
            report
                .outcomes
                .iter()
                .all(|o| *o != Outcome::Rejected(Reason::BadChain))
        );
        assert!(joiner.contains(&a1.id()) && !joiner.contains(&b1.id()));
        // Author 1's next op comes from a server that took b1 for known (an ancestor of a1):
        // it waits, nobody is blamed, and b1 is asked for by id.
        assert_eq!(
            joiner.apply(vec![b2.clone()], &mut rng()).outcomes,
            vec![Outcome::Pending]
        );
        assert!(!joiner.waits_for_unknown(&b2.id()));
        assert!(joiner.wanted(256).contains(&b1.id()));
        joiner.apply(vec![b1], &mut rng());
        assert!(joiner.contains(&b2.id()));
        assert_eq!(joiner.pending_len(), 0);
    }
}

mod governance {
    use super::*;
    use crate::{
        committee::{CERTIFICATE_NAMESPACE as COMMITTEE, CommitteeProposal, Joining},
        dkg::wire::Variant,
    };
    use commonware_cryptography::bls12381::{
        dkg::feldman_desmedt::deal_anonymous,
        primitives::{group::Share, ops, sharing::Mode, sharing::Sharing},
    };
    use commonware_utils::{N3f1, NZU32};

    /// Four genesis members holding shares of a 4-player sharing, and a fifth key to admit.
    struct World {
        keys: Vec<ed25519::PrivateKey>,
        sharing: Sharing<Variant>,
        shares: Vec<Share>,
        dag: Dag,
    }

    fn world() -> World {
        let keys = super::keys(5);
        let (sharing, shares) = deal_anonymous::<Variant, N3f1>(
            ChaCha8Rng::seed_from_u64(4),
            Mode::NonZeroCounter,
            NZU32!(4),
        );
        let mut dag = Dag::new(&publics(&keys[..4]), Config::default());
        dag.set_group_key(*sharing.public());
        World {
            keys,
            sharing,
            shares,
            dag,
        }
    }

    fn sign(w: &World, author: usize, kind: OpKind, extra: Option<OpId>) -> SignedOp {
        let mut op = w.dag.next_op(author, kind, 0);
        if let Some(extra) = extra {
            op.parents.push(extra);
            op.parents.sort_unstable();
            op.parents.dedup();
        }
        SignedOp::sign(&w.keys[author], op)
    }

    fn proposal(w: &World) -> CommitteeProposal {
        let members: Vec<PublicKey> = publics(&w.keys);
        CommitteeProposal::new(
            1,
            members,
            vec![Joining {
                key: w.keys[4].public_key(),
                address: "10.0.0.5:4000".into(),
            }],
            "add member 4".into(),
            [0; 32],
        )
        .unwrap()
    }

    fn certificate(w: &World, p: &CommitteeProposal) -> Box<tally::Signature> {
        let partials: Vec<_> = w.shares[..3]
            .iter()
            .map(|s| ops::threshold::sign_message::<Variant>(s, COMMITTEE, &p.digest()))
            .collect();
        Box::new(
            ops::threshold::recover::<Variant, _>(&w.sharing, partials.iter(), &Sequential)
                .unwrap(),
        )
    }

    /// Found by the `governance` scenario: the author of a proposal voting on it named its own
    /// `Propose` op as a second parent of its own, which the author-chain rule refuses
    /// (`bad_chain`), so an author never approved (nor certified) its own proposal.
    #[test]
    fn an_author_votes_and_certifies_its_own_proposal_through_its_chain() {
        let mut w = world();
        let p = proposal(&w);
        let propose = sign(&w, 0, OpKind::Propose(Box::new(p.clone())), None);
        w.dag.apply(vec![propose.clone()], &mut rng());
        let heartbeat = sign(&w, 0, OpKind::Heartbeat { uptime_ms: 1 }, None);
        w.dag.apply(vec![heartbeat], &mut rng());
        let partial = ops::threshold::sign_message::<Variant>(&w.shares[0], COMMITTEE, &p.digest());
        let vote = sign(
            &w,
            0,
            OpKind::Vote {
                proposal: propose.id(),
                partial: Box::new(partial),
            },
            None,
        );
        assert!(
            !vote.op().parents.contains(&propose.id()),
            "its own proposal is an ancestor already"
        );
        assert_eq!(
            w.dag.apply(vec![vote], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        assert_eq!(w.dag.proposals(0)[0].votes.len(), 1);
        let certify = sign(
            &w,
            0,
            OpKind::Certify {
                proposal: propose.id(),
                signature: certificate(&w, &p),
            },
            None,
        );
        let report = w.dag.apply(vec![certify], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Applied]);
        assert_eq!(report.certified, vec![propose.id()]);
        // Another author must still name the proposal.
        let partial = ops::threshold::sign_message::<Variant>(&w.shares[1], COMMITTEE, &p.digest());
        let mut op = w.dag.next_op(
            1,
            OpKind::Vote {
                proposal: propose.id(),
                partial: Box::new(partial),
            },
            0,
        );
        op.parents.retain(|p| *p != propose.id());
        let unnamed = SignedOp::sign(&w.keys[1], op);
        assert_eq!(
            w.dag.apply(vec![unnamed], &mut rng()).outcomes,
            vec![Outcome::Rejected(Reason::BadGovernance)]
        );
    }

    #[test]
    fn a_certified_committee_admits_its_newcomer_whose_first_op_names_the_certificate() {
        let mut w = world();
        let p = proposal(&w);
        let propose = sign(&w, 0, OpKind::Propose(Box::new(p.clone())), None);
        assert_eq!(
            w.dag.apply(vec![propose.clone()], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        let partial = ops::threshold::sign_message::<Variant>(&w.shares[1], COMMITTEE, &p.digest());
        // `next_op` names the proposal among a vote's parents.
        let vote = sign(
            &w,
            1,
            OpKind::Vote {
                proposal: propose.id(),
                partial: Box::new(partial),
            },
            None,
        );
        assert!(vote.op().parents.contains(&propose.id()));
        assert_eq!(
            w.dag.apply(vec![vote], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        // The newcomer is unknown before the certificate: dropped, never blamed.
        let stranger = SignedOp::sign(
            &w.keys[4],
            Op {
                author: [0; 32],
                seq: 1,
                parents: vec![],
                kind: OpKind::Boot { boot_count: 1 },
                time_ms: 0,
            },
        );
        let report = w.dag.apply(vec![stranger.clone()], &mut rng());
        assert_eq!(
            report.outcomes,
            vec![Outcome::Rejected(Reason::UnknownAuthor)]
        );
        assert!(!Reason::UnknownAuthor.blames_sender());
        let certify = sign(
            &w,
            2,
            OpKind::Certify {
                proposal: propose.id(),
                signature: certificate(&w, &p),
            },
            Some(propose.id()),
        );
        let report = w.dag.apply(vec![certify.clone()], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Applied]);
        assert_eq!(report.certified, vec![propose.id()]);
        assert_eq!(w.dag.committees().get(&propose.id()), Some(&p));
        let listed = w.dag.proposals(0);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].op, propose.id());
        assert_eq!(listed[0].votes.len(), 1);
        assert_eq!(listed[0].votes[0].voter, w.keys[1].public_key());
        assert!(listed[0].certified);
        assert!(w.dag.proposals(1).is_empty());
        assert_eq!(w.dag.authors().len(), 5);
        // A first op that does not name the certificate is refused; the one `next_op` builds
        // names it and applies.
        let report = w.dag.apply(vec![stranger], &mut rng());
        assert_eq!(
            report.outcomes,
            vec![Outcome::Rejected(Reason::NotAdmitted)]
        );
        let first = sign(&w, 4, OpKind::Boot { boot_count: 1 }, None);
        assert!(first.op().parents.contains(&certify.id()));
        assert_eq!(
            w.dag.apply(vec![first.clone()], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        let second = sign(&w, 4, OpKind::Heartbeat { uptime_ms: 9 }, None);
        assert_eq!(
            w.dag.apply(vec![second], &mut rng()).outcomes,
            vec![Outcome::Applied]
        );
        // Another node reaches the same ledger from the ops in any order of arrival that keeps
        // an admitted author's ops after their certificate; a replay of the store as well.
        let all: Vec<SignedOp> = (0..w.dag.len())
            .filter_map(|p| w.dag.at(p).cloned())
            .collect();
        let mut other = Dag::new(&publics(&w.keys[..4]), Config::default());
        other.set_group_key(*w.sharing.public());
        let mut shuffled = all.clone();
        shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(2));
        for _ in 0..all.len() {
            other.apply(shuffled.clone(), &mut rng());
        }
        assert_eq!(other.digest(), w.dag.digest());
        assert_eq!(other.authors(), w.dag.authors());
        // One page holding the certificate and the newcomer's ops: all apply.
        let mut paged = Dag::new(&publics(&w.keys[..4]), Config::default());
        paged.set_group_key(*w.sharing.public());
        let report = paged.apply(all.clone(), &mut rng());
        assert!(report.outcomes.iter().all(|o| *o == Outcome::Applied));
        assert_eq!(paged.digest(), w.dag.digest());
        let mut replay = Dag::new(&publics(&w.keys[..4]), Config::default());
        replay.apply_trusted(all);
        assert_eq!(replay.digest(), w.dag.digest());
        assert_eq!(replay.committees(), w.dag.committees());
    }

    #[test]
    fn governance_ops_that_do_not_name_their_proposal_or_carry_a_bad_certificate_are_refused() {
        let mut w = world();
        let p = proposal(&w);
        let propose = sign(&w, 0, OpKind::Propose(Box::new(p.clone())), None);
        let data = sign(&w, 1, OpKind::Data(Bytes::from_static(b"d")), None);
        w.dag.apply(vec![propose.clone(), data.clone()], &mut rng());
        let partial = ops::threshold::sign_message::<Variant>(&w.shares[1], COMMITTEE, &p.digest());
        let vote = |w: &World, proposal: OpId, parent: Option<OpId>| {
            let mut op = Op {
                author: [0; 32],
                seq: w.dag.next_seq(2),
                parents: w.dag.parents_for(2),
                kind: OpKind::Vote {
                    proposal,
                    partial: Box::new(partial.clone()),
                },
                time_ms: 0,
            };
            op.parents.retain(|q| Some(*q) == parent || *q != proposal);
            if let Some(parent) = parent {
                op.parents.push(parent);
            }
            op.parents.sort_unstable();
            op.parents.dedup();
            SignedOp::sign(&w.keys[2], op)
        };
        // Not among the parents; a parent that is no proposal.
        for bad in [
            vote(&w, propose.id(), None),
            vote(&w, data.id(), Some(data.id())),
        ] {
            assert_eq!(
                w.dag.apply(vec![bad], &mut rng()).outcomes,
                vec![Outcome::Rejected(Reason::BadGovernance)]
            );
        }
        // A certificate over another digest.
        let mut other = p.clone();
        other.reason = "something else".into();
        let forged = sign(
            &w,
            3,
            OpKind::Certify {
                proposal: propose.id(),
                signature: certificate(&w, &other),
            },
            Some(propose.id()),
        );
        assert_eq!(
            w.dag.apply(vec![forged], &mut rng()).outcomes,
            vec![Outcome::Rejected(Reason::BadCertificate)]
        );
        assert!(w.dag.committees().is_empty());
        assert_eq!(w.dag.authors().len(), 4);
    }

    #[test]
    fn a_certificate_waits_for_the_group_key() {
        let w = world();
        let p = proposal(&w);
        let propose = sign(&w, 0, OpKind::Propose(Box::new(p.clone())), None);
        let mut with_proposal = w.dag.clone();
        with_proposal.apply(vec![propose.clone()], &mut rng());
        let certify = SignedOp::sign(
            &w.keys[1],
            with_proposal.next_op(
                1,
                OpKind::Certify {
                    proposal: propose.id(),
                    signature: certificate(&w, &p),
                },
                0,
            ),
        );
        assert!(certify.op().parents.contains(&propose.id()));
        let mut joiner = Dag::new(&publics(&w.keys[..4]), Config::default());
        let report = joiner.apply(vec![propose.clone(), certify.clone()], &mut rng());
        assert_eq!(report.outcomes, vec![Outcome::Applied, Outcome::Pending]);
        assert!(!joiner.waits_for_unknown(&certify.id()));
        let report = joiner.set_group_key(*w.sharing.public());
        assert_eq!(report.certified, vec![propose.id()]);
        assert!(joiner.contains(&certify.id()));
        assert_eq!(joiner.authors().len(), 5);
    }
}
