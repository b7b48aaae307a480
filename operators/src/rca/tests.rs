use super::*;

const STEP: i64 = 10_000;
const ONSET: i64 = 60 * STEP;

/// Builder for small problems: named components, `a -> b` dependencies, and one latency
/// signal per component whose window is `base + shift` (0 = healthy).
struct P {
    p: Problem,
}

impl P {
    fn new(names: &[&str]) -> P {
        P { p: Problem { components: names.iter().map(|n| Component { id: n.to_string() }).collect(), onset: ONSET, ..Problem::default() } }
    }
    fn idx(&self, name: &str) -> usize {
        self.p.components.iter().position(|c| c.id == name).expect("component")
    }
    fn dep(mut self, from: &str, to: &str) -> P {
        let e = (self.idx(from), self.idx(to));
        self.p.edges.push(e);
        self
    }
    fn sig(mut self, name: &str, kind: SignalKind, base: f64, shift: f64) -> P {
        let c = self.idx(name);
        let noise = |i: i64| ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        let baseline = (0..60).map(|i| Sample::new(i * STEP, base * (1.0 + 0.05 * noise(i)))).collect();
        let window = (60..90).map(|i| Sample::new(i * STEP, base * (1.0 + 0.05 * noise(i)) + shift)).collect();
        self.p.signals.push(Signal { component: c, name: format!("{name}_{}", kind.as_str()), kind, baseline, window });
        self
    }
    fn lat(self, name: &str, shift: f64) -> P {
        self.sig(name, SignalKind::Latency, 0.1, shift)
    }
    fn symptom(mut self, name: &str) -> P {
        let i = self.idx(name);
        self.p.symptoms.push(i);
        self
    }
    fn top(&self, cfg: &RcaConfig) -> Vec<String> {
        rank(&self.p, cfg).iter().map(|r| self.p.components[r.component].id.clone()).collect()
    }
}

#[test]
fn ranking_table() {
    let cfg = RcaConfig::default();
    // (case, problem, expected first)
    let cases: Vec<(&str, P, &str)> = vec![
        (
            "victims upstream look worse than the root",
            P::new(&["frontend", "checkout", "payment"])
                .dep("frontend", "checkout")
                .dep("checkout", "payment")
                .lat("frontend", 2.0)
                .lat("checkout", 1.5)
                .lat("payment", 0.3)
                .symptom("frontend"),
            "payment",
        ),
        (
            "a healthy dependency does not steal the blame",
            P::new(&["frontend", "cart", "redis"]).dep("frontend", "cart").dep("cart", "redis").lat("frontend", 0.5).lat("cart", 0.5).lat("redis", 0.0),
            "cart",
        ),
        (
            "a slightly abnormal dependency too small to explain its caller",
            P::new(&["frontend", "cart", "db"]).dep("frontend", "cart").dep("cart", "db").lat("frontend", 3.0).lat("cart", 3.0).sig("db", SignalKind::Latency, 0.001, 0.0005),
            "cart",
        ),
        (
            "the component explaining the most symptoms wins among leaves",
            P::new(&["frontend", "search", "list", "table", "elb"])
                .dep("frontend", "search")
                .dep("frontend", "list")
                .dep("frontend", "elb")
                .dep("list", "search")
                .dep("search", "table")
                .lat("frontend", 1.0)
                .lat("search", 1.0)
                .lat("list", 1.0)
                .lat("table", 0.5)
                .lat("elb", 1.5),
            "table",
        ),
        (
            "a resource fault on a node explains its pods",
            P::new(&["pod-a", "pod-b", "node-1"])
                .dep("pod-a", "node-1")
                .dep("pod-b", "node-1")
                .lat("pod-a", 0.5)
                .lat("pod-b", 0.5)
                .sig("node-1", SignalKind::Cpu, 0.4, 0.5),
            "node-1",
        ),
        (
            "explaining the alerting component beats explaining more unrelated ones",
            P::new(&["site", "pay", "ddb", "l1", "l2", "l3"])
                .dep("site", "pay")
                .dep("l1", "ddb")
                .dep("l2", "l1")
                .dep("l3", "l2")
                .lat("site", 0.3)
                .lat("pay", 0.3)
                .lat("ddb", 0.5)
                .lat("l1", 0.5)
                .lat("l2", 0.5)
                .lat("l3", 0.5)
                .symptom("site"),
            "pay",
        ),
        (
            "a CPU spike that slowed nothing does not outrank a service that degraded",
            P::new(&["frontend", "api", "db"])
                .dep("frontend", "api")
                .dep("api", "db")
                .lat("frontend", 0.055)
                .lat("api", 0.055)
                .lat("db", 0.0)
                .sig("db", SignalKind::Cpu, 0.4, 2.0),
            "api",
        ),
        (
            "an unobserved dependency explaining every abnormal caller",
            P::new(&["a", "b", "c", "ext"]).dep("a", "ext").dep("b", "ext").dep("c", "ext").lat("a", 0.5).lat("b", 0.5).lat("c", 0.5),
            "ext",
        ),
    ];
    for (name, p, want) in cases {
        let got = p.top(&cfg);
        assert_eq!(got.first().map(String::as_str), Some(want), "{name}: {got:?}");
    }
}

