//! The ledger actor's backfill channel, server side: every frame is checked (a member's,
//! decodable) here; requests are answered by the rate-limited server, replies go to the fetch
//! in flight ([`super::sync`]).

use super::{
    actor::Actor,
    backfill::{self, server::Served},
    ingress::Error,
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
    pub(super) async fn on_backfill(
        &mut self,
        peer: PublicKey,
        mut frame: impl commonware_codec::Buf,
    ) -> Result<(), Error> {
        if !self.cfg.cluster.is_member(&peer) {
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
                    true,
                );
                return Ok(());
            }
        };
        let now = self.context.current();
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
}
