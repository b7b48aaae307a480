//! The topic catalogue: every topic KubeSage reads or writes, its key and its payload.

/// What a topic's record key is, which decides the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Series identity (metric name + sorted labels): stage-1, embarrassingly parallel.
    Series,
    /// Object identity (`kind/namespace/name`) or stream labels.
    Object,
    /// Peer group (metric name + shared labels): members of one workload or pool meet.
    Group,
    /// Cluster name: stage-2, everything about a cluster meets in one partition.
    Cluster,
    /// Checkpoint owner (`group/topic/partition`) in a compacted topic.
    Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: &'static str,
    pub key: KeyKind,
    /// JSON Schema file in `schemas/json/` describing the envelope's `data`.
    pub payload: &'static str,
    /// Log-compacted (keeps the last record per key) instead of time-retained.
    pub compacted: bool,
    pub partitions: i32,
}

pub const ALERTS: &str = "kubesage.alerts";
pub const K8S_EVENTS: &str = "kubesage.k8s.events";
pub const METRICS: &str = "kubesage.metrics";
pub const LOGS: &str = "kubesage.logs";
pub const TOPOLOGY: &str = "kubesage.topology";
pub const ANOMALIES: &str = "kubesage.anomalies";
pub const LOG_PATTERNS: &str = "kubesage.log.patterns";
pub const INCIDENTS: &str = "kubesage.incidents";
pub const RCA: &str = "kubesage.rca";
pub const COST_ALLOCATIONS: &str = "kubesage.cost.allocations";
pub const COST_ANOMALIES: &str = "kubesage.cost.anomalies";
pub const COMMANDS: &str = "kubesage.remediation.commands";
pub const APPROVALS: &str = "kubesage.remediation.approvals";
pub const RESULTS: &str = "kubesage.remediation.results";
pub const AUDIT: &str = "kubesage.audit";
pub const DEADLETTER: &str = "kubesage.deadletter";
/// Stage 2: alerts, Kubernetes events, anomalies and topology updates re-keyed by cluster
/// (the `route-*` jobs), read by correlation and RCA.
pub const SIGNALS: &str = "kubesage.signals";
/// Internal: per-member window means re-keyed by peer group (metric anomaly -> peer outliers).
pub const PEER_WINDOWS: &str = "kubesage.peer.windows";
/// Internal: operator snapshots with the input offsets they reflect, and executor claims.
pub const CHECKPOINTS: &str = "kubesage.checkpoints";

const fn t(name: &'static str, key: KeyKind, payload: &'static str, compacted: bool, partitions: i32) -> TopicSpec {
    TopicSpec { name, key, payload, compacted, partitions }
}

pub const CATALOGUE: &[TopicSpec] = &[
    t(ALERTS, KeyKind::Cluster, "alert", false, 6),
    t(K8S_EVENTS, KeyKind::Object, "k8s_event", false, 6),
    t(METRICS, KeyKind::Series, "metric_sample", false, 12),
    t(LOGS, KeyKind::Object, "log_record", false, 12),
    t(TOPOLOGY, KeyKind::Object, "topology_update", false, 6),
    t(ANOMALIES, KeyKind::Cluster, "anomaly", false, 6),
    t(LOG_PATTERNS, KeyKind::Cluster, "log_pattern", false, 6),
    t(INCIDENTS, KeyKind::Cluster, "incident", false, 6),
    t(RCA, KeyKind::Cluster, "rca_report", false, 6),
    t(COST_ALLOCATIONS, KeyKind::Cluster, "cost_allocation", false, 6),
    t(COST_ANOMALIES, KeyKind::Cluster, "cost_anomaly", false, 6),
    t(COMMANDS, KeyKind::Cluster, "remediation_command", false, 6),
    t(APPROVALS, KeyKind::Cluster, "remediation_approval", false, 6),
    t(RESULTS, KeyKind::Cluster, "remediation_result", false, 6),
    t(AUDIT, KeyKind::Cluster, "audit_record", false, 6),
    t(DEADLETTER, KeyKind::Object, "dead_letter", false, 3),
    t(SIGNALS, KeyKind::Cluster, "signal", false, 6),
    t(PEER_WINDOWS, KeyKind::Group, "peer_window", false, 6),
    t(CHECKPOINTS, KeyKind::Owner, "checkpoint", true, 3),
];

pub fn spec(name: &str) -> Option<&'static TopicSpec> {
    CATALOGUE.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_convention_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for t in CATALOGUE {
            assert!(t.name.starts_with("kubesage."), "{}", t.name);
            assert!(seen.insert(t.name), "duplicate {}", t.name);
            assert!(t.partitions > 0);
        }
    }

    #[test]
    fn every_payload_has_a_schema() {
        let names: Vec<_> = crate::schema::all().into_iter().map(|(n, _)| n).collect();
        for t in CATALOGUE {
            assert!(names.contains(&t.payload), "{} has no schema {}", t.name, t.payload);
        }
    }
}
