//! Bodies of the cargo-fuzz targets (in `fuzz/`), kept here so that CI runs them too: the unit
//! tests below feed each one random inputs, and the fuzz targets are one-line wrappers.

pub mod checkpoint;
pub mod ledger;

pub use checkpoint::{checkpoint_messages, checkpoint_tally};
pub use ledger::{backfill_frames, ledger_ops};

use crate::{
    barrier::{
        state::{Config, Outputs, State},
        wire,
    },
    cluster::{Cluster, PROTOCOL_VERSION, Timing},
};
use commonware_codec::DecodeExt as _;
use commonware_cryptography::{Signer as _, ed25519};
use rand::SeedableRng as _;
use std::time::{Duration, SystemTime};

/// Splits `data` into frames (a length byte, then that many bytes), decodes each as a barrier
/// message and feeds it to a barrier state machine as if sent by a member (or, when the length
/// byte is odd, by a non-member), with ticks in between. Must never panic.
pub fn barrier_frames(data: &[u8]) {
    let keys: Vec<ed25519::PrivateKey> = (0..4).map(ed25519::PrivateKey::from_seed).collect();
    let stranger = ed25519::PrivateKey::from_seed(99).public_key();
    let cluster = Cluster::new(
        keys.iter().map(|k| k.public_key()).collect(),
        3,
        PROTOCOL_VERSION,
        Timing::default(),
    )
    .expect("valid cluster");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut now = SystemTime::UNIX_EPOCH;
    let mut state = State::new(
        keys[0].clone(),
        &cluster,
        Config {
            sync_period: Duration::from_millis(100),
            reconnect_cap: Duration::from_secs(5),
            unresponsive_after: 8,
            max_step: 16,
            resume_step: 0,
            block: 4,
            quorum_mode: false,
            catch_up: false,
            fault_expiry: Some(Duration::from_secs(1)),
            verifier: Default::default(),
        },
        now,
        &mut rng,
    );
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = (len as usize / 2).min(tail.len());
        let (frame, tail) = tail.split_at(take);
        rest = tail;
        let from = if len % 2 == 1 {
            stranger.clone()
        } else {
            keys[1 + (take % 3)].public_key()
        };
        let mut out = Outputs::default();
        match wire::decode(bytes::Bytes::copy_from_slice(frame)) {
            Ok(message) => state.on_message(now, &mut rng, &from, message, &mut out),
            Err(err) => state.on_undecodable(now, &from, err.to_string(), &mut out),
        }
        now += Duration::from_millis(37);
        state.on_tick(now, &mut rng, &mut out);
        // Whatever happened, every message we send decodes and fits the bound.
        for (_, message) in out.sends {
            let encoded = commonware_codec::Encode::encode(&message);
            assert!(encoded.len() <= wire::MAX_MESSAGE_SIZE);
            assert_eq!(wire::decode(encoded).ok(), Some(message));
        }
    }
}

/// The round the DKG fuzz body runs: a first DKG of 4 members (keys from seeds 0..4).
fn dkg_round() -> (Vec<ed25519::PrivateKey>, crate::dkg::RoundSpec) {
    let keys: Vec<ed25519::PrivateKey> = (0..4).map(ed25519::PrivateKey::from_seed).collect();
    let members =
        commonware_utils::ordered::Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
    let spec = crate::dkg::RoundSpec {
        verifier: Default::default(),
        epoch: 0,
        round: 0,
        previous: None,
        dealers: members.clone(),
        voters: members.iter().cloned().collect(),
        players: members,
        view_timeout: std::time::Duration::from_secs(1),
        sync_period: std::time::Duration::from_millis(100),
    };
    (keys, spec)
}

/// Decodes `frame` (bounded by the round) and hands it to `ceremony` as sent by `from`; every
/// message the ceremony answers with must fit the bound. True if the ceremony accepted it.
fn feed(ceremony: &mut crate::dkg::Ceremony, from: &crate::PublicKey, frame: bytes::Bytes) -> bool {
    use crate::dkg::{Effect, wire};
    let participants = ceremony.spec().participants();
    let Ok(message) = wire::decode(frame, participants) else {
        return false;
    };
    let Ok(effects) = ceremony.on_message(from, message, std::time::SystemTime::UNIX_EPOCH) else {
        return false;
    };
    for effect in effects {
        if let Effect::Send { message, .. } = effect {
            let encoded = commonware_codec::Encode::encode(&message);
            assert!(encoded.len() <= wire::Message::max_size(participants));
        }
    }
    true
}

