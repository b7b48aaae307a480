//! The executor role: consumes remediation commands and runs each command id at most once.
//!
//! At-most-once comes from a claim written to the compacted checkpoint topic (and
//! acknowledged) before the backend is called; claims are reloaded on every assignment,
//! so a restarted or new executor skips what any executor already claimed. A claim without
//! a recorded result (crash mid-execution) is reported as failed with "outcome unknown",
//! never retried.

pub mod backend;
pub mod policy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use kubesage_schemas::audit::AuditRecord;
use kubesage_schemas::deadletter::DeadLetter;
use kubesage_schemas::envelope::Payload;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::remediation::{Outcome, RemediationCommand, RemediationResult};
use kubesage_schemas::topics::{AUDIT, CHECKPOINTS, COMMANDS, DEADLETTER, RESULTS};
use kubesage_schemas::Envelope;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, claim_key};
use crate::config::ExecutorConfig;
use crate::error::{Error, Result};
use crate::metrics::{ActionOutcome, JobClass, Metrics};
use crate::sink::{AckTracker, Sink};

pub use backend::{Backend, DryRun};

const JOB: &str = "execute";
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ClaimState {
    Claimed,
    Done,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    command_id: String,
    state: ClaimState,
    executor: String,
}

struct ExecContext {
    group: String,
    claims: Mutex<HashMap<String, ClaimState>>,
    reader: ClientConfig,
    fatal: Mutex<Option<String>>,
}

impl ClientContext for ExecContext {}

impl ConsumerContext for ExecContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            // Another executor may have claimed commands since we last looked.
            match load_claims(&self.reader, &self.group) {
                Ok(c) => *self.claims.lock().unwrap_or_else(|e| e.into_inner()) = c,
                Err(e) => *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("cannot load executor claims: {e}")),
            }
        }
    }
}

fn load_claims(reader: &ClientConfig, group: &str) -> Result<HashMap<String, ClaimState>> {
    let prefix = format!("claim/{group}/");
    let all = checkpoint::read_all(reader, ACK_TIMEOUT)?;
    Ok(all
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(_, v)| serde_json::from_slice::<Claim>(v).ok())
        .map(|c| (c.command_id, c.state))
        .collect())
}

pub struct Executor {
    pub cfg: ExecutorConfig,
    pub backend: Arc<dyn Backend>,
    pub sink: Sink,
    pub metrics: Arc<Metrics>,
    pub runtime: tokio::runtime::Handle,
}

