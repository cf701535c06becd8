//! The DKG's mailbox ([`Keys`]): how other actors learn the result of the latest finished epoch.
//!
//! - [`Keys::current`] answers at once with the latest epoch this node finished (or loaded from
//!   its journal at start), if any;
//! - [`Keys::subscribe`] resolves with the first finished epoch: at once if there is one, else
//!   when the DKG actor publishes it. A subscriber whose node stops before that sees its
//!   receiver cancelled, never a hang.
//!
//! Only the DKG actor publishes, right after the epoch's output and share are synced.

use super::wire::Variant;
use crate::cluster::PublicKey;
use commonware_codec::Encode as _;
use commonware_cryptography::bls12381::{dkg::feldman_desmedt::Output, primitives::group::Share};
use futures::channel::oneshot;
use std::sync::{Arc, Mutex};

/// The result of a finished epoch.
#[derive(Clone, Debug)]
pub struct Completed {
    pub epoch: u64,
    pub round: u64,
    pub output: Output<Variant, PublicKey>,
    /// This node's share (`None` if it is not a player of the epoch).
    pub share: Option<Share>,
}

impl Completed {
    /// The group public key.
    pub fn group_key(
        &self,
    ) -> &<Variant as commonware_cryptography::bls12381::primitives::variant::Variant>::Public {
        self.output.public().public()
    }

    /// The group public key, hex encoded.
    pub fn group_key_hex(&self) -> String {
        commonware_formatting::hex(&self.group_key().encode())
    }
}

/// Earlier outputs a node keeps in memory for joiners (about 33 KiB each at most).
pub const MAX_EARLIER_OUTPUTS: usize = 64;

/// The DKG's mailbox: where other actors (checkpoints sign with the share), the node and the
/// admin API find the DKG result. Cheap to clone; one is shared by every life of a node.
#[derive(Clone, Default)]
pub struct Keys {
    inner: Arc<Mutex<KeysInner>>,
}

#[derive(Default)]
struct KeysInner {
    completed: Option<Completed>,
    /// The round and output of every earlier epoch this process finished, newest first, at
    /// most [`MAX_EARLIER_OUTPUTS`] (public data: a joiner whose reshare already ran asks for
    /// the one it reshared from, or an older one its known voters vouch for; see
    /// [`Keys::outputs`]).
    earlier: Vec<(u64, Output<Variant, PublicKey>)>,
    waiters: Vec<oneshot::Sender<Completed>>,
}

impl Keys {
    /// The latest completed epoch, if any.
    pub fn current(&self) -> Option<Completed> {
        self.inner.lock().expect("keys lock").completed.clone()
    }

    /// The epoch of the latest completed epoch, if any (cheaper than [`Keys::current`]).
    pub fn epoch(&self) -> Option<u64> {
        self.inner
            .lock()
            .expect("keys lock")
            .completed
            .as_ref()
            .map(|c| c.epoch)
    }

    /// Resolves with the first completed epoch (at once if there is one).
    pub fn subscribe(&self) -> oneshot::Receiver<Completed> {
        let (sender, receiver) = oneshot::channel();
        let mut inner = self.inner.lock().expect("keys lock");
        match &inner.completed {
            Some(completed) => {
                let _ = sender.send(completed.clone());
            }
            None => inner.waiters.push(sender),
        }
        receiver
    }

    /// The outputs this node can tell a joiner (round and output), newest first: the current
    /// epoch's and every earlier one this process finished (a joiner whose reshare ran before
    /// it started still needs the output it reshared from; a joiner that cannot count the
    /// votes of members admitted after the genesis falls back to an older proposal, whose
    /// output is older too).
    pub fn outputs(&self) -> Vec<(u64, Output<Variant, PublicKey>)> {
        let inner = self.inner.lock().expect("keys lock");
        inner
            .completed
            .iter()
            .map(|c| (c.round, c.output.clone()))
            .chain(inner.earlier.iter().cloned())
            .collect()
    }

    pub(super) fn publish(&self, completed: Completed) {
        let mut inner = self.inner.lock().expect("keys lock");
        for waiter in inner.waiters.drain(..) {
            let _ = waiter.send(completed.clone());
        }
        if let Some(old) = inner.completed.take()
            && old.epoch < completed.epoch
        {
            inner.earlier.insert(0, (old.round, old.output));
            inner.earlier.truncate(MAX_EARLIER_OUTPUTS);
        }
        inner.completed = Some(completed);
    }
}
