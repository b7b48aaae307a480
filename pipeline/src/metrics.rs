//! Prometheus metrics of the runtime (`kubesage_<subsystem>_<name>_<unit>`). Label values
//! are bounded: job names, topic names from the catalogue, partitions, fixed enums.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    pub operator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobTopic {
    pub operator: String,
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobClass {
    pub operator: String,
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobPartition {
    pub operator: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobPolicy {
    pub operator: String,
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointCode {
    pub endpoint: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionOutcome {
    pub action: String,
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    pub events_received: Family<JobLabel, Counter>,
    pub events_emitted: Family<JobTopic, Counter>,
    pub errors: Family<JobClass, Counter>,
    pub deadletter: Family<JobLabel, Counter>,
    pub late_events: Family<JobPolicy, Counter>,
    pub consumer_lag: Family<JobPartition, Gauge>,
    pub watermark_lag: Family<JobPartition, Gauge<f64, AtomicU64>>,
    pub inflight_outputs: Family<JobLabel, Gauge>,
    pub checkpoints: Family<JobLabel, Counter>,
    pub assigned_partitions: Family<JobLabel, Gauge>,
    pub delivered: Family<TopicLabel, Counter>,
    pub delivery_failures: Family<TopicLabel, Counter>,
    pub collector_requests: Family<EndpointCode, Counter>,
    pub collector_records: Family<EndpointLabel, Counter>,
    pub collector_duration: Family<EndpointLabel, Histogram>,
    pub executor_commands: Family<ActionOutcome, Counter>,
    /// Top anomalies and log templates (bounded; see `observe`).
    pub observers: crate::observe::Observers,
    /// What each partition's operator counts about itself.
    pub operator_stats: Arc<crate::operator_stats::OperatorStats>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("kubesage");
        let m = Metrics {
            events_received: Family::default(),
            events_emitted: Family::default(),
            errors: Family::default(),
            deadletter: Family::default(),
            late_events: Family::default(),
            consumer_lag: Family::default(),
            watermark_lag: Family::default(),
            inflight_outputs: Family::default(),
            checkpoints: Family::default(),
            assigned_partitions: Family::default(),
            delivered: Family::default(),
            delivery_failures: Family::default(),
            collector_requests: Family::default(),
            collector_records: Family::default(),
            collector_duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 14))),
            executor_commands: Family::default(),
            observers: crate::observe::Observers {
                anomalies: crate::observe::TopN::new(50, Family::default()),
                templates: crate::observe::TopN::new(50, Family::default()),
                root_causes: crate::observe::TopN::new(50, Family::default()),
            },
            operator_stats: Arc::default(),
            registry: Registry::default(),
        };
        // Counters get `_total` appended by the encoder.
        registry.register("runtime_events_received", "Input records read by an operator", m.events_received.clone());
        registry.register("runtime_events_emitted", "Output records an operator produced, by topic", m.events_emitted.clone());
        registry.register("runtime_errors", "Errors by operator and class (user, external, internal)", m.errors.clone());
        registry.register("runtime_deadletter", "Input records sent to the dead-letter topic", m.deadletter.clone());
        registry.register("runtime_late_events", "Events older than the watermark, by the policy applied", m.late_events.clone());
        registry.register("runtime_consumer_lag_records", "Records between a partition's committed position and its end", m.consumer_lag.clone());
        registry.register_with_unit("runtime_watermark_lag", "Processing time minus the partition's watermark", Unit::Seconds, m.watermark_lag.clone());
        registry.register("runtime_inflight_outputs", "Outputs sent and not yet acknowledged by the broker", m.inflight_outputs.clone());
        registry.register("runtime_checkpoints", "Operator checkpoints written", m.checkpoints.clone());
        registry.register("runtime_assigned_partitions", "Input partitions assigned to this worker", m.assigned_partitions.clone());
        registry.register("sink_delivered", "Records acknowledged by the broker", m.delivered.clone());
        registry.register("sink_delivery_failures", "Records the broker did not acknowledge", m.delivery_failures.clone());
        registry.register("collector_requests", "HTTP collector requests by endpoint and status code", m.collector_requests.clone());
        registry.register("collector_records", "Records (alerts, samples, log lines) a collector endpoint accepted and Kafka acknowledged", m.collector_records.clone());
        registry.register_with_unit("collector_request_duration", "Collector request latency including the Kafka acknowledgement", Unit::Seconds, m.collector_duration.clone());
        registry.register("executor_commands", "Remediation commands by action and outcome", m.executor_commands.clone());
        registry.register("anomaly_score", "Score of the 50 highest-scoring ongoing anomalies", m.observers.anomalies.family());
        registry.register("logs_template_window_lines", "Lines in the last window of the 50 busiest log templates", m.observers.templates.family());
        registry.register(
            "rca_root_cause_probability",
            "Probability of the first-ranked root cause of the 50 most certain open incidents",
            m.observers.root_causes.family(),
        );
        registry.register_collector(Box::new(m.operator_stats.clone()));
        Arc::new(Metrics { registry, ..m })
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// The registry in the classic Prometheus text format (0.0.4), which `promtool check
    /// metrics` and older scrapers read: counter families are named with their `_total`
    /// suffix, and the OpenMetrics-only `# UNIT` and `# EOF` lines are left out.
    pub fn encode_classic(&self) -> String {
        let open = self.encode();
        let mut counters = std::collections::HashSet::new();
        for line in open.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some(name) = rest.strip_suffix(" counter") {
                    counters.insert(name.to_string());
                }
            }
        }
        let mut out = String::with_capacity(open.len());
        for line in open.lines() {
            if line.starts_with("# UNIT ") || line == "# EOF" {
                continue;
            }
            let meta = line.strip_prefix("# HELP ").map(|r| ("# HELP ", r)).or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
            match meta {
                Some((tag, rest)) => {
                    let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                    let name = if counters.contains(name) { format!("{name}_total") } else { name.to_string() };
                    out.push_str(&format!("{tag}{name} {tail}\n"));
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Create a job's series at zero, so dashboards and alerts see them before the first
    /// event (absent series make `rate()` and alerts silently empty).
    pub fn init_job(&self, job: &str) {
        let j = Metrics::job(job);
        let _ = self.events_received.get_or_create(&j);
        let _ = self.deadletter.get_or_create(&j);
        let _ = self.checkpoints.get_or_create(&j);
        let _ = self.inflight_outputs.get_or_create(&j);
        let _ = self.assigned_partitions.get_or_create(&j);
        for class in ["user", "external", "internal"] {
            let _ = self.errors.get_or_create(&JobClass { operator: job.into(), class: class.into() });
        }
        for policy in ["accept", "drop", "dead-letter"] {
            let _ = self.late_events.get_or_create(&JobPolicy { operator: job.into(), policy: policy.into() });
        }
    }

    pub fn init_collector(&self, endpoint: &str) {
        let e = EndpointLabel { endpoint: endpoint.into() };
        let _ = self.collector_records.get_or_create(&e);
        let _ = self.collector_duration.get_or_create(&e);
        for code in ["200", "400", "401", "413", "503"] {
            let _ = self.collector_requests.get_or_create(&EndpointCode { endpoint: endpoint.into(), code: code.into() });
        }
    }

    pub fn init_executor(&self) {
        use kubesage_schemas::remediation::{Action, Outcome};
        let actions = [Action::RestartRollout, Action::Scale, Action::DeletePod, Action::CordonNode, Action::RollbackRollout, Action::Notify];
        let outcomes = [Outcome::Succeeded, Outcome::Failed, Outcome::DryRun, Outcome::Rejected].map(Outcome::as_str);
        for a in actions {
            for o in outcomes.iter().copied().chain(["duplicate"]) {
                let _ = self.executor_commands.get_or_create(&ActionOutcome { action: a.as_str().into(), outcome: o.into() });
            }
        }
        self.init_job("execute");
    }

    pub fn job(job: &str) -> JobLabel {
        JobLabel { operator: job.to_string() }
    }
}
