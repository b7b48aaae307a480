//! Topology-aware correlation and RCA end to end through the real broker: topology (a
//! Deployment -> ReplicaSet -> Pods on Nodes, Services with a call edge), Kubernetes events,
//! an anomaly and alerts land on their input topics keyed as the collectors key them; the
//! `route-*` jobs re-key them by cluster onto `kubesage.signals`; the correlate job folds
//! them into one incident and publishes an RCA report naming the slow dependency first,
//! from its anomaly and from the window means of its latency (`kubesage.peer.windows`,
//! routed by `route-windows`).
//! The operate worker is killed (-9) after the first half and restarted: the topology and
//! the first signals must come back from the checkpoint topic.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, RcaReport};
use kubesage_schemas::k8s::{K8sEvent, ObjectRef};
use kubesage_schemas::signals::{Anomaly, AnomalyPhase, PeerWindow};
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use serde_json::Value;

const CLUSTER: &str = "prod";
const PAYMENTS_POD: &str = "payments-7c9d8f6b5d-bx2kq";

fn oref(kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef { kind: kind.into(), namespace: ns.into(), name: name.into(), uid: format!("uid-{kind}-{name}"), api_version: String::new() }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A record keyed by its object, as the Kubernetes collector writes it.
fn by_object<T: serde::Serialize + kubesage_schemas::envelope::Payload>(id: String, t: DateTime<Utc>, subject: String, data: T) -> (String, Vec<u8>) {
    let env = Envelope::new(id, "kubesage/collector/kubernetes", t, subject.clone(), CLUSTER, data);
    (subject, serde_json::to_vec(&env).expect("json"))
}

fn topology(t: DateTime<Utc>) -> Vec<(String, Vec<u8>)> {
    let up = |object: ObjectRef, f: &dyn Fn(&mut TopologyUpdate)| {
        let mut u = TopologyUpdate::new(TopologyOp::Upsert, object, "1");
        f(&mut u);
        let subject = format!("{}/{}/{}", u.object.kind, u.object.namespace, u.object.name);
        by_object(stable_id(&["topo", &subject]), t, subject, u)
    };
    let pod = |name: &str, rs: &str, node: &str, app: &str| {
        let (rs, node, app) = (rs.to_string(), node.to_string(), app.to_string());
        up(oref("Pod", "shop", name), &move |u| {
            u.owners = vec![oref("ReplicaSet", "shop", &rs)];
            u.node = Some(node.clone());
            u.labels = labels(&[("app", &app)]);
        })
    };
    vec![
        up(oref("Node", "", "node-a"), &|_| {}),
        up(oref("Node", "", "node-b"), &|_| {}),
        up(oref("Deployment", "shop", "payments"), &|_| {}),
        up(oref("ReplicaSet", "shop", "payments-7c9d8f6b5d"), &|u| u.owners = vec![oref("Deployment", "shop", "payments")]),
        pod(PAYMENTS_POD, "payments-7c9d8f6b5d", "node-a", "payments"),
        pod("payments-7c9d8f6b5d-d4fzw", "payments-7c9d8f6b5d", "node-b", "payments"),
        up(oref("Deployment", "shop", "frontend"), &|_| {}),
        up(oref("ReplicaSet", "shop", "frontend-5b7c9d8f4"), &|u| u.owners = vec![oref("Deployment", "shop", "frontend")]),
        pod("frontend-5b7c9d8f4-xzqwv", "frontend-5b7c9d8f4", "node-b", "frontend"),
        up(oref("Service", "shop", "payments"), &|u| u.selector = labels(&[("app", "payments")])),
        up(oref("Service", "shop", "frontend"), &|u| {
            u.selector = labels(&[("app", "frontend")]);
            u.calls = vec![oref("Service", "shop", "payments")];
        }),
    ]
}

fn k8s_event(t: DateTime<Utc>, regarding: ObjectRef, reason: &str, event_type: &str, note: &str) -> (String, Vec<u8>) {
    let subject = format!("{}/{}/{}", regarding.kind, regarding.namespace, regarding.name);
    let uid = format!("ev-{}-{reason}", regarding.name);
    let e = K8sEvent {
        event_type: event_type.into(),
        reason: reason.into(),
        note: note.into(),
        regarding,
        related: None,
        reporting_controller: "kubelet".into(),
        reporting_instance: "node-a".into(),
        count: 1,
        observed_at: t,
        event_uid: uid.clone(),
    };
    by_object(stable_id(&["k8s-event", CLUSTER, &uid, "1"]), t, subject, e)
}

/// A latency anomaly of the payments pod (keyed by cluster, as the detectors write it).
fn anomaly(t: DateTime<Utc>, started: DateTime<Utc>, phase: AnomalyPhase, revision: u32) -> (String, Vec<u8>) {
    let metric = "http_request_duration_seconds";
    let series = format!("{metric}{{namespace=\"shop\",pod=\"{PAYMENTS_POD}\"}}");
    let anomaly_id = stable_id(&["anomaly", CLUSTER, &series, &started.timestamp_millis().to_string()]);
    let a = Anomaly {
        anomaly_id: anomaly_id.clone(),
        phase,
        signal: "metric".into(),
        series: series.clone(),
        labels: labels(&[("__name__", metric), ("namespace", "shop"), ("pod", PAYMENTS_POD)]),
        score: 0.999,
        observed: 1.8,
        expected_low: 0.08,
        expected_high: 0.22,
        detectors: vec!["level-shift".into(), "spike".into()],
        window_start: started,
        window_end: t,
    };
    let env = Envelope::new(stable_id(&["anomaly-record", &anomaly_id, &revision.to_string()]), "kubesage/operator/anomaly", t, series, CLUSTER, a);
    (CLUSTER.to_string(), serde_json::to_vec(&env).expect("json"))
}

/// 20-second latency window means of a pod from `from` for `n` windows, as the anomaly
/// operator publishes them (keyed by peer group): `level(i)` for the `i`th.
fn windows(pod: &str, from: DateTime<Utc>, n: i64, level: impl Fn(i64) -> f64) -> Vec<(String, Vec<u8>)> {
    let metric = "http_request_duration_seconds";
    let group = format!("{metric}{{namespace=\"shop\",workload=\"{}\"}}", pod.split('-').next().unwrap_or(pod));
    (0..n)
        .map(|i| {
            let start = from + chrono::Duration::seconds(20 * i);
            let w = PeerWindow {
                group: group.clone(),
                name: metric.into(),
                labels: labels(&[("namespace", "shop")]),
                member: pod.into(),
                member_label: "pod".into(),
                series: format!("{metric}{{namespace=\"shop\",pod=\"{pod}\"}}"),
                window_start: start,
                window_end: start + chrono::Duration::seconds(20),
                mean: level(i),
                samples: 2,
            };
            let env = Envelope::new(stable_id(&["window", pod, &i.to_string()]), "kubesage/operator/anomaly", w.window_end, group.clone(), CLUSTER, w);
            (group.clone(), serde_json::to_vec(&env).expect("json"))
        })
        .collect()
}

#[test]
fn topology_events_anomalies_and_alerts_become_one_incident_and_an_rca_report() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap, port, "");
    broker.create_topics(&config);
    let log = dir.path().join("kubesage.log");
    let mut operate = run_kubesage(&config, &["operate"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(60));

    // First half: the graph, a rollout of payments, its anomaly and a crash-looping pod.
    let t0 = Utc::now();
    let s = |secs: i64| t0 + chrono::Duration::seconds(secs);
    broker.produce(topics::TOPOLOGY, &topology(s(-60)));
    // Ten minutes of window means: payments' latency jumps 40 s ago, the frontend's a little.
    let wiggle = |i: i64| ((i * 7919).rem_euclid(11) as f64 - 5.0) / 500.0;
    broker.produce(topics::PEER_WINDOWS, &windows(PAYMENTS_POD, s(-600), 30, |i| if i < 28 { 0.15 + wiggle(i) } else { 1.8 }));
    broker.produce(topics::PEER_WINDOWS, &windows("frontend-5b7c9d8f4-xzqwv", s(-600), 30, |i| if i < 28 { 0.40 + wiggle(i + 3) } else { 0.55 }));
    broker.produce(topics::K8S_EVENTS, &[k8s_event(s(-50), oref("Deployment", "shop", "payments"), "ScalingReplicaSet", "Normal", "Scaled up replica set payments-7c9d8f6b5d to 2")]);
    broker.produce(topics::ANOMALIES, &[anomaly(s(-30), s(-40), AnomalyPhase::Started, 0)]);
    broker.produce(topics::K8S_EVENTS, &[k8s_event(s(-20), oref("Pod", "shop", PAYMENTS_POD), "BackOff", "Warning", "Back-off restarting failed container payments")]);

    let opened = eventually(Duration::from_secs(90), || {
        let incidents: Vec<Envelope<Incident>> = broker.read_json(topics::INCIDENTS);
        let routed = ["route-topology", "route-events", "route-anomalies", "route-windows"].iter().zip([topics::TOPOLOGY, topics::K8S_EVENTS, topics::ANOMALIES, topics::PEER_WINDOWS]).all(|(job, topic)| broker.caught_up(job, topic));
        (routed && !incidents.is_empty() && broker.caught_up("correlate", topics::SIGNALS)).then_some(incidents)
    });
    assert!(opened.is_some(), "no incident from the first half\n{}", tail(&log, 40));

    // Crash, restart, second half: the alerts and the anomaly's update.
    operate.kill9();
    let _operate = run_kubesage(&config, &["operate"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(60));
    let tb = Utc::now().max(s(1));
    let at = |secs: i64| tb + chrono::Duration::seconds(secs);
    broker.produce(
        topics::ALERTS,
        &[
            alert(CLUSTER, at(0), AlertStatus::Firing, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", PAYMENTS_POD), ("severity", "warning")]),
            alert(CLUSTER, at(1), AlertStatus::Firing, &[("alertname", "HighLatency"), ("namespace", "shop"), ("deployment", "frontend"), ("severity", "critical")]),
        ],
    );
    broker.produce(topics::ANOMALIES, &[anomaly(at(2), s(-40), AnomalyPhase::Updated, 1)]);

    // One live incident on payments folding the alerts, the event and the anomaly.
    let folded = |i: &Incident| {
        i.component.as_deref() == Some("Deployment/shop/payments")
            && i.merged_into.is_none()
            && i.alertnames.contains_key("KubePodCrashLooping")
            && i.alertnames.contains_key("HighLatency")
            && i.event_count >= 1
            && i.anomaly_count >= 1
    };
    let done = eventually(Duration::from_secs(90), || {
        let incidents: Vec<Envelope<Incident>> = broker.read_json(topics::INCIDENTS);
        let last: BTreeMap<String, Envelope<Incident>> = incidents.into_iter().map(|e| (e.data.incident_id.clone(), e)).collect();
        let inc = last.values().find(|e| folded(&e.data))?.clone();
        let reports: Vec<Envelope<RcaReport>> = broker.read_json(topics::RCA);
        let report = reports.into_iter().filter(|r| r.data.incident_id == inc.data.incident_id).max_by_key(|r| r.data.incident_revision)?;
        (report.data.incident_revision > 1 && report.data.symptoms.iter().any(|s| s == "Deployment/shop/frontend")).then_some((last, inc, report))
    });
    let (last, incident, report) = done.unwrap_or_else(|| {
        let incidents: Vec<Value> = broker.read_json(topics::INCIDENTS);
        let reports: Vec<Value> = broker.read_json(topics::RCA);
        panic!("no folded incident with a report\nincidents: {incidents:#?}\nreports: {reports:#?}\n{}", tail(&log, 40))
    });
    let live: Vec<&Incident> = last.values().map(|e| &e.data).filter(|i| i.merged_into.is_none() && i.component.as_deref() != Some("Deployment/shop/payments")).collect();
    assert!(live.is_empty(), "the storm is one incident; also open: {live:#?}");
    let signals: BTreeSet<Option<&str>> = incident.data.alerts.iter().map(|a| a.signal.as_deref()).collect();
    assert_eq!(signals, BTreeSet::from([None, Some("k8s-event"), Some("anomaly")]), "alerts, an event and an anomaly: {:#?}", incident.data.alerts);

    // The report: on kubesage.rca, keyed by cluster, deterministic id, payments first with
    // its anomaly, the rollout and the frontend it explains as evidence.
    assert_eq!(report.cluster, CLUSTER);
    // (A report from ranking the open incident again also names its boundary, its time.)
    let revision = report.data.incident_revision.to_string();
    let again = stable_id(&["rca", &report.data.incident_id, &revision, "at", &report.time.timestamp_millis().to_string()]);
    assert!(report.id == stable_id(&["rca", &report.data.incident_id, &revision]) || report.id == again, "{}", report.id);
    let first = &report.data.candidates[0];
    assert_eq!(first.component, "Deployment/shop/payments", "{:#?}", report.data);
    assert_eq!(first.rank, 1);
    let evidence = first.evidence.join("\n");
    for want in [&format!("http_request_duration_seconds of {PAYMENTS_POD}"), "Deployment/shop/frontend", "ScalingReplicaSet"] {
        assert!(evidence.contains(want), "evidence lacks {want:?}:\n{evidence}");
    }
    assert!(report.data.candidates.iter().skip(1).all(|c| c.score < first.score));
    let keys: BTreeSet<String> = broker.read_all(topics::RCA).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, BTreeSet::from([CLUSTER.to_string()]));
    let signal_keys: BTreeSet<String> = broker.read_all(topics::SIGNALS).into_iter().map(|(k, _)| k).collect();
    assert_eq!(signal_keys, BTreeSet::from([CLUSTER.to_string()]), "every signal re-keyed by cluster");
}
