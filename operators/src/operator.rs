use chrono::{DateTime, Utc};
use kubesage_schemas::envelope::{Envelope, Payload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A pure stream operator. The host calls `on_event` for every input record of one
/// partition in offset order, `on_watermark` whenever event time has passed a point, and
/// `on_tick` on processing-time ticks. Outputs go into the collector.
pub trait Operator {
    /// Payload type of the input envelope.
    type In: DeserializeOwned;
    /// Stable name, used for metrics, checkpoints and dead letters.
    const NAME: &'static str;

    fn on_event(&mut self, event: Envelope<Self::In>, out: &mut Collector);
    fn on_watermark(&mut self, watermark: DateTime<Utc>, out: &mut Collector);
    /// Processing-time tick; most operators are driven by watermarks only.
    fn on_tick(&mut self, _now: DateTime<Utc>, _out: &mut Collector) {}
    fn snapshot(&self) -> Snapshot;
    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError>;
    /// What the operator counts about itself, for the host to export as metrics.
    fn stats(&self) -> Vec<Stat> {
        Vec::new()
    }
}

/// A number an operator keeps about itself: a running total (part of its state, so it
/// survives restarts) or a current size. Plain data: the host decides how to export it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Metric name after `kubesage_`, without the `_total` a counter gets on export.
    pub name: &'static str,
    pub help: &'static str,
    /// A running total (a counter), else a current size (a gauge).
    pub total: bool,
    pub value: u64,
}

impl Stat {
    pub const fn total(name: &'static str, help: &'static str, value: u64) -> Stat {
        Stat { name, help, total: true, value }
    }

    pub const fn size(name: &'static str, help: &'static str, value: u64) -> Stat {
        Stat { name, help, total: false, value }
    }
}

/// Versioned operator state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub state: serde_json::Value,
}

impl Snapshot {
    pub fn of<S: Serialize>(version: u32, state: &S) -> Result<Snapshot, OperatorError> {
        let state = serde_json::to_value(state).map_err(|e| OperatorError::Snapshot(e.to_string()))?;
        Ok(Snapshot { version, state })
    }

    pub fn decode<S: DeserializeOwned>(self, expected_version: u32) -> Result<S, OperatorError> {
        if self.version != expected_version {
            return Err(OperatorError::SnapshotVersion { found: self.version, expected: expected_version });
        }
        serde_json::from_value(self.state).map_err(|e| OperatorError::Snapshot(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OperatorError {
    #[error("snapshot version {found} is not supported (expected {expected})")]
    SnapshotVersion { found: u32, expected: u32 },
    #[error("snapshot cannot be encoded or decoded: {0}")]
    Snapshot(String),
}

/// One output record, already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub topic: &'static str,
    pub key: String,
    pub id: String,
    pub payload: Vec<u8>,
}

/// Where operators put their outputs; the host drains it after each call.
#[derive(Debug, Default)]
pub struct Collector {
    items: Vec<Emitted>,
    encode_errors: u64,
}

impl Collector {
    pub fn emit<T: Payload + Serialize>(&mut self, topic: &'static str, key: &str, record: &Envelope<T>) {
        match serde_json::to_vec(record) {
            Ok(payload) => self.items.push(Emitted { topic, key: key.to_string(), id: record.id.clone(), payload }),
            // Cannot happen for our types (no maps with non-string keys); counted, never panics.
            Err(_) => self.encode_errors += 1,
        }
    }

    pub fn drain(&mut self) -> std::vec::Drain<'_, Emitted> {
        self.items.drain(..)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encode_errors(&self) -> u64 {
        self.encode_errors
    }

    /// Decode everything emitted to `topic` (tests and harnesses).
    pub fn decoded<T: DeserializeOwned>(&self, topic: &str) -> Vec<Envelope<T>> {
        self.items
            .iter()
            .filter(|e| e.topic == topic)
            .filter_map(|e| serde_json::from_slice(&e.payload).ok())
            .collect()
    }

    pub fn items(&self) -> &[Emitted] {
        &self.items
    }
}

/// A configuration problem found by a pure validation step: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path, e.g. `planner.rules[2].action`.
    pub path: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigIssue { path: path.into(), message: message.into() }
    }
}
