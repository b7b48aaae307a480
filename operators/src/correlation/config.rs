use std::time::Duration;

use serde::{Deserialize, Serialize};

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
        issues
    }
}
