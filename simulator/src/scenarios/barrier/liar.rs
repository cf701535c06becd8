//! The barrier liar of `barrier-byzantine`: a member that speaks the barrier's wire itself
//! (no engine) and lies about its steps or its cluster.
//!
//! It opens a session to every other member with a validly signed hello and welcomes theirs,
//! then every [`PERIOD`] sends each member it has a session with a `Sync` whose step follows its
//! schedule:
//! - `wrong_step`: steps 1, 2, then a jump of 3 to 6 steps (the rules allow 1 or 2);
//! - `backwards`: steps 1, 2, 3, 1, 2, 3, ... (a step never goes down; the cycle makes sure a
//!   peer sees it go down even when the network loses some of them);
//! - `foreign_cluster`: every hello is for another cluster (validly signed, so it is refused as
//!   a mismatch, not as a forgery), sent again every period, and its syncs name sessions never
//!   accepted.
//!
//! Everything it draws (session ids, the jump) comes from a ChaCha RNG seeded from the plan.

use cohort_protocol::{
    Cluster, PublicKey,
    barrier::wire::{HELLO_NAMESPACE, Hello, Message, Sync, decode},
};
use commonware_codec::Encode as _;
use commonware_cryptography::{Signer as _, ed25519};
use commonware_macros::select;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};

/// Time between two rounds of syncs.
pub const PERIOD: Duration = Duration::from_millis(100);
/// It stops lying after this long (every honest node has failed by then).
pub const LIFETIME: Duration = Duration::from_secs(30);

/// What the barrier liar does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum BarrierMisbehaviour {
    WrongStep,
    Backwards,
    ForeignCluster,
}

impl BarrierMisbehaviour {
    pub const ALL: [BarrierMisbehaviour; 3] = [
        BarrierMisbehaviour::WrongStep,
        BarrierMisbehaviour::Backwards,
        BarrierMisbehaviour::ForeignCluster,
    ];

    /// Whether what it sends breaks a step rule (honest members then block it), rather than
    /// being refused as another cluster's.
    pub fn breaks_step_rules(self) -> bool {
        !matches!(self, BarrierMisbehaviour::ForeignCluster)
    }
}

/// The barrier liar of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierLiar {
    pub node: usize,
    pub misbehaviour: BarrierMisbehaviour,
    /// Seed of everything it draws.
    pub seed: u64,
}

/// The step it announces in its `round`-th sync to one peer (from 0).
fn step(misbehaviour: BarrierMisbehaviour, round: u64, jump: u64) -> u64 {
    match misbehaviour {
        BarrierMisbehaviour::WrongStep => match round {
            0 => 1,
            1 => 2,
            _ => 2 + jump,
        },
        BarrierMisbehaviour::Backwards => round % 3 + 1,
        BarrierMisbehaviour::ForeignCluster => round.min(1) + 1,
    }
}

/// Plays the liar on its barrier channel until [`LIFETIME`] has passed.
pub async fn run(
    context: deterministic::Context,
    liar: BarrierLiar,
    key: ed25519::PrivateKey,
    cluster: Cluster,
    mut channel: crate::world::SimDuplex,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(liar.seed);
    let me = key.public_key();
    let others: Vec<PublicKey> = cluster
        .members()
        .iter()
        .filter(|k| **k != me)
        .cloned()
        .collect();
    let cluster_hash = match liar.misbehaviour {
        BarrierMisbehaviour::ForeignCluster => {
            crate::world::misconfigured(&cluster, crate::plan::Mismatch::ClusterHash).hash()
        }
        _ => cluster.hash(),
    };
    let jump = rng.random_range(3..=6u64);
    // Per peer: our session to it, whether it welcomed it, and how many syncs it got.
    let mut sessions: BTreeMap<PublicKey, (u64, bool, u64)> = others
        .iter()
        .map(|peer| (peer.clone(), (rng.random::<u64>(), false, 0)))
        .collect();
    let hello = |session: u64| {
        Message::Hello(Hello {
            version: cluster.version(),
            cluster_hash,
            session,
            signature: key.sign(
                HELLO_NAMESPACE,
                &Hello::signed_payload(&cluster_hash, session),
            ),
        })
        .encode()
    };
    for (peer, (session, _, _)) in &sessions {
        channel
            .sender
            .send(Recipients::One(peer.clone()), hello(*session), false);
    }
    let end = context.current() + LIFETIME;
    let mut next = context.current() + PERIOD;
    while context.current() < end {
        select! {
            frame = channel.receiver.recv() => {
                let Ok((from, frame)) = frame else { return };
                match decode(frame) {
                    Ok(Message::Hello(theirs)) => {
                        // Welcome every session: it looks alive.
                        let welcome = Message::Welcome { session: theirs.session }.encode();
                        channel.sender.send(Recipients::One(from), welcome, false);
                    }
                    Ok(Message::Welcome { session }) => {
                        if let Some(state) = sessions.get_mut(&from)
                            && state.0 == session
                        {
                            state.1 = true;
                        }
                    }
                    _ => {}
                }
            },
            _ = context.sleep_until(next) => {
                next = context.current() + PERIOD;
                for (peer, (session, welcomed, round)) in sessions.iter_mut() {
                    if !*welcomed {
                        channel
                            .sender
                            .send(Recipients::One(peer.clone()), hello(*session), false);
                        // A foreign hello is never welcomed: it syncs on it all the same.
                        if liar.misbehaviour != BarrierMisbehaviour::ForeignCluster {
                            continue;
                        }
                    }
                    let sync = Message::Sync(Sync {
                        session: *session,
                        step: step(liar.misbehaviour, *round, jump),
                        seen: 0,
                        shutdown: false,
                        shutdown_ack: false,
                    });
                    *round += 1;
                    channel
                        .sender
                        .send(Recipients::One(peer.clone()), sync.encode(), false);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_break_the_rules_they_are_named_for() {
        let steps = |m| (0..5).map(|r| step(m, r, 4)).collect::<Vec<_>>();
        assert_eq!(steps(BarrierMisbehaviour::WrongStep), [1, 2, 6, 6, 6]);
        assert_eq!(steps(BarrierMisbehaviour::Backwards), [1, 2, 3, 1, 2]);
        assert_eq!(steps(BarrierMisbehaviour::ForeignCluster), [1, 2, 2, 2, 2]);
    }
}
