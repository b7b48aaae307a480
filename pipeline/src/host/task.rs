//! One input partition of a job: its operator, watermark, output acknowledgements and the
//! checkpoint pipeline (snapshot -> outputs acked -> checkpoint written -> checkpoint acked
//! -> offset committed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kubesage_operators::Collector;
use kubesage_schemas::deadletter::DeadLetter;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::topics::{CHECKPOINTS, DEADLETTER};
use kubesage_schemas::Envelope;

use super::hosted::{Applied, HostedOperator, RecordMeta};
use super::upstream::UpstreamGate;
use super::watermark::{WatermarkState, WatermarkTracker};
use crate::checkpoint::{checkpoint_key, Checkpoint, FORMAT_VERSION};
use crate::config::{LatePolicy, RuntimeConfig};
use crate::error::{Error, Result};
use crate::metrics::{JobPartition, JobPolicy, JobTopic, Metrics};
use crate::sink::{AckTracker, Sink};

/// What every task of a job shares.
pub struct TaskEnv {
    pub job: &'static str,
    pub topic: String,
    pub sink: Sink,
    pub metrics: Arc<Metrics>,
    pub runtime: RuntimeConfig,
    /// For a job reading a topic other jobs write: idle watermarks wait for them.
    pub upstream: Option<Arc<UpstreamGate>>,
}

const MAX_DEAD_LETTER_PAYLOAD: usize = 64 * 1024;

pub struct Task {
    pub partition: i32,
    op: Box<dyn HostedOperator>,
    wm: WatermarkTracker,
    /// Offset after the last record applied.
    next_offset: i64,
    outputs: Arc<AckTracker>,
    checkpoints: Arc<AckTracker>,
    /// Snapshot taken, waiting for outputs up to `after_output` to be acknowledged.
    pending: Option<(u64, Checkpoint)>,
    /// Checkpoint sent as sequence `seq` (of `checkpoints`); commit `offset` once acked.
    committing: Option<(u64, i64)>,
    changed_since_snapshot: bool,
    last_snapshot: Instant,
    collector: Collector,
}

impl Task {
    /// A task starting from a checkpoint (or fresh, reading from `start_offset`).
    pub fn new(partition: i32, mut op: Box<dyn HostedOperator>, restored: Option<Checkpoint>, env: &TaskEnv) -> (Task, Option<i64>) {
        let mut wm_state = WatermarkState::default();
        let mut next_offset = -1;
        let mut start = None;
        if let Some(cp) = restored {
            match op.restore(cp.operator) {
                Ok(()) => {
                    wm_state = cp.watermark;
                    next_offset = cp.next_offset;
                    start = Some(cp.next_offset);
                }
                Err(e) => {
                    // The snapshot is unusable: start empty from the committed offset rather
                    // than crash-looping; the error is loud in logs and metrics.
                    tracing::error!(job = env.job, partition, error = %e, "checkpoint cannot be restored; starting with empty state");
                    env.metrics.errors.get_or_create(&crate::metrics::JobClass { operator: env.job.into(), class: "internal".into() }).inc();
                }
            }
        }
        let task = Task {
            partition,
            op,
            wm: WatermarkTracker::new(wm_state, env.runtime.max_out_of_orderness, env.runtime.idle_timeout),
            next_offset,
            outputs: AckTracker::new(),
            checkpoints: AckTracker::new(),
            pending: None,
            committing: None,
            changed_since_snapshot: false,
            last_snapshot: Instant::now(),
            collector: Collector::default(),
        };
        (task, start)
    }

