//! The reshares that follow the committee chain (issue 13): with governance on, the node does
//! not end its ceremony after the genesis definition's epochs. It keeps answering the last
//! round's stragglers ([`dkg::Server`]) until its ledger's chain defines an epoch after the one
//! it holds (a `Certify` op for it applied), then runs that epoch's reshare with the DKG actor
//! on the chain's cluster ([`crate::committee::Chain::cluster`]: the genesis definition
//! extended with the certified committees, under the genesis hash): the previous committee
//! deals, the new one plays, everyone else observes, and the group key stays the same. Then it
//! serves again and waits for the next certificate, for as long as the node runs.
//!
//! A removed member takes part as a dealer (it holds the old share), ends as an observer: its
//! DKG journal prunes the old epoch's rounds once the new output is persisted, so its old share
//! is erased, and the published keys ([`dkg::Keys`]) carry no share any more, so it stops
//! signing (checkpoint votes, governance votes) with it.
//!
//! Restarts need nothing special: the DKG journal holds the rounds in progress and the outputs,
//! the ledger the chain; a restarted node first runs the genesis definition's epochs (all
//! complete: loaded), then finds the chain ahead and resumes the reshare where it was.
//! There is no shutdown handshake: the node keeps serving its ledger and its peers.

use super::EngineError;
use crate::{
    barrier,
    channels::Duplex,
    cluster::{Cluster, PublicKey},
    dkg, ledger,
    trace::Tracer,
};
use cohort_storage::meta::NodeMeta;
use commonware_cryptography::ed25519;
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;
use std::time::Duration;

/// What the reshare loop runs each reshare with.
pub(super) struct Reshares<T: Tracer> {
    pub identity: ed25519::PrivateKey,
    pub partition_prefix: String,
    pub tracer: T,
    pub keys: dkg::Keys,
    pub verifier: crate::verify::Verifier,
    /// How often the chain is looked at while no reshare runs.
    pub check: Duration,
    #[cfg(feature = "sim")]
    pub tamper: Option<std::sync::Arc<dyn dkg::Tamper>>,
}

impl<T: Tracer> Reshares<T> {
    /// Runs every reshare the chain calls for, from `completed` (the epoch this node holds) on;
    /// returns when the ledger or the DKG channel stops, or with a fatal DKG error.
    #[allow(clippy::too_many_arguments)]
    pub async fn run<E, S, R, B>(
        self,
        context: E,
        mut ledger: ledger::Mailbox,
        mut barrier: barrier::Mailbox,
        blocker: B,
        mut server: dkg::Server<E, S, R>,
        mut meta: NodeMeta<E>,
        mut completed: dkg::Completed,
    ) -> Result<(), EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey> + Clone,
    {
        loop {
            // Serve the last round until the chain defines an epoch after ours.
            let mut next: Option<Cluster> = None;
            let channel = {
                let held = completed.epoch;
                let (ledger, next, context, check) = (&mut ledger, &mut next, &context, self.check);
                server
                    .serve_until(async move {
                        loop {
                            // Only the chain is read (the live set is the governance actor's).
                            match ledger.governance(check).await {
                                Ok(g) if g.chain.last_epoch() > held => {
                                    *next = Some(g.chain.cluster());
                                    return;
                                }
                                Ok(_) => context.sleep(check).await,
                                // The ledger stopped: the engine reports it.
                                Err(_) => return,
                            }
                        }
                    })
                    .await
            };
            let (Some(channel), Some(cluster)) = (channel, next) else {
                return Ok(());
            };
            let epoch = completed.epoch + 1;
            tracing::info!(epoch, "the chain certified a committee: resharing");
            (completed, meta, server) = self
                .reshare(
                    &context,
                    cluster,
                    channel,
                    blocker.clone(),
                    meta,
                    &mut barrier,
                    epoch,
                )
                .await?;
        }
    }

    /// Runs the DKG actor on `cluster` from its journal (it loads the epochs finished before
    /// and runs the rest).
    #[allow(clippy::too_many_arguments)]
    async fn reshare<E, S, R, B>(
        &self,
        context: &E,
        cluster: Cluster,
        channel: Duplex<S, R>,
        blocker: B,
        meta: NodeMeta<E>,
        barrier: &mut barrier::Mailbox,
        epoch: u64,
    ) -> Result<(dkg::Completed, NodeMeta<E>, dkg::Server<E, S, R>), EngineError>
    where
        E: Clock + Spawner + Metrics + Storage + CryptoRng,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        // The barrier admits the new committee's members (a joiner among them).
        barrier.add_members(cluster.members().to_vec()).await?;
        let dkg = dkg::Actor::open(
            context.child("dkg").with_attribute("reshare", epoch),
            dkg::Config {
                signer: self.identity.clone(),
                cluster,
                partition_prefix: self.partition_prefix.clone(),
                tracer: self.tracer.clone(),
                keys: self.keys.clone(),
                catch_up: true,
                start: None,
                verifier: self.verifier.clone(),
                #[cfg(feature = "sim")]
                tamper: self.tamper.clone(),
            },
            channel,
            blocker,
            meta,
        )
        .await?;
        Ok(dkg.run(barrier).await?)
    }
}
