//! JSON Schemas for non-Rust subscribers, generated from the wire types.
//! `schemas/json/<payload>.json` is the envelope with that payload as `data`.

use schemars::{schema_for, Schema};


/// Checkpoint record shape, owned by the pipeline; described here so it is documented.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct Checkpoint {
    /// Consumer group / job that owns it.
    pub job: String,
    pub partition: i32,
    /// Snapshot format version.
    pub version: u32,
    /// Next offset to read per input topic of the partition.
    pub offsets: std::collections::BTreeMap<String, i64>,
    /// Operator-specific state.
    pub state: serde_json::Value,
}

/// Every schema file: (name without `.json`, schema).
pub fn all() -> Vec<(&'static str, Schema)> {
    use crate::*;
    use crate::Envelope;
    vec![
        ("alertmanager_webhook", schema_for!(alertmanager::WebhookMessage)),
        ("alertmanager_postable_alerts", schema_for!(Vec<alertmanager::PostableAlert>)),
        ("alert", schema_for!(Envelope<alert::Alert>)),
        ("k8s_event", schema_for!(Envelope<k8s::K8sEvent>)),
        ("metric_sample", schema_for!(Envelope<signals::MetricSample>)),
        ("log_record", schema_for!(Envelope<signals::LogRecord>)),
        ("log_pattern", schema_for!(Envelope<signals::LogPattern>)),
        ("anomaly", schema_for!(Envelope<signals::Anomaly>)),
        ("peer_window", schema_for!(Envelope<signals::PeerWindow>)),
        ("topology_update", schema_for!(Envelope<topology::TopologyUpdate>)),
        ("signal", schema_for!(Envelope<signal::Signal>)),
        ("incident", schema_for!(Envelope<incident::Incident>)),
        ("rca_report", schema_for!(Envelope<incident::RcaReport>)),
        ("cost_allocation", schema_for!(Envelope<cost::CostAllocation>)),
        ("cost_anomaly", schema_for!(Envelope<cost::CostAnomaly>)),
        ("remediation_command", schema_for!(Envelope<remediation::RemediationCommand>)),
        ("remediation_approval", schema_for!(Envelope<remediation::RemediationApproval>)),
        ("remediation_result", schema_for!(Envelope<remediation::RemediationResult>)),
        ("audit_record", schema_for!(Envelope<audit::AuditRecord>)),
        ("dead_letter", schema_for!(Envelope<deadletter::DeadLetter>)),
        ("checkpoint", schema_for!(Checkpoint)),
    ]
}

/// Pretty JSON text of a schema, newline-terminated, as stored in `schemas/json/`.
pub fn render(schema: &Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}
