//! A job's consumer loop on its own thread. Rebalance callbacks run inside `poll` on this
//! same thread, so they can drain, checkpoint and commit synchronously before partitions
//! move, and restore from checkpoints before the first read of a new assignment.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

use super::hosted::HostedOperator;
use super::task::{Task, TaskEnv};
use crate::checkpoint::{self, checkpoint_key, Checkpoint};
use crate::error::{Error, Result};
use crate::metrics::{JobClass, JobPartition, Metrics};

pub type OperatorFactory = Arc<dyn Fn() -> Box<dyn HostedOperator> + Send + Sync>;

pub struct JobSpec {
    pub name: &'static str,
    pub input_topic: String,
    pub factory: OperatorFactory,
    /// Jobs writing `input_topic`: idle watermarks wait until they have caught up.
    pub upstream: Vec<super::upstream::Upstream>,
}

struct JobContext {
    env: TaskEnv,
    factory: OperatorFactory,
    tasks: Mutex<BTreeMap<i32, Task>>,
    /// Client config for reading the checkpoint topic.
    checkpoint_reader: ClientConfig,
    fatal: Mutex<Option<String>>,
}

impl JobContext {
    fn tasks(&self) -> MutexGuard<'_, BTreeMap<i32, Task>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, why: String) {
        tracing::error!(job = self.env.job, error = %why, "job failed");
        *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// Drop every task (their partitions are gone) and the series of their stats.
    fn forget(&self, tasks: &mut BTreeMap<i32, Task>) {
        for p in tasks.keys() {
            self.env.metrics.operator_stats.remove(self.env.job, *p);
        }
        tasks.clear();
    }

    fn drain_timeout(&self) -> Duration {
        self.env.runtime.shutdown_deadline
    }

    /// Drain every task and commit what they reflect. Used on revoke and on shutdown.
    fn drain_all(&self, consumer: &BaseConsumer<JobContext>) -> Result<()> {
        let mut tasks = self.tasks();
        let mut tpl = TopicPartitionList::new();
        for (p, task) in tasks.iter_mut() {
            if let Some(offset) = task.drain(&self.env, self.drain_timeout())? {
                tpl.add_partition_offset(&self.env.topic, *p, Offset::Offset(offset))?;
            }
        }
        if tpl.count() > 0 {
            consumer.commit(&tpl, CommitMode::Sync)?;
        }
        self.forget(&mut tasks);
        self.env.metrics.assigned_partitions.get_or_create(&Metrics::job(self.env.job)).set(0);
        Ok(())
    }

    fn prepare_assignment(&self, tpl: &mut TopicPartitionList) -> Result<()> {
        let stored = checkpoint::read_all(&self.checkpoint_reader, self.drain_timeout())?;
        let mut tasks = self.tasks();
        let partitions: Vec<i32> = tpl.elements().iter().filter(|e| e.topic() == self.env.topic).map(|e| e.partition()).collect();
        for p in partitions {
            let restored = match stored.get(&checkpoint_key(self.env.job, &self.env.topic, p)) {
                Some(bytes) => Some(serde_json::from_slice::<Checkpoint>(bytes).map_err(|e| Error::Checkpoint(format!("partition {p}: {e}")))?),
                None => None,
            };
            let (task, start) = Task::new(p, (self.factory)(), restored, &self.env);
            if let Some(offset) = start {
                tpl.set_partition_offset(&self.env.topic, p, Offset::Offset(offset))?;
            }
            tracing::info!(job = self.env.job, partition = p, start = ?start, "partition assigned");
            // Known from the next statistics report on; present (at 0) from now.
            let _ = self.env.metrics.consumer_lag.get_or_create(&JobPartition { operator: self.env.job.into(), partition: p.to_string() });
            tasks.insert(p, task);
        }
        self.env.metrics.assigned_partitions.get_or_create(&Metrics::job(self.env.job)).set(tasks.len() as i64);
        Ok(())
    }
}

