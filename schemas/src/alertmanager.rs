//! Alertmanager's webhook (version 4) body and API v2 postable alerts, as Alertmanager and
//! Prometheus send them. Unknown fields are tolerated: newer Alertmanagers add fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub type LabelSet = BTreeMap<String, String>;

/// Body of a `webhook_configs` delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    pub receiver: String,
    #[serde(default)]
    pub group_labels: LabelSet,
    #[serde(default)]
    pub common_labels: LabelSet,
    #[serde(default)]
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
    /// Why this notification was sent (newer Alertmanagers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_reason: Option<String>,
    /// Labels of the route that matched (newer Alertmanagers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_labels: Option<LabelSet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: AlertStatus,
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    pub starts_at: DateTime<Utc>,
    /// `0001-01-01T00:00:00Z` while firing.
    #[serde(default = "zero_time")]
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// One alert of `POST /api/v2/alerts` (what Prometheus sends to an Alertmanager).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// Alertmanager's "not set" time, `0001-01-01T00:00:00Z`.
pub fn zero_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// True for Alertmanager's "not set" time (and anything before 1970).
pub fn is_unset(t: &DateTime<Utc>) -> bool {
    t.timestamp() <= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        // The directory cargo runs the test in, not the one it was compiled in (a target
        // directory shared by two checkouts keeps the first one's path).
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let path = format!("{dir}/testdata/alertmanager/{name}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_recorded_deliveries() {
        for name in [
            "webhook-v4.raw.json",
            "webhook-v4_from_prometheus.raw.json",
            "webhook-v4_resolved.raw.json",
        ] {
            let msg: WebhookMessage = serde_json::from_str(&sample(name)).expect(name);
            assert_eq!(msg.version, "4");
            assert!(!msg.alerts.is_empty(), "{name}");
            for a in &msg.alerts {
                let fp = crate::ids::alert_fingerprint(
                    a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                );
                assert_eq!(fp, a.fingerprint, "{name}");
            }
        }
    }

    #[test]
    fn tolerates_unknown_and_new_optional_fields() {
        let mut v: serde_json::Value = serde_json::from_str(&sample("webhook-v4.raw.json")).expect("json");
        v["notificationReason"] = "repeat_interval".into();
        v["routeLabels"] = serde_json::json!({"team": "sre"});
        v["somethingNew"] = serde_json::json!([1, 2]);
        let msg: WebhookMessage = serde_json::from_value(v).expect("parse");
        assert_eq!(msg.notification_reason.as_deref(), Some("repeat_interval"));
        assert_eq!(msg.route_labels.and_then(|l| l.get("team").cloned()).as_deref(), Some("sre"));
    }
}
