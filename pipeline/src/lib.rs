//! KubeSage runtime: the IO edges (Kafka sources and sinks, HTTP collectors), operator
//! hosting with checkpoints, the executor, configuration and the `kubesage` CLI.

pub mod app;
pub mod checkpoint;
pub mod collector;
pub mod config;
pub mod demo;
pub mod error;
pub mod executor;
pub mod host;
pub mod http;
pub mod inputs;
pub mod kafka;
pub mod metrics;
pub mod observe;
pub mod operator_stats;
pub mod sink;
pub mod topics_admin;

pub use error::{Error, Result};
