//! An RCAEval case through the operators the running pipeline hosts, not through the
//! ranking alone: its metric columns as samples into the anomaly operator, what it
//! publishes (anomaly records and the series' one-minute window means; never the raw
//! samples) plus the case's topology and one alert on the frontend into the correlator
//! with RCA, and the services of its reports' candidates as the ranking. This is what a
//! deployment would answer; the harness path (`super::kubesage`) ranks from the samples
//! themselves. The same records go once more through RCA without the window means
//! (`window_series = 0`: anomaly records, alerts and events only), for comparison.
//!
//! The case becomes a cluster: every service a Deployment (ReplicaSet, one Pod per node
//! it is placed on) behind a Service that calls its callees' Services. A column
//! `<service>_<metric>` is the series `<metric>{namespace, deployment=<service>,
//! pod=<service>-rs-0}` (the service's first pod: the data sets measure services). The
//! alert (`HighLatency` on the frontend, or on the first service no one calls) fires a
//! minute after the injection: the symptom an SRE is paged for, nothing about the root.

use std::collections::BTreeMap;

use kubesage_operators::anomaly::{AnomalyConfig, AnomalyOperator};
use kubesage_operators::correlation::{signal, CorrelationConfig, Signal};
use kubesage_operators::rca::{CorrelateWithRca, RcaOperatorConfig};
use kubesage_operators::time::from_millis;
use kubesage_operators::{Collector, Operator};
use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::RcaReport;
use kubesage_schemas::k8s::ObjectRef;
use kubesage_schemas::signals::{Anomaly, MetricSample, PeerWindow};
use kubesage_schemas::topics;
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::Envelope;

use super::Case;

const CLUSTER: &str = "rcaeval";
const NAMESPACE: &str = "app";
/// The page reaches the SRE this long after the injection.
const ALERT_AFTER_MS: i64 = 60_000;

fn oref(kind: &str, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef { kind: kind.into(), namespace: namespace.into(), name: name.into(), uid: format!("{kind}/{name}"), api_version: String::new() }
}

fn upsert(object: ObjectRef) -> TopologyUpdate {
    TopologyUpdate::new(TopologyOp::Upsert, object, "1")
}

/// The case's services as Kubernetes objects.
fn topology(case: &Case) -> Vec<TopologyUpdate> {
    let mut out = Vec::new();
    for s in case.services() {
        let rs = format!("{s}-rs");
        out.push(upsert(oref("Deployment", NAMESPACE, &s)));
        out.push(TopologyUpdate { owners: vec![oref("Deployment", NAMESPACE, &s)], ..upsert(oref("ReplicaSet", NAMESPACE, &rs)) });
        let app: BTreeMap<String, String> = [("app".to_string(), s.clone())].into();
        let nodes = case.placement.get(&s).cloned().unwrap_or_default();
        for (i, node) in nodes.iter().enumerate() {
            out.push(TopologyUpdate {
                owners: vec![oref("ReplicaSet", NAMESPACE, &rs)],
                node: Some(node.clone()),
                labels: app.clone(),
                ..upsert(oref("Pod", NAMESPACE, &format!("{rs}-{i}")))
            });
        }
        let calls = case.calls.iter().filter(|(a, _)| *a == s).map(|(_, b)| oref("Service", NAMESPACE, b)).collect();
        out.push(TopologyUpdate { selector: app, calls, ..upsert(oref("Service", NAMESPACE, &s)) });
    }
    out
}

/// The anomaly records and window means the metrics anomaly operator publishes over the
/// case's columns.
fn detect(case: &Case) -> (Vec<Envelope<Anomaly>>, Vec<Envelope<PeerWindow>>) {
    let mut op = AnomalyOperator::new(AnomalyConfig::default());
    let mut out = Collector::default();
    let series: Vec<(String, BTreeMap<String, String>, &Vec<f64>)> = case
        .columns
        .iter()
        .map(|((service, metric), values)| {
            let labels = [("namespace".to_string(), NAMESPACE.to_string()), ("deployment".to_string(), service.clone()), ("pod".to_string(), format!("{service}-rs-0"))].into();
            (metric.replace('-', "_"), labels, values)
        })
        .collect();
    for (row, &t) in case.time.iter().enumerate() {
        let time = from_millis(t * 1000);
        for (name, labels, values) in &series {
            let Some(&value) = values.get(row).filter(|v| v.is_finite()) else { continue };
            let key = format!("{name}{{deployment=\"{}\"}}", labels["deployment"]);
            let sample = MetricSample { name: name.clone(), labels: labels.clone(), value, timestamp: time };
            op.on_event(Envelope::new(stable_id(&[&key, &t.to_string()]), "rcaeval", time, key, CLUSTER, sample), &mut out);
        }
    }
    (out.decoded(kubesage_operators::anomaly::OUTPUT), out.decoded(topics::PEER_WINDOWS))
}

/// The frontend, or the first service nothing calls.
fn entry_service(case: &Case) -> Option<String> {
    let services = case.services();
    if services.iter().any(|s| s == "frontend") {
        return Some("frontend".into());
    }
    services.into_iter().find(|s| !case.calls.iter().any(|(_, b)| b == s))
}

