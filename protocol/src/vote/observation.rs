//! What a checkpoint says about its subject, the tolerance voters judge it by, and round 2's
//! trimmed mean.
//!
//! An [`Observation`] is three counters: `restarts` (the subject's `Boot` ops after its first),
//! `uptime_ms` (its total uptime) and `first_seen_ms` (when it was first seen, in milliseconds
//! since the Unix epoch). A voter approves a proposal when every field is within the
//! [`Tolerance`] of its own view (default: restarts +-5, uptime +-60 s, first seen +-60 s).
//!
//! **Trimmed mean** (round 2, when round 1's window closed without a certificate): per field,
//! the values of round 1's observations (the proposal's and every disagreeing voter's) are
//! sorted, the `f` highest and the `f` lowest dropped, and the rest averaged, rounding down.
//! With at most `f` liars, every value kept lies between two honest values, so the mean does
//! too: liars cannot drag it outside the honest range. Fewer than `2f + 1` values give no mean
//! (nothing would be left after the trim, or only values a liar may have chosen).

use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write, varint::UInt,
};

/// A subject's presence history, as a checkpoint certifies it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Observation {
    /// `Boot` ops after the first one.
    pub restarts: u64,
    /// Total uptime, in milliseconds.
    pub uptime_ms: u64,
    /// When the subject was first seen, in milliseconds since the Unix epoch.
    pub first_seen_ms: u64,
}

impl Write for Observation {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.restarts).write(buf);
        UInt(self.uptime_ms).write(buf);
        UInt(self.first_seen_ms).write(buf);
    }
}

impl EncodeSize for Observation {
    fn encode_size(&self) -> usize {
        UInt(self.restarts).encode_size()
            + UInt(self.uptime_ms).encode_size()
            + UInt(self.first_seen_ms).encode_size()
    }
}

impl Read for Observation {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            restarts: UInt::<u64>::read(buf)?.into(),
            uptime_ms: UInt::<u64>::read(buf)?.into(),
            first_seen_ms: UInt::<u64>::read(buf)?.into(),
        })
    }
}

/// How far a proposal may be from a voter's own view, per field, for the voter to approve it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tolerance {
    pub restarts: u64,
    pub uptime_ms: u64,
    pub first_seen_ms: u64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            restarts: 5,
            uptime_ms: 60_000,
            first_seen_ms: 60_000,
        }
    }
}

impl Tolerance {
    /// Whether `proposed` is within tolerance of `seen` in every field.
    pub fn admits(&self, proposed: &Observation, seen: &Observation) -> bool {
        proposed.restarts.abs_diff(seen.restarts) <= self.restarts
            && proposed.uptime_ms.abs_diff(seen.uptime_ms) <= self.uptime_ms
            && proposed.first_seen_ms.abs_diff(seen.first_seen_ms) <= self.first_seen_ms
    }
}

/// The mean of `values` without their `f` highest and `f` lowest, rounded down; `None` if
/// fewer than `2f + 1` values.
fn trimmed(mut values: Vec<u64>, f: usize) -> Option<u64> {
    if values.len() <= 2 * f {
        return None;
    }
    values.sort_unstable();
    let kept = &values[f..values.len() - f];
    let sum: u128 = kept.iter().map(|v| u128::from(*v)).sum();
    // The mean of u64 values fits a u64.
    Some((sum / kept.len() as u128) as u64)
}

/// Round 2's proposal: the per-field trimmed mean of `observations` (see the module docs);
/// `None` if there are fewer than `2f + 1`.
pub fn trimmed_mean(observations: &[Observation], f: usize) -> Option<Observation> {
    let field = |get: fn(&Observation) -> u64| trimmed(observations.iter().map(get).collect(), f);
    Some(Observation {
        restarts: field(|o| o.restarts)?,
        uptime_ms: field(|o| o.uptime_ms)?,
        first_seen_ms: field(|o| o.first_seen_ms)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn obs(restarts: u64, uptime_ms: u64, first_seen_ms: u64) -> Observation {
        Observation {
            restarts,
            uptime_ms,
            first_seen_ms,
        }
    }

    #[test]
    fn tolerance_bounds_every_field_both_ways() {
        let t = Tolerance::default();
        let seen = obs(10, 1_000_000, 5_000_000);
        assert!(t.admits(&seen, &seen));
        assert!(t.admits(&obs(15, 1_060_000, 4_940_000), &seen));
        assert!(t.admits(&obs(5, 940_000, 5_060_000), &seen));
        assert!(!t.admits(&obs(16, 1_000_000, 5_000_000), &seen));
        assert!(!t.admits(&obs(10, 939_999, 5_000_000), &seen));
        assert!(!t.admits(&obs(10, 1_000_000, 5_060_001), &seen));
        // Near the ends of the range: no overflow.
        assert!(!t.admits(&obs(u64::MAX, 0, 0), &obs(0, u64::MAX, u64::MAX)));
    }

    #[test]
    fn the_trim_drops_f_values_at_each_end_and_averages_the_rest() {
        // f = 1: the liars' extremes go, the mean of the rest stays.
        let observations = [
            obs(1, 100, 1000),
            obs(u64::MAX, 0, 0),
            obs(3, 300, 3000),
            obs(2, 200, 2000),
            obs(0, u64::MAX, u64::MAX),
        ];
        assert_eq!(trimmed_mean(&observations, 1), Some(obs(2, 200, 2000)));
        // Rounds down.
        assert_eq!(
            trimmed_mean(&[obs(1, 1, 1), obs(2, 2, 2)], 0),
            Some(obs(1, 1, 1))
        );
        // Too few values for the trim.
        assert_eq!(trimmed_mean(&observations[..2], 1), None);
        assert_eq!(trimmed_mean(&[], 0), None);
    }

    #[test]
    fn with_at_most_f_liars_the_mean_stays_within_the_honest_range() {
        let honest = [obs(4, 7_000, 90), obs(6, 9_000, 110), obs(5, 8_000, 100)];
        for lie in [0, u64::MAX, 5, 1 << 40] {
            let mut all = honest.to_vec();
            all.push(obs(lie, lie, lie));
            let mean = trimmed_mean(&all, 1).expect("4 values, f = 1");
            assert!((4..=6).contains(&mean.restarts), "{mean:?}");
            assert!((7_000..=9_000).contains(&mean.uptime_ms), "{mean:?}");
            assert!((90..=110).contains(&mean.first_seen_ms), "{mean:?}");
        }
    }

    #[test]
    fn observations_round_trip_and_junk_is_refused() {
        let o = obs(3, u64::MAX, 1_700_000_000_000);
        assert_eq!(Observation::decode(o.encode()).unwrap(), o);
        assert!(Observation::decode(bytes::Bytes::from_static(&[0xff; 3])).is_err());
        let mut long = o.encode().to_vec();
        long.push(0);
        assert!(Observation::decode(bytes::Bytes::from(long)).is_err());
    }
}
