//! A member that sends, next to each real message, a frame of junk: random bytes, the real frame
//! truncated, or an oversized frame (far above any DKG message's bound, below the transport's).
//!
//! Expected of every honest member: refuse the frame with a reason, mute the sender, and never
//! panic, hang or allocate beyond the bounds.

use super::frames::{honest, rng_for};
use cohort_protocol::{
    PublicKey,
    dkg::{RoundSpec, Tamper, wire::Message},
};
use rand::{Rng as _, RngExt as _};
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of an oversized frame (the simulated transport carries up to 64 KiB).
const OVERSIZED: usize = 60_000;

pub struct Garbage {
    seed: u64,
    sent: AtomicU64,
}

impl Garbage {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            sent: AtomicU64::new(0),
        }
    }
}

impl Tamper for Garbage {
    fn outgoing(
        &self,
        _spec: &RoundSpec,
        to: &[PublicKey],
        message: &Message,
    ) -> Vec<(PublicKey, bytes::Bytes)> {
        let mut frames = honest(to, message);
        for (peer, frame) in frames.clone() {
            let n = self.sent.fetch_add(1, Ordering::Relaxed);
            let mut rng = rng_for(self.seed, n, b"garbage");
            let junk: Vec<u8> = match n % 3 {
                0 => {
                    let len = rng.random_range(1..=2048usize);
                    let mut junk = vec![0u8; len];
                    rng.fill_bytes(&mut junk);
                    junk
                }
                1 => frame[..frame.len() / 2].to_vec(),
                _ => {
                    let mut junk = vec![0u8; OVERSIZED];
                    rng.fill_bytes(&mut junk);
                    junk[0] = frame[0];
                    junk
                }
            };
            frames.push((peer, junk.into()));
        }
        frames
    }
}
