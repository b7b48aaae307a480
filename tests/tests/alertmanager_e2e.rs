//! A real Alertmanager (Debian prometheus-alertmanager) delivers webhooks to the collector;
//! alerts posted to Alertmanager come out of KubeSage as one incident, a remediation
//! command and its result, and resolved notifications close the incident.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::remediation::RemediationResult;
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use serde_json::json;

fn post_alerts(am: &Alertmanager, alerts: serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let code = rt.block_on(async { reqwest::Client::new().post(format!("{}/api/v2/alerts", am.url)).json(&alerts).send().await.expect("post").status() });
    assert!(code.is_success(), "alertmanager answered {code}");
}

fn incidents(broker: &Broker) -> BTreeMap<String, Incident> {
    broker.read_json::<Envelope<Incident>>(topics::INCIDENTS).into_iter().map(|e| (e.data.incident_id.clone(), e.data)).collect()
}

#[test]
fn alertmanager_webhooks_open_and_resolve_an_incident() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap, port, "[collector.alertmanager]\ndefault_cluster = \"e2e\"\n");
    broker.create_topics(&config);
    let log = dir.path().join("kubesage.log");
    let _ks = run_kubesage(&config, &["all"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30));
    let am = Alertmanager::start(&format!("http://127.0.0.1:{port}/webhook/alertmanager"));

    let started = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let pods = ["payments-7c9d8f6b5d-bx2kq", "payments-7c9d8f6b5d-d4fzw", "payments-7c9d8f6b5d-hq7rt"];
    let alerts = |ends: Option<String>| {
        let list: Vec<_> = pods
            .iter()
            .map(|pod| {
                let mut a = json!({"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod, "severity": "warning"}, "startsAt": started});
                if let Some(e) = &ends {
                    a["endsAt"] = json!(e);
                }
                a
            })
            .collect();
        serde_json::Value::Array(list)
    };
    post_alerts(&am, alerts(None));
    let open = eventually(Duration::from_secs(60), || {
        let all = incidents(&broker);
        all.values().find(|i| i.alert_count == 3 && i.status == IncidentStatus::Open).cloned()
    })
    .unwrap_or_else(|| panic!("no incident with the 3 alerts; log:\n{}", tail(&log, 40)));
    assert_eq!(incidents(&broker).len(), 1, "one incident for one fault");
    assert_eq!(open.workload.as_deref(), Some("Deployment/payments"));
    assert_eq!(open.namespace.as_deref(), Some("shop"));

    let result = eventually(Duration::from_secs(30), || broker.read_json::<Envelope<RemediationResult>>(topics::RESULTS).into_iter().next())
        .unwrap_or_else(|| panic!("no remediation result; log:\n{}", tail(&log, 40)));
    assert_eq!(result.data.target.to_string(), "Deployment/shop/payments");
    assert_eq!(result.data.incident_id, open.incident_id);

    // Resolve through Alertmanager: endsAt now.
    post_alerts(&am, alerts(Some(Utc::now().to_rfc3339())));
    let resolved = eventually(Duration::from_secs(60), || incidents(&broker).get(&open.incident_id).filter(|i| i.status == IncidentStatus::Resolved).cloned())
        .unwrap_or_else(|| panic!("incident not resolved; log:\n{}", tail(&log, 40)));
    assert_eq!(resolved.firing_count, 0);
    assert!(resolved.resolved_at.is_some());
}
