//! Personalised PageRank over a weighted directed graph (petgraph): the random walk of
//! MicroRCA-style rankers. The rca-sim harness uses it as its PageRank baseline.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// Stationary distribution of a walk that, with probability `damping`, follows an
/// outgoing edge in proportion to its weight (a node without usable edges teleports) and
/// otherwise teleports by `personalization` (uniform when it sums to zero). Edges out of
/// range and non-positive weights are ignored.
pub fn personalized(n: usize, edges: &[(usize, usize, f64)], personalization: &[f64], damping: f64, iterations: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let mut g: DiGraph<(), f64, u32> = DiGraph::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for &(a, b, w) in edges {
        if a < n && b < n && w.is_finite() && w > 0.0 {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), w);
        }
    }
    let total: f64 = personalization.iter().take(n).filter(|x| x.is_finite() && **x > 0.0).sum();
    let tele: Vec<f64> = (0..n)
        .map(|i| {
            let x = personalization.get(i).copied().filter(|x| x.is_finite() && *x > 0.0).unwrap_or(0.0);
            if total > 0.0 {
                x / total
            } else {
                1.0 / n as f64
            }
        })
        .collect();
    let out_weight: Vec<f64> = (0..n).map(|i| g.edges_directed(NodeIndex::new(i), Direction::Outgoing).map(|e| *e.weight()).sum()).collect();
    let mut p = tele.clone();
    let mut next = vec![0.0; n];
    for _ in 0..iterations {
        let mut dangling = 0.0;
        next.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..n {
            if out_weight[i] > 0.0 {
                for e in g.edges_directed(NodeIndex::new(i), Direction::Outgoing) {
                    next[e.target().index()] += damping * p[i] * e.weight() / out_weight[i];
                }
            } else {
                dangling += damping * p[i];
            }
        }
        for i in 0..n {
            next[i] += (1.0 - damping + dangling) * tele[i];
        }
        std::mem::swap(&mut p, &mut next);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_cases() {
        // No edges: the teleport vector itself.
        let p = personalized(3, &[], &[1.0, 1.0, 2.0], 0.85, 50);
        assert!((p[2] - 0.5).abs() < 1e-12 && (p[0] - 0.25).abs() < 1e-12, "{p:?}");
        // a -> b, teleport only to a: p_a = 1 - d + d p_b (b dangles back to a), p_b = d p_a
        // => p_a = 1 / (1 + d).
        let d = 0.85;
        let p = personalized(2, &[(0, 1, 1.0)], &[1.0, 0.0], d, 200);
        assert!((p[0] - 1.0 / (1.0 + d)).abs() < 1e-9, "{p:?}");
        assert!((p[1] - d / (1.0 + d)).abs() < 1e-9, "{p:?}");
        // Weights split the walk; the sum stays 1.
        let p = personalized(3, &[(0, 1, 3.0), (0, 2, 1.0)], &[1.0, 0.0, 0.0], d, 200);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!((p[1] / p[2] - 3.0).abs() < 1e-9, "{p:?}");
    }
}
