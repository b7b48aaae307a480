//! Raw log lines from a Kafka topic (Vector, Fluent Bit or Filebeat writing to Kafka
//! directly) into `kubesage.logs` records. A record is either a plain line, or a JSON
//! object in the shapes those shippers write (`message`/`log`/`line`/`msg` for the line,
//! `timestamp`/`@timestamp`/`time` for the time, flat string fields and a `kubernetes`
//! object for the stream). Without a time in the record, the Kafka timestamp is used.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubesage_operators::{Collector, OperatorError, Snapshot};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::LogRecord;
use kubesage_schemas::topics::LOGS;
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::collector::remote_write::series_key;
use crate::config::LatePolicy;
use crate::host::hosted::{Applied, HostedOperator, RecordMeta};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogsConfig {
    pub enabled: bool,
    /// Topic the shipper writes to.
    pub topic: String,
    /// Labels added to every stream (e.g. `source = "vector"`).
    pub stream_labels: BTreeMap<String, String>,
    /// Cluster for records without a `cluster` field.
    pub default_cluster: String,
}

impl Default for RawLogsConfig {
    fn default() -> Self {
        RawLogsConfig { enabled: false, topic: "kubesage.logs.raw".into(), stream_labels: BTreeMap::new(), default_cluster: "default".into() }
    }
}

/// Fields copied into the stream labels when present (bounded, so streams stay streams).
const STREAM_FIELDS: &[&str] = &["cluster", "namespace", "pod", "container", "app", "service", "host", "job", "source", "level"];

pub struct RawLogs {
    cfg: RawLogsConfig,
}

/// One raw line taken apart: the stream labels, the line itself and its event time.
struct ParsedLine {
    stream: BTreeMap<String, String>,
    line: String,
    time: DateTime<Utc>,
}

impl RawLogs {
    pub fn new(cfg: RawLogsConfig) -> Self {
        RawLogs { cfg }
    }

    fn parse(&self, payload: &[u8], kafka_ms: Option<i64>) -> Result<ParsedLine, String> {
        let text = std::str::from_utf8(payload).map_err(|e| format!("log line is not UTF-8: {e}"))?;
        let mut stream = self.cfg.stream_labels.clone();
        let kafka_time = kafka_ms.and_then(DateTime::from_timestamp_millis);
        let trimmed = text.trim_start();
        if !trimmed.starts_with('{') {
            let time = kafka_time.ok_or("plain line without a Kafka timestamp")?;
            return Ok(ParsedLine { stream, line: text.trim_end_matches(['\r', '\n']).to_string(), time });
        }
        let obj: serde_json::Map<String, Value> = serde_json::from_str(trimmed).map_err(|e| format!("record looks like JSON but is not: {e}"))?;
        let line = ["message", "log", "line", "msg"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .ok_or("JSON record has no message, log, line or msg field")?
            .trim_end_matches(['\r', '\n'])
            .to_string();
        for f in STREAM_FIELDS {
            if let Some(v) = obj.get(*f).and_then(Value::as_str) {
                stream.insert((*f).to_string(), v.to_string());
            }
        }
        if let Some(Value::Object(k8s)) = obj.get("kubernetes") {
            for (from, to) in [("namespace_name", "namespace"), ("pod_name", "pod"), ("container_name", "container"), ("pod_namespace", "namespace")] {
                if let Some(v) = k8s.get(from).and_then(Value::as_str) {
                    stream.insert(to.to_string(), v.to_string());
                }
            }
        }
        let time = match ["timestamp", "@timestamp", "time"].iter().find_map(|k| obj.get(*k)) {
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("timestamp {s:?}: {e}"))?,
            Some(Value::Number(n)) => {
                // Epoch seconds, milliseconds or nanoseconds, told apart by magnitude.
                let v = n.as_f64().unwrap_or_default();
                let ms = if v > 1e17 { v / 1e6 } else if v > 1e11 { v } else { v * 1000.0 };
                DateTime::from_timestamp_millis(ms as i64).ok_or_else(|| format!("timestamp {n} out of range"))?
            }
            _ => kafka_time.ok_or("record has no time and no Kafka timestamp")?,
        };
        Ok(ParsedLine { stream, line, time })
    }
}

