//! The ledger actor's backfill channel, server side: every frame is checked (decodable, and
//! an author's unless governance admits joiners) here; requests are answered by the
//! rate-limited server, replies go to the fetch in flight ([`super::sync`]).
//!
//! With governance, a key that is not an author here may be a joiner catching up (admitted by
//! a certificate this node has not applied, or about to be): its backfill requests and its
//! requests for a DKG output ([`backfill::Message::OutputRequest`], one answer per
//! [`OUTPUT_ANSWER_PERIOD`]) are served within the same limits as anyone's, and none of its
//! frames gets it blocked. Without governance, frames from non-members are refused and their
//! sender blocked, as before.

use super::{
    actor::{Actor, OUTPUT_ANSWER_PERIOD, author_index},
    backfill::{self, server::Served},
    ingress::Error,
};
use crate::{
    channels::Channel, cluster::PublicKey, committee::encoded_output_digest, trace::Tracer,
};
use commonware_codec::{Decode as _, Encode as _};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use rand_core::CryptoRng;
use std::time::SystemTime;

impl<E, T, S, R, B> Actor<E, T, S, R, B>
where
    E: Clock + Spawner + Metrics + Storage + CryptoRng,
    T: Tracer,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    pub(super) async fn on_backfill(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        let stranger = author_index(&self.dag, &peer).is_none();
        let joiners = self.cfg.settings.governance.is_some();
        if stranger && !joiners {
            self.reject(
                Channel::Backfill,
                peer,
                "frame from a non-member".into(),
                true,
            );
            return Ok(());
        }
        let bytes = frame.copy_to_bytes(frame.remaining());
        let message = match backfill::Message::decode_cfg(bytes, &()) {
            Ok(message) => message,
            Err(error) => {
                self.reject(
                    Channel::Backfill,
                    peer,
                    format!("undecodable frame: {error}"),
                    !stranger,
                );
                return Ok(());
            }
        };
        let now = self.context.current();
        match message {
            backfill::Message::OutputRequest { id, digest } => {
                self.answer_output(peer, id, digest, now);
                return Ok(());
            }
            backfill::Message::Output { id, round, output } => {
                self.on_output(id, round, output);
                return Ok(());
            }
            backfill::Message::HeadRequest { id } => {
                // How far we hold the asker's own chain, pending ops included (0: none, or
                // not an author).
                let seq = author_index(&self.dag, &peer).map_or(0, |i| self.dag.highest_seq(i));
                let frame = backfill::Message::Head { id, seq }.encode();
                self.backfill
                    .sender
                    .send(Recipients::One(peer), frame, false);
                return Ok(());
            }
            backfill::Message::Head { seq, .. } => {
                self.on_head(&peer, seq);
                return Ok(());
            }
            _ => {}
        }
        if let backfill::Message::Request {
            id,
            known,
            missing,
            cursor,
            limit,
        } = &message
        {
            let (reply, served) = self
                .server
                .handle(&peer, now, &self.dag, *id, known, missing, *cursor, *limit);
            match served {
                Served::Page { .. } => {
                    self.metrics.pages_served.inc();
                }
                Served::Busy => {
                    self.metrics.busy_sent.inc();
                }
                Served::Rejected(_) => {}
            }
            self.backfill
                .sender
                .send(Recipients::One(peer), reply.encode(), false);
            return Ok(());
        }
        self.on_reply(peer, message, now).await
    }

    /// Answers a request for the DKG output with `digest`, if this node holds it (its current
    /// epoch's, or an earlier one this process finished), at most once per peer, digest and
    /// [`OUTPUT_ANSWER_PERIOD`].
    fn answer_output(&mut self, peer: PublicKey, id: u64, digest: [u8; 32], now: SystemTime) {
        let Some(keys) = &self.cfg.keys else { return };
        if self
            .output_answered
            .get(&(peer.clone(), digest))
            .is_some_and(|t| now.duration_since(*t).unwrap_or_default() < OUTPUT_ANSWER_PERIOD)
        {
            return;
        }
        let Some((round, output)) = keys.outputs().into_iter().find_map(|(round, output)| {
            let encoded = output.encode();
            (encoded_output_digest(round, &encoded) == digest).then_some((round, encoded))
        }) else {
            return;
        };
        // Bounded by the transport's peers; forget the oldest answers past a few hundred.
        if self.output_answered.len() >= 1024 {
            self.output_answered.clear();
        }
        self.output_answered.insert((peer.clone(), digest), now);
        let frame = backfill::Message::Output { id, round, output }.encode();
        self.backfill
            .sender
            .send(Recipients::One(peer), frame, false);
    }
}
