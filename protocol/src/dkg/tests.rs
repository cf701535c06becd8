//! The ceremony state machine, many nodes in memory: a full DKG, crashes at every point with the
//! unsynced records lost, a reshare to a changed committee, and hostile inputs.

use super::{
    ceremony::{Ceremony, Effect, Outcome, Record, RoundSpec, To},
    wire::{Message, Variant},
};
use crate::cluster::PublicKey;
use commonware_codec::Encode as _;
use commonware_cryptography::{
    Signer as _,
    bls12381::primitives::{group::Share, ops},
    ed25519,
};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, SystemTime},
};

/// The simulated time of every message.
const NOW: SystemTime = SystemTime::UNIX_EPOCH;

struct Node {
    key: ed25519::PrivateKey,
    ceremony: Option<Ceremony>,
    records: Vec<Record>,
    synced: usize,
    share: Option<Share>,
}

/// A perfect network of ceremonies, with the crash-safety invariants checked on every effect.
struct Sim {
    nodes: Vec<Node>,
    queue: VecDeque<(PublicKey, PublicKey, Message)>,
    acks_sent: BTreeMap<(PublicKey, PublicKey), [u8; 32]>,
    dealt: BTreeMap<PublicKey, [u8; 32]>,
    rng: ChaCha8Rng,
    delivered: usize,
    crashes: usize,
}

fn keys(n: u64) -> Vec<ed25519::PrivateKey> {
    (0..n)
        .map(|i| ed25519::PrivateKey::from_seed(100 + i))
        .collect()
}

fn set(keys: &[ed25519::PrivateKey]) -> Set<PublicKey> {
    Set::from_iter_dedup(keys.iter().map(|k| k.public_key()))
}

impl Sim {
    fn new(keys: &[ed25519::PrivateKey], shares: BTreeMap<PublicKey, Share>) -> Self {
        Self {
            nodes: keys
                .iter()
                .map(|key| Node {
                    key: key.clone(),
                    ceremony: None,
                    records: Vec::new(),
                    synced: 0,
                    share: shares.get(&key.public_key()).cloned(),
                })
                .collect(),
            queue: VecDeque::new(),
            acks_sent: BTreeMap::new(),
            dealt: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(9),
            delivered: 0,
            crashes: 0,
        }
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        rand::Rng::fill_bytes(&mut self.rng, &mut seed);
        seed
    }

    fn start(&mut self, spec: &RoundSpec) {
        for i in 0..self.nodes.len() {
            let seed = self.seed();
            let node = &self.nodes[i];
            let (ceremony, effects) =
                Ceremony::start(spec.clone(), node.key.clone(), node.share.clone(), seed).unwrap();
            self.nodes[i].ceremony = Some(ceremony);
            self.apply(i, effects);
            let deal = self.nodes[i].ceremony.as_ref().unwrap().deal();
            self.apply(i, deal);
        }
    }

    fn apply(&mut self, i: usize, effects: Vec<Effect>) {
        let me = self.nodes[i].key.public_key();
        for effect in effects {
            match effect {
                Effect::Persist(record) => self.nodes[i].records.push(record),
                Effect::Sync => self.nodes[i].synced = self.nodes[i].records.len(),
                Effect::Send { to, message } => match to {
                    To::One(peer) => self.queue.push_back((me.clone(), peer, message)),
                    To::All => {
                        for node in &self.nodes {
                            let peer = node.key.public_key();
                            if peer != me {
                                self.queue.push_back((me.clone(), peer, message.clone()));
                            }
                        }
                    }
                },
                Effect::Dealt { commitment } => {
                    let previous = self.dealt.insert(me.clone(), commitment);
                    assert!(
                        previous.is_none_or(|p| p == commitment),
                        "dealer {i} dealt two different polynomials"
                    );
                }
                Effect::Acked { dealer, digest } => {
                    let previous = self.acks_sent.insert((me.clone(), dealer), digest);
                    assert!(
                        previous.is_none_or(|p| p == digest),
                        "player {i} sent two different acks to one dealer"
                    );
                }
                Effect::Equivocation { .. }
                | Effect::View { .. }
                | Effect::Voted { .. }
                | Effect::Refused { .. }
                | Effect::Decided { .. } => {}
            }
        }
    }

