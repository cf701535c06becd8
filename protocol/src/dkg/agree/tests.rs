//! The agreement on a simulated network of voters: honest runs, absent and silent leaders,
//! locks, an equivocating leader, restarts, random schedules, and the codec's bounds.

use super::wire::TAG_NEED;
use super::*;
use crate::cluster::MAX_MEMBERS;
use commonware_codec::{Decode as _, Encode as _, EncodeSize as _, Write as _, varint::UInt};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// A judge that holds the logs of `held` dealers (digest = dealer index repeated).
#[derive(Clone)]
struct TestJudge {
    held: BTreeSet<u32>,
    required: usize,
}

fn digest_of(dealer: u32) -> Digest {
    [dealer as u8; 32]
}

impl Judge for TestJudge {
    fn fresh(&self, choice: &Choice) -> Verdict {
        match choice {
            Choice::Abandon if self.held.len() < self.required => Verdict::Accept,
            Choice::Abandon => Verdict::Refuse("we hold enough logs".into()),
            Choice::Logs(logs) => {
                let missing = self.missing(choice);
                if !missing.is_empty() {
                    return Verdict::Wait(missing);
                }
                if logs.iter().any(|(d, h)| *h != digest_of(*d)) {
                    return Verdict::Refuse("another log".into());
                }
                Verdict::Accept
            }
        }
    }

    fn missing(&self, choice: &Choice) -> Vec<u32> {
        match choice {
            Choice::Abandon => Vec::new(),
            Choice::Logs(logs) => logs
                .iter()
                .map(|(d, _)| *d)
                .filter(|d| !self.held.contains(d))
                .collect(),
        }
    }

    fn propose(&self) -> Choice {
        if self.held.len() < self.required {
            return Choice::Abandon;
        }
        Choice::Logs(self.held.iter().map(|d| (*d, digest_of(*d))).collect())
    }
}

struct Net {
    setup: Setup,
    keys: Vec<ed25519::PrivateKey>,
    nodes: Vec<Option<Agreement>>,
    judges: Vec<TestJudge>,
    /// Persisted records per node (what survives a restart).
    disk: Vec<Vec<Persisted>>,
    queue: VecDeque<(usize, usize, AgreeMessage)>,
    now: SystemTime,
    rng: ChaCha8Rng,
    loss: f64,
    /// Links cut (from, to).
    cut: BTreeSet<(usize, usize)>,
    decided: Vec<Option<Certified>>,
    votes: Vec<BTreeMap<(u64, Stage), Digest>>,
}

fn setup_for(keys: &[ed25519::PrivateKey], round: u64) -> Setup {
    let mut voters: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    voters.sort();
    Setup {
        epoch: 0,
        round,
        voters,
        dealers: keys.len() as u32,
        required: keys.len() - (keys.len() - 1) / 3,
        view_timeout: Duration::from_secs(1),
        sync_period: Duration::from_millis(100),
        verifier: Default::default(),
    }
}

impl Net {
    fn new(n: usize, seed: u64) -> Self {
        let mut keys: Vec<ed25519::PrivateKey> = (0..n)
            .map(|i| ed25519::PrivateKey::from_seed(1000 + i as u64))
            .collect();
        keys.sort_by_key(|k| k.public_key());
        let setup = setup_for(&keys, seed % 7);
        let all: BTreeSet<u32> = (0..n as u32).collect();
        let judges = vec![
            TestJudge {
                held: all,
                required: setup.required,
            };
            n
        ];
        let nodes = keys
            .iter()
            .map(|k| Some(Agreement::new(setup.clone(), k.clone(), Vec::new()).unwrap()))
            .collect();
        Self {
            setup,
            keys,
            nodes,
            judges,
            disk: vec![Vec::new(); n],
            queue: VecDeque::new(),
            now: SystemTime::UNIX_EPOCH,
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss: 0.0,
            cut: BTreeSet::new(),
            decided: vec![None; n],
            votes: vec![BTreeMap::new(); n],
        }
    }

    fn n(&self) -> usize {
        self.keys.len()
    }

