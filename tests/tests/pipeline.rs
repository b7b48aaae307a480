//! The operate and execute roles against the real broker: alerts in, incidents, commands,
//! results and audit records out; a malformed record goes to the dead-letter topic and
//! does not stop the others; SIGTERM drains and exits 0.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::audit::AuditRecord;
use kubesage_schemas::deadletter::DeadLetter;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::remediation::{Outcome, RemediationCommand, RemediationResult};
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;

#[test]
fn alerts_become_incidents_commands_and_results_on_a_real_broker() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap, port, "");
    broker.create_topics(&config);

    let t0 = Utc::now() - chrono::Duration::minutes(30);
    let min = |m: i64| t0 + chrono::Duration::minutes(m);
    let mut records = Vec::new();
    for (i, pod) in ["payments-7c9d8f6b5d-bx2kq", "payments-7c9d8f6b5d-d4fzw", "payments-7c9d8f6b5d-hq7rt"].iter().enumerate() {
        records.push(alert("prod", min(i as i64), AlertStatus::Firing, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", pod), ("severity", "warning")]));
    }
    records.push(alert("prod", min(1), AlertStatus::Firing, &[("alertname", "NodeDiskPressure"), ("node", "n9"), ("severity", "warning")]));
    records.push(alert("staging", min(2), AlertStatus::Firing, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "cart-0"), ("severity", "warning")]));
    records.push(("prod".into(), b"{not json".to_vec()));
    records.push(alert("prod", min(5), AlertStatus::Resolved, &[("alertname", "NodeDiskPressure"), ("node", "n9"), ("severity", "warning")]));
    broker.produce(topics::ALERTS, &records);

    let log = dir.path().join("kubesage.log");
    let mut ks = run_kubesage(&config, &["operate", "execute"], &log);
    let done = eventually(Duration::from_secs(60), || {
        let incidents: Vec<Envelope<Incident>> = broker.read_json(topics::INCIDENTS);
        let last: BTreeMap<String, Incident> = incidents.into_iter().map(|e| (e.data.incident_id.clone(), e.data)).collect();
        let results: Vec<Envelope<RemediationResult>> = broker.read_json(topics::RESULTS);
        (last.len() == 3 && last.values().any(|i| i.status == IncidentStatus::Resolved) && results.len() >= 2).then_some((last, results))
    });
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let (incidents, results) = done.unwrap_or_else(|| panic!("pipeline did not produce the expected outputs; log:\n{log_text}"));

    let payments = incidents.values().find(|i| i.workload.as_deref() == Some("Deployment/payments")).expect("payments incident");
    assert_eq!(payments.alert_count, 3);
    assert_eq!(payments.status, IncidentStatus::Open);
    let disk = incidents.values().find(|i| i.alertnames.contains_key("NodeDiskPressure")).expect("node incident");
    assert_eq!(disk.status, IncidentStatus::Resolved);

    let commands: Vec<Envelope<RemediationCommand>> = broker.read_json(topics::COMMANDS);
    let targets: BTreeSet<String> = commands.iter().map(|c| c.data.target.to_string()).collect();
    assert_eq!(targets, BTreeSet::from(["Deployment/shop/payments".to_string(), "StatefulSet/shop/cart".to_string()]));
    assert!(results.iter().all(|r| r.data.outcome == Outcome::DryRun), "{results:?}");

    let dead: Vec<Envelope<DeadLetter>> = broker.read_json(topics::DEADLETTER);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].data.topic, topics::ALERTS);
    assert!(dead[0].data.reason.contains("not a valid route-alerts input record"), "{}", dead[0].data.reason);
    assert_eq!(dead[0].data.payload, "{not json");

    let audit: Vec<Envelope<AuditRecord>> = broker.read_json(topics::AUDIT);
    let decisions: BTreeSet<&str> = audit.iter().map(|a| a.data.decision.as_str()).collect();
    for d in ["command.planned", "command.claimed", "command.executed"] {
        assert!(decisions.contains(d), "missing audit decision {d}: {decisions:?}");
    }

    // Graceful shutdown: exit 0, checkpoints written.
    let status = ks.terminate(Duration::from_secs(30)).expect("kubesage did not stop on SIGTERM");
    assert!(status.success(), "exit status {status:?}; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let checkpoints = broker.read_all(topics::CHECKPOINTS);
    assert!(checkpoints.iter().any(|(k, _)| k.starts_with("checkpoint/correlate/")), "no correlate checkpoint");
    assert!(checkpoints.iter().any(|(k, _)| k.starts_with("claim/")), "no executor claim");
}
