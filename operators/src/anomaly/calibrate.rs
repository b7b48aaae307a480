//! From residual statistics to one anomaly likelihood.
//!
//! 1. Each detector's statistic is put on one scale: the two-sided standard-normal
//!    quantile of its tail probability under the white-noise null (statrs: normal for
//!    spike and shift, chi-squared for the variance change in either direction). The
//!    sample's statistic `Z` is the largest of them; the detectors beyond p < 1% are the
//!    ones that agreed.
//! 2. Real series are neither white nor normal, so `Z` is calibrated against the series'
//!    own history by peaks over threshold (Pickands 1975; Siffer et al., KDD 2017): the
//!    rate of samples with `Z > U` (U: p = 1%) and, from those exceedances, the Hill
//!    estimate of the tail index (the mean of ln(Z / U)). The tail is Pareto:
//!    `q(Z) = rate * (Z / U)^(-1 / index)`, the probability that a normal sample of this
//!    series is at least as extreme. Exceedances beyond the alarm level enter the
//!    estimate censored at that level, so anomalies do not teach a series that anomalies
//!    are normal. The prior is the white-noise null (rate 4%, four tests; index 0.111).
//! 3. likelihood = 1 - q; the published score is `-log10(q) / 12` clamped to [0, 1] (it
//!    orders samples as the likelihood does, without rounding extreme ones together).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use super::baseline::Residual;
use super::config::AnomalyConfig;

/// Published score scale: q = 1e-12 maps to 1.
pub const SCORE_DECADES: f64 = 12.0;
/// Tail probability of an exceedance.
const P0: f64 = 0.01;
/// E[ln(Z / U) | Z > U] for |N(0, 1)|, U its 99.5% quantile: the white-noise tail index.
const NULL_INDEX: f64 = 0.111;
/// Prior weights: as if the series had been white noise for this many samples and
/// exceedances.
const PRIOR_EXCEEDANCES: f64 = 8.0;
/// Span of the tail-index estimate, in exceedances.
const INDEX_SPAN: f64 = 64.0;
/// Statistics are capped here (p ~ 1e-300 is as far as f64 goes anyway).
const Z_MAX: f64 = 37.0;

/// Which detectors a sample surprised.
pub const SPIKE: u8 = 1;
pub const SHIFT: u8 = 2;
pub const VARIANCE_UP: u8 = 4;
pub const VARIANCE_DOWN: u8 = 8;
/// A context (short sequence of values) the series has not shown recently (`novelty.rs`).
pub const NOVEL: u8 = 16;
/// A value beyond every value the series has shown (`extremes.rs`).
pub const EXTREME: u8 = 32;
/// A level (mean over `scale_span`) beyond every level the series has held
/// (`extremes.rs`, `LevelRecords`).
pub const NEW_LEVEL: u8 = 64;

pub fn detector_names(mask: u8) -> Vec<String> {
    let mut out = Vec::new();
    for (bit, name) in [(SPIKE, "spike"), (SHIFT, "level_shift"), (VARIANCE_UP, "variance_up"), (VARIANCE_DOWN, "variance_down"), (NOVEL, "novel_pattern"), (EXTREME, "new_extreme"), (NEW_LEVEL, "new_level")] {
        if mask & bit != 0 {
            out.push(name.to_string());
        }
    }
    out
}

/// Null distributions and cut-offs, computed once per configuration.
#[derive(Debug, Clone)]
pub struct Tests {
    normal: Normal,
    chi: ChiSquared,
    dof: f64,
    /// Exceedance threshold U on the normal-quantile scale.
    pub u: f64,
    /// Energy ratios outside (lo, hi) have p < 1%.
    energy_lo: f64,
    energy_hi: f64,
    pub q_alarm: f64,
}

impl Tests {
    pub fn new(cfg: &AnomalyConfig) -> Self {
        let normal = Normal::standard();
        let dof = f64::from(cfg.variance_span.max(2));
        let chi = chi_squared(dof);
        let u = null_threshold();
        Tests {
            normal,
            chi,
            dof,
            u,
            energy_lo: chi.inverse_cdf(P0) / dof,
            energy_hi: chi.inverse_cdf(1.0 - P0) / dof,
            q_alarm: 1.0 - cfg.alarm_likelihood,
        }
    }