#[test]
fn change_before_onset_breaks_a_tie() {
    let cfg = RcaConfig::default();
    let mut p = P::new(&["frontend", "a", "b"]).dep("frontend", "a").dep("frontend", "b").lat("frontend", 1.0).lat("a", 1.0).lat("b", 1.0);
    let b = p.idx("b");
    p.p.changes.push(Change { component: b, at: ONSET - 120_000, what: "Deployment/shop/b rolled out revision 7".into() });
    let ranked = rank(&p.p, &cfg);
    assert_eq!(p.p.components[ranked[0].component].id, "b");
    assert!(ranked[0].evidence.iter().any(|e| e.contains("change 2m00s before onset")), "{:?}", ranked[0].evidence);
    // A change long before onset does not count.
    p.p.changes[0].at = ONSET - 3_600_000;
    let ranked = rank(&p.p, &cfg);
    assert!(ranked[0].evidence.iter().all(|e| !e.contains("change")));
}

#[test]
fn early_dependents_are_not_explained() {
    let cfg = RcaConfig::default();
    // `api` degrades first, its dependency `db` four minutes later: db cannot be the cause.
    let mut p = P::new(&["api", "db"]).dep("api", "db").lat("api", 1.0).lat("db", 1.0);
    let db = p.idx("db");
    for s in &mut p.p.signals {
        if s.component == db {
            for w in s.window.iter_mut().take(24) {
                w.value = 0.1;
            }
        }
    }
    assert_eq!(p.top(&cfg)[0], "api");
}

#[test]
fn report_has_ranks_scores_and_evidence() {
    let cfg = RcaConfig::default();
    let p = P::new(&["frontend", "checkout", "payment"])
        .dep("frontend", "checkout")
        .dep("checkout", "payment")
        .lat("frontend", 2.0)
        .lat("checkout", 1.5)
        .lat("payment", 0.3)
        .symptom("frontend");
    let ranked = rank(&p.p, &cfg);
    let r = report("inc-1", &p.p, &ranked);
    assert_eq!(r.incident_id, "inc-1");
    assert_eq!(r.graph_nodes, 3);
    assert_eq!(r.candidates[0].component, "payment");
    assert_eq!(r.candidates[0].rank, 1);
    let total: f64 = r.candidates.iter().map(|c| c.score).sum();
    assert!(total <= 1.0 + 1e-6 && r.candidates[0].score > 0.5, "{r:?}");
    let ev = &r.candidates[0].evidence;
    assert!(ev.iter().any(|e| e.starts_with("payment_latency 100ms -> ")), "{ev:?}");
    assert!(ev.iter().any(|e| e.starts_with("explains 2 abnormal dependents: checkout, frontend (1 alerting)")), "{ev:?}");
    assert!(ev.iter().any(|e| e == "no known dependencies"), "{ev:?}");
    let ev1 = &r.candidates[1].evidence;
    assert!(ev1.iter().any(|e| e.starts_with("dependencies also abnormal: payment")), "{ev1:?}");
    // Deterministic.
    assert_eq!(rank(&p.p, &cfg), ranked);
}

