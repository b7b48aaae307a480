use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigIssue;

/// Metric anomaly detection: one configuration for every series. Spans are in samples of
/// the series (the detectors are driven by sample counts, never by the clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Samples a series must have before it may raise an anomaly.
    pub warmup: u32,
    /// Span (samples) of the robust level (an exponentially weighted M-estimate).
    pub level_span: u32,
    /// Span (samples) of the robust scale (exponentially weighted absolute residual).
    pub scale_span: u32,
    /// Span (samples) of the short residual mean behind the level-shift test.
    pub shift_span: u32,
    /// Span (samples) of the short residual energy behind the variance-change test.
    pub variance_span: u32,
    /// Residuals beyond this many scales are clipped before they update the baseline
    /// (Huber), so a spike does not drag the baseline along.
    pub clip: f64,
    /// Likelihood at or above which an anomaly starts.
    pub alarm_likelihood: f64,
    /// An anomaly ends after this many consecutive unremarkable samples.
    pub end_after: u32,
    /// While an anomaly lasts, an `updated` record at most every this many samples
    /// (and whenever its score rises to a new peak).
    pub update_every: u32,
    /// A shift that persists this many samples is a new regime: the change point is
    /// located and the baseline restarts from it.
    pub regime_after: u32,
    /// The contextual novelty test (`novel_pattern`: short sequences of quantised values
    /// the series has not shown recently).
    pub novelty: bool,
    /// The value-record test (`new_extreme`: a value beyond every value the series has
    /// shown, by 5% of its range). Turn it off for gauges that only grow (bytes used,
    /// uptime), which would alarm each time they pass their range by 5%.
    pub new_extreme: bool,
    /// The level-record test (`new_level`: the series' mean over `scale_span` beyond every
    /// level it has held). It finds sustained subtle changes the residual tests follow,
    /// but the levels of one run of records are not independent evidence, and on long
    /// steady noise it starts about 2.5 anomalies per 20,000 samples (about 0.8 with it
    /// off). Turn it off where false starts cost more than slow drifts missed, and for
    /// gauges that only grow (they set level records all the time).
    pub new_level: bool,
    /// Cumulative series (names ending `_total`, `_count`, `_sum` or `_bucket`: Prometheus
    /// counters and the parts of histograms and summaries) are judged by their increase per
    /// second between samples, as `rate()` reads them (a drop is a reset, counted from
    /// zero), not by their running total: a restarted pod's counter would look like a
    /// collapse, peers would be compared by how long each has run, and the band would be
    /// in totals no one reads.
    pub counters_as_rates: bool,
    /// Seasonal baselines.
    pub seasonal: SeasonalConfig,
    /// Peer groups: window means of group members, published for the peer operator.
    pub peer: crate::peer::PeerConfig,
    /// Series tracked at most; beyond it the least recently seen series is forgotten.
    pub max_series: usize,
    /// A series without samples for this long (event time) is forgotten, and its open
    /// anomaly ends.
    #[serde(with = "humantime_serde")]
    pub idle_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeasonalConfig {
    pub enabled: bool,
    /// Samples of history kept per series to detect a period and fit the model.
    pub history: u32,
    /// Shortest and longest period (samples) considered.
    pub min_period: u32,
    pub max_period: u32,
    /// The period is re-detected and the model refitted every this many samples.
    pub refit_every: u32,
    /// A period is used only when the seasonal component explains at least this share of
    /// the de-trended variance (seasonal strength, Wang, Smith & Hyndman 2006).
    pub min_strength: f64,
}

impl Default for SeasonalConfig {
    fn default() -> Self {
        SeasonalConfig { enabled: true, history: 2048, min_period: 8, max_period: 512, refit_every: 512, min_strength: 0.6 }
    }
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            warmup: 64,
            level_span: 48,
            scale_span: 256,
            shift_span: 8,
            variance_span: 16,
            clip: 3.0,
            alarm_likelihood: 0.999,
            end_after: 12,
            update_every: 60,
            regime_after: 16,
            novelty: true,
            new_extreme: true,
            new_level: true,
            counters_as_rates: true,
            seasonal: SeasonalConfig::default(),
            peer: crate::peer::PeerConfig::default(),
            max_series: 200_000,
            idle_after: Duration::from_secs(3600),
        }
    }
}

impl AnomalyConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        for (name, v) in [
            ("level_span", self.level_span),
            ("scale_span", self.scale_span),
            ("shift_span", self.shift_span),
            ("variance_span", self.variance_span),
            ("end_after", self.end_after),
            ("update_every", self.update_every),
        ] {
            if v == 0 {
                issues.push(ConfigIssue::new(p(name), "must be greater than 0"));
            }
        }
        if self.variance_span < 2 {
            issues.push(ConfigIssue::new(p("variance_span"), "must be at least 2"));
        }
        if !(self.clip.is_finite() && self.clip >= 1.0) {
            issues.push(ConfigIssue::new(p("clip"), "must be a number >= 1"));
        }
        if !(self.alarm_likelihood > 0.5 && self.alarm_likelihood < 1.0) {
            issues.push(ConfigIssue::new(p("alarm_likelihood"), "must be in (0.5, 1)"));
        }
        if self.regime_after < 4 || self.regime_after as usize > super::baseline::RECENT {
            issues.push(ConfigIssue::new(p("regime_after"), format!("must be in 4..={}", super::baseline::RECENT)));
        }
        if self.max_series == 0 {
            issues.push(ConfigIssue::new(p("max_series"), "must be greater than 0"));
        }
        if self.idle_after.is_zero() {
            issues.push(ConfigIssue::new(p("idle_after"), "must be greater than 0"));
        }
        issues.extend(self.peer.validate(&p("peer")));
        let s = &self.seasonal;
        if s.enabled {
            if s.min_period < 2 {
                issues.push(ConfigIssue::new(p("seasonal.min_period"), "must be at least 2"));
            }
            if s.max_period < s.min_period {
                issues.push(ConfigIssue::new(p("seasonal.max_period"), "must be at least min_period"));
            }
            if (s.history as u64) < 3 * s.max_period as u64 {
                issues.push(ConfigIssue::new(p("seasonal.history"), "must hold at least three of the longest period"));
            }
            if s.history > 1 << 16 {
                issues.push(ConfigIssue::new(p("seasonal.history"), "must be at most 65536"));
            }
            if s.refit_every == 0 {
                issues.push(ConfigIssue::new(p("seasonal.refit_every"), "must be greater than 0"));
            }
            if !(s.min_strength > 0.0 && s.min_strength < 1.0) {
                issues.push(ConfigIssue::new(p("seasonal.min_strength"), "must be in (0, 1)"));
            }
        }
        issues
    }
}