impl ClientContext for JobContext {
    fn error(&self, error: KafkaError, reason: &str) {
        // End of partition is how idleness is detected, not an error.
        let eof = matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF));
        if !eof {
            tracing::error!(job = self.env.job, %error, reason, "kafka client error");
        }
    }

    fn stats(&self, stats: Statistics) {
        for topic in stats.topics.values().filter(|t| t.topic == self.env.topic) {
            for p in topic.partitions.values().filter(|p| p.partition >= 0 && p.consumer_lag >= 0) {
                let label = JobPartition { operator: self.env.job.into(), partition: p.partition.to_string() };
                self.env.metrics.consumer_lag.get_or_create(&label).set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for JobContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = self.prepare_assignment(tpl) {
                    // Reading without the checkpointed state would decide things twice.
                    self.fail(format!("cannot restore checkpoints on assignment: {e}"));
                    return;
                }
                if let Err(e) = consumer.assign(tpl) {
                    self.fail(format!("assign failed: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(e) = self.drain_all(consumer) {
                    // Not committing is safe: the next owner replays from the last checkpoint.
                    tracing::warn!(job = self.env.job, error = %e, "drain on revoke failed; the next owner replays from the last checkpoint");
                    self.forget(&mut self.tasks());
                }
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(job = self.env.job, error = %e, "unassign failed");
                }
            }
            other => tracing::warn!(job = self.env.job, error = ?other, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(job = self.env.job, error = %e, "offset commit failed (will be retried with the next checkpoint)");
        }
    }
}

/// Run one job until `stop` is set, then drain, checkpoint, commit and return.
pub fn run_job(spec: JobSpec, env: TaskEnv, consumer_config: ClientConfig, checkpoint_reader: ClientConfig, stop: Arc<AtomicBool>) -> Result<()> {
    let job = spec.name;
    let mut config = consumer_config;
    config.set("statistics.interval.ms", "5000").set("enable.partition.eof", "true");
    let ctx = JobContext { env, factory: spec.factory, tasks: Mutex::new(BTreeMap::new()), checkpoint_reader, fatal: Mutex::new(None) };
    let consumer: BaseConsumer<JobContext> = config.create_with_context(ctx)?;
    consumer.subscribe(&[spec.input_topic.as_str()])?;
    tracing::info!(job, topic = %spec.input_topic, "job started");
    let ctx = consumer.context();
    let tick = ctx.env.runtime.tick_interval;
    let mut last_tick = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if let Some(why) = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            break Err(Error::Internal(why));
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(msg)) => {
                let mut tasks = ctx.tasks();
                match tasks.get_mut(&msg.partition()) {
                    Some(task) => {
                        if let Err(e) = task.process(msg.offset(), msg.key(), msg.timestamp().to_millis(), msg.payload().unwrap_or_default(), &ctx.env) {
                            break Err(e);
                        }
                    }
                    None => tracing::warn!(job, partition = msg.partition(), "record for a partition without a task"),
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(task) = ctx.tasks().get_mut(&p) {
                    task.reached_end();
                }
            }
            Some(Err(e)) => {
                ctx.env.metrics.errors.get_or_create(&JobClass { operator: job.into(), class: "external".into() }).inc();
                tracing::warn!(job, error = %e, "consumer error");
            }
            None => {}
        }
        let mut commits = TopicPartitionList::new();
        {
            let mut tasks = ctx.tasks();
            let ticking = last_tick.elapsed() >= tick;
            for (p, task) in tasks.iter_mut() {
                if ticking {
                    task.check_end(|| consumer.fetch_watermarks(&ctx.env.topic, *p, Duration::from_secs(1)).ok().map(|(_, high)| high));
                }
                let high = || consumer.fetch_watermarks(&ctx.env.topic, *p, Duration::from_secs(1)).ok().map(|(_, high)| high);
                let step = if ticking { task.on_tick(&ctx.env, high) } else { Ok(()) }.and_then(|()| task.progress(&ctx.env));
                match step {
                    Ok(Some(offset)) => {
                        let _ = commits.add_partition_offset(&ctx.env.topic, *p, Offset::Offset(offset));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        ctx.fail(e.to_string());
                        break;
                    }
                }
            }
            if ticking {
                last_tick = Instant::now();
            }
        }
        if commits.count() > 0 {
            if let Err(e) = consumer.commit(&commits, CommitMode::Async) {
                tracing::warn!(job, error = %e, "commit failed");
            }
        }
    };
    if result.is_ok() {
        // Graceful: everything read is reflected in a checkpoint and committed.
        ctx.drain_all(&consumer)?;
        tracing::info!(job, "job drained and committed");
    }
    consumer.unsubscribe();
    result
}
