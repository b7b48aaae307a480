//! KubeSage analytics as pure, synchronous state machines.
//!
//! Nothing in this crate does IO, spawns tasks, reads the wall clock or touches a global
//! registry: time is an input (event time on events, watermarks, ticks), outputs go into a
//! [`Collector`] the host hands in, and state is a versioned [`Snapshot`]. Given the same
//! inputs in the same order an operator produces the same outputs, byte for byte.

pub mod anomaly;
pub mod correlation;
pub mod log_anomaly;
pub mod logs;
pub mod operator;
pub mod peer;
pub mod planner;
pub mod rca;
#[cfg(test)]
mod test_rng;
pub mod time;
pub mod topology;

pub use operator::{Collector, ConfigIssue, Emitted, Operator, OperatorError, Snapshot, Stat};
