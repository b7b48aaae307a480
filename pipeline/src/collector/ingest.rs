//! What every HTTP collector shares: bearer auth, the cluster of a record, publishing a
//! request's records and answering only after Kafka acknowledged them (5xx when it did
//! not, so the sender retries), request metrics, and JSON error bodies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::config::IngestConfig;
use crate::error::{Error, Result};
use crate::metrics::{EndpointCode, EndpointLabel, Metrics};
use crate::sink::{AckTracker, Sink};

#[derive(Clone)]
pub struct Ingest {
    pub cfg: IngestConfig,
    token: Option<Arc<str>>,
    sink: Sink,
    metrics: Arc<Metrics>,
}

/// One record ready for Kafka.
pub struct Outgoing {
    pub key: String,
    pub payload: Vec<u8>,
}

impl Ingest {
    /// Reads the bearer token file, if one is configured (`section` names it in errors).
    pub fn new(cfg: IngestConfig, section: &str, sink: Sink, metrics: Arc<Metrics>) -> Result<Ingest> {
        let token = match &cfg.bearer_token_file {
            Some(path) => {
                let t = std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{section}.bearer_token_file {}: {e}", path.display())))?;
                Some(Arc::from(t.trim()))
            }
            None => None,
        };
        Ok(Ingest { cfg, token, sink, metrics })
    }

    pub fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        // Compare without an early exit on the first differing byte.
        sent.is_some_and(|s| s.len() == token.len() && s.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }

    /// `cluster` label, else `?cluster=`, else the configured default.
    pub fn cluster_of(&self, labels: &BTreeMap<String, String>, query: &HashMap<String, String>) -> String {
        labels.get("cluster").or_else(|| query.get("cluster")).cloned().unwrap_or_else(|| self.cfg.default_cluster.clone())
    }

    /// Publish every record and wait for the broker's acknowledgement of each. `items` is
    /// what the endpoint counts as accepted (alerts, samples, lines).
    pub async fn publish(&self, endpoint: &str, topic: &str, records: Vec<Outgoing>, items: u64, ok: StatusCode, started: Instant) -> Response {
        let deadline = tokio::time::Instant::now() + self.cfg.ack_timeout;
        let tracker = AckTracker::new();
        for r in &records {
            if let Err(e) = self.sink.send(&tracker, topic, &r.key, &r.payload, deadline).await {
                return self.reply(endpoint, StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "error": format!("kafka: {e}")}), started);
            }
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tracker.wait_all(remaining).await {
            Ok(()) => {
                self.metrics.collector_records.get_or_create(&EndpointLabel { endpoint: endpoint.into() }).inc_by(items);
                self.reply(endpoint, ok, json!({"status": "success", "accepted": items}), started)
            }
            Err(e) => self.reply(endpoint, StatusCode::SERVICE_UNAVAILABLE, json!({"status": "error", "error": e.to_string()}), started),
        }
    }

    pub fn reply(&self, endpoint: &str, code: StatusCode, body: Value, started: Instant) -> Response {
        self.metrics.collector_requests.get_or_create(&EndpointCode { endpoint: endpoint.into(), code: code.as_u16().to_string() }).inc();
        self.metrics.collector_duration.get_or_create(&EndpointLabel { endpoint: endpoint.into() }).observe(started.elapsed().as_secs_f64());
        if code.is_client_error() || code.is_server_error() {
            tracing::warn!(endpoint, code = code.as_u16(), body = %body, "collector request rejected");
        }
        if code == StatusCode::NO_CONTENT {
            return code.into_response();
        }
        (code, Json(body)).into_response()
    }

    pub fn bad_request(&self, endpoint: &str, message: String, started: Instant) -> Response {
        self.reply(endpoint, StatusCode::BAD_REQUEST, json!({"status": "error", "errorType": "bad_data", "error": message}), started)
    }

    pub fn unauthorised(&self, endpoint: &str, started: Instant) -> Response {
        self.reply(endpoint, StatusCode::UNAUTHORIZED, json!({"status": "error", "error": "missing or wrong bearer token"}), started)
    }

    pub fn too_large(&self, endpoint: &str, message: String, started: Instant) -> Response {
        self.reply(endpoint, StatusCode::PAYLOAD_TOO_LARGE, json!({"status": "error", "error": message}), started)
    }
}

/// Encode an envelope for Kafka (our own types always serialise).
pub fn encode<T: serde::Serialize>(key: String, record: &T) -> Outgoing {
    Outgoing { key, payload: serde_json::to_vec(record).unwrap_or_default() }
}

/// Snappy block decompression with a bound on the decoded size (a small body must not
/// expand into gigabytes).
pub fn unsnappy(body: &[u8], max_decoded: usize) -> std::result::Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("invalid snappy block: {e}"))?;
    if len > max_decoded {
        return Err(format!("decoded body would be {len} bytes, over the limit of {max_decoded}"));
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("invalid snappy block: {e}"))
}
