use std::collections::BTreeMap;
use std::time::Duration;

use kubesage_schemas::alert::Severity;
use kubesage_schemas::remediation::Action;
use serde::{Deserialize, Serialize};

use crate::ConfigIssue;

/// Which remediation to plan for which incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlannerConfig {
    /// After a command for a target, further commands for the same target are suppressed
    /// for this long (event time).
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Tried in order; every matching rule plans one command.
    pub rules: Vec<PlannerRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerRule {
    pub name: String,
    /// The incident must contain an alert with this alertname.
    pub alertname: String,
    /// ... and be at least this severe.
    #[serde(default)]
    pub min_severity: Severity,
    /// ... in one of these namespaces (empty: any).
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub action: Action,
    /// What the action applies to: the incident's `workload`, `node` or `pod`.
    pub target: TargetKind,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub requires_approval: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Workload,
    Node,
    Pod,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            cooldown: Duration::from_secs(30 * 60),
            rules: vec![PlannerRule {
                name: "restart-crashlooping-workload".into(),
                alertname: "KubePodCrashLooping".into(),
                min_severity: Severity::None,
                namespaces: vec![],
                action: Action::RestartRollout,
                target: TargetKind::Workload,
                params: BTreeMap::new(),
                requires_approval: false,
            }],
        }
    }
}

impl PlannerConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let p = |f: &str| format!("{prefix}.rules[{i}].{f}");
            if r.name.trim().is_empty() {
                issues.push(ConfigIssue::new(p("name"), "must not be empty"));
            } else if !names.insert(r.name.as_str()) {
                issues.push(ConfigIssue::new(p("name"), format!("duplicate rule name {:?}", r.name)));
            }
            if r.alertname.trim().is_empty() {
                issues.push(ConfigIssue::new(p("alertname"), "must not be empty"));
            }
            let fits = match r.action {
                Action::RestartRollout | Action::RollbackRollout | Action::Scale => r.target == TargetKind::Workload,
                Action::DeletePod => r.target == TargetKind::Pod,
                Action::CordonNode => r.target == TargetKind::Node,
                Action::Notify => true,
            };
            if !fits {
                issues.push(ConfigIssue::new(
                    p("target"),
                    format!("action {} cannot apply to a {:?} target", r.action.as_str(), r.target).to_lowercase(),
                ));
            }
            if r.action == Action::Scale && r.params.get("replicas").and_then(|v| v.parse::<u32>().ok()).is_none() {
                issues.push(ConfigIssue::new(p("params.replicas"), "scale needs params.replicas as a number"));
            }
        }
        issues
    }
}
