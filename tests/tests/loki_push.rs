//! The Loki push API on the real broker: JSON and snappy-protobuf bodies become records
//! on `kubesage.logs`; bad bodies get 4xx with a reason. Two kinds of bodies:
//! - built here from Loki's documented push formats (no Loki, Promtail, Alloy, Fluent Bit
//!   or Vector binary exists on these machines to record from);
//! - recorded from real third-party Loki clients installed from the npm registry and PyPI
//!   (winston-loki: snappy protobuf and JSON; pino-loki, python-logging-loki: JSON;
//!   loki-logger-handler: gzip'd JSON), in `pipeline/testdata/loki` with their headers in
//!   sidecars, re-recorded by `pipeline/testdata/loki/record.sh` (never in CI). They are
//!   posted with their recorded headers, as the clients sent them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kubesage::collector::loki::logproto;
use kubesage_schemas::signals::LogRecord;
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use prost::Message;

/// A broker and a kubesage running the collectors against it, ready to take pushes
/// (fields drop in order: kubesage stops before the broker).
struct Collector {
    _kubesage: Proc,
    _dir: tempfile::TempDir,
    broker: Broker,
    port: u16,
}

impl Collector {
    fn start() -> Collector {
        let broker = Broker::start();
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let config = write_config(dir.path(), &broker.bootstrap, port, "");
        broker.create_topics(&config);
        let kubesage = run_kubesage(&config, &["collect"], &dir.path().join("kubesage.log"));
        wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30));
        Collector { _kubesage: kubesage, _dir: dir, broker, port }
    }
}

#[test]
fn loki_push_json_and_protobuf_land_on_the_logs_topic() {
    let c = Collector::start();
    let (broker, port) = (&c.broker, c.port);
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

/// The recorded fixtures: (name, lines the client sent).
const RECORDED: [(&str, usize); 5] =
    [("winston-loki-protobuf", 5), ("winston-loki-json", 5), ("pino-loki-json", 5), ("python-logging-loki-json", 1), ("loki-logger-handler-json-gzip", 5)];

fn testdata() -> PathBuf {
    kubesage_tests::crate_dir().join("../pipeline/testdata/loki")
}

/// The texts the clients were asked to log (clients/scenario.json; the long line as the
/// client scripts build it).
fn scenario_texts() -> Vec<String> {
    let text = std::fs::read_to_string(testdata().join("clients/scenario.json")).expect("scenario.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("scenario json");
    let entries = v["entries"].as_array().expect("entries");
    entries
        .iter()
        .map(|e| {
            let long = e["long"].as_u64().unwrap_or(0);
            let timings: Vec<String> = (0..long).map(|i| format!("upstream-{i}={}ms", (i * 37) % 1000)).collect();
            format!("{}{}", e["message"].as_str().expect("message"), timings.join(" "))
        })
        .collect()
}

#[test]
fn recorded_real_client_bodies_land_on_the_logs_topic() {
    let c = Collector::start();
    let (broker, port) = (&c.broker, c.port);

    for (name, _) in RECORDED {
        let body = std::fs::read(testdata().join(format!("{name}.body"))).expect("body");
        let side: serde_json::Value = serde_json::from_slice(&std::fs::read(testdata().join(format!("{name}.json"))).expect("sidecar")).expect("sidecar json");
        let content_type = side["headers"]["Content-Type"].as_str().expect("recorded Content-Type");
        let encoding = side["headers"]["Content-Encoding"].as_str();
        // The cluster query parameter tells the fixtures' records apart on the topic.
        let url = format!("http://127.0.0.1:{port}{}?cluster={name}", side["path"].as_str().expect("path"));
        let (code, text) = http_post(&url, content_type, encoding, body);
        assert_eq!(code, 204, "{name}: {text}");
    }

    let records: Vec<Envelope<LogRecord>> = broker.read_json(topics::LOGS);
    let total: usize = RECORDED.iter().map(|(_, n)| n).sum();
    assert_eq!(records.len(), total);
    let texts = scenario_texts();
    let mut by_fixture: BTreeMap<&str, Vec<&Envelope<LogRecord>>> = BTreeMap::new();
    for r in &records {
        let name = RECORDED.iter().map(|(n, _)| *n).find(|n| *n == r.cluster).unwrap_or_else(|| panic!("unexpected cluster {}", r.cluster));
        assert_eq!(r.subject, kubesage_schemas::signals::series_key("", &r.data.stream), "keyed by stream");
        by_fixture.entry(name).or_default().push(r);
    }
    for (name, n) in RECORDED {
        let got = by_fixture.get(name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(got.len(), n, "{name}");
        // Every text the client was asked to log is in exactly one record's line (the JSON-line
        // clients embed it in their JSON; UTF-8 and the long line arrive whole).
        let asked: Vec<&String> = if name == "python-logging-loki-json" { vec![&texts[2]] } else { texts.iter().collect() };
        for t in asked {
            assert_eq!(got.iter().filter(|r| r.data.line.contains(t.as_str())).count(), 1, "{name}: {t}");
        }
    }
    let subjects = |name: &str| by_fixture[name].iter().map(|r| r.subject.as_str()).collect::<Vec<_>>();
    for name in ["winston-loki-protobuf", "winston-loki-json"] {
        let error = by_fixture[name].iter().find(|r| r.data.level.as_deref() == Some("error")).expect("error entry");
        assert_eq!(error.subject, r#"{app="payments",level="error",namespace="shop"}"#);
        assert_eq!(error.data.line, r#"charge failed: card declined order=4711 {"level":"error","order":4711}"#);
        assert_eq!(error.data.timestamp.timestamp_nanos_opt(), Some(1_795_428_000_002_000_000));
        assert_eq!(subjects(name).iter().filter(|s| **s == r#"{app="payments",level="info",namespace="shop"}"#).count(), 2);
    }
    assert!(subjects("pino-loki-json").contains(&r#"{app="cart",hostname="web-1",level="info",namespace="shop"}"#));
    let py = &by_fixture["python-logging-loki-json"][0];
    assert_eq!(py.subject, r#"{app="cart",logger="checkout",namespace="shop",pod="cart-7d9f8b-x2k4q",severity="info"}"#);
    assert_eq!((py.data.line.as_str(), py.data.level.as_deref()), (texts[2].as_str(), Some("info")));
    let gz = subjects("loki-logger-handler-json-gzip");
    assert_eq!(gz.iter().filter(|s| **s == r#"{app="payments",namespace="shop"}"#).count(), 4);
    assert_eq!(gz.iter().filter(|s| **s == r#"{app="cart",namespace="shop"}"#).count(), 1);

    // The gzip'd body without its Content-Encoding is rejected with a reason, and so is an
    // encoding Loki does not take.
    let gz_body = std::fs::read(testdata().join("loki-logger-handler-json-gzip.body")).expect("body");
    let url = format!("http://127.0.0.1:{port}/loki/api/v1/push");
    let (code, text) = http_post(&url, "application/json", None, gz_body.clone());
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("invalid Loki push JSON"), "{text}");
    let (code, text) = http_post(&url, "application/json", Some("br"), gz_body);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("unsupported Content-Encoding"), "{text}");
    assert_eq!(broker.read_all(topics::LOGS).len(), total, "rejected bodies wrote nothing");
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
