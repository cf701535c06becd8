//! Floods every member with valid backfill requests (for everything, from the start) and counts
//! the `Busy` answers.

use super::Liar;
use cohort_protocol::ledger::backfill::Message;
use commonware_codec::{Decode as _, Encode as _};
use commonware_macros::select;
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock as _, deterministic};
use std::time::Duration;

/// Time between two requests to every member: 500 a second each, far above what a server's
/// token bucket refills.
const PERIOD: Duration = Duration::from_millis(2);

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let others = liar.others();
    let mut next = context.current();
    let mut id = 0u64;
    while context.current() < liar.until {
        select! {
            frame = liar.backfill.receiver.recv() => {
                let Ok((peer, frame)) = frame else { return };
                if let Ok(Message::Busy { .. }) = Message::decode_cfg(frame, &()) {
                    liar.report.lock().expect("report").busy_from.insert(peer);
                }
            },
            _ = context.sleep_until(next) => {
                next = context.current() + PERIOD;
                id += 1;
                let request = Message::Request {
                    id,
                    known: vec![],
                    missing: vec![],
                    cursor: 0,
                    limit: 1024,
                };
                liar.backfill.sender.send(Recipients::Some(others.clone()), request.encode(), false);
                liar.report.lock().expect("report").requests += 1;
            },
        }
    }
}
