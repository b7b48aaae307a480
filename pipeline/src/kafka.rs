//! librdkafka client configuration in one place, and the embedded in-process Kafka.

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Environment variables `KUBESAGE_RDKAFKA_SASL_PASSWORD=...` set `sasl.password`, so
/// secrets never have to be written into the config file.
const ENV_PREFIX: &str = "KUBESAGE_RDKAFKA_";

pub fn base_config(kafka: &KafkaConfig, brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers).set("client.id", &kafka.client_id);
    with_overrides(c, kafka)
}

/// User options and `KUBESAGE_RDKAFKA_*` variables go last so they win over our defaults
/// (the settings correctness depends on are refused by config validation).
fn with_overrides(mut c: ClientConfig, kafka: &KafkaConfig) -> ClientConfig {
    for (k, v) in &kafka.options {
        c.set(k, v);
    }
    for (k, v) in std::env::vars() {
        if let Some(prop) = k.strip_prefix(ENV_PREFIX) {
            c.set(prop.to_ascii_lowercase().replace('_', "."), v);
        }
    }
    c
}

/// Idempotent producer, acks from all in-sync replicas, bounded queue.
pub fn producer_config(kafka: &KafkaConfig, brokers: &str) -> ClientConfig {
    let mut c = base_config(kafka, brokers);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", kafka.producer_queue_messages.to_string())
        .set("message.timeout.ms", "120000");
    with_overrides(c, kafka)
}

/// A consumer that only reads assigned partitions (checkpoints, demo watchers): it never
/// joins or commits to a group, but librdkafka wants a group id to accept assignments.
pub fn reader_config(kafka: &KafkaConfig, brokers: &str) -> ClientConfig {
    let mut c = base_config(kafka, brokers);
    c.set("group.id", format!("{}.reader", kafka.group_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "20");
    with_overrides(c, kafka)
}

/// Group consumer with manual offset management: offsets are committed by the runtime
/// only after the outputs derived from them are acknowledged.
pub fn consumer_config(kafka: &KafkaConfig, brokers: &str, group: &str) -> ClientConfig {
    let mut c = base_config(kafka, brokers);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "20")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("partition.assignment.strategy", "range")
        .set("queued.max.messages.kbytes", "65536");
    with_overrides(c, kafka)
}

pub mod embedded {
    //! librdkafka's in-process mock cluster: the whole path still speaks the Kafka
    //! protocol (kcat can attach to it), with nothing to install.
    #![allow(unsafe_code)]

    use rdkafka::producer::{BaseProducer, Producer};
    use rdkafka::ClientConfig;

    use crate::error::{Error, Result};

    pub struct EmbeddedKafka {
        /// Owns the mock cluster; it lives as long as this client.
        client: BaseProducer<rdkafka::producer::DefaultProducerContext>,
        bootstrap: String,
    }

    impl EmbeddedKafka {
        pub fn start() -> Result<EmbeddedKafka> {
            let client: BaseProducer = ClientConfig::new()
                .set("test.mock.num.brokers", "1")
                .set("log_level", "3")
                .create()
                .map_err(Error::Kafka)?;
            let bootstrap = {
                let cluster = client
                    .client()
                    .mock_cluster()
                    .ok_or_else(|| Error::Internal("mock cluster did not start".into()))?;
                cluster.bootstrap_servers()
            };
            // SAFETY: the handle belongs to `client`, which outlives this call; the setter
            // only stores an integer in the mock cluster's config. Without it a new consumer
            // group waits 3 s before its first assignment.
            unsafe {
                let mcluster = rdkafka_sys::rd_kafka_handle_mock_cluster(client.client().native_ptr());
                if !mcluster.is_null() {
                    rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(mcluster, 0);
                }
            }
            Ok(EmbeddedKafka { client, bootstrap })
        }

        pub fn bootstrap_servers(&self) -> &str {
            &self.bootstrap
        }

        pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
            let cluster = self
                .client
                .client()
                .mock_cluster()
                .ok_or_else(|| Error::Internal("mock cluster is gone".into()))?;
            cluster.create_topic(name, partitions, 1).map_err(Error::Kafka)
        }
    }
}
