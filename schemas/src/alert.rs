use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::alertmanager::{AlertStatus, LabelSet, PostableAlert};
use crate::envelope::Payload;
use crate::ids::{alert_fingerprint, stable_id};

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

impl Alert {
    /// An alert of `POST /api/v2/alerts` received at `now`, by Alertmanager's rules: a
    /// missing startsAt is now, an endsAt not after now resolves. Returns the record id
    /// (fingerprint, status and times: retries de-duplicate, a resolve does not) and the alert.
    pub fn from_postable(a: &PostableAlert, now: DateTime<Utc>) -> (String, Alert) {
        let fingerprint = alert_fingerprint(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let starts_at = a.starts_at.unwrap_or(now);
        let status = match a.ends_at {
            Some(e) if e <= now => AlertStatus::Resolved,
            _ => AlertStatus::Firing,
        };
        // Prometheus re-sends firing alerts with a moving endsAt: it is not part of a
        // firing alert's identity.
        let ends_at = (status == AlertStatus::Resolved).then_some(a.ends_at).flatten();
        let id = stable_id(&["alert", "api", &fingerprint, status.as_str(), &starts_at.to_rfc3339(), &ends_at.map(|t| t.to_rfc3339()).unwrap_or_default()]);
        let alert = Alert {
            fingerprint,
            status,
            alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
            severity: Severity::from_label(a.labels.get("severity").map(String::as_str)),
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at,
            ends_at,
            generator_url: a.generator_url.clone(),
            group_key: None,
            via: "api".into(),
        };
        (id, alert)
    }
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
