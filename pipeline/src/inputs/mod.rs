//! Kafka inputs that are not KubeSage operators' own: what shippers write to Kafka directly,
//! and the routing jobs that re-key inputs onto the stage-2 signal topic.

pub mod raw_logs;
pub mod route;