    /// Apply one input record and send what it produced.
    pub fn process(&mut self, offset: i64, key: Option<&[u8]>, timestamp_ms: Option<i64>, payload: &[u8], env: &TaskEnv) -> Result<()> {
        if offset < self.next_offset {
            return Ok(()); // already reflected in the restored snapshot
        }
        let now = Instant::now();
        let policy = env.runtime.late_policy;
        let job = env.job;
        env.metrics.events_received.get_or_create(&Metrics::job(job)).inc();
        let meta = RecordMeta { key, timestamp_ms };
        match self.op.apply(payload, meta, self.wm.watermark(), policy, &mut self.collector) {
            Applied::OnTime { event_ms } => {
                if let Some(wm) = self.wm.observe(event_ms, now) {
                    self.op.on_watermark(wm, &mut self.collector);
                }
            }
            Applied::Late { event_ms, applied } => {
                self.wm.observe(event_ms, now);
                env.metrics.late_events.get_or_create(&JobPolicy { operator: job.into(), policy: policy.as_str().into() }).inc();
                if !applied && policy == LatePolicy::DeadLetter {
                    let reason = format!("late event: event time {event_ms} ms is behind the watermark {:?} ms", self.wm.watermark());
                    self.dead_letter(offset, key, payload, reason, env)?;
                }
            }
            Applied::Invalid(reason) => self.dead_letter(offset, key, payload, reason, env)?,
        }
        self.next_offset = offset + 1;
        self.changed_since_snapshot = true;
        self.flush_outputs(env)
    }

    fn dead_letter(&mut self, offset: i64, key: Option<&[u8]>, payload: &[u8], reason: String, env: &TaskEnv) -> Result<()> {
        let truncated = payload.len() > MAX_DEAD_LETTER_PAYLOAD;
        let body = String::from_utf8_lossy(&payload[..payload.len().min(MAX_DEAD_LETTER_PAYLOAD)]).into_owned();
        let id = stable_id(&["deadletter", &env.topic, &self.partition.to_string(), &offset.to_string()]);
        let subject = format!("{}/{}/{}", env.topic, self.partition, offset);
        let record = DeadLetter {
            reason,
            stage: format!("job:{}", env.job),
            topic: env.topic.clone(),
            partition: self.partition,
            offset,
            key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: body,
            payload_truncated: truncated,
        };
        tracing::warn!(job = env.job, partition = self.partition, offset, reason = %record.reason, "dead-lettered input record");
        let env_rec = Envelope::new(id, format!("kubesage/job/{}", env.job), Utc::now(), subject.clone(), "", record);
        self.collector.emit(DEADLETTER, &subject, &env_rec);
        env.metrics.deadletter.get_or_create(&Metrics::job(env.job)).inc();
        Ok(())
    }

    fn flush_outputs(&mut self, env: &TaskEnv) -> Result<()> {
        for e in self.collector.drain() {
            env.sink.send_blocking(&self.outputs, e.topic, &e.key, &e.payload)?;
            env.metrics.observers.observe(e.topic, &e.payload);
            env.metrics.events_emitted.get_or_create(&JobTopic { operator: env.job.into(), topic: e.topic.into() }).inc();
        }
        Ok(())
    }

    pub fn reached_end(&mut self) {
        self.wm.reached_end();
    }

    /// If the partition has been quiet, whether everything up to `high` was read.
    pub fn check_end(&mut self, high: impl FnOnce() -> Option<i64>) {
        if self.wm.should_check_end(Instant::now()) {
            if let Some(h) = high() {
                if self.next_offset >= h || (self.next_offset < 0 && h == 0) {
                    self.wm.reached_end();
                }
            }
        }
    }