impl HostedOperator for RawLogs {
    fn name(&self) -> &'static str {
        "raw-logs"
    }

    fn apply(&mut self, payload: &[u8], meta: RecordMeta<'_>, watermark: Option<i64>, policy: LatePolicy, out: &mut Collector) -> Applied {
        let ParsedLine { stream, line, time } = match self.parse(payload, meta.timestamp_ms) {
            Ok(p) => p,
            Err(reason) => return Applied::Invalid(reason),
        };
        let event_ms = time.timestamp_millis();
        let late = watermark.is_some_and(|w| event_ms < w);
        if late && policy != LatePolicy::Accept {
            return Applied::Late { event_ms, applied: false };
        }
        let cluster = stream.get("cluster").cloned().unwrap_or_else(|| self.cfg.default_cluster.clone());
        let key = series_key("", &stream);
        let id = stable_id(&["log", &cluster, &key, &time.timestamp_nanos_opt().unwrap_or_default().to_string(), &line]);
        let level = stream.get("level").map(|l| l.to_ascii_lowercase());
        let record = LogRecord { stream, line, timestamp: time, level };
        out.emit(LOGS, &key, &Envelope::new(id, "kubesage/input/raw-logs", time, key.clone(), cluster, record));
        if late {
            Applied::Late { event_ms, applied: true }
        } else {
            Applied::OnTime { event_ms }
        }
    }

    fn on_watermark(&mut self, _watermark_ms: i64, _out: &mut Collector) {}

    fn on_tick(&mut self, _now: DateTime<Utc>, _out: &mut Collector) {}

    fn snapshot(&self) -> Snapshot {
        Snapshot { version: 1, state: Value::Null }
    }

    fn restore(&mut self, _snapshot: Snapshot) -> Result<(), OperatorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(payload: &str, kafka_ms: Option<i64>) -> Result<LogRecord, String> {
        let mut op = RawLogs::new(RawLogsConfig { stream_labels: BTreeMap::from([("source".into(), "kafka".into())]), ..RawLogsConfig::default() });
        let mut out = Collector::default();
        match op.apply(payload.as_bytes(), RecordMeta { key: None, timestamp_ms: kafka_ms }, None, LatePolicy::Accept, &mut out) {
            Applied::Invalid(r) => Err(r),
            _ => Ok(out.decoded::<LogRecord>(LOGS).remove(0).data),
        }
    }

    #[test]
    fn shipper_shapes_become_log_records() {
        let plain = apply("GET / 200\n", Some(1_700_000_000_000)).expect("plain");
        assert_eq!(plain.line, "GET / 200");
        assert_eq!(plain.stream.get("source").map(String::as_str), Some("kafka"));
        let vector = apply(r#"{"message":"boom","timestamp":"2026-11-23T10:00:00Z","namespace":"shop","pod":"p-1","level":"ERROR","noise":"x"}"#, None).expect("vector");
        assert_eq!(vector.level.as_deref(), Some("error"));
        assert_eq!(vector.stream.get("namespace").map(String::as_str), Some("shop"));
        assert!(!vector.stream.contains_key("noise"), "unbounded fields stay out of the stream");
        let fluent = apply(r#"{"log":"hi","time":1763900000123,"kubernetes":{"namespace_name":"shop","pod_name":"p-2"}}"#, None).expect("fluent");
        assert_eq!(fluent.timestamp.timestamp_millis(), 1_763_900_000_123);
        assert_eq!(fluent.stream.get("pod").map(String::as_str), Some("p-2"));
    }

    #[test]
    fn bad_records_say_why() {
        let cases = [
            ("{\"message\": ", "not"),
            (r#"{"text":"x","timestamp":"2026-11-23T10:00:00Z"}"#, "no message"),
            (r#"{"message":"x","timestamp":"yesterday"}"#, "timestamp"),
            ("plain", "Kafka timestamp"),
        ];
        for (payload, reason) in cases {
            let err = apply(payload, None).expect_err(payload);
            assert!(err.contains(reason), "{payload}: {err}");
        }
    }
}
