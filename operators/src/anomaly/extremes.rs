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
//! While the range is still being learned (a young series sets new extremes often),
//! only a far-out extreme is certain news: one beyond the series' central 90% range
//! (`novelty.rs` tracks its 5% and 95% quantiles) by that range's own width. It is the
//! spirit of Tukey's far-out fence (three interquartile ranges beyond the quartiles,
//! 4.7 sigma for a normal series; this fence is 4.9 sigma), so white noise does not
//! reach it while the range settles.
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

/// Whether `x` is beyond the central range `(lo, hi)` by the range's own width (a
/// range not yet open fences nothing).
#[inline]
pub fn far_out(x: f64, (lo, hi): (f64, f64)) -> bool {
    let width = hi - lo;
    width > 0.0 && (x > hi + width || x < lo - width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_out_is_one_central_range_beyond_it() {
        assert!(!far_out(5.0, (0.0, 0.0)));
        assert!(!far_out(1.9, (0.0, 1.0)));
        assert!(far_out(2.1, (0.0, 1.0)));
        assert!(far_out(-1.1, (0.0, 1.0)));
        assert!(!far_out(-0.9, (0.0, 1.0)));
    }

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

    /// A young series (400 samples, its range not yet settled): a far-out new extreme is
    /// certain news, a new extreme within the fence only as surprising as a record is.
    #[test]
    fn a_young_series_trusts_only_far_out_extremes() {
        use crate::anomaly::calibrate::EXTREME;
        use crate::anomaly::{AnomalyConfig, SeriesDetector, Stack};
        let stack = Stack::new(&AnomalyConfig::default());
        let verdict_at_400 = |x: f64| {
            let mut d = SeriesDetector::new(&stack);
            for i in 0..400 {
                d.update(i, 100.0 + 2.0 * crate::anomaly::tests::noise(i as usize, 9), &stack);
            }
            d.update(400, x, &stack)
        };
        let far = verdict_at_400(130.0);
        assert!(far.detectors & EXTREME != 0 && far.score >= 1.0, "{far:?}");
        // The 400 samples span 93.9..105.6 (a new extreme from 106.2 up); their central
        // range is 97.7..103.0 (far out from 108.3 up).
        let near = verdict_at_400(107.2);
        assert!(near.detectors & EXTREME != 0 && near.score < 0.5, "{near:?}");
    }

    /// Switched off, a far-out jump is judged by the residual tests alone.
    #[test]
    fn the_test_can_be_switched_off() {
        use crate::anomaly::calibrate::EXTREME;
        use crate::anomaly::{AnomalyConfig, SeriesDetector, Stack};
        for (on, want) in [(true, true), (false, false)] {
            let stack = Stack::new(&AnomalyConfig { new_extreme: on, ..AnomalyConfig::default() });
            let mut d = SeriesDetector::new(&stack);
            for i in 0..400 {
                d.update(i, 100.0 + 2.0 * crate::anomaly::tests::noise(i as usize, 9), &stack);
            }
            let v = d.update(400, 130.0, &stack);
            assert_eq!(v.detectors & EXTREME != 0, want, "new_extreme {on}: {v:?}");
        }
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
