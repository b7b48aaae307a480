//! A real Prometheus (Debian `prometheus`) scrapes itself and remote-writes to the
//! collector: every sample Prometheus holds for a recent window must be on
//! `kubesage.metrics`, none lost. Bad bodies get 4xx with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kubesage::collector::remote_write::series_key;
use kubesage_schemas::signals::MetricSample;
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use serde_json::Value;

fn prometheus_bin() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("prometheus")).find(|p| p.is_file()))
        .expect("prometheus is not installed (apt-get install prometheus; tests/run.sh does)")
}

fn get_json(url: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async { reqwest::get(url).await.expect("get").json::<Value>().await.expect("json") })
}

#[test]
fn a_real_prometheus_remote_writes_every_sample() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = write_config(dir.path(), &broker.bootstrap, port, "[collector.remote_write]\nmax_body_bytes = 65536\n");
    broker.create_topics(&config);
    let log = dir.path().join("kubesage.log");
    let _ks = run_kubesage(&config, &["collect"], &log);
    wait_http_ok(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30));
    let write_url = format!("http://127.0.0.1:{port}/api/v1/write");

    // Bodies that can never succeed are 4xx with a reason (Prometheus drops those).
    let (code, body) = http_post(&write_url, "application/x-protobuf", None, b"plain".to_vec());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let (code, body) = http_post(&write_url, "application/x-protobuf", Some("snappy"), snap::raw::Encoder::new().compress_vec(b"\xff\xff\xff").expect("snappy"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("WriteRequest"), "{body}");
    let (code, _) = http_post(&write_url, "application/x-protobuf", Some("snappy"), vec![0u8; 70_000]);
    assert_eq!(code, 413);

    let prom_port = free_port();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\nremote_write:\n  - url: {write_url}\n    queue_config:\n      batch_send_deadline: 1s\n      max_samples_per_send: 2000\n    metadata_config:\n      send: false\n"
        ),
    )
    .expect("prometheus config");
    let child = Command::new(prometheus_bin())
        .arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log"))
        .spawn()
        .expect("start prometheus");
    let _prom = Proc { child, name: "prometheus".into() };
    let api = format!("http://127.0.0.1:{prom_port}");
    wait_http_ok(&format!("{api}/-/ready"), Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(10));

    // Every raw sample Prometheus holds in a 10 s window ending 2 s ago.
    let eval = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - 2.0;
    let resp = get_json(&format!("{api}/api/v1/query?query=%7B__name__%3D~%22.%2B%22%7D%5B10s%5D&time={eval:.3}"));
    let mut want: BTreeSet<(String, i64)> = BTreeSet::new();
    for series in resp["data"]["result"].as_array().expect("matrix") {
        let mut labels: BTreeMap<String, String> = serde_json::from_value(series["metric"].clone()).expect("labels");
        let name = labels.remove("__name__").unwrap_or_default();
        let key = series_key(&name, &labels);
        for v in series["values"].as_array().expect("values") {
            let ts = (v[0].as_f64().expect("ts") * 1000.0).round() as i64;
            want.insert((key.clone(), ts));
        }
    }
    assert!(want.len() > 100, "Prometheus holds too few samples to mean anything: {}", want.len());

    let mut last_missing = Vec::new();
    let mut got_count = 0;
    let arrived = eventually(Duration::from_secs(30), || {
        let got: BTreeSet<(String, i64)> = broker
            .read_json::<Envelope<MetricSample>>(topics::METRICS)
            .into_iter()
            .map(|e| (e.subject, e.data.timestamp.timestamp_millis()))
            .collect();
        got_count = got.len();
        last_missing = want.difference(&got).take(5).cloned().collect();
        last_missing.is_empty().then_some(())
    });
    assert!(
        arrived.is_some(),
        "samples Prometheus holds never reached kubesage.metrics ({} wanted, {got_count} on the topic), e.g. {last_missing:?}; log:\n{}",
        want.len(),
        tail(&log, 30)
    );
    let series: BTreeSet<&String> = want.iter().map(|(k, _)| k).collect();
    println!("remote_write: {} samples of {} series in the window, all on kubesage.metrics", want.len(), series.len());
}