    fn index(&self, key: &PublicKey) -> usize {
        self.keys
            .iter()
            .position(|k| k.public_key() == *key)
            .unwrap()
    }

    fn absorb(&mut self, i: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Persist(record) => self.disk[i].push(record),
                Output::Send { to, message } => match to {
                    Recipient::One(key) => {
                        let j = self.index(&key);
                        self.queue.push_back((i, j, message));
                    }
                    Recipient::All => {
                        for j in 0..self.n() {
                            if j != i {
                                self.queue.push_back((i, j, message.clone()));
                            }
                        }
                    }
                },
                Output::Voted {
                    view,
                    stage,
                    choice,
                    ..
                } => {
                    let digest = choice.digest();
                    if let Some(previous) = self.votes[i].insert((view, stage), digest) {
                        assert_eq!(previous, digest, "node {i} voted twice in view {view}");
                    }
                }
                Output::Decided(certified) => {
                    if let Some(previous) = &self.decided[i] {
                        assert_eq!(previous.choice, certified.choice);
                    }
                    self.decided[i] = Some(certified);
                }
                Output::Sync | Output::Refused { .. } | Output::View { .. } => {}
            }
        }
    }

    fn start(&mut self, i: usize) {
        let judge = self.judges[i].clone();
        let now = self.now;
        let out = self.nodes[i].as_mut().unwrap().start(now, &judge);
        self.absorb(i, out);
    }

    fn start_all(&mut self) {
        for i in 0..self.n() {
            if self.nodes[i].is_some() {
                self.start(i);
            }
        }
    }

    /// Delivers every queued message (and what they cause), shuffled, with loss.
    fn deliver(&mut self) {
        let mut budget = 100_000;
        while !self.queue.is_empty() && budget > 0 {
            budget -= 1;
            let pick = self.rng.random_range(0..self.queue.len());
            let (from, to, message) = self.queue.remove(pick).unwrap();
            if self.cut.contains(&(from, to)) || self.rng.random_bool(self.loss) {
                continue;
            }
            let Some(node) = self.nodes[to].as_mut() else {
                continue;
            };
            if let AgreeMessage::Need { dealers } = &message {
                // The ceremony answers with the logs it holds.
                for dealer in dealers {
                    if self.judges[to].held.contains(dealer) {
                        self.judges[from].held.insert(*dealer);
                    }
                }
            }
            let judge = self.judges[to].clone();
            let now = self.now;
            let from_key = self.keys[from].public_key();
            if let Ok(out) = node.on_message(&from_key, message, now, &judge) {
                self.absorb(to, out);
            }
        }
    }

    /// One sync period: ticks, resends, deliveries.
    fn period(&mut self) {
        self.now += Duration::from_millis(100);
        for i in 0..self.n() {
            let judge = self.judges[i].clone();
            let now = self.now;
            let Some(node) = self.nodes[i].as_mut() else {
                continue;
            };
            let mut out = node.on_tick(now, &judge);
            out.extend(node.resend());
            self.absorb(i, out);
        }
        self.deliver();
    }

    fn run(&mut self, periods: usize) {
        for _ in 0..periods {
            self.period();
        }
    }

    fn restart(&mut self, i: usize) {
        let setup = self.setup.clone();
        self.nodes[i] =
            Some(Agreement::new(setup, self.keys[i].clone(), self.disk[i].clone()).unwrap());
        self.start(i);
    }

    /// Every live node decided, all the same value.
    fn assert_agreed(&self, live: &[usize]) -> Choice {
        let mut decided = live.iter().map(|i| {
            self.decided[*i]
                .as_ref()
                .unwrap_or_else(|| panic!("node {i} did not decide"))
                .choice
                .clone()
        });
        let first = decided.next().unwrap();
        for other in decided {
            assert_eq!(other, first);
        }
        first
    }

    fn assert_consistent(&self) {
        let decided: BTreeSet<Digest> = self
            .decided
            .iter()
            .flatten()
            .map(|c| c.certificate.digest)
            .collect();
        assert!(decided.len() <= 1, "two values decided");
    }
}

