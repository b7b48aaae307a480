use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigIssue;

/// How candidate root causes are scored. Every number has a meaning of its own (a
/// threshold in robust standard deviations, a probability of the generative model the
/// ranking is built on); none is fitted to a benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RcaConfig {
    /// Shift (in robust standard deviations of the component's own baseline) at which a
    /// signal is as likely abnormal as normal: the classic three-sigma rule.
    pub threshold_z: f64,
    /// Width of the logistic that turns a shift into a probability of being abnormal.
    pub threshold_width: f64,
    /// Shifts smaller than this fraction of the baseline level are not practically
    /// significant, however quiet the baseline was (floor of the robust scale).
    pub min_relative_shift: f64,
    /// Error ratios below this are treated as this (a baseline of zero errors does not make
    /// a single failed request a catastrophe).
    pub min_error_ratio: f64,
    /// A shift must hold for at least this fraction of the window ...
    pub persistence_fraction: f64,
    /// ... and at least this many samples (one spike is not a shift).
    pub persistence_min_samples: usize,
    /// Fewer baseline samples than this: the signal is not scored. With a single sample
    /// the scale is the `min_relative_shift` floor (a relative change).
    pub min_baseline_samples: usize,
    /// P(a dependent shows the fault | its dependency is degraded).
    pub propagation: f64,
    /// P(a component looks abnormal for reasons unrelated to the incident).
    pub spurious: f64,
    /// P(the faulty component itself looks abnormal).
    pub self_evidence: f64,
    /// P(the faulty component's own service degrades: its latency or errors shift), part
    /// of `self_evidence`; the rest is a fault seen only in a resource (CPU, memory ...).
    pub service_evidence: f64,
    /// A dependency's latency increase, times this many calls per request at most, must
    /// cover its dependent's increase for the one to explain the other.
    pub max_fan_out: f64,
    /// Probability that an unobserved component passes a degradation on.
    pub unobserved_gate: f64,
    /// A dependent whose anomaly started more than `onset_tolerance` before its
    /// dependency's is explained by it only with this factor; and a candidate whose own
    /// anomaly started more than `onset_tolerance` after the incident's onset has its odds
    /// multiplied by it (the fault starts at the root).
    pub early_onset_factor: f64,
    /// How far apart two onsets must be to count as one before the other (never less than
    /// the sampling step of the signals compared).
    #[serde(with = "humantime_serde")]
    pub onset_tolerance: Duration,
    /// Changes (rollouts, config changes, node events) this long before onset count.
    #[serde(with = "humantime_serde")]
    pub change_lookback: Duration,
    /// Odds multiplier for a component changed just before onset.
    pub change_odds: f64,
    /// Most nats the size of a candidate's own shift can add (`w * (1 - threshold_z / z)`):
    /// breaks ties between candidates the graph cannot tell apart, and stays below what one
    /// explained dependent is worth.
    pub magnitude_weight: f64,
    /// Weight of explaining a symptom (an alerting component) relative to any other
    /// abnormal component.
    pub symptom_weight: f64,
    /// Candidates reported per incident.
    pub max_candidates: usize,
    /// Evidence lines per candidate.
    pub max_evidence: usize,
}

impl Default for RcaConfig {
    fn default() -> Self {
        RcaConfig {
            threshold_z: 3.0,
            threshold_width: 1.0,
            min_relative_shift: 0.1,
            min_error_ratio: 0.001,
            persistence_fraction: 0.1,
            persistence_min_samples: 2,
            min_baseline_samples: 3,
            propagation: 0.3,
            spurious: 0.05,
            self_evidence: 0.9,
            service_evidence: 0.8,
            max_fan_out: 10.0,
            unobserved_gate: 0.5,
            early_onset_factor: 0.2,
            onset_tolerance: Duration::from_secs(30),
            change_lookback: Duration::from_secs(15 * 60),
            change_odds: 4.0,
            magnitude_weight: 0.5,
            symptom_weight: 1.0,
            max_candidates: 10,
            max_evidence: 6,
        }
    }
}

impl RcaConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        let positive = [
            ("threshold_z", self.threshold_z),
            ("threshold_width", self.threshold_width),
            ("max_fan_out", self.max_fan_out),
            ("change_odds", self.change_odds),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                issues.push(ConfigIssue::new(p(name), "must be a finite number greater than 0"));
            }
        }
        let unit = [
            ("min_relative_shift", self.min_relative_shift),
            ("min_error_ratio", self.min_error_ratio),
            ("persistence_fraction", self.persistence_fraction),
            ("unobserved_gate", self.unobserved_gate),
        ];
        for (name, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                issues.push(ConfigIssue::new(p(name), "must be between 0 and 1"));
            }
        }
        let open_unit = [("propagation", self.propagation), ("spurious", self.spurious), ("self_evidence", self.self_evidence)];
        for (name, v) in open_unit {
            if !(v > 0.0 && v < 1.0) {
                issues.push(ConfigIssue::new(p(name), "must be a probability strictly between 0 and 1"));
            }
        }
        if self.spurious >= self.propagation {
            issues.push(ConfigIssue::new(p("spurious"), "must be smaller than propagation (else nothing explains anything)"));
        }
        if !(self.service_evidence > 0.0 && self.service_evidence < self.self_evidence) {
            issues.push(ConfigIssue::new(p("service_evidence"), "must be greater than 0 and smaller than self_evidence"));
        }
        if self.spurious >= self.self_evidence {
            issues.push(ConfigIssue::new(p("spurious"), "must be smaller than self_evidence"));
        }
        if !(self.early_onset_factor > 0.0 && self.early_onset_factor <= 1.0) {
            issues.push(ConfigIssue::new(p("early_onset_factor"), "must be greater than 0 and at most 1"));
        }
        for (name, v) in [("magnitude_weight", self.magnitude_weight), ("symptom_weight", self.symptom_weight)] {
            if !(v.is_finite() && v >= 0.0) {
                issues.push(ConfigIssue::new(p(name), "must be a finite number of at least 0"));
            }
        }
        if self.persistence_min_samples == 0 {
            issues.push(ConfigIssue::new(p("persistence_min_samples"), "must be at least 1"));
        }
        if self.min_baseline_samples == 0 {
            issues.push(ConfigIssue::new(p("min_baseline_samples"), "must be at least 1"));
        }
        if self.max_candidates == 0 {
            issues.push(ConfigIssue::new(p("max_candidates"), "must be at least 1"));
        }
        issues
    }
}
