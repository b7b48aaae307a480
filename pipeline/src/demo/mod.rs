//! `kubesage demo`: the whole pipeline on the embedded Kafka, fed a built-in alert storm
//! from a small simulated cluster with one real fault behind it (a bad rollout of
//! `shop/payments`), delivered the way an HA pair of Alertmanagers delivers it (every
//! notification twice). Ends with a summary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kubesage_schemas::alertmanager::{zero_time, AlertStatus, LabelSet, WebhookAlert, WebhookMessage};
use kubesage_schemas::ids::alert_fingerprint;
use kubesage_schemas::incident::{Incident, IncidentStatus, RcaReport};
use kubesage_schemas::remediation::{RemediationCommand, RemediationResult};
use kubesage_schemas::signals::{Anomaly, AnomalyPhase};
use kubesage_schemas::{topics, Envelope};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::app::{self, Role};
use crate::collector::alertmanager::WEBHOOK_PATH;
use crate::collector::loki;
use crate::collector::remote_write::{self, prompb};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka;

mod topology;

/// One simulated alert: minute offset it fires at, minute it resolves (if it does), labels.
struct SimAlert {
    at: i64,
    resolves: Option<i64>,
    labels: Vec<(&'static str, String)>,
}

fn sim(at: i64, resolves: Option<i64>, labels: &[(&'static str, &str)]) -> SimAlert {
    SimAlert { at, resolves, labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect() }
}

/// The storm: a bad rollout of payments crash-loops its pods; readiness, replica and
/// error-rate alerts follow; checkout (which calls payments) slows down; and unrelated
/// background noise keeps firing. At minute 12 a rollback resolves payments.
fn scenario() -> Vec<SimAlert> {
    let mut v = Vec::new();
    let pods = ["payments-7c9d8f6b5d-bx2kq", "payments-7c9d8f6b5d-d4fzw", "payments-7c9d8f6b5d-hq7rt", "payments-7c9d8f6b5d-m9wcx"];
    let nodes = ["node-a", "node-b", "node-c", "node-a"];
    for (i, (pod, node)) in pods.iter().zip(nodes).enumerate() {
        let i = i as i64;
        v.push(sim(1 + i, Some(12), &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", pod), ("container", "payments"), ("node", node), ("severity", "warning")]));
        v.push(sim(2 + i, Some(12), &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", pod), ("severity", "warning")]));
        v.push(sim(3 + i, Some(12), &[("alertname", "KubeContainerWaiting"), ("namespace", "shop"), ("pod", pod), ("container", "payments"), ("severity", "warning")]));
    }
    v.push(sim(4, Some(12), &[("alertname", "KubeDeploymentReplicasMismatch"), ("namespace", "shop"), ("deployment", "payments"), ("severity", "warning")]));
    v.push(sim(5, Some(12), &[("alertname", "KubeDeploymentRolloutStuck"), ("namespace", "shop"), ("deployment", "payments"), ("severity", "warning")]));
    v.push(sim(3, Some(12), &[("alertname", "PaymentsHighErrorRate"), ("namespace", "shop"), ("workload", "payments"), ("workload_type", "deployment"), ("severity", "critical")]));
    v.push(sim(4, Some(12), &[("alertname", "PaymentsSLOBurnRate"), ("namespace", "shop"), ("workload", "payments"), ("workload_type", "deployment"), ("long", "1h"), ("severity", "critical")]));
    for (i, pod) in ["checkout-5f6d7c8b9d-kz2lp", "checkout-5f6d7c8b9d-r7v4n"].iter().enumerate() {
        v.push(sim(5 + i as i64, Some(13), &[("alertname", "HighLatencyP99"), ("namespace", "shop"), ("pod", pod), ("severity", "warning")]));
    }
    v.push(sim(0, None, &[("alertname", "KubeCPUOvercommit"), ("severity", "warning")]));
    v.push(sim(2, None, &[("alertname", "NodeFilesystemSpaceFillingUp"), ("node", "node-c"), ("mountpoint", "/var"), ("severity", "warning")]));
    v
}

fn labels_of(a: &SimAlert) -> LabelSet {
    let mut l: LabelSet = a.labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    l.insert("cluster".into(), "demo".into());
    l
}

/// Group notifications as Alertmanager would (group_by: alertname), in time order.
fn notifications(alerts: &[SimAlert], t0: DateTime<Utc>) -> Vec<WebhookMessage> {
    let minute = |m: i64| t0 + chrono::Duration::minutes(m);
    let mut events: BTreeMap<(i64, String), Vec<WebhookAlert>> = BTreeMap::new();
    for a in alerts {
        let labels = labels_of(a);
        let name = labels.get("alertname").cloned().unwrap_or_default();
        let fingerprint = alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let firing = WebhookAlert { status: AlertStatus::Firing, labels: labels.clone(), annotations: LabelSet::new(), starts_at: minute(a.at), ends_at: zero_time(), generator_url: String::new(), fingerprint: fingerprint.clone() };
        events.entry((a.at, name.clone())).or_default().push(firing);
        if let Some(r) = a.resolves {
            let resolved = WebhookAlert { status: AlertStatus::Resolved, labels, annotations: LabelSet::new(), starts_at: minute(a.at), ends_at: minute(r), generator_url: String::new(), fingerprint };
            events.entry((r, name)).or_default().push(resolved);
        }
    }
    events
        .into_iter()
        .map(|((_, name), alerts)| {
            let status = if alerts.iter().any(|a| a.status == AlertStatus::Firing) { AlertStatus::Firing } else { AlertStatus::Resolved };
            let group_labels = LabelSet::from([("alertname".to_string(), name.clone())]);
            WebhookMessage {
                version: "4".into(),
                group_key: format!("{{}}:{{alertname=\"{name}\"}}"),
                truncated_alerts: 0,
                status,
                receiver: "kubesage".into(),
                group_labels: group_labels.clone(),
                common_labels: group_labels,
                common_annotations: LabelSet::new(),
                external_url: "http://alertmanager.demo:9093".into(),
                alerts,
                notification_reason: None,
                route_labels: None,
            }
        })
        .collect()
}

/// The payments Deployment's four pods report p99 latency every 15 s for 20 minutes; from
/// minute 16 one pod (the one on node-b, whose disk is filling up) slows down. As Prometheus
/// would remote-write them: one request per minute of samples.
pub fn latency_writes(t0: DateTime<Utc>) -> Vec<prompb::WriteRequest> {
    let pods = ["payments-7d9f8c6b5-x2x4z", "payments-7d9f8c6b5-q8w2n", "payments-7d9f8c6b5-m4k7p", "payments-7d9f8c6b5-z9r2t"];
    let label = |name: &str, value: &str| prompb::Label { name: name.into(), value: value.into() };
    (0..20)
        .map(|minute| prompb::WriteRequest {
            timeseries: pods
                .iter()
                .enumerate()
                .map(|(p, pod)| prompb::TimeSeries {
                    labels: vec![label("__name__", "http_request_duration_p99_seconds"), label("cluster", "demo"), label("namespace", "shop"), label("pod", pod)],
                    samples: (0..4)
                        .map(|k| {
                            let i = minute * 4 + k;
                            // A little deterministic jitter around 120 ms.
                            let jitter = 0.004 * (((i * 7 + p as i64 * 13) % 9) as f64 - 4.0) / 4.0;
                            let slow = if p == 1 && i >= 66 { 0.45 } else { 0.0 };
                            prompb::Sample { value: 0.12 + jitter + slow, timestamp: (t0 + chrono::Duration::seconds(15 * i)).timestamp_millis() }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// Loki push bodies (JSON): the payments pods log their requests; from minute 16 the slow
/// pod also logs database timeouts at error level. One push per minute.
pub fn log_pushes(t0: DateTime<Utc>) -> Vec<serde_json::Value> {
    let pods = ["payments-7d9f8c6b5-x2x4z", "payments-7d9f8c6b5-q8w2n"];
    (0..20i64)
        .map(|minute| {
            let streams: Vec<serde_json::Value> = pods
                .iter()
                .enumerate()
                .map(|(p, pod)| {
                    let at = |s: i64| (t0 + chrono::Duration::seconds(minute * 60 + s)).timestamp_nanos_opt().unwrap_or_default().to_string();
                    let mut values: Vec<serde_json::Value> =
                        (0..6).map(|k| serde_json::json!([at(k * 10), format!("POST /v1/charge order={} status=200 duration={}ms", minute * 100 + k, 90 + k * 7 + p as i64), {"level": "info"}])).collect();
                    if p == 1 && minute >= 16 {
                        values.extend((0..12).map(|k| serde_json::json!([at(k * 5 + 1), format!("db timeout after {}ms on query id={}", 3000 + k * 11, minute * 50 + k), {"level": "error"}])));
                    }
                    values.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
                    serde_json::json!({"stream": {"cluster": "demo", "namespace": "shop", "pod": pod}, "values": values})
                })
                .collect();
            serde_json::json!({ "streams": streams })
        })
        .collect()
}

#[derive(Default)]
struct Seen {
    incidents: BTreeMap<String, Incident>,
    commands: BTreeMap<String, RemediationCommand>,
    results: BTreeMap<String, RemediationResult>,
    /// Anomaly id -> latest record.
    anomalies: BTreeMap<String, Anomaly>,
    /// Incident id -> latest RCA report.
    reports: BTreeMap<String, RcaReport>,
    audit: usize,
    deadletters: usize,
}

fn watcher(bootstrap: &str, config: &Config) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = kafka::reader_config(&config.kafka, bootstrap).create()?;
    let mut tpl = TopicPartitionList::new();
    for name in [topics::INCIDENTS, topics::RCA, topics::COMMANDS, topics::RESULTS, topics::AUDIT, topics::DEADLETTER, topics::ANOMALIES] {
        let parts = topics::spec(name).map_or(1, |t| t.partitions);
        for p in 0..parts {
            tpl.add_partition_offset(name, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

fn poll_into(consumer: &BaseConsumer, seen: &mut Seen, verbose: bool) {
    while let Some(Ok(m)) = consumer.poll(Duration::from_millis(20)) {
        let payload = m.payload().unwrap_or_default();
        match m.topic() {
            topics::INCIDENTS => {
                if let Ok(e) = serde_json::from_slice::<Envelope<Incident>>(payload) {
                    let i = e.data;
                    if verbose {
                        println!("  incident {} [{}] {} — {} alerts, {} firing, severity {:?}", &i.incident_id[..8], status(i.status), i.title, i.alert_count, i.firing_count, i.severity);
                    }
                    seen.incidents.insert(i.incident_id.clone(), i);
                }
            }
            topics::RCA => {
                if let Ok(e) = serde_json::from_slice::<Envelope<RcaReport>>(payload) {
                    let r = e.data;
                    if verbose {
                        let top = r.candidates.first().map_or("-".to_string(), |c| format!("{} ({:.2})", c.component, c.score));
                        println!("  rca      {} rev {} root cause first: {top}", &r.incident_id[..8], r.incident_revision);
                    }
                    seen.reports.insert(r.incident_id.clone(), r);
                }
            }
            topics::COMMANDS => {
                if let Ok(e) = serde_json::from_slice::<Envelope<RemediationCommand>>(payload) {
                    if verbose {
                        println!("  command  {} {} {} ({})", &e.data.command_id[..8], e.data.action.as_str(), e.data.target, e.data.rule);
                    }
                    seen.commands.insert(e.data.command_id.clone(), e.data);
                }
            }
            topics::RESULTS => {
                if let Ok(e) = serde_json::from_slice::<Envelope<RemediationResult>>(payload) {
                    if verbose {
                        println!("  result   {} {}: {}", &e.data.command_id[..8], e.data.outcome.as_str(), e.data.message);
                    }
                    seen.results.insert(e.data.command_id.clone(), e.data);
                }
            }
            topics::ANOMALIES => {
                if let Ok(e) = serde_json::from_slice::<Envelope<Anomaly>>(payload) {
                    let a = e.data;
                    if verbose && a.phase == AnomalyPhase::Started {
                        println!("  anomaly  {} {} [{}] observed {:.3}, expected {:.3}..{:.3}", &a.anomaly_id[..8], a.series, a.detectors.join(","), a.observed, a.expected_low, a.expected_high);
                    }
                    // Keep what the start said (an end record carries no template).
                    let template = seen.anomalies.get(&a.anomaly_id).and_then(|old| old.labels.get("template").cloned());
                    let mut a = a;
                    if let Some(t) = template {
                        a.labels.entry("template".to_string()).or_insert(t);
                    }
                    seen.anomalies.insert(a.anomaly_id.clone(), a);
                }
            }
            topics::AUDIT => seen.audit += 1,
            topics::DEADLETTER => seen.deadletters += 1,
            _ => {}
        }
    }
}

fn status(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Open => "open",
        IncidentStatus::Resolved => "resolved",
    }
}

pub struct DemoOptions {
    pub listen: std::net::SocketAddr,
    pub keep_running: bool,
    pub timeout: Duration,
}

pub async fn run(opts: DemoOptions) -> Result<()> {
    let mut config = Config::default();
    config.server.listen = opts.listen;
    config.runtime.idle_timeout = Duration::from_secs(1);
    config.runtime.max_out_of_orderness = Duration::from_secs(1);
    config.runtime.checkpoint_interval = Duration::from_secs(1);
    config.runtime.tick_interval = Duration::from_millis(200);
    config.correlation.emit_interval = Duration::from_secs(1);
    // Alertmanager's alerts carry no cluster label; the samples and log streams say "demo".
    config.collector.alertmanager.default_cluster = topology::CLUSTER.into();
    println!("KubeSage demo — embedded Kafka, all roles in one process");
    let running = app::start(config.clone(), &[Role::All]).await?;
    println!("  kafka    {} (librdkafka mock cluster; kcat -b {} -L)", running.bootstrap, running.bootstrap);
    println!("  http     http://{} (/metrics, /healthz, /readyz, POST {WEBHOOK_PATH})", running.http_addr);

    let alerts = scenario();
    let t0 = Utc::now() - chrono::Duration::minutes(20);
    let objects = topology::publish(&config, &running.bootstrap, t0).await?;
    println!("\n0. The cluster's topology ({objects} objects: Deployments, ReplicaSets, Pods on 3 Nodes, Services, checkout calling payments) is on {}", topics::TOPOLOGY);
    let notes = notifications(&alerts, t0);
    let url = format!("http://{}{WEBHOOK_PATH}", running.http_addr);
    let client = reqwest::Client::new();
    let total_alerts: usize = notes.iter().map(|n| n.alerts.len()).sum();
    println!("\n1. Alertmanager (an HA pair) delivers {} notifications carrying {total_alerts} alert updates, each twice:", notes.len());
    for n in &notes {
        for _replica in 0..2 {
            let resp = client.post(&url).json(n).send().await.map_err(|e| Error::Internal(format!("posting to the collector: {e}")))?;
            if !resp.status().is_success() {
                return Err(Error::Internal(format!("collector answered {}: {}", resp.status(), resp.text().await.unwrap_or_default())));
            }
        }
        println!("  sent {:<32} {} alerts ({})", n.group_labels.get("alertname").map(String::as_str).unwrap_or(""), n.alerts.len(), status_of(n.status));
    }
    let writes = latency_writes(t0);
    let write_url = format!("http://{}{}", running.http_addr, remote_write::PATH);
    for w in &writes {
        let body = snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(w)).map_err(|e| Error::Internal(format!("snappy: {e}")))?;
        let resp = client
            .post(&write_url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Internal(format!("remote-writing to the collector: {e}")))?;
        if !resp.status().is_success() {
            return Err(Error::Internal(format!("remote_write answered {}: {}", resp.status(), resp.text().await.unwrap_or_default())));
        }
    }
    let pushes = log_pushes(t0);
    let push_url = format!("http://{}{}", running.http_addr, loki::PATH);
    let mut lines = 0;
    for body in &pushes {
        lines += body["streams"].as_array().map_or(0, |s| s.iter().map(|st| st["values"].as_array().map_or(0, Vec::len)).sum());
        let resp = client.post(&push_url).json(body).send().await.map_err(|e| Error::Internal(format!("pushing logs to the collector: {e}")))?;
        if !resp.status().is_success() {
            return Err(Error::Internal(format!("Loki push answered {}: {}", resp.status(), resp.text().await.unwrap_or_default())));
        }
    }
    let samples: usize = writes.iter().flat_map(|w| &w.timeseries).map(|t| t.samples.len()).sum();
    println!("  and Prometheus remote-writes {samples} latency samples of the 4 payments pods (one slows down at minute 16)");
    println!("  and a log shipper pushes {lines} log lines (Loki API) of two payments pods (database timeouts from minute 16)");
    println!("\n2. The pipeline detects, correlates, plans and executes (dry-run):");
    let consumer = watcher(&running.bootstrap, &config)?;
    let mut seen = Seen::default();
    let started = Instant::now();
    let fingerprints: BTreeSet<String> = notes.iter().flat_map(|n| n.alerts.iter().map(|a| a.fingerprint.clone())).collect();
    let still_firing = alerts.iter().filter(|a| a.resolves.is_none()).count();
    loop {
        poll_into(&consumer, &mut seen, true);
        let resolved = seen.incidents.values().filter(|i| i.status == IncidentStatus::Resolved).count();
        let settled = !seen.incidents.is_empty()
            && !seen.reports.is_empty()
            && seen.anomalies.values().any(|a| a.detectors.iter().any(|d| d == "peer_mad"))
            && seen.anomalies.values().any(|a| a.signal == "metric" && a.detectors.iter().any(|d| d != "peer_mad"))
            && seen.anomalies.values().any(|a| a.signal == "log")
            && seen.results.len() >= seen.commands.len()
            && !seen.commands.is_empty()
            && seen.incidents.len() - resolved <= still_firing;
        if settled || started.elapsed() > opts.timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = client.get(format!("http://{}/metrics", running.http_addr)).send().await.map_err(|e| Error::Internal(e.to_string()))?.text().await.unwrap_or_default();
    let received: f64 = body.lines().filter(|l| l.starts_with("kubesage_collector_records_total{endpoint=\"webhook\"}")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();

    println!("\nSummary");
    println!("  alert updates received   {received} ({} distinct alerts, duplicates from the HA pair removed)", fingerprints.len());
    println!("  incidents                {} ({} resolved, {} open)", seen.incidents.len(), seen.incidents.values().filter(|i| i.status == IncidentStatus::Resolved).count(), seen.incidents.values().filter(|i| i.status == IncidentStatus::Open).count());
    if !seen.incidents.is_empty() {
        println!("  compression              {:.1} alerts per incident", fingerprints.len() as f64 / seen.incidents.len() as f64);
    }
    for i in seen.incidents.values() {
        println!("    - [{}] {} ({} alerts)", status(i.status), i.title, i.alert_count);
        if let Some(r) = seen.reports.get(&i.incident_id) {
            for (k, c) in r.candidates.iter().take(3).enumerate() {
                let lead = if k == 0 { "look first at" } else { "then" };
                println!("      {lead:<13} {} (score {:.2}): {}", c.component, c.score, c.evidence.iter().take(3).cloned().collect::<Vec<_>>().join("; "));
            }
        }
    }
    println!("  commands planned         {}", seen.commands.len());
    for c in seen.commands.values() {
        let outcome = seen.results.get(&c.command_id).map_or("no result yet".to_string(), |r| format!("{}: {}", r.outcome.as_str(), r.message));
        println!("    - {} {} -> {outcome}", c.action.as_str(), c.target);
    }
    println!("  anomalies                {}", seen.anomalies.len());
    for a in seen.anomalies.values() {
        let pod = a.labels.get("pod").or_else(|| a.labels.get("peer_member")).map_or("", String::as_str);
        let status = if a.phase == AnomalyPhase::Ended { "ended" } else { "ongoing" };
        if a.signal == "log" {
            let what = a.labels.get("template").map_or(String::new(), |t| format!(" template {t:?}"));
            println!("    - [{}] logs of {pod}{what} ({status})", a.detectors.join(","));
        } else {
            println!("    - [{}] {} of {pod}: {:.3}, expected {:.3}..{:.3} ({status})", a.detectors.join(","), a.labels.get("__name__").map_or("", String::as_str), a.observed, a.expected_low, a.expected_high);
        }
    }
    println!("  audit records            {}", seen.audit);
    println!("  dead letters             {}", seen.deadletters);
    println!("\nWhere to look");
    println!("  topics    {}, {}, {}, {}, {}, {}", topics::INCIDENTS, topics::RCA, topics::ANOMALIES, topics::COMMANDS, topics::RESULTS, topics::AUDIT);
    println!("  kcat      kcat -b {} -C -t {} -e   (kcat needs librdkafka >= 2.1, see README)", running.bootstrap, topics::INCIDENTS);
    println!("  metrics   curl http://{}/metrics", running.http_addr);
    let ok = !seen.incidents.is_empty() && !seen.anomalies.is_empty() && !seen.commands.is_empty() && seen.results.len() >= seen.commands.len();
    drop(consumer); // before the embedded broker goes away
    if opts.keep_running {
        println!("\nStill running; Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    running.shutdown().await?;
    if ok {
        Ok(())
    } else {
        Err(Error::Internal("the demo did not reach its end state in time".into()))
    }
}

fn status_of(s: AlertStatus) -> &'static str {
    s.as_str()
}