impl Executor {
    pub fn run(self, consumer_config: ClientConfig, reader: ClientConfig, group: String, stop: Arc<AtomicBool>) -> Result<()> {
        let ctx = ExecContext { group: group.clone(), claims: Mutex::new(HashMap::new()), reader, fatal: Mutex::new(None) };
        let consumer: BaseConsumer<ExecContext> = consumer_config.create_with_context(ctx)?;
        consumer.subscribe(&[COMMANDS])?;
        tracing::info!(executor = %self.cfg.name, backend = self.backend.name(), "executor started");
        while !stop.load(Ordering::Relaxed) {
            if let Some(why) = consumer.context().fatal.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return Err(Error::Internal(why));
            }
            let Some(msg) = consumer.poll(Duration::from_millis(50)) else { continue };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    continue;
                }
            };
            let (partition, offset) = (msg.partition(), msg.offset());
            self.handle(msg.payload().unwrap_or_default(), partition, offset, &group, consumer.context())?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(COMMANDS, partition, Offset::Offset(offset + 1))?;
            consumer.commit(&tpl, CommitMode::Sync)?;
        }
        consumer.unsubscribe();
        Ok(())
    }

    fn handle(&self, payload: &[u8], partition: i32, offset: i64, group: &str, ctx: &ExecContext) -> Result<()> {
        let tracker = AckTracker::new();
        let cmd: Envelope<RemediationCommand> = match serde_json::from_slice(payload) {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("not a valid remediation command: {e}");
                self.dead_letter(&tracker, payload, partition, offset, reason)?;
                return tracker.wait_all_blocking(ACK_TIMEOUT);
            }
        };
        let id = cmd.data.command_id.clone();
        let known = ctx.claims.lock().unwrap_or_else(|e| e.into_inner()).get(&id).copied();
        match known {
            Some(ClaimState::Done) => {
                self.count(&cmd.data, "duplicate");
                return Ok(());
            }
            Some(ClaimState::Claimed) => {
                // Claimed but no result recorded: a previous executor died mid-way. Report,
                // never run it again.
                self.publish(&tracker, &cmd, Outcome::Failed, "executor stopped during execution; outcome unknown, not retried".into(), "command.outcome-unknown")?;
                self.claim(&tracker, group, &id, ClaimState::Done)?;
                tracker.wait_all_blocking(ACK_TIMEOUT)?;
                ctx.claims.lock().unwrap_or_else(|e| e.into_inner()).insert(id, ClaimState::Done);
                return Ok(());
            }
            None => {}
        }
        if let Err(why) = policy::check(&self.cfg, &cmd.data) {
            self.publish(&tracker, &cmd, Outcome::Rejected, why, "command.rejected")?;
            self.claim(&tracker, group, &id, ClaimState::Done)?;
            tracker.wait_all_blocking(ACK_TIMEOUT)?;
            ctx.claims.lock().unwrap_or_else(|e| e.into_inner()).insert(id, ClaimState::Done);
            return Ok(());
        }
        // Claim first, durably: from here on the command is never run again.
        self.claim(&tracker, group, &id, ClaimState::Claimed)?;
        self.audit(&tracker, &cmd, "command.claimed", format!("{} claims {}", self.cfg.name, id))?;
        tracker.wait_all_blocking(ACK_TIMEOUT)?;
        ctx.claims.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), ClaimState::Claimed);
        let (outcome, message) = match self.runtime.block_on(self.backend.execute(&cmd.data)) {
            Ok(r) => r,
            Err(e) => (Outcome::Failed, e.to_string()),
        };
        self.publish(&tracker, &cmd, outcome, message, "command.executed")?;
        self.claim(&tracker, group, &id, ClaimState::Done)?;
        tracker.wait_all_blocking(ACK_TIMEOUT)?;
        ctx.claims.lock().unwrap_or_else(|e| e.into_inner()).insert(id, ClaimState::Done);
        Ok(())
    }

    fn count(&self, cmd: &RemediationCommand, outcome: &str) {
        self.metrics.executor_commands.get_or_create(&ActionOutcome { action: cmd.action.as_str().into(), outcome: outcome.into() }).inc();
    }

    fn claim(&self, tracker: &Arc<AckTracker>, group: &str, id: &str, state: ClaimState) -> Result<()> {
        let claim = Claim { command_id: id.to_string(), state, executor: self.cfg.name.clone() };
        let bytes = serde_json::to_vec(&claim).map_err(|e| Error::Internal(e.to_string()))?;
        self.sink.send_blocking(tracker, CHECKPOINTS, &claim_key(group, id), &bytes)?;
        Ok(())
    }

    fn publish(&self, tracker: &Arc<AckTracker>, cmd: &Envelope<RemediationCommand>, outcome: Outcome, message: String, decision: &str) -> Result<()> {
        let c = &cmd.data;
        self.count(c, outcome.as_str());
        tracing::info!(command = %c.command_id, action = c.action.as_str(), target = %c.target, outcome = outcome.as_str(), %message, "remediation");
        let result = RemediationResult {
            command_id: c.command_id.clone(),
            incident_id: c.incident_id.clone(),
            action: c.action,
            target: c.target.clone(),
            outcome,
            backend: self.backend.name().to_string(),
            message: message.clone(),
            executor: self.cfg.name.clone(),
        };
        let id = stable_id(&["result", &c.command_id]);
        let source = format!("kubesage/executor/{}", self.cfg.name);
        self.send(tracker, RESULTS, &cmd.cluster, &Envelope::new(id, source, cmd.time, c.command_id.clone(), cmd.cluster.clone(), result))?;
        self.audit(tracker, cmd, decision, format!("{} {}: {} ({message})", c.action.as_str(), c.target, outcome.as_str()))
    }

    fn audit(&self, tracker: &Arc<AckTracker>, cmd: &Envelope<RemediationCommand>, decision: &str, detail: String) -> Result<()> {
        let c = &cmd.data;
        let record = AuditRecord {
            actor: format!("executor/{}", self.cfg.name),
            decision: decision.into(),
            command_id: Some(c.command_id.clone()),
            incident_id: Some(c.incident_id.clone()),
            detail,
        };
        let id = stable_id(&["audit", "executor", decision, &c.command_id]);
        let source = format!("kubesage/executor/{}", self.cfg.name);
        self.send(tracker, AUDIT, &cmd.cluster, &Envelope::new(id, source, cmd.time, c.command_id.clone(), cmd.cluster.clone(), record))
    }

    fn send<T: Payload + Serialize>(&self, tracker: &Arc<AckTracker>, topic: &'static str, key: &str, record: &Envelope<T>) -> Result<()> {
        let bytes = serde_json::to_vec(record).map_err(|e| Error::Internal(e.to_string()))?;
        self.sink.send_blocking(tracker, topic, key, &bytes)?;
        self.metrics.events_emitted.get_or_create(&crate::metrics::JobTopic { operator: JOB.into(), topic: topic.into() }).inc();
        Ok(())
    }

    fn dead_letter(&self, tracker: &Arc<AckTracker>, payload: &[u8], partition: i32, offset: i64, reason: String) -> Result<()> {
        tracing::warn!(partition, offset, %reason, "dead-lettered command");
        self.metrics.deadletter.get_or_create(&Metrics::job(JOB)).inc();
        self.metrics.errors.get_or_create(&JobClass { operator: JOB.into(), class: "user".into() }).inc();
        let subject = format!("{COMMANDS}/{partition}/{offset}");
        let record = DeadLetter {
            reason,
            stage: format!("job:{JOB}"),
            topic: COMMANDS.into(),
            partition,
            offset,
            key: None,
            payload: String::from_utf8_lossy(&payload[..payload.len().min(65536)]).into_owned(),
            payload_truncated: payload.len() > 65536,
        };
        let id = stable_id(&["deadletter", COMMANDS, &partition.to_string(), &offset.to_string()]);
        self.send(tracker, DEADLETTER, &subject, &Envelope::new(id, "kubesage/executor", Utc::now(), subject.clone(), "", record))
    }
}
