//! Root-cause analysis: for an incident, rank candidate components with the evidence that
//! put each there.
//!
//! The core is one pure function, [`rank`], over a [`Problem`] (components, dependency
//! edges, per-component signals split at onset into baseline and window, changes,
//! symptoms). The operator ([`operator`]) builds problems from the live topology and the
//! stage-1 detectors' findings ([`evidence`]: anomaly records, alerts, events); the quality
//! harnesses (PetShop, rca-sim, RCAEval layout) build them from data sets and call
//! the same function. See [`rank`](rank::rank) for the model.

mod colocation;
pub mod config;
pub mod evidence;
pub mod history;
pub mod operator;
pub mod pagerank;
pub mod rank;
pub mod signal;
mod walk;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_operator;

use kubesage_schemas::incident::{RcaCandidate, RcaReport};

pub use config::RcaConfig;
pub use operator::{CorrelateWithRca, Rca, RcaOperatorConfig};
pub use colocation::colocation_groups;
pub use rank::{component_states, component_states_measured, ranking_states, is_issue, rank, rank_with_states, Change, Component, ComponentState, Problem, Ranked};
pub use signal::{Measure, Sample, Signal, SignalKind, SignalScore};

/// The report for an incident from a ranking.
pub fn report(incident_id: &str, problem: &Problem, ranked: &[Ranked]) -> RcaReport {
    RcaReport {
        incident_id: incident_id.to_string(),
        incident_revision: 0,
        symptoms: problem.symptoms.iter().filter_map(|&i| problem.components.get(i)).map(|c| c.id.clone()).collect(),
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