#[test]
fn honest_voters_decide_the_first_leaders_logs() {
    for n in [1, 4, 7, 10] {
        let mut net = Net::new(n, 1);
        net.start_all();
        net.deliver();
        net.run(2);
        let all: Vec<usize> = (0..n).collect();
        let choice = net.assert_agreed(&all);
        assert_eq!(choice, net.judges[0].propose());
        for node in net.nodes.iter().flatten() {
            assert_eq!(node.view(), 0);
        }
    }
}

#[test]
fn f_absent_voters_do_not_block() {
    let n = 7;
    let mut net = Net::new(n, 2);
    // Absent: never started, never answer (two of them, f = 2), one of them view 0's leader.
    let leader = net.nodes[0].as_ref().unwrap().setup().leader(0) as usize;
    let other = (leader + 3) % n;
    net.nodes[leader] = None;
    net.nodes[other] = None;
    net.start_all();
    net.run(200);
    let live: Vec<usize> = (0..n).filter(|i| *i != leader && *i != other).collect();
    net.assert_agreed(&live);
}

#[test]
fn more_than_f_absent_blocks_without_deciding_and_recovers() {
    let n = 4;
    let mut net = Net::new(n, 3);
    net.nodes[1] = None;
    net.nodes[2] = None;
    net.start_all();
    net.run(300);
    assert!(net.decided.iter().all(Option::is_none));
    // They come back (from nothing persisted): a decision follows.
    net.restart(1);
    net.restart(2);
    net.run(600);
    net.assert_agreed(&[0, 1, 2, 3]);
}

#[test]
fn a_voter_that_holds_too_few_logs_takes_the_leaders_after_fetching() {
    let n = 4;
    let mut net = Net::new(n, 4);
    let leader = net.nodes[0].as_ref().unwrap().setup().leader(0) as usize;
    let other = (leader + 1) % n;
    net.judges[other].held = [0u32].into_iter().collect();
    net.start_all();
    net.run(3);
    // It waits (asks for the logs), the rest form the quorum without it.
    let live: Vec<usize> = (0..n).collect();
    net.assert_agreed(&live);
}

#[test]
fn too_few_logs_everywhere_decides_abandon() {
    let n = 4;
    let mut net = Net::new(n, 5);
    for judge in &mut net.judges {
        judge.held = [0u32, 1].into_iter().collect();
    }
    net.start_all();
    net.run(3);
    let all: Vec<usize> = (0..n).collect();
    assert_eq!(net.assert_agreed(&all), Choice::Abandon);
}

#[test]
fn a_lock_carries_its_value_into_later_views() {
    let n = 4;
    let mut net = Net::new(n, 6);
    let setup = net.nodes[0].as_ref().unwrap().setup().clone();
    let leader0 = setup.leader(0) as usize;
    net.start_all();
    // Let prevotes through, then cut every precommit: everyone locks, nobody decides in view 0.
    for _ in 0..50 {
        if net.queue.is_empty() {
            break;
        }
        let (from, to, message) = net.queue.pop_front().unwrap();
        let judge = net.judges[to].clone();
        let key = net.keys[from].public_key();
        if let AgreeMessage::Vote(vote) = &message
            && vote.stage == Stage::Precommit
        {
            continue;
        }
        let now = net.now;
        if let Ok(out) = net.nodes[to]
            .as_mut()
            .unwrap()
            .on_message(&key, message, now, &judge)
        {
            net.absorb(to, out);
        }
    }
    net.queue
        .retain(|(_, _, m)| !matches!(m, AgreeMessage::Vote(v) if v.stage == Stage::Precommit));
    let locked: Vec<usize> = (0..n)
        .filter(|i| net.nodes[*i].as_ref().unwrap().lock().is_some())
        .collect();
    assert!(locked.len() >= setup.quorum(), "locked: {locked:?}");
    let value = net.nodes[locked[0]]
        .as_ref()
        .unwrap()
        .lock()
        .unwrap()
        .choice
        .clone();
    // Every later leader would propose something else fresh: only the lock's value can win.
    for judge in &mut net.judges {
        judge.held.remove(&0);
    }
    net.nodes[leader0] = None;
    net.run(400);
    let live: Vec<usize> = (0..n).filter(|i| *i != leader0).collect();
    assert_eq!(net.assert_agreed(&live), value);
}

