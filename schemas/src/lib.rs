//! Wire types of KubeSage. Everything that crosses a Kafka topic or an HTTP edge is defined
//! here, once: the CloudEvents-style envelope, one payload type per topic, the topic
//! catalogue and the JSON Schemas generated from these types. No IO lives in this crate.

pub mod alert;
pub mod alertmanager;
pub mod audit;
pub mod cost;
pub mod deadletter;
pub mod envelope;
pub mod float;
pub mod ids;
pub mod incident;
pub mod k8s;
pub mod remediation;
pub mod schema;
pub mod signal;
pub mod signals;
pub mod topics;
pub mod topology;

pub use envelope::Envelope;
