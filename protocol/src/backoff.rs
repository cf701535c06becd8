//! The one capped exponential backoff every retry uses (the barrier's reconnects, the sync
//! scheduler's failures): `min(base * 2^(attempt - 1), cap)`, computed without overflow.

use std::time::Duration;

/// Largest exponent of any backoff (`attempt - 1`): `base * 2^32` is beyond any sane cap, and
/// the bound keeps the arithmetic exact.
pub const MAX_EXPONENT: u32 = 32;

/// The delay before retry number `attempt` (the first retry is attempt 1; 0 counts as 1):
/// `min(base * 2^(attempt - 1), cap)`, the exponent bounded by [`MAX_EXPONENT`].
pub fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(MAX_EXPONENT);
    let nanos = base.as_nanos().saturating_mul(1u128 << exponent);
    if nanos >= cap.as_nanos() {
        return cap;
    }
    // Below the cap, so it fits a Duration.
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    Duration::new(
        (nanos / NANOS_PER_SEC) as u64,
        (nanos % NANOS_PER_SEC) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_base_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(5);
        assert_eq!(exponential(base, 0, cap), base);
        assert_eq!(exponential(base, 1, cap), base);
        assert_eq!(exponential(base, 2, cap), base * 2);
        assert_eq!(exponential(base, 6, cap), Duration::from_millis(3200));
        assert_eq!(exponential(base, 7, cap), cap);
        assert_eq!(exponential(base, u32::MAX, cap), cap);
        // No overflow, whatever the inputs.
        assert_eq!(
            exponential(Duration::MAX, u32::MAX, Duration::MAX),
            Duration::MAX
        );
        assert_eq!(
            exponential(Duration::from_secs(1), 40, Duration::MAX),
            Duration::from_secs(1 << MAX_EXPONENT)
        );
    }
}