#[test]
fn empty_and_degenerate_inputs() {
    let cfg = RcaConfig::default();
    assert!(rank(&Problem::default(), &cfg).is_empty());
    // Edges and symptoms out of range are ignored, self-loops too.
    let mut p = P::new(&["a"]).lat("a", 1.0);
    p.p.edges.push((0, 0));
    p.p.edges.push((0, 7));
    p.p.symptoms.push(9);
    assert_eq!(p.top(&cfg), vec!["a"]);
}

#[test]
fn config_defaults_validate_and_reject_nonsense() {
    assert!(RcaConfig::default().validate("rca").is_empty());
    let bad = RcaConfig { propagation: 0.01, spurious: 0.05, threshold_z: -1.0, max_candidates: 0, ..RcaConfig::default() };
    let issues: Vec<String> = bad.validate("rca").into_iter().map(|i| i.path).collect();
    assert!(issues.contains(&"rca.spurious".to_string()));
    assert!(issues.contains(&"rca.threshold_z".to_string()));
    assert!(issues.contains(&"rca.max_candidates".to_string()));
    let parsed: Result<RcaConfig, _> = serde_json::from_str(r#"{"threshold_z": 3.5, "unknown": 1}"#);
    assert!(parsed.is_err());
    let parsed: RcaConfig = serde_json::from_str(r#"{"threshold_z": 3.5, "onset_tolerance": "1m"}"#).expect("config");
    assert_eq!(parsed.threshold_z, 3.5);
    assert_eq!(parsed.onset_tolerance, std::time::Duration::from_secs(60));
}

/// Random problems: a layered call graph (callers have lower indices, a few edges back up
/// and duplicates), latency, error-ratio (weighted), CPU and traffic signals with gaps,
/// faults and distractors, changes and symptoms.
fn generated(seed: u64, n: usize) -> Problem {
    let mut rnd = crate::test_rng::xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut edges = Vec::new();
    for callee in 1..n {
        let lo = callee.saturating_sub(8);
        edges.push((lo + ((rnd() * (callee - lo) as f64) as usize).min(callee - lo - 1), callee));
        if rnd() < 0.4 {
            edges.push(((rnd() * callee as f64) as usize, callee));
        }
        if rnd() < 0.05 {
            edges.push((callee, (rnd() * callee as f64) as usize));
        }
    }
    let dup = edges[edges.len() / 2];
    edges.push(dup);
    let root = (rnd() * n as f64) as usize;
    let mut affected = vec![false; n];
    affected[root] = true;
    for i in (0..n).rev() {
        if affected[i] {
            for &(a, b) in &edges {
                if b == i && a < b {
                    affected[a] = true;
                }
            }
        }
    }
    let mut signals = Vec::new();
    for (c, &hit) in affected.iter().enumerate() {
        let distractor = rnd() < 0.05;
        let late = (rnd() * 10.0) as i64;
        for kind in [SignalKind::Latency, SignalKind::ErrorRatio, SignalKind::Cpu, SignalKind::Traffic] {
            if rnd() < 0.1 {
                continue;
            }
            let shifted = match kind {
                SignalKind::Latency => hit || (distractor && rnd() < 0.5),
                SignalKind::ErrorRatio => hit && rnd() < 0.3,
                SignalKind::Cpu => c == root || distractor,
                _ => false,
            };
            let level = if kind == SignalKind::ErrorRatio { 0.01 } else { 0.05 + 0.1 * rnd() };
            let weighted = kind == SignalKind::ErrorRatio && rnd() < 0.7;
            let mut sample = |i: i64, up: bool| {
                let v = if rnd() < 0.02 { f64::NAN } else { level * (1.0 + 0.1 * (rnd() - 0.5)) + if up { (0.3 + rnd()) * level } else { 0.0 } };
                if weighted {
                    Sample::weighted(i * STEP, v, 50.0 + 100.0 * rnd())
                } else {
                    Sample::new(i * STEP, v)
                }
            };
            let baseline = (0..60).map(|i| sample(i, false)).collect();
            let window = (60..90).map(|i| sample(i, shifted && i >= 60 + late)).collect();
            signals.push(Signal { component: c, name: format!("c{c}_{}", kind.as_str()), kind, baseline, window });
        }
    }
    let changes = (0..3)
        .map(|_| Change { component: (rnd() * n as f64) as usize, at: ONSET - (rnd() * 1_800_000.0) as i64, what: "rollout".into() })
        .collect();
    Problem {
        components: (0..n).map(|i| Component { id: format!("c{i}") }).collect(),
        edges,
        signals,
        changes,
        symptoms: if seed.is_multiple_of(3) { Vec::new() } else { vec![0] },
        onset: ONSET,
        colocated: Vec::new(),
    }
}

/// The ranking as it was computed before the adjacency arrays: a petgraph graph and a
/// best-first walk per candidate that evaluates every edge's gate when it crosses it.
fn reference_hypotheses(problem: &Problem, states: &[ComponentState], cfg: &RcaConfig) -> Vec<rank::Hypothesis> {
    use petgraph::graph::{DiGraph, NodeIndex};
    use petgraph::Direction;
    use std::collections::BinaryHeap;
    let n = problem.components.len();
    let mut graph: DiGraph<(), (), u32> = DiGraph::with_capacity(n, problem.edges.len());
    for _ in 0..n {
        graph.add_node(());
    }
    for &(from, to) in &problem.edges {
        if from < n && to < n && from != to {
            graph.update_edge(NodeIndex::new(from), NodeIndex::new(to), ());
        }
    }
    let is_symptom: Vec<bool> = (0..n).map(|i| problem.symptoms.contains(&i)).collect();
    let tol = crate::time::duration_millis(cfg.onset_tolerance);
    let lookback = crate::time::duration_millis(cfg.change_lookback);
    let mut candidate = vec![false; n];
    for (i, st) in states.iter().enumerate() {
        candidate[i] |= st.observed && st.abnormal >= 0.01;
        if st.observed && st.abnormal >= 0.5 {
            for d in graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
                candidate[d.index()] = true;
            }
        }
    }
    for &s in &problem.symptoms {
        candidate[s] = true;
    }
    let abnormal_symptoms = rank::abnormal_symptoms(problem, states);
    let mut out = Vec::new();
    for h in (0..n).filter(|&i| candidate[i]) {
        let st = &states[h];
        let mut llr = rank::self_term(st, cfg);
        let mut reach = vec![0.0f64; n];
        let mut depth = vec![0u32; n];
        reach[h] = 1.0;
        let mut heap = BinaryHeap::new();
        heap.push(walk::Reach(1.0, h));
        let mut explained = Vec::new();
        while let Some(walk::Reach(e, u)) = heap.pop() {
            if e < reach[u] {
                continue;
            }
            if u != h && states[u].observed {
                let w = if is_symptom[u] { cfg.symptom_weight } else { 1.0 };
                llr += w * (1.0 + e * rank::reach_slope(&states[u], cfg)).ln();
                if states[u].abnormal >= 0.5 && e >= 0.5 {
                    explained.push((u, e, depth[u]));
                }
            }
            for c in graph.neighbors_directed(NodeIndex::new(u), Direction::Incoming) {
                let c = c.index();
                let ec = walk::along(e, rank::gate(states, u, c, cfg));
                if ec > reach[c] + 1e-12 && ec >= 1e-3 {
                    reach[c] = ec;
                    depth[c] = depth[u] + 1;
                    heap.push(walk::Reach(ec, c));
                }
            }
        }
        if problem.changes.iter().any(|ch| ch.component == h && ch.at <= problem.onset + tol && ch.at >= problem.onset - lookback) {
            llr += cfg.change_odds.ln();
        }
        if st.onset.is_some_and(|o| o > problem.onset + tol.max(st.step)) {
            llr += cfg.early_onset_factor.ln();
        }
        let z = st.own.map_or(st.z, |o| o.z);
        llr += cfg.magnitude_weight * (1.0 - cfg.threshold_z / z.max(cfg.threshold_z));
        explained.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
        let covers = abnormal_symptoms.is_empty() || abnormal_symptoms.iter().any(|&s| s == h || reach[s] >= 0.5);
        out.push(rank::Hypothesis { h, llr, covers, explained: explained.into_iter().map(|(u, e, _)| (u, e)).collect() });
    }
    out
}

#[test]
fn adjacency_arrays_give_the_reference_ranking() {
    let cfg = RcaConfig::default();
    let mut acyclic = 0;
    for seed in 0..24u64 {
        let mut p = generated(seed, [20, 60, 150][seed as usize % 3]);
        // Half the problems without edges back up: those take the topological pass.
        if seed.is_multiple_of(2) {
            p.edges.retain(|&(a, b)| a < b);
            acyclic += 1;
        }
        let states = component_states(&p, &cfg);
        let graph = walk::Graph::new(p.components.len(), &p.edges);
        assert!(seed % 2 == 1 || graph.topo.is_some());
        let fast = rank::hypotheses(&p, &states, &graph, &cfg, true);
        let want = reference_hypotheses(&p, &states, &cfg);
        assert!(fast.len() > 3, "seed {seed}: {} candidates", fast.len());
        // The same hypotheses; sums taken in another order may differ in the last bits.
        assert_eq!(fast.len(), want.len(), "seed {seed}");
        for (f, w) in fast.iter().zip(&want) {
            assert_eq!((f.h, f.covers), (w.h, w.covers), "seed {seed}");
            assert!((f.llr - w.llr).abs() <= 1e-9 * w.llr.abs().max(1.0), "seed {seed}: {f:?} {w:?}");
            let key = |x: &(usize, f64)| x.0;
            let (mut fe, mut we) = (f.explained.clone(), w.explained.clone());
            fe.sort_by_key(key);
            we.sort_by_key(key);
            assert_eq!(fe.len(), we.len(), "seed {seed}: {f:?} {w:?}");
            assert!(fe.iter().zip(&we).all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() < 1e-12), "seed {seed}: {f:?} {w:?}");
        }
        // And the ranking built from them: the reference order, best first.
        let mut order = want.clone();
        order.sort_by(|a, b| b.covers.cmp(&a.covers).then(b.llr.total_cmp(&a.llr)).then(a.h.cmp(&b.h)));
        let ranked = rank(&p, &cfg);
        let got: Vec<usize> = ranked.iter().map(|r| r.component).collect();
        let exp: Vec<usize> = order.iter().take(cfg.max_candidates).map(|o| o.h).collect();
        assert_eq!(got, exp, "seed {seed}");
    }
    assert!(acyclic > 0);
}

