//! A node's transport blocks, expiring as a production node's do.
//!
//! The simulated transports hold a block until someone lifts it, for the rest of the run.
//! A production node's transport (commonware's authenticated network, given the node config's
//! `block_expiry_secs` as its `block_duration`) lifts a block once it is that old, and forgets
//! every block when the process restarts. [`ExpiringBlocker`] gives a simulated node the same
//! behaviour over either simulated transport: each block is lifted through the network after the
//! plan's expiry unless the node blocked the peer again since (a new block restarts the clock),
//! and [`ExpiringBlocker::forget_all`] lifts every block of the node when a new life starts.

use super::network::{Net, NodeNet};
use cohort_protocol::PublicKey;
use commonware_actor::Feedback;
use commonware_p2p::{BlockedSubscription, Blocker};
use commonware_runtime::{Clock as _, Spawner as _, Supervisor as _, deterministic};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// One node's blocker: the network's own, with blocks that expire (see the module docs).
#[derive(Clone)]
pub struct ExpiringBlocker {
    me: PublicKey,
    node: NodeNet,
    net: Arc<Net>,
    /// Where the expiry timers run (a context that outlives the node's lives).
    context: Arc<deterministic::Context>,
    expiry: Duration,
    /// Per blocked peer, the number of its latest block: a timer lifts only the block it was
    /// started for.
    generations: Arc<Mutex<BTreeMap<PublicKey, u64>>>,
}

impl ExpiringBlocker {
    /// The blocker of node `me` on `net`, whose blocks last `expiry`; timers run under `context`.
    pub fn new(
        me: PublicKey,
        net: Arc<Net>,
        context: deterministic::Context,
        expiry: Duration,
    ) -> Self {
        Self {
            node: net.node(&me),
            me,
            net,
            context: Arc::new(context),
            expiry,
            generations: Arc::default(),
        }
    }

    /// Lifts every block this node placed (a restarted process remembers none), and disarms
    /// the pending timers.
    pub async fn forget_all(&self) {
        let peers: Vec<PublicKey> = {
            let mut generations = self.generations.lock().expect("block generations");
            for generation in generations.values_mut() {
                *generation += 1;
            }
            generations.keys().cloned().collect()
        };
        for peer in peers {
            self.net.unblock(self.me.clone(), peer).await;
        }
    }
}

impl Blocker for ExpiringBlocker {
    type PublicKey = PublicKey;

    fn block(&mut self, peer: PublicKey) -> Feedback {
        let feedback = self.node.block(peer.clone());
        let generation = {
            let mut generations = self.generations.lock().expect("block generations");
            let generation = generations.entry(peer.clone()).or_default();
            *generation += 1;
            *generation
        };
        let (me, net, expiry) = (self.me.clone(), self.net.clone(), self.expiry);
        let generations = self.generations.clone();
        self.context
            .child("block_expiry")
            .spawn(move |context| async move {
                context.sleep(expiry).await;
                let current = generations
                    .lock()
                    .expect("block generations")
                    .get(&peer)
                    .copied();
                if current == Some(generation) {
                    net.unblock(me, peer).await;
                }
            });
        feedback
    }

    fn blocked(&mut self) -> BlockedSubscription<PublicKey> {
        self.node.blocked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        plan::perfect_links,
        world::{Transport, identities, network},
    };
    use commonware_cryptography::Signer as _;
    use commonware_runtime::Runner as _;

    async fn blocked_pairs(net: &Net) -> Vec<(PublicKey, PublicKey)> {
        net.blocked().await
    }

    fn expiring_blocks(transport: Transport) {
        deterministic::Runner::default().start(|context| async move {
            let keys: Vec<PublicKey> = identities(7, 3).iter().map(|k| k.public_key()).collect();
            let oracle = network(&context, &keys, &perfect_links(3), transport).await;
            let expiry = Duration::from_secs(10);
            let mut blocker = ExpiringBlocker::new(
                keys[0].clone(),
                oracle.clone(),
                context.child("blocker"),
                expiry,
            );
            let pair = |i: usize| (keys[0].clone(), keys[i].clone());

            // Blocked, then lifted once it is `expiry` old.
            blocker.block(keys[1].clone());
            context.sleep(Duration::from_secs(9)).await;
            assert_eq!(blocked_pairs(&oracle).await, vec![pair(1)]);
            context.sleep(Duration::from_secs(2)).await;
            assert!(blocked_pairs(&oracle).await.is_empty());

            // Blocked again before the first block expired: the clock starts over.
            blocker.block(keys[2].clone());
            context.sleep(Duration::from_secs(6)).await;
            blocker.block(keys[2].clone());
            context.sleep(Duration::from_secs(6)).await;
            assert_eq!(blocked_pairs(&oracle).await, vec![pair(2)]);
            context.sleep(Duration::from_secs(5)).await;
            assert!(blocked_pairs(&oracle).await.is_empty());

            // A new life remembers no block, and the old timers lift nothing later.
            blocker.block(keys[1].clone());
            blocker.block(keys[2].clone());
            context.sleep(Duration::from_secs(1)).await;
            assert_eq!(blocked_pairs(&oracle).await.len(), 2);
            blocker.forget_all().await;
            assert!(blocked_pairs(&oracle).await.is_empty());
            context.sleep(Duration::from_secs(5)).await;
            blocker.block(keys[1].clone());
            context.sleep(Duration::from_secs(6)).await;
            assert_eq!(blocked_pairs(&oracle).await, vec![pair(1)]);
        });
    }

    #[test]
    fn blocks_expire_a_new_block_restarts_the_clock_and_a_new_life_forgets_them() {
        for transport in Transport::ALL {
            expiring_blocks(transport);
        }
    }
}
