use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// A remediation the planner asks executors to carry out, on `kubesage.remediation.commands`.
/// `command_id` is deterministic; executors run each id at most once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemediationCommand {
    pub command_id: String,
    pub incident_id: String,
    /// Name of the planner rule that chose this action.
    pub rule: String,
    pub action: Action,
    pub target: Target,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Whether a human approval on `kubesage.remediation.approvals` is required first.
    #[serde(default)]
    pub requires_approval: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `kubectl rollout restart` of a Deployment/StatefulSet/DaemonSet.
    RestartRollout,
    /// Change the replica count (`params.replicas`).
    Scale,
    /// Delete one Pod so its controller recreates it.
    DeletePod,
    /// Mark a Node unschedulable.
    CordonNode,
    /// `kubectl rollout undo` to the previous revision.
    RollbackRollout,
    /// Only notify (no change to the cluster).
    Notify,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RestartRollout => "restart-rollout",
            Action::Scale => "scale",
            Action::DeletePod => "delete-pod",
            Action::CordonNode => "cordon-node",
            Action::RollbackRollout => "rollback-rollout",
            Action::Notify => "notify",
        }
    }
}

/// The Kubernetes object an action applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl Payload for RemediationCommand {
    const KIND: &'static str = "io.kubesage.remediation.command.v1";
}

/// A human decision about a command, on `kubesage.remediation.approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemediationApproval {
    pub command_id: String,
    pub approved: bool,
    pub approver: String,
    #[serde(default)]
    pub comment: String,
    pub decided_at: DateTime<Utc>,
}

impl Payload for RemediationApproval {
    const KIND: &'static str = "io.kubesage.remediation.approval.v1";
}

/// What an executor did with a command, on `kubesage.remediation.results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RemediationResult {
    pub command_id: String,
    pub incident_id: String,
    pub action: Action,
    pub target: Target,
    pub outcome: Outcome,
    /// Executor backend that handled it (`dry-run`, `kubernetes`, ...).
    pub backend: String,
    pub message: String,
    pub executor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// The backend only described what it would do.
    DryRun,
    /// Refused by policy (namespace not allowed, action disabled, ...).
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::DryRun => "dry-run",
            Outcome::Rejected => "rejected",
        }
    }
}

impl Payload for RemediationResult {
    const KIND: &'static str = "io.kubesage.remediation.result.v1";
}
