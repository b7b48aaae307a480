//! New extremes: a value beyond every value the series has shown, by more than a share
//! of the range it has shown, is an anomaly in itself.
//!
//! This is the "spatial anomaly" rule of Numenta's HTM detector (NAB): the running
//! minimum and maximum of the series, widened by a tolerance of 5% of their distance; a
//! value outside that band is certain news, whatever the residual tests have learned to
//! tolerate (a series with heavy-tailed residuals calibrates its own tail so wide that a
//! jump to a level it has never reached goes unremarked). The band only widens, so a
//! series rising through new levels alarms once per 5% of its range, not at every sample.
//!
//! State: the extremes and whether any value was seen (17 bytes); O(1) per sample;
//! causal (a value is judged against the band of the values before it).

use serde::{Deserialize, Serialize};

/// Tolerance, as a share of the range seen (HTM's `spatialTolerance`).
const TOLERANCE: f64 = 0.05;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extremes {
    pub seen: bool,
    pub lo: f64,
    pub hi: f64,
}

impl Extremes {
    /// Judge `x` against the band of earlier values, then learn it: true when `x` is a
    /// new extreme beyond the tolerance. A series that has shown one value only has no
    /// range to judge by.
    #[inline]
    pub fn update(&mut self, x: f64) -> bool {
        if !self.seen {
            (self.seen, self.lo, self.hi) = (true, x, x);
            return false;
        }
        let margin = TOLERANCE * (self.hi - self.lo);
        let novel = margin > 0.0 && (x > self.hi + margin || x < self.lo - margin);
        self.lo = self.lo.min(x);
        self.hi = self.hi.max(x);
        novel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_beyond_the_widened_range_are_new() {
        let mut e = Extremes::default();
        // A flat start has no range: nothing is new yet.
        assert!(!e.update(5.0));
        assert!(!e.update(5.0));
        // The first step defines the range.
        assert!(!e.update(15.0));
        // Within 5% of the range (10) beyond the extremes: not new.
        assert!(!e.update(15.4));
        assert!(!e.update(4.6));
        // Beyond it, on either side.
        assert!(e.update(16.0));
        assert!(e.update(3.0));
        // Learned: the same value again is not new.
        assert!(!e.update(16.0));
    }

    #[test]
    fn a_rising_series_alarms_once_per_share_of_its_range() {
        let mut e = Extremes::default();
        let alarms = (0..10_000).filter(|&i| e.update(f64::from(i))).count();
        // Each alarm needs the range to grow by 5%: about ln(10000) / ln(1.05) of them at
        // most, never one per sample.
        assert!(alarms < 200, "{alarms} alarms");
    }

    #[test]
    fn snapshot_round_trip() {
        let mut e = Extremes::default();
        for x in [1.0, 3.0, -2.0] {
            e.update(x);
        }
        let back: Extremes = serde_json::from_str(&serde_json::to_string(&e).expect("serialise")).expect("deserialise");
        assert_eq!(e, back);
    }
}