#[test]
fn dependencies_come_newest_first_once_each() {
    let g = walk::Graph::new(4, &[(0, 1), (0, 2), (0, 1), (0, 3), (1, 1), (2, 9), (3, 0)]);
    assert_eq!(g.dependencies(0), &[3, 2, 1]);
    assert_eq!(g.dependencies(1), &[] as &[usize]);
    assert_eq!(g.dependencies(3), &[0]);
}

#[test]
fn a_fault_does_not_fade_along_a_long_chain_of_abnormal_callers() {
    // c0 -> c1 -> ... -> c19 (the root at the bottom), every one shifted the same +5 sigma;
    // c4 has 30 more abnormal callers. Multiplying the chain's 0.88s hop by hop left the
    // root's reach at those callers at a fifth, and c4 (explaining them at full strength)
    // ranked first.
    let chain: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let extra: Vec<String> = (0..30).map(|i| format!("x{i}")).collect();
    let names: Vec<&str> = chain.iter().chain(&extra).map(String::as_str).collect();
    let mut p = P::new(&names);
    for w in chain.windows(2) {
        p = p.dep(&w[0], &w[1]);
    }
    for x in &extra {
        p = p.dep(x, "c4");
    }
    for n in &names {
        p = p.lat(n, 0.05);
    }
    let cfg = RcaConfig::default();
    assert_eq!(p.top(&cfg)[0], "c19", "{:?}", p.top(&cfg));
}

