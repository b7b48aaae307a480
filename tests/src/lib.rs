//! Test harness: real peers started on loopback (the Nisshi Kafka broker, Alertmanager),
//! the `kubesage` binary as a child process, and helpers to read and write topics.
//! Every process started here is killed (by its PID) when its guard is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::{alert_fingerprint, stable_id};
use kubesage_schemas::Envelope;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

fn require(name: &str, hint: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("`{name}` is not installed: {hint} (tests/run.sh installs it)"))
}

/// The Nisshi broker (Kafka protocol) on a free loopback port, in-memory storage.
pub struct Broker {
    pub bootstrap: String,
    pub proc: Proc,
}

impl Broker {
    pub fn start() -> Broker {
        let bin = std::env::var_os("NISSHI_BIN").map(PathBuf::from).unwrap_or_else(|| require("nisshi", "cargo install nisshi@0.8.1 --locked"));
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(std::env::temp_dir().join(format!("nisshi-{port}.log"))).expect("log file");
        let child = Command::new(bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://nisshi/", "--group-initial-rebalance-delay", "0s"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nisshi");
        let broker = Broker { bootstrap: format!("127.0.0.1:{port}"), proc: Proc { child, name: "nisshi".into() } };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let consumer: BaseConsumer = self.client_config().create().expect("client");
        while Instant::now() < deadline {
            if consumer.fetch_metadata(None, Duration::from_secs(1)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nisshi did not become ready on {}", self.bootstrap);
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap).set("log_level", "3");
        c
    }

    /// Create the catalogue's topics with `kubesage topics create`.
    pub fn create_topics(&self, config: &Path) {
        let out = Command::new(kubesage_bin()).args(["topics", "create", "--config"]).arg(config).output().expect("run kubesage");
        assert!(out.status.success(), "topics create failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        self.client_config().set("enable.idempotence", "true").create().expect("producer")
    }

    pub fn produce(&self, topic: &str, records: &[(String, Vec<u8>)]) {
        let p = self.producer();
        for (k, v) in records {
            let mut rec = BaseRecord::to(topic).key(k.as_str()).payload(v.as_slice());
            loop {
                match p.send(rec) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        rec = back;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        p.flush(Duration::from_secs(30)).expect("flush");
    }

    /// Whether `job`'s checkpoints cover every record of its input `topic`.
    pub fn caught_up(&self, job: &str, topic: &str) -> bool {
        let ends = self.end_offsets(topic);
        let cps: BTreeMap<String, i64> = self
            .read_all(kubesage_schemas::topics::CHECKPOINTS)
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_slice::<serde_json::Value>(&v).ok()?["next_offset"].as_i64()?)))
            .collect();
        ends.iter().all(|(p, end)| *end == 0 || cps.get(&format!("checkpoint/{job}/{topic}/{p}")).is_some_and(|o| o >= end))
    }

    /// High watermark of every partition of `topic`.
    pub fn end_offsets(&self, topic: &str) -> BTreeMap<i32, i64> {
        let consumer: BaseConsumer = self.client_config().create().expect("consumer");
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).expect("metadata");
        md.topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .map(|p| (p, consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).expect("watermarks").1))
            .collect()
    }

    /// Every record currently in `topic` (all partitions), as (key, payload).
    pub fn read_all(&self, topic: &str) -> Vec<(String, Vec<u8>)> {
        let consumer: BaseConsumer = self.client_config().set("group.id", "kubesage-tests-reader").set("enable.auto.commit", "false").create().expect("consumer");
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).expect("metadata");
        let mut ends = std::collections::HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(5)).expect("watermarks");
                if high > low {
                    ends.insert(p.id(), high);
                    tpl.add_partition_offset(topic, p.id(), Offset::Offset(low)).expect("tpl");
                }
            }
        }
        let mut out = Vec::new();
        if ends.is_empty() {
            return out;
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ends.is_empty() && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                out.push((key, m.payload().unwrap_or_default().to_vec()));
                if ends.get(&m.partition()).is_some_and(|e| m.offset() + 1 >= *e) {
                    ends.remove(&m.partition());
                }
            }
        }
        assert!(ends.is_empty(), "could not read {topic} to its end");
        out
    }

    /// Decoded payloads of a topic.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, topic: &str) -> Vec<T> {
        self.read_all(topic).into_iter().filter_map(|(_, v)| serde_json::from_slice(&v).ok()).collect()
    }
}