/// Every frame an honest 4-member round sends to member 0 (dealings and acks of its dealing
/// from members 1..=3, their logs and the echoes), with the sender's index: real messages for
/// [`dkg_mutated`] to mutate. Built once per process.
fn real_dkg_frames() -> &'static [(usize, bytes::Bytes)] {
    use crate::dkg::{Ceremony, Effect, To};
    use std::{collections::VecDeque, sync::OnceLock};
    static FRAMES: OnceLock<Vec<(usize, bytes::Bytes)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let (keys, spec) = dkg_round();
        let index = |k: &crate::PublicKey| keys.iter().position(|x| x.public_key() == *k);
        let mut ceremonies: Vec<Ceremony> = (0..4)
            .map(|i| {
                Ceremony::start(spec.clone(), keys[i].clone(), None, [i as u8; 32])
                    .expect("a valid round starts")
                    .0
            })
            .collect();
        let mut queue = VecDeque::new();
        let send = |from: usize, effects: Vec<Effect>, queue: &mut VecDeque<_>| {
            for effect in effects {
                if let Effect::Send { to, message } = effect {
                    let targets: Vec<usize> = match to {
                        To::One(peer) => index(&peer).into_iter().collect(),
                        To::All => (0..4).filter(|i| *i != from).collect(),
                    };
                    for to in targets {
                        queue.push_back((from, to, message.clone()));
                    }
                }
            }
        };
        for (i, ceremony) in ceremonies.iter().enumerate() {
            send(i, ceremony.deal(), &mut queue);
        }
        let mut frames = Vec::new();
        for finalize in [false, true] {
            if finalize {
                for (i, ceremony) in ceremonies.iter_mut().enumerate().skip(1) {
                    send(i, ceremony.finalize_log(), &mut queue);
                }
            }
            while let Some((from, to, message)) = queue.pop_front() {
                if to == 0 {
                    frames.push((from, commonware_codec::Encode::encode(&message)));
                }
                let sender = keys[from].public_key();
                if let Ok(effects) =
                    ceremonies[to].on_message(&sender, message, std::time::SystemTime::UNIX_EPOCH)
                {
                    send(to, effects, &mut queue);
                }
            }
        }
        frames
    })
}

/// Reads `data` as mutations of real DKG frames (4 bytes each: which frame, a 2-byte position
/// taken modulo the frame's length + 1, a byte to xor there; an xor of 0 truncates the frame at
/// the position instead, so position = length leaves the frame whole) and feeds each
/// mutated frame to a fresh ceremony of member 0 (dealer and player, same seed as the real
/// round, so the real acks verify). Every message it answers with must fit the bound; at the end
/// it signs its log and, holding every log, finalizes. Returns how many frames were accepted.
/// Must never panic.
pub fn dkg_mutated(data: &[u8]) -> usize {
    use crate::dkg::Ceremony;
    let frames = real_dkg_frames();
    let (keys, spec) = dkg_round();
    let Ok((mut ceremony, _)) = Ceremony::start(spec, keys[0].clone(), None, [0; 32]) else {
        unreachable!("a valid round starts");
    };
    let mut accepted = 0;
    for chunk in data.chunks_exact(4) {
        let (sender, frame) = &frames[chunk[0] as usize % frames.len()];
        let mut frame = frame.to_vec();
        let position = u16::from_be_bytes([chunk[1], chunk[2]]) as usize % (frame.len() + 1);
        match chunk[3] {
            0 => frame.truncate(position),
            xor => {
                if let Some(byte) = frame.get_mut(position) {
                    *byte ^= xor;
                }
            }
        }
        if feed(&mut ceremony, &keys[*sender].public_key(), frame.into()) {
            accepted += 1;
        }
    }
    let _ = ceremony.finalize_log();
    if ceremony.logs_complete() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let _ = ceremony.finish(&mut rng);
    }
    accepted
}

