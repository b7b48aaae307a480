//! Type erasure for operators: the runtime hosts any `Operator`, decoding its input
//! envelope, applying the late-data policy and reporting what happened to the record.

use chrono::{DateTime, Utc};
use kubesage_operators::time::{from_millis, to_millis};
use kubesage_operators::{Collector, Operator, OperatorError, Snapshot, Stat};
use kubesage_schemas::Envelope;

use crate::config::LatePolicy;

#[derive(Debug, PartialEq)]
pub enum Applied {
    /// Handed to the operator.
    OnTime { event_ms: i64 },
    /// Behind the watermark; `applied` tells whether the policy still let it through.
    Late { event_ms: i64, applied: bool },
    /// Not a valid record: goes to the dead-letter topic with this reason.
    Invalid(String),
}

/// Where an input record came from (for inputs that are not envelopes, like raw lines).
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta<'a> {
    pub key: Option<&'a [u8]>,
    /// Kafka record timestamp (ms), when the broker or producer set one.
    pub timestamp_ms: Option<i64>,
}

pub trait HostedOperator: Send {
    fn name(&self) -> &'static str;
    fn apply(&mut self, payload: &[u8], meta: RecordMeta<'_>, watermark: Option<i64>, policy: LatePolicy, out: &mut Collector) -> Applied;
    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Collector);
    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Collector);
    fn snapshot(&self) -> Snapshot;
    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError>;
    /// What the operator counts about itself (see [`Operator::stats`]).
    fn stats(&self) -> Vec<Stat> {
        Vec::new()
    }
}

struct Hosted<O>(O);

pub fn hosted<O>(op: O) -> Box<dyn HostedOperator>
where
    O: Operator + Send + 'static,
{
    Box::new(Hosted(op))
}

impl<O: Operator + Send> HostedOperator for Hosted<O> {
    fn name(&self) -> &'static str {
        O::NAME
    }

    fn apply(&mut self, payload: &[u8], _meta: RecordMeta<'_>, watermark: Option<i64>, policy: LatePolicy, out: &mut Collector) -> Applied {
        let event: Envelope<O::In> = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return Applied::Invalid(format!("not a valid {} input record: {e}", O::NAME)),
        };
        if event.id.is_empty() {
            return Applied::Invalid("envelope id is empty".into());
        }
        if event.cluster.is_empty() {
            return Applied::Invalid("envelope cluster is empty".into());
        }
        let event_ms = to_millis(&event.time);
        if watermark.is_some_and(|w| event_ms < w) {
            let applied = policy == LatePolicy::Accept;
            if applied {
                self.0.on_event(event, out);
            }
            return Applied::Late { event_ms, applied };
        }
        self.0.on_event(event, out);
        Applied::OnTime { event_ms }
    }

    fn on_watermark(&mut self, watermark_ms: i64, out: &mut Collector) {
        self.0.on_watermark(from_millis(watermark_ms), out);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Collector) {
        self.0.on_tick(now, out);
    }

    fn snapshot(&self) -> Snapshot {
        self.0.snapshot()
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        self.0.restore(snapshot)
    }

    fn stats(&self) -> Vec<Stat> {
        self.0.stats()
    }
}
