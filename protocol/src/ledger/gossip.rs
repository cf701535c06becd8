//! The ledger actor's gossip channel: received ops, and the digest exchange (anti-entropy).
//!
//! Received ops are applied and persisted before anything else; nothing is re-broadcast. An op
//! that waits for a parent, or a peer digest that differs from ours, makes the node want a
//! backfill round, and a peer whose digest differs is a *suspect* until a run with it completes
//! or it reports our digest (see [`super::sync`]).

use super::{
    actor::{Actor, author_index},
    dag::Outcome,
    ingress::Error,
    wire::Message as Gossip,
};
use crate::{channels::Channel, cluster::PublicKey, trace::Tracer};
use commonware_codec::{Decode as _, Encode as _};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    /// Sends our digest to the next peer in round-robin order, asking for its own.
    pub(super) fn exchange_digest(&mut self) {
        if self.peers.is_empty() {
            return;
        }
        self.next_exchange = (self.next_exchange + 1) % self.peers.len();
        let peer = self.peers[self.next_exchange].clone();
        self.send_digest(peer, true);
    }

    fn send_digest(&mut self, peer: PublicKey, reply: bool) {
        let frame = Gossip::Digest {
            digest: self.dag.digest(),
            ops: self.dag.len(),
            reply,
        }
        .encode();
        self.gossip.sender.send(Recipients::One(peer), frame, false);
    }

    pub(super) async fn on_gossip(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        // With governance, a key that is not an author here may be a joiner whose admission
        // this node has not applied: its digest exchanges are answered and its ops dropped
        // (they come again by backfill once its certificate is here), never blamed.
        let stranger = author_index(&self.dag, &peer).is_none();
        let joiners = self.cfg.settings.governance.is_some();
        if stranger && !joiners {
            self.reject(
                Channel::Gossip,
                peer,
                "frame from a non-member".into(),
                true,
            );
            return Ok(());
        }
        let bytes = frame.copy_to_bytes(frame.remaining());
        let message = match Gossip::decode_cfg(bytes, &()) {
            Ok(message) => message,
            Err(error) => {
                self.metrics.rejected.inc();
                self.reject(
                    Channel::Gossip,
                    peer,
                    format!("undecodable frame: {error}"),
                    !stranger,
                );
                return Ok(());
            }
        };
        if stranger && let Gossip::Ops(_) = message {
            self.reject(
                Channel::Gossip,
                peer,
                "ops from a key that is not an author here (yet)".into(),
                false,
            );
            return Ok(());
        }
        match message {
            Gossip::Ops(ops) => {
                let report = self.dag.apply(ops, &mut self.batch_rng);
                self.persist(&report).await?;
                let mut bad = None;
                for outcome in &report.outcomes {
                    match outcome {
                        Outcome::Duplicate => {
                            self.metrics.duplicates.inc();
                        }
                        Outcome::Pending => self.want_sync = true,
                        Outcome::Rejected(reason) => {
                            self.metrics.rejected.inc();
                            if reason.blames_sender() {
                                bad = Some(*reason);
                            }
                        }
                        Outcome::Applied => {}
                    }
                }
                if let Some(reason) = bad {
                    self.reject(
                        Channel::Gossip,
                        peer,
                        format!("invalid op: {}", reason.name()),
                        true,
                    );
                }
            }
            Gossip::Digest { digest, reply, .. } => {
                let index = self.peers.iter().position(|p| *p == peer);
                // A stranger's digest (a joiner still catching up) says nothing about what this
                // node lacks: answered, never a reason to sync.
                if digest != self.dag.digest() && index.is_some() {
                    self.want_sync = true;
                    self.suspects.extend(index);
                } else if let Some(index) = index {
                    self.suspects.remove(&index);
                }
                if reply {
                    self.send_digest(peer, false);
                }
            }
        }
        Ok(())
    }
}