#[test]
fn restarts_never_vote_twice_and_keep_locks() {
    for seed in 0..20 {
        let n = 4;
        let mut net = Net::new(n, 100 + seed);
        net.loss = 0.3;
        net.start_all();
        for step in 0..400 {
            net.period();
            if step % 37 == 0 {
                let i = net.rng.random_range(0..n);
                net.restart(i);
            }
        }
        net.loss = 0.0;
        net.run(400);
        let all: Vec<usize> = (0..n).collect();
        net.assert_agreed(&all);
    }
}

/// A byzantine leader: its proposals differ per recipient, it votes for everything.
fn equivocate(net: &mut Net, liar: usize) {
    let setup = net.setup.clone();
    let view = net
        .nodes
        .iter()
        .flatten()
        .map(Agreement::view)
        .max()
        .unwrap_or(0);
    let mut choices = Vec::new();
    for skip in 0..2u32 {
        let logs: Vec<(u32, Digest)> = (0..setup.dealers)
            .filter(|d| *d != skip)
            .map(|d| (d, digest_of(d)))
            .collect();
        choices.push(Choice::Logs(logs));
    }
    for v in view.saturating_sub(1)..=view + 1 {
        for to in 0..net.n() {
            if to == liar {
                continue;
            }
            let choice = choices[to % 2].clone();
            if setup.leader(v) as usize == liar {
                net.queue.push_back((
                    liar,
                    to,
                    AgreeMessage::Propose {
                        view: v,
                        choice: choice.clone(),
                        justify: None,
                    },
                ));
            }
            for stage in [Stage::Prevote, Stage::Precommit] {
                let digest = choice.digest();
                let payload = vote_payload(setup.epoch, setup.round, v, stage, &digest);
                let vote = Vote {
                    view: v,
                    stage,
                    digest,
                    signature: net.keys[liar].sign(NAMESPACE, &payload),
                };
                net.queue.push_back((liar, to, AgreeMessage::Vote(vote)));
            }
        }
    }
}

#[test]
fn random_schedules_with_an_equivocating_voter_agree() {
    for seed in 0..60 {
        let n = [4, 5, 7][seed as usize % 3];
        let mut net = Net::new(n, 1000 + seed);
        net.loss = 0.2;
        let liar = net.rng.random_range(0..n);
        // Honest voters hold different log sets (all enough).
        for i in 0..n {
            if i != liar && net.rng.random_bool(0.5) {
                let drop = net.rng.random_range(0..n as u32);
                if net.judges[i].held.len() > net.judges[i].required {
                    net.judges[i].held.remove(&drop);
                }
            }
        }
        net.nodes[liar] = None;
        net.start_all();
        for step in 0..600 {
            equivocate(&mut net, liar);
            net.period();
            net.assert_consistent();
            if step % 101 == 50 {
                let i = (liar + 1 + net.rng.random_range(0..n - 1)) % n;
                net.restart(i);
            }
        }
        net.loss = 0.0;
        net.run(600);
        let honest: Vec<usize> = (0..n).filter(|i| *i != liar).collect();
        net.assert_agreed(&honest);
    }
}

#[test]
fn partitions_never_split_the_decision() {
    for seed in 0..30 {
        let n = 7;
        let mut net = Net::new(n, 5000 + seed);
        // Two groups that cannot hear each other for a while: neither has a quorum... or one has.
        let split = net.rng.random_range(1..n);
        for a in 0..n {
            for b in 0..n {
                if (a < split) != (b < split) {
                    net.cut.insert((a, b));
                }
            }
        }
        net.start_all();
        net.run(300);
        net.assert_consistent();
        net.cut.clear();
        net.run(800);
        let all: Vec<usize> = (0..n).collect();
        net.assert_agreed(&all);
    }
}

