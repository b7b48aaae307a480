//! The Alertmanager collector against the real broker: 2xx only after Kafka acknowledged,
//! 4xx with a reason for bad input, 401 without the token, 413 over the size limit, 503
//! when Kafka cannot take the records (so Alertmanager retries).

use std::time::{Duration, Instant};

use kubesage_schemas::alert::Alert;
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use serde_json::{json, Value};

fn sample(name: &str) -> String {
    let path = kubesage_tests::crate_dir().join("../schemas/testdata/alertmanager").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn post(url: &str, body: String, token: Option<&str>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let mut req = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let code = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (code, body)
    })
}

#[test]
fn webhook_and_api_accept_reject_and_fail_like_alertmanager_expects() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").expect("token");
    let port = free_port();
    let extra = format!("[collector.alertmanager]\ndefault_cluster = \"prod-eu-1\"\nmax_body_bytes = 65536\nack_timeout = \"3s\"\nbearer_token_file = \"{}\"\n", token_file.display());
    let config = write_config(dir.path(), &broker.bootstrap, port, &extra);
    broker.create_topics(&config);
    let log = dir.path().join("collector.log");
    let mut ks = run_kubesage(&config, &["collect"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30));
    let webhook = format!("http://127.0.0.1:{port}/webhook/alertmanager");
    let api = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let token = Some("s3cret");

    // Recorded real deliveries: accepted, one record per alert, same ids on a retry.
    for name in ["webhook-v4.raw.json", "webhook-v4_resolved.raw.json", "webhook-v4.raw.json"] {
        let (code, body) = post(&webhook, sample(name), token);
        assert_eq!(code, 200, "{name}: {body}");
        assert_eq!(body["status"], "success");
    }
    let alerts: Vec<Envelope<Alert>> = broker.read_json(topics::ALERTS);
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[0].id, alerts[2].id, "a retried delivery keeps its id");
    assert_ne!(alerts[0].id, alerts[1].id, "a resolve is a new record");
    assert_eq!(alerts[0].cluster, "prod-eu-1");
    assert_eq!(alerts[0].data.fingerprint, "a814c41e9ae7feaf");
    assert_eq!(alerts[1].data.status, AlertStatus::Resolved);

    // API v2, as Prometheus sends: one firing, one with endsAt in the past (resolved).
    let body = json!([
        {"labels": {"alertname": "HighErrorRate", "namespace": "shop", "service": "payments", "cluster": "c2"}, "startsAt": "2026-11-23T10:00:00Z"},
        {"labels": {"alertname": "DiskFull", "node": "n1"}, "startsAt": "2026-11-23T09:00:00Z", "endsAt": "2026-11-23T09:30:00Z"}
    ]);
    let (code, resp) = post(&api, body.to_string(), token);
    assert_eq!(code, 200, "{resp}");
    let alerts: Vec<Envelope<Alert>> = broker.read_json(topics::ALERTS);
    let api_alerts: Vec<_> = alerts.iter().filter(|a| a.data.via == "api").collect();
    assert_eq!(api_alerts.len(), 2);
    assert!(api_alerts.iter().any(|a| a.cluster == "c2" && a.data.status == AlertStatus::Firing));
    assert!(api_alerts.iter().any(|a| a.cluster == "prod-eu-1" && a.data.status == AlertStatus::Resolved));

    // Bad input: 4xx with a reason, nothing written.
    let before = broker.read_all(topics::ALERTS).len();
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        (&webhook, "{not json".into(), token, 400, "invalid Alertmanager webhook body"),
        (&webhook, sample("webhook-v4.raw.json").replace("\"version\":\"4\"", "\"version\":\"3\""), token, 400, "unsupported webhook version"),
        (&api, json!({"labels": {}}).to_string(), token, 400, "expected a JSON array"),
        (&api, json!([{"labels": {}}]).to_string(), token, 400, "labels must not be empty"),
        (&api, json!([{"labels": {"a": "b"}, "startsAt": "2026-11-23T10:00:00Z", "endsAt": "2026-11-23T09:00:00Z"}]).to_string(), token, 400, "endsAt is before startsAt"),
        (&webhook, sample("webhook-v4.raw.json"), None, 401, "bearer token"),
        (&webhook, sample("webhook-v4.raw.json"), Some("wrong"), 401, "bearer token"),
    ];
    for (url, body, tok, want, reason) in cases {
        let (code, resp) = post(url, body, tok);
        assert_eq!(code, want, "{reason}: {resp}");
        assert!(resp["error"].as_str().unwrap_or("").contains(reason), "{resp} should mention {reason:?}");
    }
    let (code, _) = post(&webhook, format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)), token);
    assert_eq!(code, 413, "over the body limit");
    assert_eq!(broker.read_all(topics::ALERTS).len(), before, "rejected requests wrote nothing");

    // Kafka gone: 503 (Alertmanager retries 5xx), within the ack timeout.
    let mut broker = broker;
    broker.proc.kill9();
    let started = Instant::now();
    let (code, resp) = post(&webhook, sample("webhook-v4_from_prometheus.raw.json"), token);
    assert_eq!(code, 503, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let metrics = scrape(port, "kubesage_collector_requests_total", "code=\"503\"").unwrap_or(0.0);
    assert!(metrics >= 1.0, "503s are counted");
    // Even with Kafka gone, SIGTERM stops it within the shutdown deadline.
    ks.terminate(Duration::from_secs(30)).unwrap_or_else(|| panic!("did not stop on SIGTERM; log:\n{}", tail(&log, 20)));
}
