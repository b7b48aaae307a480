//! Kafka inputs that are not KubeSage envelopes: what shippers write to Kafka directly.

pub mod raw_logs;
