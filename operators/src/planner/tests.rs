use std::collections::BTreeMap;

use kubesage_schemas::alert::Severity;
use kubesage_schemas::audit::AuditRecord;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::remediation::{Action, RemediationCommand};
use kubesage_schemas::{topics, Envelope};

use super::*;
use crate::time::from_millis;

fn incident(id: &str, minute: i64, status: IncidentStatus, alertname: &str, workload: Option<&str>) -> Envelope<Incident> {
    let t = from_millis(1_700_000_000_000 + minute * 60_000);
    let data = Incident {
        incident_id: id.into(),
        status,
        title: format!("{alertname} on x"),
        severity: Severity::Warning,
        keys: vec!["node:n1".into()],
        namespace: Some("shop".into()),
        workload: workload.map(str::to_string),
        started_at: t,
        updated_at: t,
        resolved_at: None,
        alertnames: BTreeMap::from([(alertname.to_string(), 1)]),
        alert_count: 1,
        firing_count: 1,
        alerts: vec![],
        revision: minute as u32 + 1,
        component: None,
        failure_class: None,
        inhibited_count: 0,
        event_count: 0,
        anomaly_count: 0,
        merged_into: None,
    };
    Envelope::new(format!("{id}-{minute}"), "test", t, id, "c1", data)
}

fn plan(events: &[Envelope<Incident>]) -> (Vec<RemediationCommand>, Vec<AuditRecord>) {
    let mut p = Planner::new(PlannerConfig::default());
    let mut out = Collector::default();
    for e in events {
        p.on_event(e.clone(), &mut out);
    }
    let commands = out.decoded::<RemediationCommand>(topics::COMMANDS).into_iter().map(|e| e.data).collect();
    let audits = out.decoded::<AuditRecord>(topics::AUDIT).into_iter().map(|e| e.data).collect();
    (commands, audits)
}

#[test]
fn table_of_planning_cases() {
    let open = IncidentStatus::Open;
    let dep = Some("Deployment/payments");
    type Case = (&'static str, Vec<Envelope<Incident>>, usize, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("crashloop restarts the deployment", vec![incident("i1", 0, open, "KubePodCrashLooping", dep)], 1, vec!["command.planned"]),
        ("other alerts plan nothing", vec![incident("i1", 0, open, "HighLatency", dep)], 0, vec![]),
        ("resolved incidents plan nothing", vec![incident("i1", 0, IncidentStatus::Resolved, "KubePodCrashLooping", dep)], 0, vec![]),
        ("updates of one incident plan once", vec![incident("i1", 0, open, "KubePodCrashLooping", dep), incident("i1", 1, open, "KubePodCrashLooping", dep)], 1, vec!["command.planned"]),
        (
            "a second incident on the same target within the cool-down is suppressed",
            vec![incident("i1", 0, open, "KubePodCrashLooping", dep), incident("i2", 10, open, "KubePodCrashLooping", dep)],
            1,
            vec!["command.planned", "command.suppressed"],
        ),
        (
            "after the cool-down the target can be acted on again",
            vec![incident("i1", 0, open, "KubePodCrashLooping", dep), incident("i2", 31, open, "KubePodCrashLooping", dep)],
            2,
            vec!["command.planned", "command.planned"],
        ),
        ("no workload, no target", vec![incident("i1", 0, open, "KubePodCrashLooping", None)], 0, vec!["command.no-target"]),
        (
            "a replayed older revision after the resolve changes nothing",
            vec![incident("i1", 0, open, "KubePodCrashLooping", dep), incident("i1", 1, IncidentStatus::Resolved, "KubePodCrashLooping", dep), incident("i1", 0, open, "KubePodCrashLooping", dep)],
            1,
            vec!["command.planned"],
        ),
    ];
    for (name, events, n_commands, decisions) in cases {
        let (commands, audits) = plan(&events);
        assert_eq!(commands.len(), n_commands, "{name}");
        assert_eq!(audits.iter().map(|a| a.decision.as_str()).collect::<Vec<_>>(), decisions, "{name}");
        for c in &commands {
            assert_eq!(c.action, Action::RestartRollout);
            assert_eq!(c.target.to_string(), "Deployment/shop/payments");
        }
    }
}

#[test]
fn command_ids_are_deterministic_and_survive_restore() {
    let events = vec![incident("i1", 0, IncidentStatus::Open, "KubePodCrashLooping", Some("Deployment/payments")), incident("i2", 5, IncidentStatus::Open, "KubePodCrashLooping", Some("Deployment/payments"))];
    let (a, _) = plan(&events);
    let mut p = Planner::new(PlannerConfig::default());
    let mut out = Collector::default();
    p.on_event(events[0].clone(), &mut out);
    let snap = p.snapshot();
    let mut q = Planner::new(PlannerConfig::default());
    q.restore(snap).expect("restore");
    q.on_event(events[1].clone(), &mut out);
    let b: Vec<RemediationCommand> = out.decoded::<RemediationCommand>(topics::COMMANDS).into_iter().map(|e| e.data).collect();
    assert_eq!(a, b);
    assert_eq!(out.decoded::<AuditRecord>(topics::AUDIT).len(), 2, "restored cool-down still suppresses");
}

#[test]
fn validation_names_each_bad_field() {
    let mut cfg = PlannerConfig::default();
    let mut bad = cfg.rules[0].clone();
    bad.action = Action::CordonNode; // needs a node target
    cfg.rules.push(bad);
    let issues = cfg.validate("planner");
    let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, vec!["planner.rules[1].name", "planner.rules[1].target"]);
}
