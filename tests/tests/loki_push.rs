//! The Loki push API on the real broker: JSON and snappy-protobuf bodies as Promtail,
//! Alloy, Fluent Bit and Vector send them become records on `kubesage.logs`; bad bodies
//! get 4xx with a reason. The bodies follow Loki's documented push formats (no Loki or
//! Promtail binary exists on these machines to record from).

use std::time::Duration;

use kubesage::collector::loki::logproto;
use kubesage_schemas::signals::LogRecord;
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use prost::Message;

#[test]
fn loki_push_json_and_protobuf_land_on_the_logs_topic() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap, port, "");
    broker.create_topics(&config);
    let _ks = run_kubesage(&config, &["collect"], &dir.path().join("kubesage.log"));
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30));
    let url = format!("http://127.0.0.1:{port}/loki/api/v1/push");

    let json = r#"{"streams":[{"stream":{"namespace":"shop","app":"payments","cluster":"c1"},"values":[["1763900000000000001","level=info msg=\"charge ok\" id=17"],["1763900000000000002","panic: nil map","{\"level\":\"error\"}"]]}]}"#;
    let json = json.replace("\"{\\\"level\\\":\\\"error\\\"}\"", "{\"level\":\"error\"}");
    let (code, body) = http_post(&url, "application/json", None, json.into_bytes());
    assert_eq!(code, 204, "{body}");

    let req = logproto::PushRequest {
        streams: vec![logproto::Stream {
            labels: r#"{namespace="shop", app="cart", job="promtail"}"#.into(),
            entries: (0..3)
                .map(|i| logproto::Entry { timestamp: Some(logproto::Timestamp { seconds: 1_763_900_000 + i, nanos: 5 }), line: format!("GET /cart/{i} 200 3ms"), structured_metadata: vec![] })
                .collect(),
        }],
    };
    let compressed = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy");
    let (code, body) = http_post(&url, "application/x-protobuf", None, compressed);
    assert_eq!(code, 204, "{body}");

    let records: Vec<Envelope<LogRecord>> = broker.read_json(topics::LOGS);
    assert_eq!(records.len(), 5);
    let panic = records.iter().find(|r| r.data.line.starts_with("panic")).expect("json line");
    assert_eq!(panic.cluster, "c1");
    assert_eq!(panic.data.level.as_deref(), Some("error"));
    let cart: Vec<_> = records.iter().filter(|r| r.data.stream.get("app").map(String::as_str) == Some("cart")).collect();
    assert_eq!(cart.len(), 3);
    assert_eq!(cart[0].cluster, "default");
    assert_eq!(cart[0].subject, r#"{app="cart",job="promtail",namespace="shop"}"#);

    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("application/json", b"{\"streams\":[{\"values\":[[1,\"x\"]]}]}".to_vec(), "nanosecond timestamp string"),
        ("application/json", b"nope".to_vec(), "invalid Loki push JSON"),
        ("application/x-protobuf", b"not snappy".to_vec(), "snappy"),
        ("application/x-protobuf", snap::raw::Encoder::new().compress_vec(&logproto::PushRequest { streams: vec![logproto::Stream { labels: "app=x".into(), entries: vec![] }] }.encode_to_vec()).expect("snappy"), "braces"),
    ];
    for (ct, body, reason) in bad {
        let (code, text) = http_post(&url, ct, None, body);
        assert_eq!(code, 400, "{reason}: {text}");
        assert!(text.contains(reason), "{text} should mention {reason}");
    }
    assert_eq!(broker.read_all(topics::LOGS).len(), 5, "rejected bodies wrote nothing");
}

#[test]
fn raw_lines_written_to_kafka_become_log_records() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let extra = "[raw_logs]\nenabled = true\ntopic = \"shipper.logs\"\nstream_labels = { source = \"vector\" }\n";
    let config = write_config(dir.path(), &broker.bootstrap, port, extra);
    broker.create_topics(&config);
    let lines: Vec<(String, Vec<u8>)> = vec![
        ("a".into(), br#"{"message":"charge ok","timestamp":"2026-11-23T10:00:00Z","namespace":"shop","pod":"payments-0"}"#.to_vec()),
        ("a".into(), br#"{"text":"no line field"}"#.to_vec()),
        ("a".into(), b"plain text line".to_vec()),
    ];
    broker.produce("shipper.logs", &lines);
    let log = dir.path().join("kubesage.log");
    let _ks = run_kubesage(&config, &["operate"], &log);
    let records = eventually(Duration::from_secs(60), || {
        let r: Vec<Envelope<LogRecord>> = broker.read_json(topics::LOGS);
        (r.len() == 2).then_some(r)
    })
    .unwrap_or_else(|| panic!("raw lines did not arrive; log:\n{}", tail(&log, 30)));
    assert!(records.iter().any(|r| r.data.line == "charge ok" && r.data.stream.get("pod").map(String::as_str) == Some("payments-0")));
    assert!(records.iter().all(|r| r.data.stream.get("source").map(String::as_str) == Some("vector")));
    let dead = eventually(Duration::from_secs(30), || {
        let d: Vec<serde_json::Value> = broker.read_json(topics::DEADLETTER);
        (!d.is_empty()).then_some(d)
    })
    .expect("the bad line is dead-lettered");
    assert!(dead[0]["data"]["reason"].as_str().unwrap_or("").contains("no message"), "{dead:?}");
}
