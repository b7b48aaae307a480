//! The Kafka sink: one idempotent producer per process, with per-owner acknowledgement
//! tracking. Every record carries a token (owner tracker + sequence number); the delivery
//! callback marks it acknowledged, so an owner (a partition task, an HTTP request) knows
//! exactly which of its outputs the broker has and can store offsets or answer 2xx only
//! after that.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use crate::error::{Error, Result};
use crate::metrics::{Metrics, TopicLabel};

/// Acknowledgement state of one owner's outputs, numbered 1, 2, 3, ...
#[derive(Default)]
pub struct AckTracker {
    inner: Mutex<AckInner>,
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct AckInner {
    sent: u64,
    /// Every sequence number <= this is acknowledged.
    acked_through: u64,
    /// Acknowledged out of order, above `acked_through`.
    ahead: BTreeSet<u64>,
    failures: u64,
    last_error: Option<String>,
}

impl AckTracker {
    pub fn new() -> Arc<AckTracker> {
        Arc::new(AckTracker::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AckInner> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_seq(&self) -> u64 {
        let mut g = self.lock();
        g.sent += 1;
        g.sent
    }

    fn complete(&self, seq: u64, error: Option<String>) {
        {
            let mut g = self.lock();
            if let Some(e) = error {
                g.failures += 1;
                g.last_error = Some(e);
            }
            g.ahead.insert(seq);
            loop {
                let next = g.acked_through + 1;
                if !g.ahead.remove(&next) {
                    break;
                }
                g.acked_through = next;
            }
        }
        self.notify.notify_waiters();
    }

    /// Highest sequence number sent so far.
    pub fn sent(&self) -> u64 {
        self.lock().sent
    }

    pub fn acked_through(&self) -> u64 {
        self.lock().acked_through
    }

    pub fn in_flight(&self) -> u64 {
        let g = self.lock();
        g.sent - g.acked_through
    }

    /// Failed deliveries so far and the last error.
    pub fn failures(&self) -> (u64, Option<String>) {
        let g = self.lock();
        (g.failures, g.last_error.clone())
    }

    /// Wait until everything sent so far is acknowledged; error if any delivery failed.
    pub async fn wait_all(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let g = self.lock();
                if g.failures > 0 {
                    return Err(Error::Delivery(g.last_error.clone().unwrap_or_default()));
                }
                if g.acked_through >= g.sent {
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::Timeout("broker did not acknowledge in time".into()));
            }
        }
    }

    /// Blocking variant for worker threads.
    pub fn wait_all_blocking(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let g = self.lock();
                if g.failures > 0 {
                    return Err(Error::Delivery(g.last_error.clone().unwrap_or_default()));
                }
                if g.acked_through >= g.sent {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout("broker did not acknowledge in time".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

pub struct Token {
    tracker: Arc<AckTracker>,
    seq: u64,
}

pub struct SinkContext {
    metrics: Arc<Metrics>,
    in_flight: AtomicI64,
}

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Box<Token>;

    fn delivery(&self, result: &DeliveryResult<'_>, token: Box<Token>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let (topic, error) = match result {
            Ok(m) => (m.topic().to_string(), None),
            Err((e, m)) => (m.topic().to_string(), Some(e.to_string())),
        };
        let label = TopicLabel { topic };
        if error.is_some() {
            self.metrics.delivery_failures.get_or_create(&label).inc();
        } else {
            self.metrics.delivered.get_or_create(&label).inc();
        }
        token.tracker.complete(token.seq, error);
    }
}

#[derive(Clone)]
pub struct Sink {
    producer: ThreadedProducer<SinkContext>,
}

type Record<'a> = BaseRecord<'a, str, [u8], Box<Token>>;

/// How long a producer may stay full before a send gives up.
const BACKPRESSURE_LIMIT: Duration = Duration::from_secs(60);

impl Sink {
    pub fn new(config: &rdkafka::ClientConfig, metrics: Arc<Metrics>) -> Result<Sink> {
        for t in kubesage_schemas::topics::CATALOGUE {
            let label = TopicLabel { topic: t.name.to_string() };
            let _ = metrics.delivered.get_or_create(&label);
            let _ = metrics.delivery_failures.get_or_create(&label);
        }
        let producer = config.create_with_context(SinkContext { metrics, in_flight: AtomicI64::new(0) })?;
        Ok(Sink { producer })
    }

    /// Try to enqueue once: `Ok(None)` when queued, `Ok(Some(record))` back when the queue
    /// is full, `Err` (with the sequence number released) on any other error.
    fn enqueue<'a>(&self, record: Record<'a>) -> Result<Option<Record<'a>>> {
        match self.producer.send(record) {
            Ok(()) => {
                self.producer.context().in_flight.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => Ok(Some(back)),
            Err((e, back)) => Err(Self::release(back, e)),
        }
    }

    /// Give up on a record: complete its sequence number as failed so waiters do not hang.
    fn release(record: Record<'_>, e: KafkaError) -> Error {
        let token = record.delivery_opaque;
        token.tracker.complete(token.seq, Some(e.to_string()));
        Error::Kafka(e)
    }

    fn record<'a>(tracker: &Arc<AckTracker>, topic: &'a str, key: &'a str, payload: &'a [u8]) -> (u64, Record<'a>) {
        let seq = tracker.next_seq();
        (seq, BaseRecord::with_opaque_to(topic, Box::new(Token { tracker: tracker.clone(), seq })).key(key).payload(payload))
    }

    /// Enqueue one record owned by `tracker`. A full queue is backpressure: this waits
    /// (blocking the calling worker thread) until there is room.
    pub fn send_blocking(&self, tracker: &Arc<AckTracker>, topic: &str, key: &str, payload: &[u8]) -> Result<u64> {
        let started = Instant::now();
        let (seq, mut record) = Self::record(tracker, topic, key, payload);
        while let Some(back) = self.enqueue(record)? {
            if started.elapsed() >= BACKPRESSURE_LIMIT {
                return Err(Self::release(back, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)));
            }
            record = back;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(seq)
    }

    /// Async variant for request handlers: waits on a full queue without blocking the
    /// runtime, up to `deadline`.
    pub async fn send(&self, tracker: &Arc<AckTracker>, topic: &str, key: &str, payload: &[u8], deadline: tokio::time::Instant) -> Result<u64> {
        let (seq, mut record) = Self::record(tracker, topic, key, payload);
        while let Some(back) = self.enqueue(record)? {
            if tokio::time::Instant::now() >= deadline {
                return Err(Self::release(back, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)));
            }
            record = back;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(seq)
    }

    /// Records enqueued and not yet acknowledged, over all owners.
    pub fn in_flight(&self) -> i64 {
        self.producer.context().in_flight.load(Ordering::Relaxed)
    }

    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer.flush(timeout).map_err(Error::Kafka)
    }
}
