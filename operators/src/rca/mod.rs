//! Root-cause analysis: for an incident, rank candidate components with the evidence that
//! put each there.
//!
//! The core is one pure function, [`rank`], over a [`Problem`] (components, dependency
//! edges, per-component signals split at onset into baseline and window, changes,
//! symptoms). The operator builds problems from the live topology and metric history; the
//! quality harnesses (PetShop, rca-sim, RCAEval layout) build them from data sets and call
//! the same function. See [`rank`](rank::rank) for the model.

pub mod config;
pub mod pagerank;
pub mod rank;
pub mod signal;
#[cfg(test)]
mod tests;

use kubesage_schemas::incident::{RcaCandidate, RcaReport};

pub use config::RcaConfig;
pub use rank::{component_states, is_issue, rank, rank_with_states, Change, Component, ComponentState, Problem, Ranked};
pub use signal::{Sample, Signal, SignalKind, SignalScore};

/// The report for an incident from a ranking.
pub fn report(incident_id: &str, problem: &Problem, ranked: &[Ranked]) -> RcaReport {
    RcaReport {
        incident_id: incident_id.to_string(),
        candidates: ranked
            .iter()
            .enumerate()
            .map(|(i, r)| RcaCandidate {
                component: problem.components[r.component].id.clone(),
                score: (r.probability * 1e6).round() / 1e6,
                rank: i as u32 + 1,
                evidence: r.evidence.clone(),
            })
            .collect(),
        graph_nodes: problem.components.len() as u32,
    }
}
