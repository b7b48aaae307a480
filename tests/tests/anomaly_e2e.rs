//! Metric, peer-group and log anomalies through the real broker, with the operate worker
//! killed (-9) half way: Prometheus remote_write and Loki push bodies reach the collector,
//! the detect-metrics, detect-peers and detect-logs jobs find the slow pod and its error
//! burst. The slowdown starts after the crash, at sample 66 of each series, while a series
//! needs 64 samples before it may alarm: only 32 arrive after the restart, so finding it
//! proves the detector state came back from the checkpoint topic.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use kubesage::demo::{latency_writes, log_pushes};
use kubesage_schemas::signals::{Anomaly, AnomalyPhase};
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;

const SLOW_POD: &str = "payments-7d9f8c6b5-q8w2n";

#[test]
fn anomalies_survive_a_crash_of_the_operate_worker() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let (collect_port, operate_port) = (free_port(), free_port());
    let collect_cfg = write_config(dir.path(), &broker.bootstrap, collect_port, "");
    let operate_cfg = write_config(dir.path(), &broker.bootstrap, operate_port, "");
    broker.create_topics(&collect_cfg);
    let log = dir.path().join("kubesage.log");
    let _collect = run_kubesage(&collect_cfg, &["collect"], &log);
    let mut operate = run_kubesage(&operate_cfg, &["operate"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{collect_port}/readyz"), Duration::from_secs(30));
    wait_http_ok(&format!("http://127.0.0.1:{operate_port}/readyz"), Duration::from_secs(60));

    let t0 = Utc::now() - chrono::Duration::minutes(20);
    let (writes, pushes) = (latency_writes(t0), log_pushes(t0));
    let write_url = format!("http://127.0.0.1:{collect_port}/api/v1/write");
    let push_url = format!("http://127.0.0.1:{collect_port}/loki/api/v1/push");
    let send = |minutes: std::ops::Range<usize>| {
        for m in minutes {
            let body = snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(&writes[m])).expect("snappy");
            assert_eq!(http_post(&write_url, "application/x-protobuf", Some("snappy"), body).0, 204, "remote_write minute {m}");
            let body = serde_json::to_vec(&pushes[m]).expect("json");
            assert_eq!(http_post(&push_url, "application/json", None, body).0, 204, "loki push minute {m}");
        }
    };

    // Twelve minutes (48 samples per pod), all of them learnt and checkpointed, then kill -9.
    send(0..12);
    let learnt = eventually(Duration::from_secs(60), || scrape(operate_port, "kubesage_runtime_events_received_total", "operator=\"detect-metrics\"").filter(|n| *n >= 192.0));
    assert!(learnt.is_some(), "detect-metrics did not read the first 12 minutes\n{}", tail(&log, 40));
    let checkpoints = scrape(operate_port, "kubesage_runtime_checkpoints_total", "").unwrap_or(0.0);
    assert!(eventually(Duration::from_secs(20), || scrape(operate_port, "kubesage_runtime_checkpoints_total", "").filter(|n| *n > checkpoints + 3.0)).is_some());
    operate.kill9();
    let _operate = run_kubesage(&operate_cfg, &["operate"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{operate_port}/readyz"), Duration::from_secs(60));
    send(12..20);

    let wanted = |records: &[Envelope<Anomaly>]| {
        let started = |pred: &dyn Fn(&Anomaly) -> bool| records.iter().any(|r| r.data.phase == AnomalyPhase::Started && pred(&r.data));
        let of_pod = |a: &Anomaly| a.labels.get("pod").or_else(|| a.labels.get("peer_member")).is_some_and(|p| p == SLOW_POD);
        started(&|a| a.signal == "metric" && of_pod(a) && !a.detectors.iter().any(|d| d == "peer_mad"))
            && started(&|a| of_pod(a) && a.detectors.iter().any(|d| d == "peer_mad"))
            && started(&|a| a.signal == "log" && of_pod(a) && a.detectors.iter().any(|d| d == "new-pattern"))
            && started(&|a| a.signal == "log" && of_pod(a) && a.detectors.iter().any(|d| d == "error-burst"))
    };
    let records = eventually(Duration::from_secs(90), || Some(broker.read_json::<Envelope<Anomaly>>(topics::ANOMALIES)).filter(|r| wanted(r)));
    let records = records.unwrap_or_else(|| {
        let seen: Vec<String> = broker.read_json::<Envelope<Anomaly>>(topics::ANOMALIES).iter().map(|r| format!("{:?} {:?} {}", r.data.phase, r.data.detectors, r.data.series)).collect();
        let windows = broker.read_all(topics::PEER_WINDOWS).len();
        let peers_in = scrape(operate_port, "kubesage_runtime_events_received_total", "operator=\"detect-peers\"");
        let peers_late = scrape(operate_port, "kubesage_runtime_late_events_total", "operator=\"detect-peers\"");
        let wm = scrape(operate_port, "kubesage_runtime_watermark_lag_seconds", "operator=\"detect-peers\"");
        panic!("missing anomalies; seen {seen:#?}\npeer windows on the topic {windows}, read by detect-peers {peers_in:?}, late {peers_late:?}, watermark lag {wm:?}\n{}", tail(&log, 30))
    });

    // Nothing about the healthy pods, and a record replayed after the crash is the same
    // record (same id, same content).
    for r in &records {
        let pod = r.data.labels.get("pod").or_else(|| r.data.labels.get("peer_member")).cloned().unwrap_or_default();
        assert_eq!(pod, SLOW_POD, "a healthy pod was flagged: {:?}", r.data);
    }
    let mut by_id: BTreeMap<&str, &Anomaly> = BTreeMap::new();
    for r in &records {
        if let Some(prev) = by_id.insert(&r.id, &r.data) {
            assert_eq!(prev, &r.data, "record {} differs between deliveries", r.id);
        }
    }
}
