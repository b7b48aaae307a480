use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::signal::FailureClass;
use crate::topology::TopologyConfig;
use crate::ConfigIssue;

/// How alerts are drawn together into incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// An incident keeps accepting alerts while they arrive within this gap (event time).
    #[serde(with = "humantime_serde")]
    pub session_gap: Duration,
    /// ... but no longer than this after it started.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Incident changes are published at most once per this interval of event time,
    /// aligned to multiples of it (so the output does not depend on batching).
    #[serde(with = "humantime_serde")]
    pub emit_interval: Duration,
    /// An incident that stopped receiving alerts but was never resolved is resolved as
    /// stale after this long (lost resolve notifications must not keep it open forever).
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// Correlation keys, highest priority first: `workload`, `node`, `service`, `namespace`.
    pub group_by: Vec<GroupKind>,
    /// Members listed in an incident record (all are counted).
    pub max_listed_alerts: usize,
    /// Members tracked per incident; alerts beyond it are counted but not tracked.
    pub max_members: usize,
    /// The graph the correlator keeps from `kubesage.topology` records in its input, and
    /// call edges known in advance.
    pub topology: TopologyConfig,
    /// Failure classes that are symptoms: a failing dependency in the call graph absorbs
    /// its callers' signals of these classes.
    pub symptom_classes: Vec<FailureClass>,
    /// A NotReady (or otherwise failing) node absorbs the signals of the pods on it.
    pub inhibit_by_node: bool,
    /// A failing dependency absorbs its callers' symptom signals.
    pub inhibit_by_dependency: bool,
    /// An alert that changed between firing and resolved `flap_threshold` times within
    /// `flap_window` is flapping: it is held (re-opens no incident, resolves none) until
    /// it has been steady for `flap_window`.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,
    pub flap_threshold: u32,
    /// Alerts whose flapping history is kept; beyond it new alerts are not watched.
    pub max_flap_tracked: usize,
    /// Kubernetes Warning events: `open` incidents, only `join` them, or `ignore` them.
    pub k8s_events: SignalPolicy,
    /// Anomalies: `open` incidents, only `join` them, or `ignore` them.
    pub anomalies: SignalPolicy,
    /// Ids of this many most recent input records are remembered: a record whose id is
    /// among them is a duplicate (an upstream stage replaying what it wrote before a crash,
    /// an HA pair) and is applied once. Counted in records, not event time, because a
    /// replay spans whatever event time the upstream had written (a backfill covers hours
    /// in a second). 0 turns it off.
    pub max_duplicate_ids: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalPolicy {
    Open,
    Join,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    Workload,
    Node,
    Service,
    Namespace,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            session_gap: Duration::from_secs(5 * 60),
            max_duration: Duration::from_secs(4 * 3600),
            emit_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(24 * 3600),
            group_by: vec![GroupKind::Workload, GroupKind::Node, GroupKind::Service],
            max_listed_alerts: 50,
            max_members: 2000,
            topology: TopologyConfig::default(),
            symptom_classes: vec![FailureClass::Latency, FailureClass::Errors],
            inhibit_by_node: true,
            inhibit_by_dependency: true,
            flap_window: Duration::from_secs(30 * 60),
            flap_threshold: 4,
            max_flap_tracked: 100_000,
            k8s_events: SignalPolicy::Open,
            anomalies: SignalPolicy::Join,
            max_duplicate_ids: 10_000,
        }
    }
}

impl CorrelationConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        if self.session_gap.is_zero() {
            issues.push(ConfigIssue::new(p("session_gap"), "must be greater than 0"));
        }
        if self.max_duration < self.session_gap {
            issues.push(ConfigIssue::new(p("max_duration"), "must be at least session_gap"));
        }
        if self.emit_interval.is_zero() || self.emit_interval.as_millis() < 1 {
            issues.push(ConfigIssue::new(p("emit_interval"), "must be at least 1ms"));
        }
        if self.stale_after < self.session_gap {
            issues.push(ConfigIssue::new(p("stale_after"), "must be at least session_gap"));
        }
        if self.group_by.is_empty() {
            issues.push(ConfigIssue::new(p("group_by"), "needs at least one key kind"));
        }
        let mut seen = self.group_by.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.group_by.len() {
            issues.push(ConfigIssue::new(p("group_by"), "lists a key kind twice"));
        }
        if self.max_members == 0 {
            issues.push(ConfigIssue::new(p("max_members"), "must be greater than 0"));
        }
        if self.flap_threshold < 2 {
            issues.push(ConfigIssue::new(p("flap_threshold"), "must be at least 2 (a resolve and a re-fire are one normal cycle)"));
        }
        if self.flap_window.is_zero() {
            issues.push(ConfigIssue::new(p("flap_window"), "must be greater than 0"));
        }
        if self.symptom_classes.contains(&FailureClass::Node) {
            issues.push(ConfigIssue::new(p("symptom_classes"), "`node` is a cause, not a symptom (nodes absorb their pods' signals through inhibit_by_node)"));
        }
        issues.extend(self.topology.validate(&p("topology")));
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_every_bad_field() {
        let cases: Vec<(CorrelationConfig, Vec<&str>)> = vec![
            (CorrelationConfig::default(), vec![]),
            (CorrelationConfig { flap_threshold: 1, flap_window: Duration::ZERO, ..CorrelationConfig::default() }, vec!["c.flap_threshold", "c.flap_window"]),
            (CorrelationConfig { symptom_classes: vec![FailureClass::Latency, FailureClass::Node], ..CorrelationConfig::default() }, vec!["c.symptom_classes"]),
            (CorrelationConfig { topology: TopologyConfig { max_hops: 0, ..TopologyConfig::default() }, ..CorrelationConfig::default() }, vec!["c.topology.max_hops"]),
        ];
        for (cfg, want) in cases {
            let got: Vec<String> = cfg.validate("c").into_iter().map(|i| i.path).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<CorrelationConfig>(r#"{"flap_treshold": 3}"#).is_err());
        let ok: CorrelationConfig = serde_json::from_str(r#"{"symptom_classes": ["latency"], "k8s_events": "join", "topology": {"calls": [{"from": "shop/web", "to": "shop/cart"}]}}"#).expect("parses");
        assert_eq!(ok.k8s_events, SignalPolicy::Join);
        assert_eq!(ok.topology.calls.len(), 1);
    }
}
