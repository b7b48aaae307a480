//! Seasonal baselines: daily and weekly patterns are expected, not anomalies.
//!
//! Each series keeps a bounded history of its raw values. Every `refit_every` samples the
//! period is detected on it (augurs `seasons`: Welch periodogram, refined to the lag of
//! highest autocorrelation between the neighbouring periodogram bins, since the FFT bins
//! only hit periods that divide the segment length), and MSTL (augurs `mstl`) decomposes
//! the history into trend, seasonal and remainder. When the seasonal component explains
//! enough of the variance (seasonal strength, Wang, Smith & Hyndman 2006), its last cycle
//! becomes the seasonal profile: every later sample is judged with the profile value of
//! its phase removed, so the rolling baseline only has to follow the trend. The profile is
//! fixed between refits (a refit is bounded work: `history` values, once per
//! `refit_every` samples, amortised O(history / refit_every) per sample).

use augurs::mstl::MSTLModel;
use augurs::seasons::PeriodogramDetector;
use augurs::Fit;
use serde::{Deserialize, Serialize};

use super::config::SeasonalConfig;

/// Back-off of refits without a season: at most 2^3 = 8 times `refit_every`.
const MAX_BACKOFF: u8 = 3;

/// Cycles of the fitted seasonal component averaged into the profile.
const PROFILE_CYCLES: usize = 4;

/// Seasonal settings, derived once from the configuration.
#[derive(Debug, Clone)]
pub struct SeasonalParams {
    pub history: usize,
    pub min_period: u32,
    pub max_period: u32,
    pub refit_every: u32,
    pub min_strength: f64,
}

impl SeasonalParams {
    pub fn new(cfg: &SeasonalConfig) -> Self {
        SeasonalParams {
            history: cfg.history as usize,
            min_period: cfg.min_period,
            max_period: cfg.max_period,
            refit_every: cfg.refit_every,
            min_strength: cfg.min_strength,
        }
    }
}

/// Seasonal state of one series.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Seasonal {
    /// Raw values, a ring once full: the oldest is at `head`.
    history: Vec<f32>,
    head: u32,
    since_fit: u32,
    /// One cycle of the seasonal component (empty: no usable season), and the phase of the
    /// next sample in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    profile: Vec<f32>,
    phase: u32,
    /// Seasonal strength of the last fit.
    strength: f32,
    /// Refits in a row that found no usable season: the next one waits `refit_every`
    /// times 2^misses (at most 8 times), as a series without a season rarely grows one.
    #[serde(default)]
    misses: u8,
}

impl Seasonal {
    /// Period in use, if any.
    pub fn period(&self) -> Option<usize> {
        (!self.profile.is_empty()).then_some(self.profile.len())
    }

    /// Bytes this series' seasonal state holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        (self.history.capacity() + self.profile.capacity()) * std::mem::size_of::<f32>()
    }

    pub fn strength(&self) -> f64 {
        f64::from(self.strength)
    }

    /// The value with the season removed, and the season removed (the residual tests then
    /// judge the deseasonalised value).
    #[inline]
    pub fn adjust(&self, x: f64) -> (f64, f64) {
        match self.profile.get(self.phase as usize) {
            Some(&s) => (x - f64::from(s), f64::from(s)),
            None => (x, 0.0),
        }
    }

    /// Learn the raw value `x` (after `adjust` judged it); refit when due.
    #[inline]
    pub fn learn(&mut self, x: f64, p: &SeasonalParams) {
        if self.history.len() < p.history {
            self.history.push(x as f32);
        } else if !self.history.is_empty() {
            self.history[self.head as usize] = x as f32;
            self.head = ((self.head as usize + 1) % self.history.len()) as u32;
        }
        if !self.profile.is_empty() {
            self.phase = ((self.phase as usize + 1) % self.profile.len()) as u32;
        }
        self.since_fit += 1;
        let due = p.refit_every.saturating_mul(1 << self.misses.min(MAX_BACKOFF));
        if self.since_fit >= due && self.history.len() >= 3 * p.min_period as usize {
            self.since_fit = 0;
            self.refit(p);
        }
    }

    fn ordered(&self) -> Vec<f64> {
        let h = self.head as usize;
        self.history[h..].iter().chain(&self.history[..h]).map(|&v| f64::from(v)).collect()
    }

    fn refit(&mut self, p: &SeasonalParams) {
        let data = self.ordered();
        match fit_profile(&data, p) {
            Some((profile, strength)) => {
                self.profile = profile;
                self.strength = strength as f32;
                // The profile ends with the last value learned: the next sample is phase 0.
                self.phase = 0;
                self.misses = 0;
            }
            None => {
                self.profile.clear();
                self.phase = 0;
                self.strength = 0.0;
                self.misses = self.misses.saturating_add(1);
            }
        }
    }
}

