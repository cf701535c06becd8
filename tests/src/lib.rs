//! Cross-crate integration tests live in `tests/tests/`; this library holds what they share.

use cohort_protocol::{Event, PublicKey, Tracer};
use commonware_p2p::simulated;
use commonware_runtime::{Supervisor as _, deterministic};
use commonware_utils::{NZUsize, probability};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// A tracer that keeps every event, for assertions.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Tracer for Recorder {
    fn record(&self, event: Event) {
        self.0.lock().expect("recorder").push(event);
    }
}

impl Recorder {
    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().expect("recorder").clone()
    }
}

/// Starts a simulated network of `members` with a lossless link of `latency` (jitter 1/5 of it)
/// in each direction between every two of them.
pub async fn full_mesh(
    context: &deterministic::Context,
    members: &[PublicKey],
    latency: Duration,
) -> simulated::Oracle<PublicKey, deterministic::Context> {
    let (network, oracle) = simulated::Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: cohort_protocol::MAX_FRAME_BYTES as u32,
            max_peers_per_set: NZUsize!(64),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        members.iter().cloned(),
    )
    .await;
    network.start();
    for a in members {
        for b in members.iter().filter(|b| *b != a) {
            let link = simulated::Link {
                latency,
                jitter: latency / 5,
                success_rate: probability!(1.0),
            };
            oracle
                .add_link(a.clone(), b.clone(), link)
                .await
                .expect("link between known peers");
        }
    }
    oracle
}

/// Registers the engine's channels (the ledger's included) of the node behind `control` (a quota
/// of 1000 messages per second per peer each).
pub async fn channels(
    control: &simulated::Control<PublicKey, deterministic::Context>,
) -> cohort_protocol::Channels<
    simulated::Sender<PublicKey, deterministic::Context>,
    simulated::Receiver<PublicKey>,
> {
    let mut registrar = cohort_protocol::channels::SimulatedRegistrar {
        control: control.clone(),
        quota: commonware_runtime::Quota::per_second(commonware_utils::NZU32!(1000)),
    };
    cohort_protocol::Channels::register(&mut registrar, true).await
}