#[test]
fn noisy_neighbour_table() {
    let cfg = RcaConfig::default();
    let cpu = |p: P, name: &str, shift: f64| p.sig(name, SignalKind::Cpu, 1.0, shift);
    // Two CPU anomalies alike (the distractor's a little larger), three other components;
    // only who shares a node with whom differs.
    let base = || {
        let p = P::new(&["burst", "hog", "n1", "n2", "n3"]);
        let p = cpu(cpu(p, "burst", 2.2), "hog", 2.0);
        cpu(cpu(cpu(p, "n1", 0.5), "n2", 0.5), "n3", 0.0)
    };
    let with_load = |p: P| {
        // n1 and n2 busier because they serve more: their CPU rose with their traffic.
        p.sig("n1", SignalKind::Traffic, 10.0, 5.0).sig("n2", SignalKind::Traffic, 10.0, 5.0)
    };
    // (case, problem, co-location groups, expected first)
    let cases: Vec<(&str, P, Vec<Vec<&str>>, &str)> = vec![
        ("no placement known: the larger shift", base(), vec![], "burst"),
        ("contended neighbours point to the hog", base(), vec![vec!["hog", "n1", "n2"], vec!["burst", "n3"]], "hog"),
        ("healthy neighbours of the burst, none of the hog", base(), vec![vec!["hog"], vec!["burst", "n3"]], "hog"),
        ("neighbours whose rise the load explains are no victims", with_load(base()), vec![vec!["hog", "n1", "n2"], vec!["burst", "n3"]], "burst"),
    ];
    for (name, mut p, groups, want) in cases {
        p.p.colocated = groups.iter().map(|g| g.iter().map(|c| p.idx(c)).collect()).collect();
        let top = p.top(&cfg);
        assert_eq!(top.first().map(String::as_str), Some(want), "{name}: {top:?}");
    }
}

