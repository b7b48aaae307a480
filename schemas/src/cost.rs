use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;

/// Cost of one workload over one window on `kubesage.cost.allocations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostAllocation {
    pub namespace: String,
    pub workload: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
    pub cost: f64,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl Payload for CostAllocation {
    const KIND: &'static str = "io.kubesage.cost.allocation.v1";
}

/// A workload whose cost left its expected band, on `kubesage.cost.anomalies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CostAnomaly {
    pub namespace: String,
    pub workload: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub observed_cost: f64,
    pub expected_cost: f64,
    pub score: f64,
    pub currency: String,
}

impl Payload for CostAnomaly {
    const KIND: &'static str = "io.kubesage.cost.anomaly.v1";
}
