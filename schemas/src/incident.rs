use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::alert::Severity;
use crate::alertmanager::AlertStatus;
use crate::envelope::Payload;

/// The state of one incident on `kubesage.incidents`, keyed by cluster. Every record is the
/// whole current state (the last record of an `incident_id` is its truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Incident {
    pub incident_id: String,
    pub status: IncidentStatus,
    pub title: String,
    pub severity: Severity,
    /// Correlation keys that drew the alerts together, e.g. `workload:shop/payments`.
    pub keys: Vec<String>,
    /// Common namespace of the members, when they share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Owning workload (`Kind/name`) of the members, when they share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Alert counts by alertname.
    pub alertnames: BTreeMap<String, u32>,
    pub alert_count: u32,
    pub firing_count: u32,
    /// Members (capped; `alert_count` is the full number).
    pub alerts: Vec<IncidentAlert>,
    /// Increments with every published state.
    pub revision: u32,
    /// Component the incident is anchored on (`Kind/namespace/name`: an owner root, a
    /// node or a service), when the topology placed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Failure class of the component's own signals (`node`, `availability`, `resource`,
    /// `latency`, `errors`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<String>,
    /// Members absorbed along the graph (pods of a failing node, callers of a failing
    /// dependency).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inhibited_count: u32,
    /// Kubernetes events and anomalies folded in (also counted in `alert_count`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub event_count: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anomaly_count: u32,
    /// Set on the last record of an incident absorbed into another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentAlert {
    pub fingerprint: String,
    pub alertname: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub starts_at: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    /// `k8s-event` or `anomaly` for members that are not alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Component whose failure absorbed this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibited_by: Option<String>,
    /// Component the correlator placed the member on (owner root, node or service key), as
    /// the graph was when it arrived: its pod may be gone by the time someone reads this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Held by the flapping guard.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flapping: bool,
}

impl Payload for Incident {
    const KIND: &'static str = "io.kubesage.incident.v1";
}

/// Ranked root-cause candidates for one incident on `kubesage.rca`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RcaReport {
    pub incident_id: String,
    /// Revision of the incident record the report was computed for (0: not tied to one).
    #[serde(default)]
    pub incident_revision: u32,
    /// Components the incident is about (its anchor and its members' components).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symptoms: Vec<String>,
    /// Best first.
    pub candidates: Vec<RcaCandidate>,
    /// Components in the graph the ranking looked at.
    pub graph_nodes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RcaCandidate {
    /// `Kind/namespace/name` of the component.
    pub component: String,
    /// Posterior probability that the root cause is here (among all candidates and "none").
    pub score: f64,
    pub rank: u32,
    /// Human-readable reasons this candidate is here.
    pub evidence: Vec<String>,
}

impl Payload for RcaReport {
    const KIND: &'static str = "io.kubesage.rca.v1";
}
