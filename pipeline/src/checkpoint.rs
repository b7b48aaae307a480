//! Operator checkpoints and executor claims in the compacted `kubesage.checkpoints` topic.
//! A checkpoint is an operator snapshot together with the input offset it reflects; it is
//! written only after every output emitted before the snapshot was acknowledged, and the
//! group offset is committed only after the checkpoint itself was acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kubesage_operators::Snapshot;
use kubesage_schemas::topics::CHECKPOINTS;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host::watermark::WatermarkState;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub job: String,
    pub topic: String,
    pub partition: i32,
    /// First input offset not reflected in the snapshot.
    pub next_offset: i64,
    pub watermark: WatermarkState,
    pub operator: Snapshot,
}

pub fn checkpoint_key(job: &str, topic: &str, partition: i32) -> String {
    format!("checkpoint/{job}/{topic}/{partition}")
}

pub fn claim_key(executor_group: &str, command_id: &str) -> String {
    format!("claim/{executor_group}/{command_id}")
}

/// Read the whole checkpoint topic (latest value per key, tombstones removed).
pub fn read_all(consumer_config: &ClientConfig, timeout: Duration) -> Result<BTreeMap<String, Vec<u8>>> {
    let consumer: BaseConsumer = consumer_config.create()?;
    let metadata = consumer.fetch_metadata(Some(CHECKPOINTS), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == CHECKPOINTS && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(CHECKPOINTS, *p, Duration::from_secs(10))?;
        if high > low {
            ends.insert(*p, high);
            tpl.add_partition_offset(CHECKPOINTS, *p, Offset::Offset(low))?;
        }
    }
    let mut latest = BTreeMap::new();
    if ends.is_empty() {
        return Ok(latest);
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + timeout;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(Error::Checkpoint(format!("could not read {CHECKPOINTS} to its end within {timeout:?}")));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else { continue };
        let msg = msg?;
        if let Some(key) = msg.key().and_then(|k| std::str::from_utf8(k).ok()) {
            match msg.payload() {
                Some(v) => latest.insert(key.to_string(), v.to_vec()),
                None => latest.remove(key),
            };
        }
        if ends.get(&msg.partition()).is_some_and(|end| msg.offset() + 1 >= *end) {
            ends.remove(&msg.partition());
        }
    }
    Ok(latest)
}
