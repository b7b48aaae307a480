use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// Reason of the event the Kubernetes collector publishes when a ConfigMap's data changes
/// (Kubernetes itself records none).
pub const CONFIG_CHANGED: &str = "ConfigChanged";

/// A Kubernetes event normalised from core/v1 `Event` or `events.k8s.io/v1` `Event`.
/// One record per occurrence: a MODIFIED event whose count grew becomes a new record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct K8sEvent {
    /// `Normal` or `Warning`.
    pub event_type: String,
    pub reason: String,
    #[serde(default)]
    pub note: String,
    pub regarding: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectRef>,
    /// `reportingController` (events.k8s.io) or `source.component` (core/v1).
    #[serde(default)]
    pub reporting_controller: String,
    #[serde(default)]
    pub reporting_instance: String,
    /// Occurrence count so far (core/v1 `count` or `series.count`).
    pub count: u32,
    /// `series.lastObservedTime`, `eventTime`, `lastTimestamp` or `firstTimestamp`, first present.
    pub observed_at: DateTime<Utc>,
    /// `metadata.uid` of the Event object; for a change the collector derives itself (a
    /// ConfigMap edit), `<object uid>@<resourceVersion>`.
    pub event_uid: String,
}

impl Payload for K8sEvent {
    const KIND: &'static str = "io.kubesage.k8s.event.v1";
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub api_version: String,
}
