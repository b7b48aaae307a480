//! Remediation planner, first version: maps open incidents to remediation commands through
//! configured rules, with a per-target cool-down in event time. Every decision is audited.

pub mod config;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kubesage_schemas::audit::AuditRecord;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::remediation::{RemediationCommand, Target};
use kubesage_schemas::{topics, Envelope};
use serde::{Deserialize, Serialize};

pub use config::{PlannerConfig, PlannerRule, TargetKind};

use crate::correlation::keys;
use crate::time::{duration_millis, to_millis, Millis};
use crate::{Collector, Operator, OperatorError, Snapshot};

const SNAPSHOT_VERSION: u32 = 1;
pub const SOURCE: &str = "kubesage/operator/plan";
/// How long (event time) after its last record an incident, and a target's cool-down,
/// are remembered. Pruning is driven by the input's own event time, never by watermarks,
/// so replays decide exactly the same.
const MEMORY_MS: Millis = 24 * 3600 * 1000;
const PRUNE_EVERY_MS: Millis = 3600 * 1000;

pub struct Planner {
    cfg: PlannerConfig,
    state: State,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Target -> event time of the last command planned for it.
    cooldowns: BTreeMap<String, Millis>,
    /// What we know of each incident.
    incidents: BTreeMap<String, Memo>,
    last_prune: Millis,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Memo {
    /// Highest revision seen: older or repeated records (replays) change nothing.
    revision: u32,
    /// Rules that already planned for it.
    rules: BTreeSet<String>,
    last_seen: Millis,
}

impl Planner {
    pub fn new(cfg: PlannerConfig) -> Self {
        Planner { cfg, state: State::default() }
    }

    fn target(rule: &PlannerRule, inc: &Incident) -> Option<Target> {
        let namespace = inc.namespace.clone().unwrap_or_default();
        match rule.target {
            TargetKind::Workload => {
                let (kind, name) = inc.workload.as_deref()?.split_once('/')?;
                Some(Target { kind: kind.to_string(), namespace, name: name.to_string() })
            }
            TargetKind::Node => {
                let from_keys = inc.keys.iter().find_map(|k| k.strip_prefix("node:"));
                let from_labels = inc.alerts.iter().find_map(|a| keys::node(&a.labels));
                let name = from_keys.or(from_labels)?;
                Some(Target { kind: "Node".into(), namespace: String::new(), name: name.to_string() })
            }
            TargetKind::Pod => inc.alerts.iter().filter(|a| a.alertname == rule.alertname).find_map(|a| {
                let pod = keys::label(&a.labels, &["pod", "pod_name"])?;
                let ns = keys::namespace(&a.labels)?;
                Some(Target { kind: "Pod".into(), namespace: ns.to_string(), name: pod.to_string() })
            }),
        }
    }

    fn prune(&mut self, now: Millis) {
        if now < self.state.last_prune.saturating_add(PRUNE_EVERY_MS) {
            return;
        }
        self.state.last_prune = now;
        let horizon = now.saturating_sub(MEMORY_MS.max(duration_millis(self.cfg.cooldown)));
        self.state.cooldowns.retain(|_, t| *t >= horizon);
        self.state.incidents.retain(|_, m| m.last_seen >= horizon);
    }

    fn audit(out: &mut Collector, e: &Envelope<Incident>, decision: &str, command_id: Option<&str>, rule: &str, detail: String) {
        let id = stable_id(&["audit", SOURCE, decision, &e.id, rule]);
        let record = AuditRecord {
            actor: "planner".into(),
            decision: decision.into(),
            command_id: command_id.map(str::to_string),
            incident_id: Some(e.data.incident_id.clone()),
            detail,
        };
        out.emit(topics::AUDIT, &e.cluster, &Envelope::new(id, SOURCE, e.time, e.data.incident_id.clone(), e.cluster.clone(), record));
    }
}

impl Operator for Planner {
    type In = Incident;
    const NAME: &'static str = "plan";

    fn on_event(&mut self, e: Envelope<Incident>, out: &mut Collector) {
        let now = to_millis(&e.time);
        let inc = &e.data;
        self.prune(now);
        let memo = self.state.incidents.entry(inc.incident_id.clone()).or_default();
        if inc.revision <= memo.revision {
            return;
        }
        memo.revision = inc.revision;
        memo.last_seen = memo.last_seen.max(now);
        if inc.status == IncidentStatus::Resolved {
            return;
        }
        let cooldown = duration_millis(self.cfg.cooldown);
        for rule in &self.cfg.rules {
            let done = self.state.incidents.get(&inc.incident_id).is_some_and(|m| m.rules.contains(&rule.name));
            let matches = inc.alertnames.contains_key(&rule.alertname)
                && inc.severity >= rule.min_severity
                && (rule.namespaces.is_empty() || inc.namespace.as_ref().is_some_and(|n| rule.namespaces.contains(n)));
            if done || !matches {
                continue;
            }
            if let Some(m) = self.state.incidents.get_mut(&inc.incident_id) {
                m.rules.insert(rule.name.clone());
            }
            let Some(target) = Self::target(rule, inc) else {
                Self::audit(out, &e, "command.no-target", None, &rule.name, format!("rule {} matched but the incident names no {:?} target", rule.name, rule.target).to_lowercase());
                continue;
            };
            let target_key = format!("{}/{target}", e.cluster);
            if let Some(last) = self.state.cooldowns.get(&target_key) {
                if now < last.saturating_add(cooldown) {
                    Self::audit(out, &e, "command.suppressed", None, &rule.name, format!("{} of {target} is cooling down", rule.action.as_str()));
                    continue;
                }
            }
            self.state.cooldowns.insert(target_key, now);
            let command_id = stable_id(&["command", &inc.incident_id, &rule.name, &target.to_string()]);
            let command = RemediationCommand {
                command_id: command_id.clone(),
                incident_id: inc.incident_id.clone(),
                rule: rule.name.clone(),
                action: rule.action,
                target: target.clone(),
                params: rule.params.clone(),
                requires_approval: rule.requires_approval,
                reason: format!("{}: {}", rule.name, inc.title),
            };
            let record = Envelope::new(command_id.clone(), SOURCE, e.time, target.to_string(), e.cluster.clone(), command);
            out.emit(topics::COMMANDS, &e.cluster, &record);
            Self::audit(out, &e, "command.planned", Some(&command_id), &rule.name, format!("{} {target}", rule.action.as_str()));
        }
    }

    fn on_watermark(&mut self, _watermark: DateTime<Utc>, _out: &mut Collector) {}

    fn snapshot(&self) -> Snapshot {
        Snapshot::of(SNAPSHOT_VERSION, &self.state).unwrap_or(Snapshot { version: SNAPSHOT_VERSION, state: serde_json::Value::Null })
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        self.state = snapshot.decode(SNAPSHOT_VERSION)?;
        Ok(())
    }
}