    fn index(&self, key: &PublicKey) -> usize {
        self.nodes
            .iter()
            .position(|n| n.key.public_key() == *key)
            .unwrap()
    }

    /// Delivers messages; `crash` is called before each delivery with its running count.
    fn deliver(&mut self, crash: &mut impl FnMut(&mut Self, usize)) {
        while let Some((from, to, message)) = self.queue.pop_front() {
            self.delivered += 1;
            let count = self.delivered;
            crash(self, count);
            let i = self.index(&to);
            let Some(ceremony) = self.nodes[i].ceremony.as_mut() else {
                continue;
            };
            if let Ok(effects) = ceremony.on_message(&from, message, NOW) {
                self.apply(i, effects);
            }
        }
    }

    /// Delivers everything, then models the actor's periodic retransmissions (dealings to
    /// players that have not acked, our own log) for a few ticks.
    fn settle(&mut self, mut crash: impl FnMut(&mut Self, usize)) {
        self.deliver(&mut crash);
        // Keep ticking until two whole ticks pass without a crash, as the actor keeps
        // retransmitting for as long as its phase lasts.
        let mut quiet = 0;
        while quiet < 2 {
            let crashes = self.crashes;
            for i in 0..self.nodes.len() {
                let Some(ceremony) = self.nodes[i].ceremony.as_ref() else {
                    continue;
                };
                let mut effects = ceremony.deal();
                effects.extend(ceremony.resend_log());
                self.apply(i, effects);
            }
            self.deliver(&mut crash);
            quiet = if self.crashes == crashes {
                quiet + 1
            } else {
                0
            };
        }
    }

    /// Crashes node `i`: unsynced records are lost; it recovers from the rest.
    fn crash(&mut self, i: usize) {
        self.crashes += 1;
        let seed = self.seed();
        let node = &mut self.nodes[i];
        node.records.truncate(node.synced);
        let spec = node.ceremony.as_ref().unwrap().spec().clone();
        let (ceremony, effects) = Ceremony::recover(
            spec,
            node.key.clone(),
            node.share.clone(),
            node.records.clone(),
            seed,
        )
        .unwrap();
        node.ceremony = Some(ceremony);
        self.apply(i, effects);
        let deal = self.nodes[i].ceremony.as_ref().unwrap().deal();
        self.apply(i, deal);
    }

    fn finalize_logs(&mut self) {
        for i in 0..self.nodes.len() {
            let effects = self.nodes[i].ceremony.as_mut().unwrap().finalize_log();
            self.apply(i, effects);
        }
    }

    /// A whole undisturbed round: deal, settle, sign logs, settle.
    fn run_round(&mut self, spec: &RoundSpec) {
        self.start(spec);
        self.settle(|_, _| {});
        self.finalize_logs();
        self.settle(|_, _| {});
    }

    /// The agreement on the log set: every node takes part, ticks (a second each, so views
    /// time out when they must) until every one decided and holds the decided logs.
    fn agree(&mut self) {
        let mut now = NOW;
        for i in 0..self.nodes.len() {
            let effects = self.nodes[i]
                .ceremony
                .as_mut()
                .unwrap()
                .start_agreement(now);
            self.apply(i, effects);
        }
        for _ in 0..1000 {
            self.deliver(&mut |_, _| {});
            let done = self.nodes.iter().all(|n| {
                let c = n.ceremony.as_ref().unwrap();
                c.decided().is_some() && c.missing_decided().is_empty()
            });
            if done {
                return;
            }
            now += Duration::from_millis(100);
            for i in 0..self.nodes.len() {
                let effects = self.nodes[i].ceremony.as_mut().unwrap().agree_tick(now);
                self.apply(i, effects);
            }
        }
        panic!("the agreement did not finish");
    }