/// The `kubesage` binary built next to this test (run `cargo build -p kubesage` first;
/// tests/run.sh does).
/// This crate's directory, as cargo says when it runs the tests (not as it was when they
/// were compiled: a target directory shared by two checkouts keeps the first one's path).
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

pub fn kubesage_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBESAGE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("kubesage");
    assert!(bin.is_file(), "{} is missing: run `cargo build -p kubesage` first", bin.display());
    bin
}

/// Write a config file for a test run.
pub fn write_config(dir: &Path, bootstrap: &str, http_port: u16, extra: &str) -> PathBuf {
    let text = format!(
        r#"[kafka]
brokers = "{bootstrap}"

[server]
listen = "127.0.0.1:{http_port}"

[runtime]
checkpoint_interval = "200ms"
max_out_of_orderness = "1s"
idle_timeout = "1s"
tick_interval = "100ms"
shutdown_deadline = "20s"

[correlation]
emit_interval = "1s"
session_gap = "2m"

{extra}
"#
    );
    let path = dir.join(format!("kubesage-{http_port}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// `kubesage run` as a child process; logs go to a file in `dir`.
pub fn run_kubesage(config: &Path, roles: &[&str], log: &Path) -> Proc {
    let mut cmd = Command::new(kubesage_bin());
    cmd.args(["run", "--config"]).arg(config);
    for r in roles {
        cmd.args(["--role", r]);
    }
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
    let child = cmd.env("RUST_LOG", "info,librdkafka=warn,rdkafka=warn").stdout(Stdio::null()).stderr(log).spawn().expect("spawn kubesage");
    Proc { child, name: "kubesage".into() }
}

/// POST `body` with its content type (and content encoding, when given); the status code
/// and the response text.
pub fn http_post(url: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let mut req = reqwest::Client::new().post(url).header("content-type", content_type).body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        let resp = req.send().await.expect("post");
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    })
}

/// Wait until `url` answers 200.
pub fn wait_http_ok(url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    while Instant::now() < deadline {
        let ok = rt.block_on(async { reqwest::get(url).await.map(|r| r.status().is_success()).unwrap_or(false) });
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not become ready");
}

/// Sum of a metric's samples (by name prefix match of `name{...}` or `name `) scraped
/// from a running kubesage; None when it does not answer.
pub fn scrape(port: u16, name: &str, label_filter: &str) -> Option<f64> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let body = rt.block_on(async { reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok() })?;
    Some(
        body.lines()
            .filter(|l| (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))) && l.contains(label_filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// Poll `check` until it returns Some or the timeout passes.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Alertmanager (Debian `prometheus-alertmanager`) on loopback, delivering webhooks to
/// `webhook_url` with group_wait 1s.
pub struct Alertmanager {
    pub url: String,
    pub proc: Proc,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(webhook_url: &str) -> Alertmanager {
        let bin = which("prometheus-alertmanager").or_else(|| which("alertmanager")).unwrap_or_else(|| require("prometheus-alertmanager", "apt-get install prometheus-alertmanager"));
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = format!(
            r#"route:
  receiver: kubesage
  group_by: ['alertname', 'namespace']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: kubesage
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
"#
        );
        let cfg_path = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg_path, cfg).expect("write am config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("am.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager { url: format!("http://127.0.0.1:{port}"), proc: Proc { child, name: "alertmanager".into() }, _dir: dir };
        wait_http_ok(&format!("{}/-/ready", am.url), Duration::from_secs(20));
        am
    }
}

/// An alert record as the collector writes it to `kubesage.alerts`: (key, payload).
pub fn alert(cluster: &str, t: DateTime<Utc>, status: AlertStatus, labels: &[(&str, &str)]) -> (String, Vec<u8>) {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let fp = alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let data = Alert {
        fingerprint: fp.clone(),
        status,
        alertname: labels["alertname"].clone(),
        severity: Severity::from_label(labels.get("severity").map(String::as_str)),
        labels,
        annotations: BTreeMap::new(),
        starts_at: t,
        ends_at: None,
        generator_url: String::new(),
        group_key: None,
        via: "test".into(),
    };
    let id = stable_id(&[&fp, status.as_str(), &t.to_rfc3339()]);
    let env = Envelope::new(id, "test", t, fp, cluster, data);
    (cluster.to_string(), serde_json::to_vec(&env).expect("json"))
}


/// The last `n` lines of a log file, without colour codes, for assertion messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    while let Some(start) = out.find("\u{1b}[") {
        let end = out[start..].find('m').map_or(out.len(), |e| start + e + 1);
        out.replace_range(start..end, "");
    }
    out
}