/// Splits `data` into frames (a sender byte, a 2-byte big-endian length, then that many bytes),
/// decodes each as a DKG message of a 4-member cluster
/// and feeds it to a running ceremony of member 0; every message it answers with must fit the
/// bound. Returns how many messages the ceremony accepted. Must never panic.
pub fn dkg_frames(data: &[u8]) -> usize {
    use crate::dkg::Ceremony;
    let (keys, spec) = dkg_round();
    let Ok((mut ceremony, _)) = Ceremony::start(spec, keys[0].clone(), None, [3; 32]) else {
        unreachable!("a valid round starts");
    };
    let mut accepted = 0;
    let mut rest = data;
    while rest.len() >= 3 {
        let from = keys[1 + (rest[0] as usize % 3)].public_key();
        let len = u16::from_be_bytes([rest[1], rest[2]]) as usize;
        let take = len.min(rest.len() - 3);
        let (frame, tail) = rest[3..].split_at(take);
        rest = tail;
        if feed(&mut ceremony, &from, bytes::Bytes::copy_from_slice(frame)) {
            accepted += 1;
        }
    }
    let _ = ceremony.finalize_log();
    accepted
}

/// Decodes a cluster definition; a decoded one re-encodes to the same bytes.
pub fn cluster_decode(data: &[u8]) {
    if let Ok(cluster) = Cluster::decode(bytes::Bytes::copy_from_slice(data)) {
        assert_eq!(commonware_codec::Encode::encode(&cluster).as_ref(), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::wire::{Hello, Message, Sync};
    use commonware_codec::Encode as _;
    use rand::{Rng as _, RngExt as _};

    #[test]
    fn random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..300 {
            let len = rng.random_range(0..2048);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            barrier_frames(&data);
            cluster_decode(&data);
        }
        for _ in 0..20 {
            let len = rng.random_range(0..4096);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            let _ = dkg_frames(&data);
        }
    }

    #[test]
    fn mutated_dkg_frames() {
        let frames = real_dkg_frames().len();
        assert!(frames >= 9, "dealings, acks and logs: {frames}");
        // Every real frame, unmutated (truncated at its own length).
        let untouched: Vec<u8> = real_dkg_frames()
            .iter()
            .enumerate()
            .flat_map(|(i, (_, frame))| {
                let [hi, lo] = (frame.len() as u16).to_be_bytes();
                [i as u8, hi, lo, 0]
            })
            .collect();
        let all = dkg_mutated(&untouched);
        assert_eq!(all, frames, "every real frame is accepted");
        // Mutations are refused or accepted, never a panic.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..50 {
            let mut data = vec![0u8; 4 * rng.random_range(1..24)];
            rng.fill_bytes(&mut data);
            let _ = dkg_mutated(&data);
        }
    }

    #[test]
    fn structured_dkg_inputs() {
        use crate::dkg::{Ceremony, Effect};
        // Real dealings of members 1..3 for member 0, framed as `dkg_frames` reads them, so the
        // fuzz body's deep paths (accepting a dealing, acking) are reached.
        let (keys, spec) = dkg_round();
        let mut data = Vec::new();
        for dealer in 1..4 {
            let (ceremony, _) =
                Ceremony::start(spec.clone(), keys[dealer].clone(), None, [dealer as u8; 32])
                    .unwrap();
            for effect in ceremony.deal() {
                let Effect::Send {
                    to: crate::dkg::To::One(to),
                    message,
                } = effect
                else {
                    continue;
                };
                if to != keys[0].public_key() {
                    continue;
                }
                let encoded = message.encode();
                data.push((dealer - 1) as u8);
                data.extend_from_slice(&(encoded.len() as u16).to_be_bytes());
                data.extend_from_slice(&encoded);
            }
        }
        assert_eq!(dkg_frames(&data), 3, "every real dealing is accepted");
        // The same dealings again are answered (resent acks), never acked anew.
        let doubled = [data.clone(), data].concat();
        assert_eq!(dkg_frames(&doubled), 6);
    }

    #[test]
    fn structured_inputs() {
        // Valid-looking frames reach the deeper paths (sessions, step rules).
        let key = ed25519::PrivateKey::from_seed(1);
        let mut data = Vec::new();
        let mut push = |message: Message| {
            let encoded = message.encode();
            data.push((encoded.len() * 2) as u8);
            data.extend_from_slice(&encoded);
        };
        let signature = key.sign(wire::HELLO_NAMESPACE, b"whatever");
        push(Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            cluster_hash: commonware_cryptography::Hasher::finalize(
                commonware_cryptography::Sha256::default(),
            )
            .1,
            session: 1,
            signature,
        }));
        for step in [0, 1, 3, 2, u64::MAX] {
            push(Message::Sync(Sync {
                session: 1,
                step,
                seen: step,
                shutdown: step == 3,
                shutdown_ack: true,
            }));
        }
        barrier_frames(&data);
    }
}
