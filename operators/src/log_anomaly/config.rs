use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::logs::MinerConfig;
use crate::ConfigIssue;

/// How log lines are counted per template and when counts are anomalous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogAnomalyConfig {
    /// Tumbling event-time window the counts are kept in.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Windows a stream must have been seen before a new template is an anomaly, and
    /// windows a template needs before its count is judged against its own baseline.
    pub warmup_windows: u32,
    /// A count is anomalous when a Poisson with the baseline rate makes it this unlikely.
    pub p_value: f64,
    /// Spikes and error bursts smaller than this are never reported.
    pub min_count: u64,
    /// Memory of the baseline, in windows (exponentially weighted).
    pub baseline_windows: u32,
    /// Example lines kept per template and window.
    pub examples: usize,
    /// (stream, template) pairs tracked; beyond it new pairs are counted but not judged.
    pub max_keys: usize,
    pub miner: MinerConfig,
}

impl Default for LogAnomalyConfig {
    fn default() -> Self {
        LogAnomalyConfig {
            window: Duration::from_secs(60),
            warmup_windows: 10,
            p_value: 1e-4,
            min_count: 10,
            baseline_windows: 30,
            examples: 3,
            max_keys: 100_000,
            miner: MinerConfig::default(),
        }
    }
}

impl LogAnomalyConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        if self.window.as_millis() < 1000 {
            issues.push(ConfigIssue::new(p("window"), "must be at least 1s"));
        }
        if !(self.p_value > 0.0 && self.p_value < 0.5) {
            issues.push(ConfigIssue::new(p("p_value"), "must be in (0, 0.5)"));
        }
        if self.baseline_windows < 2 {
            issues.push(ConfigIssue::new(p("baseline_windows"), "must be at least 2"));
        }
        if self.max_keys == 0 {
            issues.push(ConfigIssue::new(p("max_keys"), "must be greater than 0"));
        }
        issues.extend(self.miner.validate(&p("miner")));
        issues
    }
}
