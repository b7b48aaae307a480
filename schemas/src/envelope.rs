use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// CloudEvents-style envelope carried by every record on every KubeSage topic.
///
/// `id` is deterministic: it is derived from the inputs that produced the record, so a
/// replay yields the same id and subscribers can de-duplicate on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<T> {
    /// Always "1.0" (CloudEvents spec version this envelope follows).
    #[serde(default = "spec_version")]
    pub specversion: String,
    /// Deterministic id of this record (hex).
    pub id: String,
    /// URI-reference of the producer, e.g. `kubesage/collector/alertmanager`.
    pub source: String,
    /// Reverse-DNS type of `data`, e.g. `io.kubesage.alert.v1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event time (when the thing happened, not when it was processed).
    pub time: DateTime<Utc>,
    /// What the record is about, e.g. an alert fingerprint or `namespace/workload`.
    pub subject: String,
    /// Kubernetes cluster the record belongs to; stage-2 topics are keyed by it.
    pub cluster: String,
    pub data: T,
}

fn spec_version() -> String {
    "1.0".to_string()
}

/// A payload type knows its CloudEvents `type`.
pub trait Payload {
    const KIND: &'static str;
}

impl<T: Payload> Envelope<T> {
    pub fn new(
        id: String,
        source: impl Into<String>,
        time: DateTime<Utc>,
        subject: impl Into<String>,
        cluster: impl Into<String>,
        data: T,
    ) -> Self {
        Envelope {
            specversion: spec_version(),
            id,
            source: source.into(),
            kind: T::KIND.to_string(),
            time,
            subject: subject.into(),
            cluster: cluster.into(),
            data,
        }
    }
}
