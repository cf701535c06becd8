//! A node's own clock: the deterministic runtime's context seen through a clock offset and a
//! drift, so that one node's protocol code (its ops' times, its timers, its deadlines) runs on
//! a clock that disagrees with its peers'.
//!
//! [`Skewed`] wraps the context a node's engine is built from and forwards everything to it
//! (tasks, storage, metrics, randomness) except time: with the run's start as the epoch `e`,
//! an offset `o` and a drift `d` (parts per million), the node reads `local(t) = e + (t - e)
//! (1 + d / 10^6) + o` when the run's clock says `t`, and a sleep of `s` (or until a local
//! deadline) lasts what the run's clock needs for the local clock to get there. Children and
//! spawned tasks inherit the skew, so every task of the node shares its clock. The trace and
//! the network keep the run's clock (the simulator's own view of time).
//!
//! Offsets are never negative (the deterministic runtime starts at the Unix epoch, and a node's
//! clock must not read before it) and the drift stays far above -10^6, so local time is
//! monotonic and never before the epoch. A [`Skew::NONE`] context reads the run's clock exactly
//! (the arithmetic is skipped), so runs without clock faults keep their digests.

use super::disk::Disk;
use commonware_runtime::{
    Clock, Error, Handle, Metrics, Spawner, Storage, Supervisor, deterministic,
    signal::Signal,
    telemetry::metrics::{Metric, Registered},
};
use rand_core::{TryCryptoRng, TryRng};
use std::{
    convert::Infallible,
    future::Future,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// One node's clock fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skew {
    /// The run's start (the instant both clocks agree on, but for the offset).
    pub epoch: SystemTime,
    /// How far ahead the node's clock reads, in milliseconds.
    pub offset_ms: u64,
    /// How much faster (positive) or slower the node's clock runs, in parts per million.
    pub drift_ppm: i64,
}

impl Skew {
    /// The run's clock, unchanged.
    pub const NONE: Skew = Skew {
        epoch: UNIX_EPOCH,
        offset_ms: 0,
        drift_ppm: 0,
    };

    fn is_none(&self) -> bool {
        self.offset_ms == 0 && self.drift_ppm == 0
    }

    /// The node's reading when the run's clock says `real`.
    pub fn local(&self, real: SystemTime) -> SystemTime {
        if self.is_none() {
            return real;
        }
        let elapsed = real
            .duration_since(self.epoch)
            .unwrap_or_default()
            .as_nanos() as i128;
        let skewed = elapsed + (elapsed * self.drift_ppm as i128).div_euclid(1_000_000);
        self.epoch
            + Duration::from_nanos(skewed.max(0) as u64)
            + Duration::from_millis(self.offset_ms)
    }

    /// The run's instant at which the node's clock reads `local` (the run's start if it read
    /// that before).
    pub fn real(&self, local: SystemTime) -> SystemTime {
        if self.is_none() {
            return local;
        }
        let base = self.epoch + Duration::from_millis(self.offset_ms);
        let elapsed = local.duration_since(base).unwrap_or_default().as_nanos() as i128;
        let rate = 1_000_000 + self.drift_ppm as i128;
        // The first nanosecond the node reads `local` at (from an estimate rounded up): a sleep
        // must never wake while the node's clock still reads before its deadline (it would
        // sleep again at the same instant, forever).
        let mut real = self.epoch
            + Duration::from_nanos(((elapsed * 1_000_000 + rate - 1) / rate).max(0) as u64);
        while self.local(real) < local {
            real += Duration::from_nanos(1);
        }
        while real > self.epoch && self.local(real - Duration::from_nanos(1)) >= local {
            real -= Duration::from_nanos(1);
        }
        real
    }
}

/// A deterministic context whose clock is skewed (see the module docs), and whose storage is
/// the node's own [`Disk`] (which fails in the node's storage-fault windows).
pub struct Skewed {
    inner: deterministic::Context,
    skew: Skew,
    disk: Disk,
}

impl Skewed {
    pub fn new(inner: deterministic::Context, skew: Skew, disk: Disk) -> Self {
        Self { inner, skew, disk }
    }

    fn wrap(&self, inner: deterministic::Context) -> Self {
        Self {
            inner,
            skew: self.skew,
            disk: self.disk.clone(),
        }
    }
}

impl Supervisor for Skewed {
    fn name(&self) -> commonware_runtime::Name {
        self.inner.name()
    }

    fn child(&self, label: &'static str) -> Self {
        self.wrap(self.inner.child(label))
    }

    fn with_attribute(self, key: &'static str, value: impl std::fmt::Display) -> Self {
        let (skew, disk) = (self.skew, self.disk);
        Self {
            inner: self.inner.with_attribute(key, value),
            skew,
            disk,
        }
    }
}