    fn finish(&mut self) -> Vec<Outcome> {
        self.agree();
        let mut outcomes = Vec::new();
        for i in 0..self.nodes.len() {
            let ceremony = self.nodes[i].ceremony.take().unwrap();
            assert_eq!(
                ceremony.logs_held(),
                ceremony.spec().dealers.len(),
                "node {i} holds every dealer's log (equivocators {:?})",
                ceremony.equivocators()
            );
            let outcome = ceremony.finish(&mut self.rng).unwrap();
            self.nodes[i].share = outcome.share.clone();
            outcomes.push(outcome);
        }
        outcomes
    }
}

fn spec(round: u64, dealers: Set<PublicKey>, players: Set<PublicKey>) -> RoundSpec {
    let voters = Set::from_iter_dedup(dealers.iter().chain(players.iter()).cloned());
    RoundSpec {
        verifier: Default::default(),
        epoch: 0,
        round,
        previous: None,
        dealers,
        players,
        voters: voters.iter().cloned().collect(),
        view_timeout: Duration::from_secs(1),
        sync_period: Duration::from_millis(100),
    }
}

/// Every outcome has the same group key; `t` partials recover a signature that verifies, `t-1`
/// do not.
fn check_threshold(
    outcomes: &[Outcome],
) -> <Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Public {
    let sharing = outcomes[0].output.public().clone();
    let group = *sharing.public();
    for outcome in outcomes {
        assert_eq!(*outcome.output.public().public(), group);
    }
    let shares: Vec<&Share> = outcomes.iter().filter_map(|o| o.share.as_ref()).collect();
    let t = sharing.required() as usize;
    let message = b"cohort threshold check";
    let partials: Vec<_> = shares
        .iter()
        .map(|share| ops::threshold::sign_message::<Variant>(share, b"_TEST", message))
        .collect();
    for partial in &partials {
        ops::threshold::verify_message::<Variant>(&sharing, b"_TEST", message, partial).unwrap();
    }
    let signature = ops::threshold::recover(&sharing, &partials[..t], &Sequential).unwrap();
    ops::verify_message::<Variant>(&group, b"_TEST", message, &signature).unwrap();
    assert!(ops::threshold::recover(&sharing, &partials[..t - 1], &Sequential).is_err());
    group
}

#[test]
fn four_members_generate_one_threshold_key() {
    let keys = keys(4);
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.run_round(&spec(0, set(&keys), set(&keys)));
    let outcomes = sim.finish();
    assert_eq!(outcomes[0].output.public().required(), 3);
    check_threshold(&outcomes);
}

#[test]
fn a_crash_at_any_point_of_the_ceremony_recovers_the_same_key() {
    let keys = keys(4);
    // Count the deliveries of an undisturbed run.
    let mut sim = Sim::new(&keys, BTreeMap::new());
    let round = spec(0, set(&keys), set(&keys));
    sim.start(&round);
    sim.settle(|_, _| {});
    let deal_messages = sim.delivered;
    sim.finalize_logs();
    sim.settle(|_, _| {});
    let total = sim.delivered;
    assert!(deal_messages > 0 && total > deal_messages);

    for victim in 0..4 {
        for crash_at in (1..=total).step_by(3) {
            let mut sim = Sim::new(&keys, BTreeMap::new());
            sim.start(&round);
            let crash = |sim: &mut Sim, count: usize| {
                if count == crash_at {
                    sim.crash(victim);
                }
            };
            sim.settle(crash);
            sim.finalize_logs();
            sim.settle(crash);
            let outcomes = sim.finish();
            check_threshold(&outcomes);
        }
    }
}