    /// Two-sided normal quantile of a tail probability.
    fn z_of_p(&self, p: f64) -> f64 {
        if p >= 1.0 {
            return 0.0;
        }
        if p > 1e-15 {
            return self.normal.inverse_cdf(1.0 - p / 2.0);
        }
        // Far tail (the inverse cdf loses precision): invert the Mills ratio,
        // p/2 ~ phi(z) / z, by fixed-point steps.
        let l = -(p / 2.0).max(1e-300).ln();
        let mut z = (2.0 * l).sqrt();
        for _ in 0..4 {
            z = (2.0 * (l - (z * 2.506_628_274_631_000_5).ln())).max(0.0).sqrt();
        }
        z
    }

    /// The sample's statistic on the normal-quantile scale, and the detectors beyond U.
    #[inline]
    pub fn statistic(&self, r: &Residual) -> (f64, u8) {
        let mut z = 0.0f64;
        let mut mask = 0u8;
        let mut take = |s: f64, bit: u8| {
            if s > self.u {
                mask |= bit;
            }
            z = z.max(s);
        };
        take(r.z.abs(), SPIKE);
        take(r.shift_z.abs(), SHIFT);
        if r.energy > self.energy_hi {
            take(self.z_of_p(self.chi.sf(r.energy * self.dof)), VARIANCE_UP);
        } else if r.energy < self.energy_lo {
            take(self.z_of_p(self.chi.cdf(r.energy * self.dof)), VARIANCE_DOWN);
        }
        (z.min(Z_MAX), mask)
    }

    /// Two-sided normal quantile at tail probability `p` (for bands).
    pub fn quantile(&self, p: f64) -> f64 {
        self.z_of_p(p)
    }
}

fn chi_squared(dof: f64) -> ChiSquared {
    match ChiSquared::new(dof) {
        Ok(c) => c,
        // dof >= 2 by construction.
        Err(_) => chi_squared(2.0),
    }
}

/// Per-series peaks-over-threshold calibration of the statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    /// Samples seen (for the bias-corrected start).
    pub n: u64,
    /// The series' own 99% quantile of the statistic (the POT threshold), tracked by
    /// stochastic approximation in log space; starts at the white-noise value.
    pub threshold: f64,
    /// Hill tail index above the threshold: mean ln(Z / threshold) of the exceedances.
    pub index: f64,
    pub exceedances: u64,
}

/// Step of the log-threshold per exceedance (it falls by P0 times this per sample).
const THRESHOLD_STEP: f64 = 0.05;

impl Default for Tail {
    /// The white-noise prior (`Tail::new` of any configuration: U depends on P0 only).
    fn default() -> Self {
        Tail { n: 0, threshold: null_threshold(), index: NULL_INDEX, exceedances: 0 }
    }
}

/// U: the two-sided normal quantile at P0 (99.5% one-sided), the threshold of white noise.
fn null_threshold() -> f64 {
    Normal::standard().inverse_cdf(1.0 - P0 / 2.0)
}

impl Tail {
    pub fn new(tests: &Tests) -> Self {
        Tail { n: 0, threshold: tests.u, index: NULL_INDEX, exceedances: 0 }
    }

    /// Probability that a normal sample of this series is at least this extreme.
    #[inline]
    pub fn q(&self, z: f64) -> f64 {
        if z > self.threshold {
            P0 * ((z / self.threshold).ln() * (-1.0 / self.index)).exp()
        } else {
            // Log-linear from q = 1 at Z = 0 to q = P0 at the threshold.
            P0.powf(z / self.threshold)
        }
    }

    /// Statistic at which q reaches `q`.
    pub fn z_at(&self, q: f64) -> f64 {
        self.threshold * (self.index * (P0 / q).max(1.0).ln()).exp()
    }

