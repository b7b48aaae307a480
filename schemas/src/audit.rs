use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// Every decision the remediation path makes, on `kubesage.audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// Who decided: `planner`, `executor/<name>`, ...
    pub actor: String,
    /// What was decided, e.g. `command.claimed`, `command.executed`, `command.rejected`.
    pub decision: String,
    #[serde(default)]
    pub command_id: Option<String>,
    #[serde(default)]
    pub incident_id: Option<String>,
    pub detail: String,
}

impl Payload for AuditRecord {
    const KIND: &'static str = "io.kubesage.audit.v1";
}