#[test]
fn crashing_right_after_the_seed_or_a_dealing_is_synced_deals_and_acks_the_same() {
    let keys = keys(4);
    let round = spec(0, set(&keys), set(&keys));
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.start(&round);
    // Every node crashes at once, before any message is delivered: each dealer's seed is synced,
    // so each deals the same polynomial again (the Dealt check would fire otherwise).
    for i in 0..4 {
        sim.crash(i);
    }
    // Deliver, crashing a player after each of its accepted dealings: it must never ack twice
    // differently (the Acked check) and the resent acks are the same.
    sim.settle(|sim, count| {
        if count % 5 == 0 && count < 200 {
            sim.crash(count % 4);
        }
    });
    sim.finalize_logs();
    sim.settle(|_, _| {});
    check_threshold(&sim.finish());
    // Every persisted dealing record is sealed at rest, seeds too.
    assert!(Record::Seed([0; 32]).secret());
}

#[test]
fn reshare_to_a_changed_committee_keeps_the_group_key() {
    let keys = keys(5);
    let first = &keys[..4];
    let mut sim = Sim::new(first, BTreeMap::new());
    sim.run_round(&spec(0, set(first), set(first)));
    let outcomes = sim.finish();
    let group = check_threshold(&outcomes);
    let previous = outcomes[0].output.clone();
    let shares: BTreeMap<PublicKey, Share> = sim
        .nodes
        .iter()
        .map(|n| (n.key.public_key(), n.share.clone().unwrap()))
        .collect();

    // Epoch 1: member 0 leaves, member 4 joins. Dealers are the old players.
    let new_players = &keys[1..5];
    let reshare = RoundSpec {
        epoch: 1,
        previous: Some(previous),
        ..spec(1, set(first), set(new_players))
    };
    let mut sim = Sim::new(&keys, shares);
    sim.run_round(&reshare);
    let outcomes = sim.finish();
    // The leaving member gets the output but no share.
    let leaver = sim.index(&keys[0].public_key());
    assert!(outcomes[leaver].share.is_none());
    let players: Vec<Outcome> = outcomes.into_iter().filter(|o| o.share.is_some()).collect();
    assert_eq!(players.len(), 4);
    assert_eq!(check_threshold(&players), group);
}

#[test]
fn hostile_inputs_are_refused_with_a_reason() {
    let keys = keys(4);
    let round = spec(0, set(&keys), set(&keys));
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.start(&round);
    let (from, to, message) = sim
        .queue
        .iter()
        .find(|(_, _, m)| matches!(m, Message::Dealing { .. }))
        .cloned()
        .unwrap();
    let target = sim.index(&to);
    let ceremony = sim.nodes[target].ceremony.as_mut().unwrap();

    // Another round: dropped, not misbehaviour (a peer may lag).
    let Message::Dealing {
        public, private, ..
    } = message.clone()
    else {
        unreachable!()
    };
    let stale = Message::Dealing {
        round: 2,
        public: public.clone(),
        private: private.clone(),
    };
    let rejection = ceremony.on_message(&from, stale, NOW).unwrap_err();
    assert!(!rejection.misbehaviour);

    // A dealing from a non-member.
    let stranger = ed25519::PrivateKey::from_seed(999).public_key();
    assert!(
        ceremony
            .on_message(&stranger, message.clone(), NOW)
            .unwrap_err()
            .misbehaviour
    );

    // A dealing whose share is not the one its commitment promises: the same dealer's dealing for
    // another player. (A well-formed dealing relayed by another member would be accepted as that
    // member's: only the authenticated channel binds a dealing to its dealer.)
    let misdirected = sim
        .queue
        .iter()
        .find_map(|(f, t, m)| {
            (*f == from && *t != to && matches!(m, Message::Dealing { .. })).then(|| m.clone())
        })
        .unwrap();
    let ceremony = sim.nodes[target].ceremony.as_mut().unwrap();
    let rejection = ceremony.on_message(&from, misdirected, NOW).unwrap_err();
    assert!(rejection.misbehaviour, "{rejection}");
    // The genuine dealing is still accepted, and answered with an ack for `from`.
    let effects = ceremony.on_message(&from, message, NOW).unwrap();
    let ack = effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Send {
                message: Message::Ack { ack, .. },
                ..
            } => Some(ack),
            _ => None,
        })
        .expect("an ack is sent");
    let ack = Message::Ack {
        round: round.round,
        ack,
    };
    // That ack presented to another dealer (signed for the wrong dealing) is refused as hostile.
    let other_dealer = keys
        .iter()
        .map(|k| k.public_key())
        .find(|k| *k != from && *k != to)
        .unwrap();
    let other = sim.index(&other_dealer);
    let rejection = sim.nodes[other]
        .ceremony
        .as_mut()
        .unwrap()
        .on_message(&to, ack.clone(), NOW)
        .unwrap_err();
    assert!(rejection.misbehaviour, "{rejection}");
    // The dealer it was meant for accepts it.
    let dealer = sim.index(&from);
    assert!(
        sim.nodes[dealer]
            .ceremony
            .as_mut()
            .unwrap()
            .on_message(&to, ack, NOW)
            .is_ok()
    );
}