#[test]
fn callers_errors_net_of_their_dependencies_failures_table() {
    // One baseline row and four window rows of `(errors, requests)`, as PetShop has.
    const ROW: i64 = 300_000;
    let cfg = RcaConfig { min_baseline_samples: 1, ..RcaConfig::default() };
    let errors = |c: usize, rows: &[(f64, f64)]| Signal {
        component: c,
        name: format!("c{c} errors"),
        kind: SignalKind::ErrorRatio,
        baseline: vec![Sample::weighted(0, rows[0].0 / rows[0].1, rows[0].1)],
        window: rows[1..].iter().enumerate().map(|(i, (e, n))| Sample::weighted((i as i64 + 1) * ROW, e / n, *n)).collect(),
    };
    // (case, site's rows, list's rows, expected first); site calls list and alerts.
    type Rows = [(f64, f64); 5];
    let cases: [(&str, Rows, Rows, &str); 3] = [
        (
            "the caller's failures are its dependency's but for three: the dependency",
            [(0.0, 648.0), (3.0, 668.0), (1.0, 688.0), (4.0, 674.0), (0.0, 693.0)],
            [(0.0, 178.0), (0.0, 181.0), (1.0, 185.0), (4.0, 184.0), (0.0, 186.0)],
            "list",
        ),
        (
            "a caller failing far beyond its dependency's failures",
            [(0.0, 648.0), (20.0, 668.0), (21.0, 688.0), (24.0, 674.0), (20.0, 693.0)],
            [(0.0, 178.0), (0.0, 181.0), (1.0, 185.0), (0.0, 184.0), (0.0, 186.0)],
            "site",
        ),
        (
            "a dependency failing as often as before takes nothing off",
            [(0.0, 648.0), (10.0, 668.0), (10.0, 688.0), (10.0, 674.0), (10.0, 693.0)],
            [(4.0, 178.0), (4.0, 181.0), (4.0, 185.0), (4.0, 184.0), (4.0, 186.0)],
            "site",
        ),
    ];
    for (name, site, list, want) in cases {
        let p = Problem {
            components: ["site", "list"].iter().map(|n| Component { id: n.to_string() }).collect(),
            edges: vec![(0, 1)],
            signals: vec![errors(0, &site), errors(1, &list)],
            symptoms: vec![0],
            onset: ROW + ROW / 2,
            ..Problem::default()
        };
        let ranked = rank(&p, &cfg);
        assert_eq!(ranked.first().map(|r| p.components[r.component].id.as_str()), Some(want), "{name}");
    }
}

