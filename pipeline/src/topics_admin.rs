//! `kubesage topics create`: the catalogue's topics with their partitions and compaction.

use std::time::Duration;

use kubesage_schemas::topics::CATALOGUE;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka;

/// Create every catalogue topic that does not exist yet. Returns (name, outcome) rows.
pub async fn create_all(config: &Config) -> Result<Vec<(String, String)>> {
    if config.kafka.brokers.trim().is_empty() {
        return Err(Error::Config("kafka.brokers is empty: the embedded broker creates its topics itself".into()));
    }
    let admin: AdminClient<DefaultClientContext> = kafka::base_config(&config.kafka, &config.kafka.brokers).create()?;
    let new: Vec<NewTopic<'_>> = CATALOGUE
        .iter()
        .map(|t| {
            let topic = NewTopic::new(t.name, t.partitions, TopicReplication::Fixed(config.kafka.replication_factor));
            if t.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new, &opts).await?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(name) => rows.push((name, "created".to_string())),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => rows.push((name, "exists".to_string())),
            Err((name, code)) => {
                failed.push(format!("{name}: {code}"));
                rows.push((name, format!("failed: {code}")));
            }
        }
    }
    if failed.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Kafka(rdkafka::error::KafkaError::AdminOpCreation(failed.join("; "))))
    }
}