    #[inline]
    pub fn learn(&mut self, z: f64, tests: &Tests) {
        self.n += 1;
        if z > self.threshold {
            self.exceedances += 1;
            // Censored at the alarm level: anomalies do not widen the tail.
            let cap = self.index * (P0 / tests.q_alarm).max(1.0).ln();
            let x = (z / self.threshold).ln().min(cap.max(self.index));
            let b = (1.0 / INDEX_SPAN).max(1.0 / (self.exceedances as f64 + PRIOR_EXCEEDANCES));
            self.index += b * (x - self.index);
            self.threshold *= (THRESHOLD_STEP * (1.0 - P0)).exp();
        } else {
            self.threshold *= (-THRESHOLD_STEP * P0).exp();
            self.threshold = self.threshold.max(tests.u * 0.5);
        }
    }
}

/// Fold the contextual novelty's probability (`novelty.rs`) into the calibrated tail
/// probability `q` of the residual tests: the sample is as surprising as the more
/// surprising of the two. The novelty's probability is estimated from the series' own
/// rates of novelty, so it is not calibrated again by the residual tests' tail (whose
/// threshold, on series with heavy-tailed residuals, would drown it); it agrees (sets
/// its bit) beyond p < 1% like the other detectors.
#[inline]
pub fn fold_novelty(p: f64, q: f64, mask: u8) -> (f64, u8) {
    join(p, NOVEL, q, mask)
}

/// Join a test's own probability `p` to `q`: the more surprising of the two. Like the
/// residual tests, the test agrees (sets `bit`) beyond p < 1% only.
#[inline]
fn join(p: f64, bit: u8, q: f64, mask: u8) -> (f64, u8) {
    if p >= P0 {
        return (q, mask);
    }
    (q.min(p), mask | bit)
}

/// Tail probability of a new extreme once the series' range is established: the top of
/// the score scale. A value beyond the whole range is news whatever the residual tail
/// says (HTM's spatial anomaly scores 1 too).
const Q_EXTREME: f64 = 1e-12;

/// Fold a new extreme (`extremes.rs`) into the sample's probability and detectors:
/// `None` when the sample is no new extreme, else whether it is also far out. An
/// exchangeable series sets a new maximum or minimum at its `n + 1`th sample with
/// probability 2 / (n + 1): until that is rarer than an alarm (`q_alarm`) the range is
/// still being learned and a new extreme has that probability, unless it is far out as
/// well (noise is not: a normal series sets a far-out record once in about a million
/// samples); otherwise it is certain news.
#[inline]
pub fn fold_extreme(extreme: Option<bool>, n: u64, q_alarm: f64, q: f64, mask: u8) -> (f64, u8) {
    let Some(far_out) = extreme else {
        return (q, mask);
    };
    let p = match learning_range(n, q_alarm) {
        Some(record) if !far_out => record,
        _ => Q_EXTREME,
    };
    join(p, EXTREME, q, mask)
}

/// While a series of `n` samples is still learning its range (a new extreme, probability
/// 2 / (n + 1) for an exchangeable series, is not yet rarer than an alarm), that
/// probability; `None` once the range is learned.
#[inline]
pub fn learning_range(n: u64, q_alarm: f64) -> Option<f64> {
    let record = 2.0 / (n as f64 + 1.0);
    (record > q_alarm).then_some(record)
}

/// Share of the alarm budget the level-record test gets: the residual tests keep their
/// calibration, and the record test is a second look at the series, so its probability
/// counts double (Bonferroni): a steady series' level alarms only once a record is rarer
/// than half the alarm level (after 4000 levels at the default 0.999).
const LEVEL_BUDGET: f64 = 0.5;

/// Fold a level record (`extremes::LevelRecords`: `None` when the level is no record,
/// else its record probability) into the sample's probability and detectors.
#[inline]
pub fn fold_level(record: Option<f64>, q: f64, mask: u8) -> (f64, u8) {
    record.map_or((q, mask), |p| join(p / LEVEL_BUDGET, NEW_LEVEL, q, mask))
}

/// Published score of a tail probability.
#[inline]
pub fn score_of(q: f64) -> f64 {
    (-q.max(1e-300).log10() / SCORE_DECADES).clamp(0.0, 1.0)
}