fn page(case: &Case, service: &str) -> Envelope<Signal> {
    let labels: BTreeMap<String, String> =
        [("alertname", "HighLatency"), ("namespace", NAMESPACE), ("deployment", service), ("severity", "critical")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let fingerprint = stable_id(&["page", service]);
    let at = from_millis(case.inject_time * 1000 + ALERT_AFTER_MS);
    let alert = Alert {
        fingerprint: fingerprint.clone(),
        status: AlertStatus::Firing,
        alertname: "HighLatency".into(),
        severity: Severity::Critical,
        labels,
        annotations: BTreeMap::new(),
        starts_at: at,
        ends_at: None,
        generator_url: String::new(),
        group_key: None,
        via: "rcaeval".into(),
    };
    signal::from_alert(Envelope::new(stable_id(&["page", service, "firing"]), "rcaeval", at, fingerprint, CLUSTER, alert))
}

/// What the pipeline answered for one case.
pub struct Ranked {
    /// Services ranked by the first RCA report (published when the page fires), best
    /// first; nodes and unknown components left out.
    pub first: Vec<String>,
    /// By the last revision's report (the incident updated as more evidence came in).
    pub last: Vec<String>,
    /// The same, by RCA without the window means.
    pub records_first: Vec<String>,
    pub records_last: Vec<String>,
    pub reports: usize,
    /// Anomaly records the anomaly operator published.
    pub records: usize,
    /// An anomaly of the root started from a minute before the injection to two after.
    pub root_seen: bool,
}

/// The RCA reports of the correlator with RCA (`cfg`) over the case's signals.
fn reports(case: &Case, signals: &[Envelope<Signal>], cfg: RcaOperatorConfig) -> Vec<Envelope<RcaReport>> {
    let mut op = CorrelateWithRca::new(CorrelationConfig::default(), cfg);
    let mut out = Collector::default();
    let start = case.time.first().copied().unwrap_or(0) * 1000 - 60_000;
    for (i, u) in topology(case).into_iter().enumerate() {
        op.on_event(signal::from_topology(Envelope::new(stable_id(&["topology", &i.to_string()]), "rcaeval", from_millis(start), u.object.name.clone(), CLUSTER, u)), &mut out);
    }
    for e in signals {
        let t = e.time;
        op.on_event(e.clone(), &mut out);
        op.on_watermark(t, &mut out);
    }
    let end = case.time.last().copied().unwrap_or(0) * 1000 + 600_000;
    op.on_watermark(from_millis(end), &mut out);
    out.decoded(kubesage_operators::rca::operator::OUTPUT)
}

pub fn rank(case: &Case) -> Ranked {
    let (records, windows) = detect(case);
    let mut signals: Vec<Envelope<Signal>> = records.iter().cloned().map(signal::from_anomaly).collect();
    signals.extend(windows.into_iter().map(signal::from_window));
    signals.extend(entry_service(case).map(|s| page(case, &s)));
    signals.sort_by_key(|e| e.time);
    let reports = reports(case, &signals, RcaOperatorConfig::default());
    let without = self::reports(case, &signals, RcaOperatorConfig { window_series: 0, ..RcaOperatorConfig::default() });
    let services = case.services();
    let ranking = |r: Option<&Envelope<RcaReport>>| -> Vec<String> {
        r.map(|r| {
            r.data
                .candidates
                .iter()
                .filter_map(|c| c.component.strip_prefix(&format!("Deployment/{NAMESPACE}/")))
                .filter(|s| services.iter().any(|x| x == s))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    };
    // Whether the anomaly operator saw the root at all around the injection (from a
    // minute before to two after): separates missed detection from misranking.
    let inject = case.inject_time * 1000;
    let root_seen = records.iter().any(|a| {
        let start = a.data.window_start.timestamp_millis();
        a.data.labels.get("deployment") == Some(&case.root) && start >= inject - 60_000 && start <= inject + 120_000
    });
    Ranked {
        first: ranking(reports.first()),
        last: ranking(reports.last()),
        records_first: ranking(without.first()),
        records_last: ranking(without.last()),
        reports: reports.len(),
        records: records.len(),
        root_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rcasim::{sim, write_case};

    #[test]
    fn every_case_becomes_a_cluster_and_gets_a_report_naming_its_services() {
        let root = std::env::temp_dir().join(format!("kubesage-rcaeval-pipeline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for seed in 0..5u64 {
            let dir = write_case(&root, &sim::generate(seed, 10, seed as usize)).expect("written");
            let case = super::super::load_case(&dir).expect("loaded");
            let objects = topology(&case);
            let count = |kind: &str| objects.iter().filter(|u| u.object.kind == kind).count();
            assert_eq!((count("Deployment"), count("Service")), (10, 10), "seed {seed}");
            let calls: usize = objects.iter().map(|u| u.calls.len()).sum();
            assert_eq!(calls, case.calls.len(), "seed {seed}: every call edge");
            assert_eq!(entry_service(&case).as_deref(), Some("frontend"));
            let r = rank(&case);
            assert!(r.records > 0 && r.reports > 0, "seed {seed}: {} records, {} reports", r.records, r.reports);
            let services = case.services();
            assert!(!r.first.is_empty() && r.first.iter().chain(&r.last).all(|s| services.contains(s)), "seed {seed}: {:?}", r.first);
        }
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