#[test]
fn a_dealer_signing_two_logs_is_excluded() {
    let keys = keys(4);
    let round = spec(0, set(&keys), set(&keys));
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.start(&round);
    sim.settle(|_, _| {});
    sim.finalize_logs();
    // Dealer 0 signs a second, different log for the same round (a fresh dealer with another seed).
    let (mut other, _) = Ceremony::start(round.clone(), keys[0].clone(), None, [42; 32]).unwrap();
    let second = other.finalize_log();
    let Some(Effect::Send { message, .. }) = second
        .into_iter()
        .find(|e| matches!(e, Effect::Send { .. }))
    else {
        panic!("no log sent")
    };
    let victim = sim.index(&keys[1].public_key());
    sim.settle(|_, _| {});
    let ceremony = sim.nodes[victim].ceremony.as_mut().unwrap();
    let effects = ceremony
        .on_message(&keys[0].public_key(), message, NOW)
        .unwrap();
    let dealer = keys[0].public_key();
    assert!(effects.contains(&Effect::Equivocation { dealer }));
    assert!(ceremony.equivocators().contains(&keys[0].public_key()));
}

#[test]
fn records_round_trip() {
    let keys = keys(4);
    let round = spec(0, set(&keys), set(&keys));
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.run_round(&round);
    let participants = round.participants();
    let mut kinds = std::collections::BTreeSet::new();
    for record in &sim.nodes[0].records {
        let decoded = Record::decode(record.kind(), &record.encode(), participants).unwrap();
        assert_eq!(&decoded, record);
        kinds.insert(record.kind());
    }
    assert_eq!(
        kinds.len(),
        4,
        "seed, dealing, ack and log records all seen"
    );
    assert!(Record::decode(9, &[], participants).is_err());
    assert!(Record::decode(1, &[0; 31], participants).is_err());
}

#[test]
fn wire_messages_round_trip_and_are_bounded() {
    let keys = keys(4);
    let round = spec(0, set(&keys), set(&keys));
    let mut sim = Sim::new(&keys, BTreeMap::new());
    sim.start(&round);
    let members = round.participants();
    let mut seen = Vec::new();
    seen.extend(sim.queue.iter().map(|(_, _, m)| m.clone()));
    sim.settle(|_, _| {});
    sim.finalize_logs();
    seen.extend(sim.queue.iter().map(|(_, _, m)| m.clone()));
    assert!(seen.iter().any(|m| matches!(m, Message::Log { .. })));
    for message in seen {
        let encoded = message.encode();
        assert!(encoded.len() <= Message::max_size(members));
        assert_eq!(
            super::wire::decode(encoded.clone(), members).unwrap(),
            message
        );
        for cut in [0, 1, 9, encoded.len() / 2, encoded.len() - 1] {
            assert!(super::wire::decode(encoded.slice(..cut), members).is_err());
        }
    }
    let oversized = bytes::Bytes::from(vec![2u8; Message::max_size(members) + 1]);
    assert!(super::wire::decode(oversized, members).is_err());
}
