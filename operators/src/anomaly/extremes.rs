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
//! reach it while the range settles. The tracked quantiles lag behind the spread a young
//! series already shows, so while it is young the detector takes the central range as at
//! least the normal one around its level (1.645 robust scales each way): without that, 112
//! anomalies started on 300 white-noise series of 200 samples, none with it. A series that has shown only positive values is
//! fenced below by ratio (`far_out`): zero bounds it, and the linear fence can lie below it.
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

/// Records of the series' level: its mean (of the deseasonalised values, when the series
/// has a season) over the baseline's longest span (`scale_span` samples: long enough
/// that noise and short cycles average out) reaching a value it has never held, above or
/// below. A sustained subtle change (a holiday's low traffic, a
/// machine running cooler than ever) is within the range of single values and never far
/// from the rolling baseline that follows it, yet it takes the level where it has not
/// been.
///
/// Calibrated without a model of the values (Renyi's record theorem): of `k + 1`
/// exchangeable levels, the last is a new maximum or minimum with probability 2 / (k + 1),
/// whatever their distribution. Moving-average levels of a steady series are correlated,
/// so records come in runs; taking a run's start at that rate is an approximation, which
/// the white-noise tests hold to the alarm budget. (`calibrate::fold_level` spends half
/// of that budget on it.)
///
/// State: 32 bytes; O(1) per sample; causal (a level is judged against the earlier ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelRecords {
    /// Samples seen.
    pub n: u64,
    /// Exponentially weighted mean of the values (bias-corrected start).
    pub mean: f64,
    /// Lowest and highest level held since the mean had its full span.
    pub lo: f64,
    pub hi: f64,
}

/// A level beyond the range by less than this share of it is a tie, not a record (the
/// mean of a repeating series wobbles in its last bits).
const TIE: f64 = 1e-9;

impl LevelRecords {
    /// Learn `x` into the level (`weight`: the EW weight of a span of `span` samples)
    /// and judge the new level against the earlier ones: the probability that a level of
    /// a steady series is a record this far into it, or `None` when it is no record.
    #[inline]
    pub fn update(&mut self, x: f64, weight: f64, span: u64) -> Option<f64> {
        self.n += 1;
        self.mean += weight.max(1.0 / self.n as f64) * (x - self.mean);
        // Until the mean spans `span` samples it is a mean of the first few values, not
        // a level of the series.
        let k = self.n.checked_sub(span.max(1))?;
        if k == 0 {
            (self.lo, self.hi) = (self.mean, self.mean);
            return None;
        }
        let tie = TIE * (self.hi - self.lo);
        let record = self.mean > self.hi + tie || self.mean < self.lo - tie;
        self.lo = self.lo.min(self.mean);
        self.hi = self.hi.max(self.mean);
        record.then(|| 2.0 / (k as f64 + 1.0))
    }
}

/// Whether `x` is beyond the central range `(lo, hi)` by the range's own width (a
/// range not yet open fences nothing). A series that has shown only positive values
/// (`positive`) is bounded by zero, and the fence below, `lo - width`, may lie where no
/// value can go (a price of 0.04..0.6 would need to fall below -0.5): downwards its
/// distances are ratios, and the fence is as far below `lo` as `hi` is above it in ratio
/// (`lo / (hi / lo)`), which is never below zero.
#[inline]
pub fn far_out(x: f64, (lo, hi): (f64, f64), positive: bool) -> bool {
    let width = hi - lo;
    width > 0.0 && (x > hi + width || x < lo - width || (positive && lo > 0.0 && x < lo * (lo / hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_out_is_one_central_range_beyond_it() {
        for positive in [false, true] {
            assert!(!far_out(5.0, (0.0, 0.0), positive));
            assert!(!far_out(1.9, (0.0, 1.0), positive));
            assert!(far_out(2.1, (0.0, 1.0), positive));
            assert!(far_out(-1.1, (0.0, 1.0), positive));
            assert!(!far_out(-0.9, (0.0, 1.0), positive));
        }
    }

    /// A positive series' fence below is a ratio: 0.1..0.6 fences below 0.1 / 6.
    #[test]
    fn a_positive_series_is_far_out_below_by_ratio() {
        assert!(!far_out(0.02, (0.1, 0.6), false));
        assert!(far_out(0.01, (0.1, 0.6), true));
        assert!(far_out(0.0, (0.1, 0.6), true));
        assert!(!far_out(0.02, (0.1, 0.6), true));
        // Upwards the fence is unchanged.
        assert!(!far_out(1.0, (0.1, 0.6), true));
        assert!(far_out(1.2, (0.1, 0.6), true));
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

    /// A steady series sets level records ever more rarely (2 / (k + 1) at its k + 1th
    /// level); a repeating one, none once its mean has converged; a lasting shift below
    /// every level held is one.
    #[test]
    fn level_records_have_the_record_probability() {
        let w = 2.0 / 49.0;
        // The mean of a repeating series converges: once it has, no records.
        let mut flat = LevelRecords::default();
        let repeating: Vec<Option<f64>> = (0..3000).map(|i| flat.update(if i % 2 == 0 { 1.0 } else { 3.0 }, w, 48)).collect();
        assert!(repeating[1000..].iter().all(Option::is_none));
        let mut l = LevelRecords::default();
        let steady: Vec<Option<f64>> = (0..6000).map(|i| l.update(100.0 + crate::anomaly::tests::noise(i, 3), w, 48)).collect();
        let late = steady[3000..].iter().flatten().count();
        assert!(late < 60, "{late} records in the second half");
        if let Some(p) = steady[5999] {
            assert!((p - 2.0 / 5953.0).abs() < 1e-12, "{p}");
        }
        // The level sinks 2 sigma below anything it held: a record, with probability
        // 2 / (k + 1).
        let p = (6000..6100).filter_map(|i| l.update(98.0 + crate::anomaly::tests::noise(i, 3), w, 48)).next();
        assert!(p.is_some_and(|p| p < 4e-4), "{p:?}");
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
