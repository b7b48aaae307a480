//! Co-location: components sharing a node contend for its resources, so a fault that
//! exhausts one (a CPU hog, a memory leak) shows at its neighbours (noisy neighbours).

use std::collections::BTreeMap;

use super::config::RcaConfig;
use super::rank::{binary_slope, ComponentState, Problem};
use super::walk::MIN_REACH;
use crate::time::duration_millis;

/// Co-location groups from where components run (`(component, node)` pairs): one group
/// per node that holds at least two components, indices ascending, nodes in name order.
pub fn colocation_groups<'a>(placed: impl IntoIterator<Item = (usize, &'a str)>) -> Vec<Vec<usize>> {
    let mut by_node: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, node) in placed {
        by_node.entry(node).or_default().push(i);
    }
    by_node
        .into_values()
        .filter_map(|mut g| {
            g.sort_unstable();
            g.dedup();
            (g.len() >= 2).then_some(g)
        })
        .collect()
}

/// Co-located components of each component (CSR over the union of its groups), each with
/// [`contention`] from it; pairs too weak to matter are left out.
pub(super) fn neighbours(problem: &Problem, states: &[ComponentState], cfg: &RcaConfig) -> (Vec<usize>, Vec<(usize, f64)>) {
    let n = states.len();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for g in &problem.colocated {
        for &u in g.iter().filter(|&&u| u < n) {
            pairs.extend(g.iter().filter(|&&v| v < n && v != u).map(|&v| (u, v)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut start = vec![0usize; n + 1];
    let mut out = Vec::with_capacity(pairs.len());
    for (u, v) in pairs {
        let e = contention(states, u, v, cfg);
        if e >= MIN_REACH {
            out.push((v, e));
            start[u + 1] = out.len();
        }
    }
    for i in 0..n {
        start[i + 1] = start[i + 1].max(start[i]);
    }
    (start, out)
}

/// Probability that a fault in `u` reaches its co-located `v` through the node they share:
/// only a fault that exhausts a shared resource does (`u`'s resource abnormal), and `v`
/// may not have started clearly earlier than `u` (as for a dependent, [`gate`](super::rank::gate)).
pub(super) fn contention(states: &[ComponentState], u: usize, v: usize, cfg: &RcaConfig) -> f64 {
    let tol = duration_millis(cfg.onset_tolerance);
    let (su, sv) = (&states[u], &states[v]);
    if !su.observed {
        return 0.0;
    }
    let mut e = su.resource;
    // A neighbour loses to contention at most the share the hog took: its resource rose
    // (relatively) no more than the hog's, else something else drives it.
    if let (Some(ru), Some(rv)) = (su.resource_rise, sv.resource_rise) {
        if rv > 0.0 {
            e *= (ru.max(0.0) / rv).min(1.0);
        }
    }
    if let (Some(ou), Some(ov)) = (su.onset, sv.onset) {
        if ov + tol.max(su.step).max(sv.step) < ou {
            e *= cfg.early_onset_factor;
        }
    }
    e
}

/// The likelihood ratio of a co-located component's state under "contended with
/// probability `e`" against "not" is `1 + e * slope`. Contention shows in the shared
/// resource: contended, the neighbour's resource looks abnormal with probability
/// `propagation` (as a pod degraded by its node); not contended, with `spurious`. Its
/// service is left out: a degraded service has many other causes (the fault's own
/// callers), all weighed by the call graph.
pub(super) fn contention_slope(st: &ComponentState, cfg: &RcaConfig) -> f64 {
    if !st.observed {
        return 0.0;
    }
    binary_slope(st.resource, cfg.propagation, cfg.spurious)
}