#[test]
fn a_decided_voter_answers_stragglers_with_the_decision() {
    let n = 4;
    let mut net = Net::new(n, 7);
    net.nodes[3] = None;
    net.start_all();
    net.run(5);
    net.assert_agreed(&[0, 1, 2]);
    net.restart(3);
    net.run(40);
    net.assert_agreed(&[0, 1, 2, 3]);
}

#[test]
fn hostile_messages_are_refused() {
    let n = 4;
    let net = Net::new(n, 8);
    let mut node = Agreement::new(
        net.nodes[0].as_ref().unwrap().setup().clone(),
        net.keys[0].clone(),
        Vec::new(),
    )
    .unwrap();
    let judge = net.judges[0].clone();
    let setup = node.setup().clone();
    let now = SystemTime::UNIX_EPOCH;
    let stranger = ed25519::PrivateKey::from_seed(99).public_key();
    let vote = Vote {
        view: 0,
        stage: Stage::Prevote,
        digest: [0; 32],
        signature: net.keys[1].sign(NAMESPACE, b"other"),
    };
    assert!(
        node.on_message(&stranger, AgreeMessage::Vote(vote.clone()), now, &judge)
            .unwrap_err()
            .misbehaviour
    );
    let from = net.keys[1].public_key();
    assert!(
        node.on_message(&from, AgreeMessage::Vote(vote), now, &judge)
            .unwrap_err()
            .misbehaviour
    );
    // A proposal from a voter that does not lead the view.
    let not_leader = (setup.leader(0) as usize + 1) % n;
    let err = node
        .on_message(
            &net.keys[not_leader].public_key(),
            AgreeMessage::Propose {
                view: 0,
                choice: Choice::Abandon,
                justify: None,
            },
            now,
            &judge,
        )
        .unwrap_err();
    assert!(err.misbehaviour);
    // A decision with too few votes.
    let forged = Certified {
        choice: Choice::Abandon,
        certificate: Certificate {
            view: 0,
            stage: Stage::Precommit,
            digest: Choice::Abandon.digest(),
            votes: vec![(1, net.keys[1].sign(NAMESPACE, b"x"))],
        },
    };
    assert!(
        node.on_message(&from, AgreeMessage::Decided(forged), now, &judge)
            .unwrap_err()
            .misbehaviour
    );
    assert!(node.decided().is_none());
}

#[test]
fn codec_round_trips_and_fits_a_frame_at_the_largest_cluster() {
    let mut net = Net::new(4, 9);
    net.start_all();
    net.deliver();
    let decided = net.decided[0].clone().unwrap();
    let bounds = net.nodes[0].as_ref().unwrap().setup().bounds();
    let messages = vec![
        AgreeMessage::Decided(decided.clone()),
        AgreeMessage::NewView {
            view: 3,
            high: Some(Certified {
                certificate: Certificate {
                    stage: Stage::Prevote,
                    ..decided.certificate.clone()
                },
                ..decided.clone()
            }),
        },
        AgreeMessage::NewView {
            view: 1,
            high: None,
        },
        AgreeMessage::Propose {
            view: 2,
            choice: decided.choice.clone(),
            justify: Some(decided.certificate.clone()),
        },
        AgreeMessage::Need {
            dealers: vec![0, 2],
        },
    ];
    for message in messages {
        let encoded = message.encode();
        assert_eq!(encoded.len(), message.encode_size());
        assert!(encoded.len() <= bounds.max_message());
        let decoded = AgreeMessage::decode_cfg(encoded.clone(), &bounds).unwrap();
        assert_eq!(decoded, message);
        // Every truncation fails cleanly.
        for cut in 0..encoded.len() {
            assert!(AgreeMessage::decode_cfg(encoded.slice(..cut), &bounds).is_err());
        }
    }
    // A length prefix above the bound is refused before allocating.
    let mut hostile = vec![TAG_NEED];
    UInt(u64::MAX).write(&mut hostile);
    assert!(AgreeMessage::decode_cfg(bytes::Bytes::from(hostile), &bounds).is_err());
    let largest = Bounds {
        voters: MAX_MEMBERS as u32,
        dealers: MAX_MEMBERS as u32,
    };
    assert!(largest.max_message() <= crate::channels::MAX_FRAME_BYTES);
}