/// Detect the period of `data` and fit its seasonal cycle; `None` when it has no season
/// strong enough to use.
pub fn fit_profile(data: &[f64], p: &SeasonalParams) -> Option<(Vec<f32>, f64)> {
    let period = detect_period(data, p)?;
    let fit = MSTLModel::naive(vec![period]).fit(data).ok()?;
    let result = fit.fit();
    let strength = *result.seasonal_strength().first()?;
    if !(strength.is_finite() && strength >= p.min_strength) {
        return None;
    }
    let seasonal = result.seasonal().first()?;
    // The mean of the last (up to) four whole cycles, aligned so the profile ends where the
    // data ends: LOESS is least certain at the end of the window, and one cycle carries
    // its noise into every later judgement.
    let cycles = (seasonal.len() / period).clamp(1, PROFILE_CYCLES);
    let end = seasonal.len();
    let cycle: Vec<f32> = (0..period)
        .map(|k| (1..=cycles).map(|c| seasonal[end - c * period + k]).sum::<f32>() / cycles as f32)
        .collect();
    cycle.iter().all(|v| v.is_finite()).then_some((cycle, strength))
}

/// The dominant period: the strongest periodogram peak, refined to the lag of highest
/// autocorrelation between its neighbouring bins.
pub fn detect_period(data: &[f64], p: &SeasonalParams) -> Option<usize> {
    let longest = p.max_period.min((data.len() / 3) as u32);
    if longest <= p.min_period {
        return None;
    }
    let detector = PeriodogramDetector::builder().min_period(p.min_period).max_period(longest).build();
    let peak = detector.periodogram(data).peaks(0.5).last()?;
    // The neighbouring bins (0 at the ends of the periodogram) bound the true period.
    let around = [peak.prev_period, peak.period, peak.next_period].into_iter().filter(|&q| q > 0);
    let lo = around.clone().min().unwrap_or(peak.period).max(p.min_period) as usize;
    let hi = around.max().unwrap_or(peak.period).min(longest) as usize;
    // Pearson correlation of the series with itself `lag` samples later: unlike the plain
    // autocorrelation it is not biased towards shorter lags on a finite window.
    let acf = |lag: usize| pearson(&data[..data.len() - lag], &data[lag..]);
    (lo..=hi).map(|lag| (lag, acf(lag))).max_by(|a, b| a.1.total_cmp(&b.1)).filter(|(_, r)| *r > 0.0).map(|(lag, _)| lag)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SeasonalParams {
        SeasonalParams::new(&SeasonalConfig::default())
    }

    fn wave(n: usize, period: f64, noise: f64) -> Vec<f64> {
        (0..n).map(|i| 10.0 + 3.0 * (i as f64 * std::f64::consts::TAU / period).sin() + noise * super::super::tests::noise(i, 11)).collect()
    }

    #[test]
    fn finds_periods_that_are_not_fft_bins() {
        for period in [24usize, 48, 100, 288] {
            let data = wave(2048, period as f64, 0.5);
            let got = detect_period(&data, &params()).expect("a period");
            assert!(got.abs_diff(period) <= 1, "period {period}: got {got}");
        }
    }

    #[test]
    fn noise_without_season_has_no_profile() {
        let data: Vec<f64> = (0..2048).map(|i| 4.0 * super::super::tests::noise(i, 3)).collect();
        assert!(fit_profile(&data, &params()).is_none());
    }

    #[test]
    fn the_season_is_removed_after_a_refit() {
        let p = SeasonalParams { refit_every: 256, ..params() };
        let data = wave(4096, 48.0, 0.2);
        let mut s = Seasonal::default();
        let mut late_residual = 0.0f64;
        for (i, &x) in data.iter().enumerate() {
            let (y, _) = s.adjust(x);
            if i >= 3072 {
                late_residual = late_residual.max((y - 10.0).abs());
            }
            s.learn(x, &p);
        }
        assert_eq!(s.period(), Some(48));
        assert!(s.strength() > 0.9, "strength {}", s.strength());
        assert!(late_residual < 1.0, "deseasonalised values stay near the level: {late_residual}");
    }

    #[test]
    fn snapshot_round_trip_keeps_the_profile() {
        let p = SeasonalParams { refit_every: 256, ..params() };
        let mut s = Seasonal::default();
        for x in wave(1024, 32.0, 0.1) {
            s.learn(x, &p);
        }
        let back: Seasonal = serde_json::from_value(serde_json::to_value(&s).expect("encode")).expect("decode");
        assert_eq!(back, s);
    }
}
