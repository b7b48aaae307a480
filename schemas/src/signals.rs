//! Metrics, logs and what the stage-1 detectors conclude from them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// One sample of one series on `kubesage.metrics`, keyed by series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricSample {
    /// `__name__` of the series.
    pub name: String,
    /// All other labels, sorted.
    pub labels: BTreeMap<String, String>,
    /// NaN and infinities as "NaN", "+Inf", "-Inf".
    #[serde(with = "crate::float")]
    #[schemars(with = "crate::float::FloatValue")]
    pub value: f64,
    pub timestamp: DateTime<Utc>,
}

impl Payload for MetricSample {
    const KIND: &'static str = "io.kubesage.metric.sample.v1";
}

/// One log line on `kubesage.logs`, keyed by stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogRecord {
    /// Stream labels (Loki style), sorted.
    pub stream: BTreeMap<String, String>,
    pub line: String,
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

impl Payload for LogRecord {
    const KIND: &'static str = "io.kubesage.log.record.v1";
}

/// A template mined from logs on `kubesage.log.patterns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogPattern {
    pub template_id: String,
    /// Template with `<*>` for variables.
    pub template: String,
    pub stream: BTreeMap<String, String>,
    pub count: u64,
    #[serde(default)]
    pub examples: Vec<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

impl Payload for LogPattern {
    const KIND: &'static str = "io.kubesage.log.pattern.v1";
}

/// An anomaly on `kubesage.anomalies`: one record when it starts, updates while it lasts,
/// one when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Anomaly {
    pub anomaly_id: String,
    pub phase: AnomalyPhase,
    /// `metric`, `log` or `cost`.
    pub signal: String,
    /// Series or stream the anomaly is about.
    pub series: String,
    pub labels: BTreeMap<String, String>,
    /// Anomaly likelihood in [0, 1].
    pub score: f64,
    pub observed: f64,
    pub expected_low: f64,
    pub expected_high: f64,
    /// Detectors that agreed.
    pub detectors: Vec<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnomalyPhase {
    Started,
    Updated,
    Ended,
}

impl Payload for Anomaly {
    const KIND: &'static str = "io.kubesage.anomaly.v1";
}

/// One member's mean over one event-time window, on the internal `kubesage.peer.windows`,
/// keyed by peer group: the re-keying that brings the pods of one workload (or the nodes of
/// one pool) together, whatever partitions their series are on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PeerWindow {
    /// Group identity: the metric name and the labels the members share, as a series key.
    pub group: String,
    pub name: String,
    /// Labels the members share (member labels removed, `workload` added for pods).
    pub labels: BTreeMap<String, String>,
    /// The member within the group (its pod, instance or node).
    pub member: String,
    /// The label that names the member (`pod`, `instance`, `node`): with it, `labels` and
    /// `member` give back the series' own labels (`workload`, when added, aside). Empty in
    /// records from before it was published.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member_label: String,
    /// Series key of the member.
    pub series: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub mean: f64,
    pub samples: u32,
}

impl Payload for PeerWindow {
    const KIND: &'static str = "io.kubesage.peer.window.v1";
}

/// `name{a="1",b="2"}` with labels sorted: the series identity and Kafka key.
pub fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut key = String::with_capacity(name.len() + 16 * labels.len());
    key.push_str(name);
    key.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push_str("=\"");
        escape_label_value(v, &mut key);
        key.push('"');
    }
    key.push('}');
    key
}

/// Append `v` escaped as a Prometheus label value (backslash, double quote, newline).
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