impl Spawner for Skewed {
    fn shared(self, blocking: bool) -> Self {
        let (skew, disk) = (self.skew, self.disk);
        Self {
            inner: self.inner.shared(blocking),
            skew,
            disk,
        }
    }

    fn dedicated(self) -> Self {
        let (skew, disk) = (self.skew, self.disk);
        Self {
            inner: self.inner.dedicated(),
            skew,
            disk,
        }
    }

    fn spawn<F, Fut, T>(self, f: F) -> Handle<T>
    where
        F: FnOnce(Self) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (skew, disk) = (self.skew, self.disk);
        self.inner
            .spawn(move |inner| f(Skewed { inner, skew, disk }))
    }

    fn stop(
        self,
        value: i32,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.inner.stop(value, timeout)
    }

    fn stopped(&self) -> Signal {
        self.inner.stopped()
    }
}

impl Metrics for Skewed {
    fn register<N: Into<String>, H: Into<String>, M: Metric>(
        &self,
        name: N,
        help: H,
        metric: M,
    ) -> Registered<M> {
        self.inner.register(name, help, metric)
    }

    fn encode(&self) -> String {
        self.inner.encode()
    }
}

impl Clock for Skewed {
    fn current(&self) -> SystemTime {
        self.skew.local(self.inner.current())
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static + use<> {
        let deadline = self.current() + duration;
        self.sleep_until(deadline)
    }

    fn sleep_until(
        &self,
        deadline: SystemTime,
    ) -> impl Future<Output = ()> + Send + 'static + use<> {
        self.inner.sleep_until(self.skew.real(deadline))
    }
}

impl governor::clock::Clock for Skewed {
    type Instant = SystemTime;

    fn now(&self) -> SystemTime {
        self.current()
    }
}

impl governor::clock::ReasonablyRealtime for Skewed {}

impl Storage for Skewed {
    type Blob = <Disk as Storage>::Blob;

    fn open_versioned(
        &self,
        partition: &str,
        name: &[u8],
        versions: std::ops::RangeInclusive<commonware_runtime::BlobVersion>,
    ) -> impl Future<Output = Result<(Self::Blob, u64, commonware_runtime::BlobVersion), Error>> + Send
    {
        self.disk.open_versioned(partition, name, versions)
    }

    fn remove(
        &self,
        partition: &str,
        name: Option<&[u8]>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.disk.remove(partition, name)
    }

    fn scan(&self, partition: &str) -> impl Future<Output = Result<Vec<Vec<u8>>, Error>> + Send {
        self.disk.scan(partition)
    }
}

impl TryRng for Skewed {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.inner.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.inner.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        self.inner.try_fill_bytes(dest)
    }
}

impl TryCryptoRng for Skewed {}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn none_is_the_identity() {
        for ms in [0, 1, 12_345, u32::MAX as u64] {
            assert_eq!(Skew::NONE.local(at(ms)), at(ms));
            assert_eq!(Skew::NONE.real(at(ms)), at(ms));
        }
    }

    #[test]
    fn offset_and_drift_apply_and_invert() {
        let skew = Skew {
            epoch: UNIX_EPOCH,
            offset_ms: 90_000,
            drift_ppm: 2_000,
        };
        // 1000 s of the run read 1002 s later on the node, plus its offset.
        assert_eq!(skew.local(at(1_000_000)), at(1_092_000));
        assert_eq!(skew.real(at(1_092_000)), at(1_000_000));
        let slow = Skew {
            drift_ppm: -2_000,
            ..skew
        };
        assert_eq!(slow.local(at(1_000_000)), at(1_088_000));
        assert_eq!(slow.real(at(1_088_000)), at(1_000_000));
        // A local instant before the node's start maps to the run's start.
        assert_eq!(skew.real(at(10)), UNIX_EPOCH);
        // The real instant of a local deadline is never one the node reads as before it.
        for ns in (0..10_000_000u64).step_by(9_973) {
            let local =
                UNIX_EPOCH + Duration::from_millis(90_000) + Duration::from_nanos(ns * 1_001);
            for skew in [skew, slow] {
                let real = skew.real(local);
                assert!(skew.local(real) >= local, "{skew:?} {local:?}");
                assert!(skew.local(real - Duration::from_nanos(1)) < local || real == UNIX_EPOCH);
            }
        }
        // Monotonic.
        let mut last = skew.local(at(0));
        for ms in (0..100_000).step_by(777) {
            let now = skew.local(at(ms));
            assert!(now >= last);
            last = now;
        }
    }
}
