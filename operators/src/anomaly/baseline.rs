//! Robust rolling baseline of one series and the three residual statistics tested against
//! it: spike (one residual), level shift (short residual mean) and variance change (short
//! residual energy).
//!
//! Everything is exponentially weighted with a bias-corrected start (the first samples get
//! weight 1/n, as a plain mean would), so the state is a handful of numbers: O(1) time and
//! memory per sample. Residuals are clipped (Huber) before they move the level and scale,
//! so a spike does not drag the baseline along; a lasting shift is adopted through the
//! change-point step instead (see `regime.rs`).

use serde::{Deserialize, Serialize};

use super::config::AnomalyConfig;

/// Recent values kept for locating a change point and restarting the baseline from it.
pub const RECENT: usize = 32;

/// Scale of a normal variable from its mean absolute deviation: sqrt(pi / 2).
const MAD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// Span-derived smoothing weights, computed once per configuration.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub level: f64,
    pub scale: f64,
    pub shift: f64,
    pub energy: f64,
    pub clip: f64,
    /// Standard deviation of the short residual mean of unit white noise.
    pub shift_sd: f64,
}

impl Weights {
    pub fn new(cfg: &AnomalyConfig) -> Self {
        let w = |span: u32| 2.0 / (f64::from(span.max(1)) + 1.0);
        let shift = w(cfg.shift_span);
        Weights {
            level: w(cfg.level_span),
            scale: w(cfg.scale_span),
            shift,
            energy: w(cfg.variance_span),
            clip: cfg.clip,
            shift_sd: (shift / (2.0 - shift)).sqrt(),
        }
    }
}

/// What one sample looks like against the baseline before it is learned.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Residual {
    /// Predicted value (level) and scale the sample was judged against.
    pub expected: f64,
    pub scale: f64,
    /// Standardised residual of this sample.
    pub z: f64,
    /// Standardised short residual mean (unit variance for white noise).
    pub shift_z: f64,
    /// Short residual energy over the long one (1 for white noise).
    pub energy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Samples learned.
    pub n: u64,
    pub level: f64,
    /// Exponentially weighted mean absolute residual.
    pub abs_dev: f64,
    /// Short mean of clipped standardised residuals.
    pub shift: f64,
    /// Short mean of clipped squared standardised residuals.
    pub energy: f64,
    /// Smallest non-zero step seen between consecutive raw values (the data's
    /// resolution); 0 until a step is seen (not infinity: the state must survive JSON).
    pub resolution: f64,
    /// The last raw value.
    pub last: f64,
    /// Ring of the most recent values, oldest first from `head`.
    pub recent: [f32; RECENT],
    pub head: u8,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline { n: 0, level: 0.0, abs_dev: 0.0, shift: 0.0, energy: 1.0, resolution: 0.0, last: 0.0, recent: [0.0; RECENT], head: 0 }
    }
}

impl Baseline {
    /// Scale used to standardise residuals: the robust scale, floored by the data's
    /// resolution (quantisation noise, step / sqrt(12)) and by a tiny share of the level so
    /// a flat series does not turn rounding into infinite surprise.
    #[inline]
    pub fn scale(&self) -> f64 {
        let floor = self.resolution * 0.288_675_134_594_812_9;
        (self.abs_dev * MAD_TO_SIGMA).max(floor).max(self.level.abs() * 1e-9).max(1e-12)
    }

    /// Judge `x` against the baseline as it stands (causal: `x` is not learned yet).
    #[inline]
    pub fn residual(&self, x: f64, w: &Weights) -> Residual {
        let scale = self.scale();
        let z = (x - self.level) / scale;
        let zc = z.clamp(-w.clip, w.clip);
        let shift = self.shift + w.shift * (zc - self.shift);
        let energy = self.energy + w.energy * (zc * zc - self.energy);
        Residual { expected: self.level, scale, z, shift_z: shift / w.shift_sd, energy }
    }

    /// Learn `x` (after `residual` judged it); `raw` is the sample as observed, before
    /// any seasonal adjustment. The resolution is the raw data's: a seasonal profile is
    /// continuous, so steps of adjusted values can be as fine as its rounding, and a
    /// perfectly repeating series would turn that rounding into surprise.
    #[inline]
    pub fn learn(&mut self, x: f64, raw: f64, r: &Residual, w: &Weights) {
        self.n += 1;
        let n = self.n as f64;
        if self.n == 1 {
            self.level = x;
            self.last = raw;
            self.push_recent(x);
            return;
        }
        let step = (raw - self.last).abs();
        if step > 0.0 && (self.resolution == 0.0 || step < self.resolution) {
            self.resolution = step;
        }
        self.last = raw;
        let e = x - self.level;
        let bound = w.clip * r.scale;
        let ec = e.clamp(-bound, bound);
        // Bias-corrected start: a plain mean until 1/n drops below the span's weight.
        let a_level = w.level.max(1.0 / n);
        let a_scale = w.scale.max(1.0 / (n - 1.0));
        self.level += a_level * ec;
        // A residual beyond the clip counts as the clip (on the MAD scale), so a spike
        // cannot blow up the scale either.
        let dev = e.abs().min(bound);
        self.abs_dev += a_scale * (dev - self.abs_dev);
        let zc = r.z.clamp(-w.clip, w.clip);
        self.shift += w.shift * (zc - self.shift);
        self.energy += w.energy * (zc * zc - self.energy);
        self.push_recent(x);
    }

    #[inline]
    fn push_recent(&mut self, x: f64) {
        self.recent[self.head as usize] = x as f32;
        self.head = ((self.head as usize + 1) % RECENT) as u8;
    }

    /// The last `k` values, oldest first.
    pub fn recent_values(&self, k: usize) -> Vec<f64> {
        let k = k.min(RECENT).min(self.n as usize);
        (0..k).map(|i| f64::from(self.recent[(self.head as usize + RECENT - k + i) % RECENT])).collect()
    }

    /// Restart the level from values of a new regime, and the scale when the new regime is
    /// noisier; the short statistics restart neutral.
    pub fn restart_from(&mut self, values: &[f64]) {
        if values.is_empty() {
            return;
        }
        let mut v = values.to_vec();
        let med = median(&mut v);
        let mut dev: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
        // Median absolute deviation, as a mean absolute deviation of a normal variable.
        let mad = median(&mut dev) * 1.482_602_218_505_602 / MAD_TO_SIGMA;
        self.level = med;
        // Only a noisier regime resets the scale: a quiet stretch must not make every
        // later wiggle an anomaly.
        self.abs_dev = self.abs_dev.max(mad);
        self.shift = 0.0;
        self.energy = 1.0;
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
