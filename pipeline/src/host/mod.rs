//! Operator hosting: one task per input partition (Kafka Streams style), each with its own
//! operator instance, watermark, output acknowledgements and checkpoints. A job runs on
//! its own thread with a group consumer; rebalances drain and checkpoint before giving
//! partitions up, and restore from checkpoints before reading. A job reading a topic other
//! jobs write advances idle watermarks only once they have caught up ([`upstream`]).

pub mod hosted;
pub mod task;
pub mod upstream;
pub mod watermark;
pub mod worker;

pub use hosted::{hosted, HostedOperator};
pub use upstream::{Upstream, UpstreamGate};
pub use worker::{run_job, JobSpec};
