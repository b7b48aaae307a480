use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::alertmanager::{AlertStatus, LabelSet};
use crate::envelope::Payload;

/// One alert, as it lands on `kubesage.alerts` (one record per Alertmanager alert).
/// Identity is the Alertmanager fingerprint; the envelope id additionally covers status
/// and times so that HA pairs and retries de-duplicate but a resolve does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    pub fingerprint: String,
    pub status: AlertStatus,
    pub alertname: String,
    /// Normalised severity from the `severity` label.
    pub severity: Severity,
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub generator_url: String,
    /// Alertmanager group key when the alert came through a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// Which receiver delivered it (`webhook:<receiver>` or `api`).
    pub via: String,
}

impl Payload for Alert {
    const KIND: &'static str = "io.kubesage.alert.v1";
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    None,
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Map the free-form `severity` label the way kube-prometheus and most rule sets use it.
    pub fn from_label(s: Option<&str>) -> Severity {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("critical" | "page" | "p1" | "emergency" | "fatal") => Severity::Critical,
            Some("error" | "high" | "major" | "p2") => Severity::Error,
            Some("warning" | "warn" | "medium" | "minor" | "p3") => Severity::Warning,
            Some("info" | "informational" | "low" | "notice" | "p4" | "p5") => Severity::Info,
            _ => Severity::None,
        }
    }
}
