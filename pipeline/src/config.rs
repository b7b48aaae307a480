//! Typed, strict configuration (TOML). Defaults live in the `Default` impls; `validate` is a
//! pure step that reports every problem at once, each with its field path and line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubesage_operators::anomaly::AnomalyConfig;
use kubesage_operators::correlation::CorrelationConfig;
use kubesage_operators::log_anomaly::LogAnomalyConfig;
use kubesage_operators::planner::PlannerConfig;
use kubesage_operators::rca::RcaOperatorConfig;
use kubesage_operators::ConfigIssue;
use kubesage_schemas::remediation::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub server: ServerConfig,
    pub runtime: RuntimeConfig,
    pub collector: CollectorConfig,
    pub correlation: CorrelationConfig,
    /// Root-cause analysis of the correlator's incidents (published on `kubesage.rca`).
    pub rca: RcaOperatorConfig,
    /// Metric anomaly detection over `kubesage.metrics`.
    pub anomaly: AnomalyConfig,
    /// Log template mining and log anomalies over `kubesage.logs`.
    pub log_anomaly: LogAnomalyConfig,
    pub planner: PlannerConfig,
    pub executor: ExecutorConfig,
    /// Raw log lines written to Kafka by shippers, turned into `kubesage.logs` records.
    pub raw_logs: crate::inputs::raw_logs::RawLogsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port,...`. Empty: start the embedded in-process Kafka (librdkafka mock
    /// cluster) — for demos and trials, not for production.
    pub brokers: String,
    pub client_id: String,
    /// Consumer groups are `<group_prefix>.<job>`.
    pub group_prefix: String,
    /// Used by `kubesage topics create`.
    pub replication_factor: i32,
    /// Extra librdkafka properties (e.g. `security.protocol`). Secrets belong in
    /// `KUBESAGE_RDKAFKA_<PROPERTY>` environment variables instead.
    pub options: BTreeMap<String, String>,
    /// Producer queue bound (messages); a full queue is backpressure.
    pub producer_queue_messages: u32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            client_id: "kubesage".into(),
            group_prefix: "kubesage".into(),
            replication_factor: 1,
            options: BTreeMap::new(),
            producer_queue_messages: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listener for `/metrics`, `/healthz`, `/readyz` and the collectors.
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8080)) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// How often operator state is checkpointed (with the offsets it reflects).
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Watermark = highest event time seen minus this.
    #[serde(with = "humantime_serde")]
    pub max_out_of_orderness: Duration,
    /// A partition without records for this long lets its watermark follow the clock.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub tick_interval: Duration,
    /// What to do with an event older than the watermark.
    pub late_policy: LatePolicy,
    /// Graceful shutdown must finish within this.
    #[serde(with = "humantime_serde")]
    pub shutdown_deadline: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            checkpoint_interval: Duration::from_secs(2),
            max_out_of_orderness: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            tick_interval: Duration::from_millis(500),
            late_policy: LatePolicy::Accept,
            shutdown_deadline: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatePolicy {
    /// Process it anyway (operators apply it at their next step); counted.
    Accept,
    /// Drop it; counted.
    Drop,
    /// Send it to the dead-letter topic; counted.
    DeadLetter,
}

impl LatePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            LatePolicy::Accept => "accept",
            LatePolicy::Drop => "drop",
            LatePolicy::DeadLetter => "dead-letter",
        }
    }
}

/// The HTTP collectors (collect role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Alertmanager webhook (`/webhook/alertmanager`) and API v2 (`/api/v2/alerts`).
    pub alertmanager: IngestConfig,
    /// Prometheus remote_write 1.0 (`/api/v1/write`).
    pub remote_write: IngestConfig,
    /// Loki push API (`/loki/api/v1/push`), JSON or protobuf+snappy.
    pub loki: IngestConfig,
    /// Kubernetes watch (Events and topology objects).
    pub kubernetes: crate::collector::kubernetes::KubernetesConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        let base = IngestConfig::default();
        CollectorConfig {
            alertmanager: base.clone(),
            remote_write: IngestConfig { max_body_bytes: 16 * 1024 * 1024, ..base.clone() },
            loki: IngestConfig { max_body_bytes: 16 * 1024 * 1024, ..base },
            kubernetes: Default::default(),
        }
    }
}

/// What every HTTP collector shares: an off switch, the cluster fallback, limits, auth
/// and how long to wait for Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub enabled: bool,
    /// Cluster for records without a `cluster` label (or `?cluster=` query parameter).
    pub default_cluster: String,
    /// Request body limit (compressed size, as sent); larger bodies get a 413.
    pub max_body_bytes: usize,
    /// File holding the bearer token clients must send; unset: no auth.
    pub bearer_token_file: Option<PathBuf>,
    /// How long a request waits for Kafka to acknowledge its records before a 503.
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            enabled: true,
            default_cluster: "default".into(),
            max_body_bytes: 4 * 1024 * 1024,
            bearer_token_file: None,
            ack_timeout: Duration::from_secs(10),
        }
    }
}

impl IngestConfig {
    fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.default_cluster.trim().is_empty() {
            issues.push(ConfigIssue::new(format!("{prefix}.default_cluster"), "must not be empty"));
        }
        if self.max_body_bytes < 1024 {
            issues.push(ConfigIssue::new(format!("{prefix}.max_body_bytes"), "must be at least 1024"));
        }
        if self.ack_timeout.is_zero() {
            issues.push(ConfigIssue::new(format!("{prefix}.ack_timeout"), "must be greater than 0"));
        }
        issues
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorConfig {
    /// `dry-run` only describes what it would do.
    pub backend: BackendKind,
    /// Namespaces the executor may act in (empty: none; cluster-scoped targets need `*`).
    pub allowed_namespaces: Vec<String>,
    pub allowed_actions: Vec<Action>,
    /// Name reported in results and audit records.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    DryRun,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            backend: BackendKind::DryRun,
            allowed_namespaces: vec!["*".into()],
            allowed_actions: vec![Action::RestartRollout, Action::DeletePod, Action::CordonNode, Action::Scale, Action::RollbackRollout, Action::Notify],
            name: "executor".into(),
        }
    }
}

/// A configuration problem with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl Config {
    /// Every semantic problem at once (the pure validation step).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.kafka.client_id.trim().is_empty() {
            issues.push(ConfigIssue::new("kafka.client_id", "must not be empty"));
        }
        if self.kafka.group_prefix.trim().is_empty() {
            issues.push(ConfigIssue::new("kafka.group_prefix", "must not be empty"));
        }
        if self.kafka.replication_factor < 1 {
            issues.push(ConfigIssue::new("kafka.replication_factor", "must be at least 1"));
        }
        if self.kafka.producer_queue_messages < 100 {
            issues.push(ConfigIssue::new("kafka.producer_queue_messages", "must be at least 100"));
        }
        for key in self.kafka.options.keys() {
            if ["bootstrap.servers", "enable.idempotence", "acks", "enable.auto.commit", "enable.auto.offset.store", "group.id"].contains(&key.as_str()) {
                issues.push(ConfigIssue::new(format!("kafka.options.{key}"), "is set by KubeSage itself and cannot be overridden"));
            }
        }
        let r = &self.runtime;
        for (name, d) in [("checkpoint_interval", r.checkpoint_interval), ("idle_timeout", r.idle_timeout), ("tick_interval", r.tick_interval), ("shutdown_deadline", r.shutdown_deadline)] {
            if d.is_zero() {
                issues.push(ConfigIssue::new(format!("runtime.{name}"), "must be greater than 0"));
            }
        }
        issues.extend(self.collector.alertmanager.validate("collector.alertmanager"));
        issues.extend(self.collector.remote_write.validate("collector.remote_write"));
        issues.extend(self.collector.loki.validate("collector.loki"));
        issues.extend(self.correlation.validate("correlation"));
        issues.extend(self.rca.validate("rca"));
        issues.extend(self.anomaly.validate("anomaly"));
        issues.extend(self.log_anomaly.validate("log_anomaly"));
        issues.extend(self.planner.validate("planner"));
        if self.raw_logs.enabled && self.raw_logs.topic.trim().is_empty() {
            issues.push(ConfigIssue::new("raw_logs.topic", "must not be empty when raw_logs is enabled"));
        }
        if self.executor.name.trim().is_empty() {
            issues.push(ConfigIssue::new("executor.name", "must not be empty"));
        }
        issues
    }

    /// Parse and validate; every error names its field and, where it has one, its line.
    pub fn parse(text: &str) -> Result<Config, Vec<Located>> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            vec![Located { path: "<document>".into(), line, message: e.message().trim().to_string() }]
        })?;
        let issues = cfg.validate();
        if issues.is_empty() {
            return Ok(cfg);
        }
        Err(issues
            .into_iter()
            .map(|i| Located { line: locate(text, &i.path), path: i.path, message: i.message })
            .collect())
    }

    pub fn load(path: &Path) -> Result<Config, Vec<Located>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Located { path: path.display().to_string(), line: None, message: e.to_string() }]
        })?;
        Config::parse(&text)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// Line of a dotted path such as `planner.rules[1].action`; the deepest part found wins, so
/// a missing leaf points at its table.
fn locate(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        found = Some(line_of(text, key.span().start));
        let mut value = value;
        if let (Some(i), DeValue::Array(items)) = (index, value.get_ref()) {
            value = items.get(i)?;
            found = Some(line_of(text, value.span().start));
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_example_parses() {
        assert!(Config::default().validate().is_empty());
        let example = include_str!("../../deploy/kubesage.example.toml");
        Config::parse(example).unwrap_or_else(|e| panic!("{e:?}"));
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_line() {
        let err = Config::parse("[kafka]\nbrokers = \"x:9092\"\nbrokerz = 1\n").expect_err("unknown field");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].line, Some(3));
        assert!(err[0].message.contains("brokerz"), "{}", err[0].message);
    }

    #[test]
    fn every_semantic_error_is_reported_with_path_and_line() {
        let text = r#"
[kafka]
client_id = ""

[correlation]
session_gap = "0s"

[[planner.rules]]
name = "a"
alertname = "KubeNodeNotReady"
action = "cordon-node"
target = "workload"
"#;
        let errs = Config::parse(text).expect_err("invalid");
        let got: Vec<(String, Option<usize>)> = errs.iter().map(|e| (e.path.clone(), e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("kafka.client_id".to_string(), Some(3)),
                ("correlation.session_gap".to_string(), Some(6)),
                ("planner.rules[0].target".to_string(), Some(12)),
            ]
        );
    }
}
