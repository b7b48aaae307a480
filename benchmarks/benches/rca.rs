//! Speed of root-cause ranking: one incident on a 1,000-component dependency graph (a
//! layered call graph, three signals per component with 60 baseline and 30 window
//! samples, a fault at a deep component propagating to every transitive caller, and a
//! few distractors). Target: under 5 ms per incident. The same incident is also ranked with
//! the components placed ten to a node, so the noisy-neighbour term and the traffic
//! signals it reads are timed too.

use criterion::{criterion_group, criterion_main, Criterion};
use kubesage_benchmarks::rng::XorShift;
use kubesage_operators::rca::{colocation_groups, component_states, rank, rank_with_states, Component, Problem, RcaConfig, Sample, Signal, SignalKind};

const STEP: i64 = 10_000;
const BASE: i64 = 60;
const WIN: i64 = 30;

fn problem(n: usize) -> Problem {
    let mut rng = XorShift::new(0x2545_F491_4F6C_DD1D);
    // Callers have lower indices; every component calls one or two of the next ones.
    let mut edges = Vec::new();
    for callee in 1..n {
        let lo = callee.saturating_sub(20);
        let caller = lo + ((rng.f() * (callee - lo) as f64) as usize).min(callee - lo - 1);
        edges.push((caller, callee));
        if rng.f() < 0.5 {
            edges.push(((rng.f() * callee as f64) as usize, callee));
        }
    }
    let root = n * 3 / 4;
    // Who sees the fault: the root and its transitive callers.
    let mut affected = vec![false; n];
    affected[root] = true;
    for i in (0..n).rev() {
        if affected[i] {
            for &(a, b) in &edges {
                if b == i {
                    affected[a] = true;
                }
            }
        }
    }
    let distractors = [n / 10, n / 3, n / 2];
    let mut signals = Vec::new();
    for (c, &hit) in affected.iter().enumerate() {
        for (k, kind) in [SignalKind::Latency, SignalKind::Cpu, SignalKind::Traffic].into_iter().enumerate() {
            let shifted = (kind == SignalKind::Latency && hit) || (kind == SignalKind::Cpu && (c == root || distractors.contains(&c)));
            let level = 0.05 + 0.01 * k as f64;
            let mut series = |from: i64, to: i64, up: bool| -> Vec<Sample> {
                (from..to).map(|i| Sample::new(i * STEP, level * (1.0 + 0.05 * (rng.f() - 0.5)) + if up { 0.5 * level } else { 0.0 })).collect()
            };
            let baseline = series(0, BASE, false);
            let window = series(BASE, BASE + WIN, shifted);
            signals.push(Signal { component: c, name: format!("c{c}_{}", kind.as_str()), kind, baseline, window });
        }
    }
    Problem {
        components: (0..n).map(|i| Component { id: format!("Deployment/shop/c{i}") }).collect(),
        edges,
        signals,
        changes: Vec::new(),
        symptoms: vec![0],
        onset: BASE * STEP,
        colocated: Vec::new(),
    }
}

/// The problem with its components placed ten to a node (100 nodes), neighbours of the
/// root sharing its node.
fn placed(mut p: Problem) -> Problem {
    let nodes: Vec<String> = (0..p.components.len()).map(|i| format!("node-{}", i % 100)).collect();
    p.colocated = colocation_groups(nodes.iter().enumerate().map(|(i, n)| (i, n.as_str())));
    p
}

fn rca(c: &mut Criterion) {
    let cfg = RcaConfig::default();
    let p = problem(1000);
    let with_placement = placed(problem(1000));
    let ranked = rank(&p, &cfg);
    eprintln!(
        "1,000 components, {} edges, {} signals: first candidate {} of {}",
        p.edges.len(),
        p.signals.len(),
        ranked.first().map_or("-", |r| p.components[r.component].id.as_str()),
        ranked.len()
    );
    for r in ranked.iter().take(3) {
        eprintln!("  {} llr {:.2}: {:?}", p.components[r.component].id, r.llr, r.evidence);
    }
    let placed_ranked = rank(&with_placement, &cfg);
    eprintln!("placed on 100 nodes: first candidate {}", placed_ranked.first().map_or("-", |r| with_placement.components[r.component].id.as_str()));
    for r in placed_ranked.iter().take(3) {
        eprintln!("  {} llr {:.2}: {:?}", with_placement.components[r.component].id, r.llr, r.evidence);
    }
    let mut g = c.benchmark_group("rca");
    g.bench_function("rank-1000-components", |b| b.iter(|| rank(&p, &cfg)));
    g.bench_function("rank-1000-components-on-100-nodes", |b| b.iter(|| rank(&with_placement, &cfg)));
    let states = component_states(&p, &cfg);
    g.bench_function("score-signals-1000-components", |b| b.iter(|| component_states(&p, &cfg)));
    g.bench_function("graph-ranking-1000-components", |b| b.iter(|| rank_with_states(&p, &states, &cfg)));
    g.finish();
}

criterion_group!(benches, rca);
criterion_main!(benches);