#[test]
fn partly_watched_dependencies_table() {
    // top -> mid -> db; db's error ratio rose. `mid` is watched in latency (healthy) and
    // in errors only where the case says; `top` shows failures or only a slowdown. What
    // is compared is db's lead over top (nats): how much of top's anomaly db explains.
    let cfg = RcaConfig::default();
    let err = |p: P, name: &str, shift: f64| p.sig(name, SignalKind::ErrorRatio, 0.01, shift);
    let chain = || P::new(&["top", "mid", "db"]).dep("top", "mid").dep("mid", "db").lat("mid", 0.0).lat("db", 0.0);
    let lead = |p: &P| {
        let llr = |n: &str| rank(&p.p, &cfg).iter().find(|r| p.p.components[r.component].id == n).map(|r| r.llr).expect("ranked");
        llr("db") - llr("top")
    };
    let watched_healthy = lead(&err(err(err(chain().lat("top", 0.0), "top", 0.2), "mid", 0.0), "db", 0.2));
    // (case, problem, least lead over the watched-healthy case, most)
    let cases: Vec<(&str, P, f64, f64)> = vec![
        ("failures pass unseen through a dependency whose errors are not watched", err(err(chain().lat("top", 0.0), "top", 0.2), "db", 0.2), 1.0, f64::INFINITY),
        ("a slowdown does not pass unseen where latency is watched healthy", err(err(chain().lat("top", 0.5), "top", 0.0), "db", 0.2), f64::NEG_INFINITY, 0.1),
    ];
    for (name, p, lo, hi) in cases {
        let gain = lead(&p) - watched_healthy;
        assert!((lo..=hi).contains(&gain), "{name}: lead {gain:+.2} nats over the watched-healthy case");
    }
}

#[test]
fn a_slowdown_too_small_for_its_size_is_ranked_by_its_certainty() {
    // `leaf` slowed by 1.2 scales (the `min_relative_shift` floor, above its noise) for
    // the whole window; `glitch` by 2.5 for three samples; `top` calls leaf. No service
    // shifted by enough to call it degraded.
    let cfg = RcaConfig::default();
    let glitched = |p: P| {
        let mut p = p.lat("glitch", 0.0);
        let s = p.p.signals.last_mut().expect("signal");
        for x in s.window.iter_mut().take(3) {
            x.value += 0.025;
        }
        p
    };
    let small = || glitched(P::new(&["top", "leaf", "glitch"]).dep("top", "leaf").sig("leaf", SignalKind::Latency, 0.1, 0.012));
    let p = small().lat("top", 0.0);
    let by_size = rank_with_states(&p.p, &component_states(&p.p, &cfg), &cfg);
    assert_eq!(p.p.components[by_size[0].component].id, "glitch", "by size the glitch is the larger shift");
    assert_eq!(p.top(&cfg)[0], "leaf", "judged by certainty, the persistent slowdown");
    let leaf = p.idx("leaf");
    assert!(ranking_states(&p.p, &cfg)[leaf].scores[0].1.by_certainty);
    // A service degraded by size elsewhere: the incident shows, shifts keep their size.
    let p = small().lat("top", 0.05);
    assert!(!ranking_states(&p.p, &cfg)[leaf].scores[0].1.by_certainty);
}
