//! Alertmanager ingestion: the `webhook_configs` receiver (version 4 JSON) and an
//! Alertmanager-compatible `POST /api/v2/alerts`, so either Alertmanager or Prometheus can
//! send to KubeSage. Alertmanager retries only 5xx: a 2xx is sent only after Kafka
//! acknowledged every record, a 5xx when it did not, a 4xx for input that retrying
//! cannot fix.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::{is_unset, AlertStatus, LabelSet, PostableAlert, WebhookAlert, WebhookMessage};
use kubesage_schemas::ids::{alert_fingerprint, stable_id};
use kubesage_schemas::topics::ALERTS;
use kubesage_schemas::Envelope;

use super::ingest::{encode, Ingest};

pub const WEBHOOK_PATH: &str = "/webhook/alertmanager";
pub const API_PATH: &str = "/api/v2/alerts";
const SOURCE: &str = "kubesage/collector/alertmanager";

#[derive(Clone)]
pub struct AlertCollector {
    ingest: Ingest,
}

impl AlertCollector {
    pub fn new(ingest: Ingest) -> Self {
        AlertCollector { ingest }
    }

    pub fn router(self) -> Router {
        let limit = self.ingest.cfg.max_body_bytes;
        Router::new()
            .route(WEBHOOK_PATH, post(webhook))
            .route(API_PATH, post(api_v2))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
    }

    async fn publish(&self, endpoint: &str, records: Vec<Envelope<Alert>>, started: Instant) -> Response {
        let n = records.len() as u64;
        let out = records.iter().map(|r| encode(r.cluster.clone(), r)).collect();
        self.ingest.publish(endpoint, ALERTS, out, n, StatusCode::OK, started).await
    }
}

async fn webhook(State(c): State<AlertCollector>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let endpoint = "webhook";
    if !c.ingest.authorised(&headers) {
        return c.ingest.unauthorised(endpoint, started);
    }
    let msg: WebhookMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return c.ingest.bad_request(endpoint, format!("invalid Alertmanager webhook body: {e}"), started),
    };
    if msg.version != "4" {
        return c.ingest.bad_request(endpoint, format!("unsupported webhook version {:?} (expected \"4\")", msg.version), started);
    }
    let records: Vec<_> = msg.alerts.iter().map(|a| from_webhook(&c, &msg, a, &q)).collect();
    if let Some(i) = records.iter().position(Option::is_none) {
        return c.ingest.bad_request(endpoint, format!("alerts[{i}] has no labels"), started);
    }
    c.publish(endpoint, records.into_iter().flatten().collect(), started).await
}

fn from_webhook(c: &AlertCollector, msg: &WebhookMessage, a: &WebhookAlert, q: &HashMap<String, String>) -> Option<Envelope<Alert>> {
    if a.labels.is_empty() {
        return None;
    }
    let fingerprint = if a.fingerprint.is_empty() { fingerprint(&a.labels) } else { a.fingerprint.clone() };
    let ends_at = (!is_unset(&a.ends_at)).then_some(a.ends_at);
    let id = stable_id(&["alert", &msg.group_key, &fingerprint, a.status.as_str(), &a.starts_at.to_rfc3339(), &ends_at.map(|t| t.to_rfc3339()).unwrap_or_default()]);
    let alert = Alert {
        fingerprint,
        status: a.status,
        alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
        severity: Severity::from_label(a.labels.get("severity").map(String::as_str)),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: a.starts_at,
        ends_at,
        generator_url: a.generator_url.clone(),
        group_key: Some(msg.group_key.clone()),
        via: format!("webhook:{}", msg.receiver),
    };
    Some(envelope(c.ingest.cluster_of(&a.labels, q), id, alert))
}

async fn api_v2(State(c): State<AlertCollector>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let endpoint = "api_v2";
    if !c.ingest.authorised(&headers) {
        return c.ingest.unauthorised(endpoint, started);
    }
    let alerts: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return c.ingest.bad_request(endpoint, format!("invalid postable alerts (expected a JSON array of alerts): {e}"), started),
    };
    let now = Utc::now();
    let mut records = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.iter().enumerate() {
        if a.labels.is_empty() {
            return c.ingest.bad_request(endpoint, format!("alerts[{i}].labels must not be empty"), started);
        }
        if let (Some(s), Some(e)) = (a.starts_at, a.ends_at) {
            if e < s {
                return c.ingest.bad_request(endpoint, format!("alerts[{i}]: endsAt is before startsAt"), started);
            }
        }
        records.push(from_postable(&c, a, now, &q));
    }
    c.publish(endpoint, records, started).await
}

/// Alertmanager's own rules: a missing startsAt is now; an endsAt in the past resolves.
fn from_postable(c: &AlertCollector, a: &PostableAlert, now: DateTime<Utc>, q: &HashMap<String, String>) -> Envelope<Alert> {
    let (id, alert) = Alert::from_postable(a, now);
    envelope(c.ingest.cluster_of(&a.labels, q), id, alert)
}

fn fingerprint(labels: &LabelSet) -> String {
    alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Event time: when it started firing, or when it resolved.
fn envelope(cluster: String, id: String, alert: Alert) -> Envelope<Alert> {
    let time = match (alert.status, alert.ends_at) {
        (AlertStatus::Resolved, Some(e)) => e,
        _ => alert.starts_at,
    };
    Envelope::new(id, SOURCE, time, alert.fingerprint.clone(), cluster, alert)
}