    /// Processing-time duties: idle watermark, operator tick. `high` fetches the end of the
    /// partition (asked only of gated jobs about to advance an idle watermark).
    pub fn on_tick(&mut self, env: &TaskEnv, high: impl FnOnce() -> Option<i64>) -> Result<()> {
        let now = Instant::now();
        // A gated job: the upstream jobs have written everything, and we read all of it.
        let upstream_done = || env.upstream.as_ref().is_none_or(|g| g.idle() && high().is_some_and(|h| self.next_offset >= h));
        if self.wm.idle_due(now) && upstream_done() {
            if let Some(wm) = self.wm.on_idle(now) {
                self.op.on_watermark(wm, &mut self.collector);
                self.changed_since_snapshot = true;
            }
        }
        self.op.on_tick(Utc::now(), &mut self.collector);
        env.metrics.operator_stats.set(env.job, self.partition, self.op.stats());
        if let Some(wm) = self.wm.watermark() {
            let lag = (Utc::now().timestamp_millis() - wm) as f64 / 1000.0;
            env.metrics.watermark_lag.get_or_create(&JobPartition { operator: env.job.into(), partition: self.partition.to_string() }).set(lag);
        }
        self.flush_outputs(env)
    }

    fn take_snapshot(&mut self, env: &TaskEnv) {
        let cp = Checkpoint {
            version: FORMAT_VERSION,
            job: env.job.to_string(),
            topic: env.topic.clone(),
            partition: self.partition,
            next_offset: self.next_offset,
            watermark: self.wm.state,
            operator: self.op.snapshot(),
        };
        self.pending = Some((self.outputs.sent(), cp));
        self.changed_since_snapshot = false;
        self.last_snapshot = Instant::now();
    }

    /// Advance the checkpoint pipeline without blocking. Returns an offset that may now be
    /// committed.
    pub fn progress(&mut self, env: &TaskEnv) -> Result<Option<i64>> {
        let (failures, last) = self.outputs.failures();
        if failures > 0 {
            return Err(Error::Delivery(format!("output of {} partition {} was not delivered: {}", env.job, self.partition, last.unwrap_or_default())));
        }
        if self.pending.is_none() && self.committing.is_none() && self.changed_since_snapshot && self.next_offset >= 0 && self.last_snapshot.elapsed() >= env.runtime.checkpoint_interval {
            self.take_snapshot(env);
        }
        if let Some((after, _)) = &self.pending {
            if self.outputs.acked_through() >= *after {
                if let Some((_, cp)) = self.pending.take() {
                    let seq = self.write_checkpoint(&cp, env)?;
                    self.committing = Some((seq, cp.next_offset));
                }
            }
        }
        if let Some((seq, offset)) = self.committing {
            let (cp_failures, last) = self.checkpoints.failures();
            if cp_failures > 0 {
                return Err(Error::Checkpoint(last.unwrap_or_default()));
            }
            if self.checkpoints.acked_through() >= seq {
                self.committing = None;
                env.metrics.checkpoints.get_or_create(&Metrics::job(env.job)).inc();
                return Ok(Some(offset));
            }
        }
        env.metrics.inflight_outputs.get_or_create(&Metrics::job(env.job)).set(self.outputs.in_flight() as i64);
        Ok(None)
    }

    fn write_checkpoint(&self, cp: &Checkpoint, env: &TaskEnv) -> Result<u64> {
        let bytes = serde_json::to_vec(cp).map_err(|e| Error::Checkpoint(e.to_string()))?;
        env.sink.send_blocking(&self.checkpoints, CHECKPOINTS, &checkpoint_key(env.job, &env.topic, self.partition), &bytes)
    }

    /// Before giving the partition up (rebalance, shutdown): snapshot now, wait for every
    /// output and the checkpoint to be acknowledged. Returns the offset to commit, if any.
    pub fn drain(&mut self, env: &TaskEnv, timeout: Duration) -> Result<Option<i64>> {
        if self.next_offset < 0 {
            return Ok(None); // never read anything
        }
        self.flush_outputs(env)?;
        self.take_snapshot(env);
        self.outputs.wait_all_blocking(timeout)?;
        let Some((_, cp)) = self.pending.take() else { return Ok(None) };
        self.write_checkpoint(&cp, env)?;
        self.checkpoints.wait_all_blocking(timeout)?;
        env.metrics.checkpoints.get_or_create(&Metrics::job(env.job)).inc();
        Ok(Some(cp.next_offset))
    }
}
