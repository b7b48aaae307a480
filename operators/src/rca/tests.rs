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
