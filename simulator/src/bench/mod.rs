//! `cohort-sim bench`: what the simulated protocol costs next to the raw work it does.
//!
//! - [`checkpoint`]: a certified checkpoint's latency, traffic and size, and what compaction
//!   saves over a month of scaled days;
//! - [`dkg`]: a whole simulated DKG ceremony next to the same cryptography done directly;
//! - [`ledger`]: applying backfilled pages next to raw ed25519 verification, and a late joiner
//!   catching up a ledger in the simulator;
//! - [`transport`]: the lean transport next to commonware's simulated network (a ping-pong, and
//!   seeds per second of four scenarios).

pub mod checkpoint;
pub mod dkg;
pub mod ledger;
pub mod transport;

use std::time::Duration;

/// The median of `samples` (not empty).
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
