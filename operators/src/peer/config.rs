use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigIssue;

/// Peer-group outliers: the members of one group (the pods of one workload, the instances
/// or nodes of one job) should behave alike; one that does not is an anomaly even when its
/// own history finds nothing odd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerConfig {
    pub enabled: bool,
    /// Event-time window over which each member's mean is taken (aligned windows).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Labels that name a member; the first one a series has makes it a member, and the
    /// group is the metric with the remaining labels (pods also get a `workload` label
    /// derived from their name). Series with none of them are in no group.
    pub member_labels: Vec<String>,
    /// Labels dropped from the group identity besides the member labels (per-container
    /// ids and the like that would split a group).
    pub ignore_labels: Vec<String>,
    /// Windows compared at once: a member is judged on its last `windows` window means.
    pub windows: usize,
    /// Robust z-score (double median absolute deviation) beyond which a member is an
    /// outlier (3.5: Iglewicz and Hoaglin's cut-off for modified z-scores).
    pub threshold: f64,
    /// Members needed (with every window present) before a group is judged.
    pub min_members: usize,
    /// A window is judged once every member has moved past it; a member not heard from for
    /// this long (processing time) is no longer waited for, and a group silent for twice
    /// this long is forgotten.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Groups tracked at most; beyond it the least recently updated is forgotten.
    pub max_groups: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            enabled: true,
            window: Duration::from_secs(60),
            member_labels: ["pod", "instance", "node"].map(String::from).to_vec(),
            ignore_labels: ["container_id", "id", "uid", "pod_ip", "image_id"].map(String::from).to_vec(),
            windows: 5,
            threshold: 3.5,
            min_members: 3,
            grace: Duration::from_secs(300),
            max_groups: 50_000,
        }
    }
}

impl PeerConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let p = |f: &str| format!("{prefix}.{f}");
        if self.window < Duration::from_secs(1) {
            issues.push(ConfigIssue::new(p("window"), "must be at least 1s"));
        }
        if self.enabled && self.member_labels.iter().all(|l| l.trim().is_empty()) {
            issues.push(ConfigIssue::new(p("member_labels"), "must name at least one label"));
        }
        if !(1..=64).contains(&self.windows) {
            issues.push(ConfigIssue::new(p("windows"), "must be in 1..=64"));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            issues.push(ConfigIssue::new(p("threshold"), "must be a positive number"));
        }
        if self.min_members < 3 {
            issues.push(ConfigIssue::new(p("min_members"), "must be at least 3 (a median needs a majority)"));
        }
        if self.max_groups == 0 {
            issues.push(ConfigIssue::new(p("max_groups"), "must be greater than 0"));
        }
        issues
    }
}
