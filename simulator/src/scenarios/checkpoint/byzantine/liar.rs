//! What a checkpoint liar works with (the member's key, checkpoint channel, DKG keys and
//! ledger), the honest parts it builds its lies from, and what it reports.

use crate::world::SimDuplex;
use bytes::Buf as _;
use cohort_protocol::{
    PublicKey,
    checkpoint::{
        Settings, Vote,
        wire::{CERTIFICATE_NAMESPACE, Digest, Message, SignedProposal, SignedVote},
    },
    dkg::{self, Keys},
    ledger::Mailbox,
};
use commonware_cryptography::{bls12381::primitives::ops, ed25519};
use commonware_macros::select;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// What a liar did, for the invariants.
#[derive(Clone, Debug, Default)]
pub struct LiarReport {
    /// Proposals (short digests) on which it sent a valid approving partial.
    pub approvals: BTreeSet<String>,
    /// Frames it sent that prove it hostile (every honest receiver must block it), and when it
    /// sent the last one (simulated ms since the Unix epoch).
    pub hostile: u64,
    pub last_hostile_ms: u64,
    /// Votes it sent again, unchanged.
    pub repeats: u64,
    /// Proposals about itself it sent, and those it got certified.
    pub proposals: u64,
    pub certified: u64,
}

/// Everything a liar works with.
pub struct Liar {
    pub key: ed25519::PrivateKey,
    /// Every member, in cluster order.
    pub members: Vec<PublicKey>,
    pub channel: SimDuplex,
    /// The DKG's keys of the node (`None`: an outsider holds none).
    pub keys: Option<Keys>,
    /// The node's (honest) ledger (`None`: an outsider has none).
    pub ledger: Option<Mailbox>,
    pub settings: Settings,
    pub rng: ChaCha8Rng,
    pub report: Arc<Mutex<LiarReport>>,
}

/// What the liar's loop hands its misbehaviour.
pub enum Input {
    Proposal(PublicKey, SignedProposal),
    Vote(PublicKey, SignedVote),
    /// Its tick came.
    Tick,
    /// The channel closed: the liar's life is over.
    Closed,
}

/// The first 8 bytes of a digest, hex (as the protocol traces it).
pub fn short(digest: &Digest) -> String {
    commonware_formatting::hex(&digest[..8])
}

pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Liar {
    /// The next input, or a tick at `tick` (frames that do not decode are dropped).
    pub async fn next(&mut self, context: &deterministic::Context, tick: SystemTime) -> Input {
        loop {
            select! {
                frame = self.channel.receiver.recv() => {
                    let Ok((peer, mut frame)) = frame else { return Input::Closed };
                    let bytes = frame.copy_to_bytes(frame.remaining());
                    match Message::decode(bytes) {
                        Ok(Message::Proposal(p)) => return Input::Proposal(peer, p),
                        Ok(Message::Vote(v)) => return Input::Vote(peer, v),
                        Err(_) => continue,
                    }
                },
                _ = context.sleep_until(tick) => return Input::Tick,
            }
        }
    }

    /// Sends `frame` to `to` at once (a liar does not wait for its jitter).
    pub fn send(&mut self, to: Vec<PublicKey>, frame: bytes::Bytes) {
        self.channel.sender.send(Recipients::Some(to), frame, false);
    }

    /// Signs and sends a vote on `digest`.
    pub fn vote(&mut self, to: &PublicKey, digest: Digest, vote: Vote) {
        let frame = Message::Vote(SignedVote::sign(&self.key, digest, self.epoch(), vote)).encode();
        self.send(vec![to.clone()], frame);
    }

    /// The completed DKG of the node, if it has a share.
    pub fn completed(&self) -> Option<dkg::Completed> {
        self.keys.as_ref()?.current().filter(|c| c.share.is_some())
    }

    /// The epoch of the node's share (0 without one).
    pub fn epoch(&self) -> u64 {
        self.completed().map_or(0, |c| c.epoch)
    }

    /// A valid partial signature over `digest` from the node's share.
    pub fn partial(&self, digest: &Digest) -> Option<Vote> {
        let share = self.completed()?.share?;
        Some(Vote::Approve(Box::new(ops::threshold::sign_message::<
            dkg::wire::Variant,
        >(
            &share,
            CERTIFICATE_NAMESPACE,
            digest,
        ))))
    }

    /// The vote an honest voter would give on `signed` from `peer` now (`None`: an honest
    /// voter would not vote), and the proposal's digest.
    pub async fn honest_vote(
        &mut self,
        context: &deterministic::Context,
        peer: &PublicKey,
        signed: &SignedProposal,
    ) -> Option<(Digest, Vote)> {
        if signed.proposal.subject != peer.as_ref() || !signed.verify(peer) {
            return None;
        }
        let now_ms = millis(context.current());
        let cutoff = signed.proposal.as_of_ms.min(now_ms);
        let within = self.settings.online_within;
        let view = self
            .ledger
            .as_mut()?
            .view(peer.clone(), cutoff, within)
            .await
            .ok()??;
        let seen = view.observation?;
        if !view.boot_recovered || view.latest.map(|(id, _)| id) != signed.proposal.previous {
            return None;
        }
        let digest = signed.proposal.digest();
        let vote = if self
            .settings
            .tolerance
            .admits(&signed.proposal.observation, &seen)
        {
            self.partial(&digest)?
        } else {
            Vote::Disagree(seen)
        };
        Some((digest, vote))
    }

    /// Votes on `signed` from `peer` as an honest voter would, at once.
    pub async fn vote_honestly(
        &mut self,
        context: &deterministic::Context,
        peer: &PublicKey,
        signed: &SignedProposal,
    ) {
        if let Some((digest, vote)) = self.honest_vote(context, peer, signed).await {
            if matches!(vote, Vote::Approve(_)) {
                self.approved(&digest);
            }
            self.vote(peer, digest, vote);
        }
    }

    /// Records an approval it sent (valid partials only).
    pub fn approved(&self, digest: &Digest) {
        self.report
            .lock()
            .expect("liar report")
            .approvals
            .insert(short(digest));
    }

    pub fn hostile(&self, at: std::time::SystemTime, frames: u64) {
        let mut report = self.report.lock().expect("liar report");
        report.hostile += frames;
        report.last_hostile_ms = crate::trace::micros(at) / 1000;
    }

    /// Every member but `me`.
    pub fn others(&self) -> Vec<PublicKey> {
        let me = commonware_cryptography::Signer::public_key(&self.key);
        self.members.iter().filter(|m| **m != me).cloned().collect()
    }
}

/// How often a liar without inputs wakes up.
pub const TICK: Duration = Duration::from_secs(2);
