//! Scoring root-cause rankings on cases in the RCAEval RE1 layout
//! (`<service>_<fault>/<n>/data.csv` with a `time` column in Unix seconds and
//! `<service>_<metric>` columns, `inject_time.txt`), optionally with `root_cause.json`
//! (truth; else the directory name says it) and `graph.json` (the call graph; without it
//! the ranking has no graph to use). Scored as RCAEval does, at service level: AC@k is the
//! fraction of cases whose root cause is among the first k, Avg@5 the mean of AC@1..5.
//!
//! Methods: KubeSage (`kubesage_operators::rca::rank`, the operator's code, default
//! configuration) and the baselines RCAEval reports, implemented here: Dummy (a random
//! order, seeded per case), NSigma (largest |x - mean| / sd of any metric after the
//! injection against before), BARO-style (the same with median and IQR), and PageRank
//! (personalised PageRank over the call graph, seeded with the BARO scores, walking from
//! callers to the dependencies they call in proportion to how abnormal those are).

pub mod baselines;
pub mod pipeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kubesage_operators::rca::{colocation_groups, rank, ranking_states, Component, Problem, RcaConfig, Sample, Signal, SignalKind};

/// One case, read from its directory.
#[derive(Debug, Clone)]
pub struct Case {
    pub dir: PathBuf,
    pub root: String,
    pub fault: String,
    pub inject_time: i64,
    pub time: Vec<i64>,
    /// `(service, metric)` -> values (NaN: missing).
    pub columns: BTreeMap<(String, String), Vec<f64>>,
    /// `(caller, callee)` service names.
    pub calls: Vec<(String, String)>,
    /// Nodes each service runs on (`placement` of `graph.json`; empty when unknown).
    pub placement: BTreeMap<String, Vec<String>>,
}

impl Case {
    pub fn services(&self) -> Vec<String> {
        let mut s: Vec<String> = self.columns.keys().map(|k| k.0.clone()).collect();
        for (a, b) in &self.calls {
            s.push(a.clone());
            s.push(b.clone());
        }
        s.sort();
        s.dedup();
        s
    }

    /// Rows strictly before the injection: the normal period.
    pub fn normal_rows(&self) -> usize {
        self.time.partition_point(|&t| t < self.inject_time)
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `<service>_<fault>` -> (service, fault): the fault is what follows the last `_`.
pub fn split_case_name(name: &str) -> Option<(String, String)> {
    let (s, f) = name.rsplit_once('_')?;
    Some((s.to_string(), f.to_string()))
}

pub fn load_case(dir: &Path) -> Result<Case, String> {
    let text = read(&dir.join("data.csv"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or_else(|| format!("{}: empty data.csv", dir.display()))?.split(',').collect();
    let time_col = header.iter().position(|h| *h == "time").ok_or_else(|| format!("{}: no time column", dir.display()))?;
    let mut keys = Vec::new();
    for (j, h) in header.iter().enumerate() {
        if j == time_col {
            continue;
        }
        if let Some((svc, metric)) = h.split_once('_') {
            keys.push((j, (svc.to_string(), metric.to_string())));
        }
    }
    let mut time = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); keys.len()];
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let t: f64 = cells.get(time_col).and_then(|c| c.trim().parse().ok()).ok_or_else(|| format!("{}: bad time in {line:.40}", dir.display()))?;
        time.push(t.round() as i64);
        for (v, (j, _)) in values.iter_mut().zip(&keys) {
            v.push(cells.get(*j).and_then(|c| c.trim().parse::<f64>().ok()).unwrap_or(f64::NAN));
        }
    }
    let inject_time: f64 =
        read(&dir.join("inject_time.txt"))?.trim().parse().map_err(|_| format!("{}: bad inject_time.txt", dir.display()))?;
    let (mut root, mut fault) = dir
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| split_case_name(&n.to_string_lossy()))
        .unwrap_or_default();
    if let Ok(t) = read(&dir.join("root_cause.json")) {
        let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| format!("{}: root_cause.json: {e}", dir.display()))?;
        if let Some(s) = v["service"].as_str() {
            root = s.to_string();
        }
        if let Some(f) = v["fault"].as_str() {
            fault = f.to_string();
        }
    }
    let mut calls = Vec::new();
    let mut placement = BTreeMap::new();
    if let Ok(t) = read(&dir.join("graph.json")) {
        let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| format!("{}: graph.json: {e}", dir.display()))?;
        for c in v["calls"].as_array().into_iter().flatten() {
            if let (Some(a), Some(b)) = (c[0].as_str(), c[1].as_str()) {
                calls.push((a.to_string(), b.to_string()));
            }
        }
        for (svc, nodes) in v["placement"].as_object().into_iter().flatten() {
            let nodes: Vec<String> = nodes.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string)).collect();
            placement.insert(svc.clone(), nodes);
        }
    }
    Ok(Case {
        dir: dir.to_path_buf(),
        root,
        fault,
        inject_time: inject_time.round() as i64,
        time,
        columns: keys.into_iter().map(|(_, k)| k).zip(values).collect(),
        calls,
        placement,
    })
}

/// Every case directory (one holding `data.csv` and `inject_time.txt`) under `root`, in
/// path order.
pub fn find_cases(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("data.csv").is_file() && d.join("inject_time.txt").is_file() {
            out.push(d.clone());
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            stack.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    out.sort();
    out
}

/// The RCA problem of a case: one component per service, the call graph as dependency
/// edges, every metric column a signal (kind from its name) split at the injection.
pub fn problem(case: &Case) -> Problem {
    let services = case.services();
    let index: BTreeMap<&str, usize> = services.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let step = case.time.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 0).min().unwrap_or(1) * 1000;
    let onset = case.inject_time * 1000;
    let signals = case
        .columns
        .iter()
        .filter_map(|((svc, metric), v)| {
            let c = *index.get(svc.as_str())?;
            let samples: Vec<Sample> = case.time.iter().zip(v).map(|(&t, &x)| Sample::new(t * 1000, x)).collect();
            Some(Signal::split(c, format!("{svc}_{metric}"), SignalKind::from_metric_name(metric), samples, onset, step))
        })
        .collect();
    let edges = case.calls.iter().filter_map(|(a, b)| Some((*index.get(a.as_str())?, *index.get(b.as_str())?))).collect();
    // Co-location groups, one per node, from the placement (topology, as the operator has it).
    let placed = case.placement.iter().filter_map(|(svc, nodes)| Some((*index.get(svc.as_str())?, nodes)));
    let colocated = colocation_groups(placed.flat_map(|(i, nodes)| nodes.iter().map(move |n| (i, n.as_str()))));
    Problem { components: services.iter().map(|s| Component { id: s.clone() }).collect(), edges, signals, onset, colocated, ..Problem::default() }
}

/// A ranking method: services, best first.
pub type Method = fn(&Case, &RcaConfig) -> Vec<String>;

pub fn kubesage(case: &Case, cfg: &RcaConfig) -> Vec<String> {
    let p = problem(case);
    let ranked = rank(&p, &RcaConfig { max_candidates: p.components.len().max(1), ..cfg.clone() });
    let mut out: Vec<String> = ranked.iter().map(|r| p.components[r.component].id.clone()).collect();
    // Services the ranking did not consider follow in name order (a full order, as the
    // baselines give, so AC@k compares like with like).
    for s in case.services() {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Print, for every case KubeSage does not rank first, where the root landed, the first
/// three and the evidence of the first and of the root.
pub fn print_misses(cases: &[Case], cfg: &RcaConfig) {
    for case in cases {
        let p = problem(case);
        let ranked = rank(&p, &RcaConfig { max_candidates: p.components.len().max(1), ..cfg.clone() });
        let pos = ranked.iter().position(|r| p.components[r.component].id == case.root);
        if pos == Some(0) {
            continue;
        }
        let top: Vec<String> = ranked.iter().take(3).map(|r| format!("{} ({:.2})", p.components[r.component].id, r.llr)).collect();
        println!("miss {} [{}] root {} at {}: {}", case.dir.display(), case.fault, case.root, pos.map_or("-".into(), |x| (x + 1).to_string()), top.join(", "));
        let states = ranking_states(&p, cfg);
        for r in ranked.iter().take(1).chain(pos.map(|x| &ranked[x])) {
            let st = &states[r.component];
            let since = |t: Option<i64>| t.map_or("-".to_string(), |t| format!("{:+}s", (t - p.onset) / 1000));
            println!(
                "    {}: z {:.1} degraded {:.2} latency +{:.3} onset {} | {}",
                p.components[r.component].id,
                st.z,
                st.degraded,
                st.latency_delta.unwrap_or(f64::NAN),
                since(st.onset),
                r.evidence.join(" | ")
            );
            for &(a, b) in p.edges.iter().filter(|e| e.1 == r.component) {
                let sa = &states[a];
                println!(
                    "      dependent {}: abnormal {:.2} latency +{:.3} onset {}",
                    p.components[a].id,
                    sa.abnormal,
                    sa.latency_delta.unwrap_or(f64::NAN),
                    since(sa.onset)
                );
                let _ = b;
            }
        }
    }
}

pub const METHODS: [(&str, Method); 5] = [
    ("kubesage", kubesage),
    ("dummy", baselines::dummy),
    ("nsigma", baselines::nsigma),
    ("baro", baselines::baro),
    ("pagerank", baselines::pagerank),
];

/// AC@1..=5 hits of one ranking.
pub fn hits(ranking: &[String], root: &str) -> [bool; 5] {
    let pos = ranking.iter().position(|s| s == root);
    std::array::from_fn(|k| pos.is_some_and(|p| p <= k))
}

/// Accumulated AC@k over cases.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acc {
    pub cases: usize,
    pub hits: [usize; 5],
}

impl Acc {
    pub fn add(&mut self, h: [bool; 5]) {
        self.cases += 1;
        for (a, b) in self.hits.iter_mut().zip(h) {
            *a += usize::from(b);
        }
    }
    pub fn ac(&self, k: usize) -> f64 {
        if self.cases == 0 || k == 0 || k > 5 {
            return f64::NAN;
        }
        self.hits[k - 1] as f64 / self.cases as f64
    }
    pub fn avg5(&self) -> f64 {
        (1..=5).map(|k| self.ac(k)).sum::<f64>() / 5.0
    }
}

/// Scores per method and fault type (`"all"` for every case).
pub type Scores = BTreeMap<String, BTreeMap<String, Acc>>;

/// KubeSage through the operators the pipeline runs ([`pipeline`]), scored on the first
/// report (when the page fires) and on the last revision, with the window means and
/// without (`records-first`, `records-last`): per fault type and `"all"`,
/// printed one line per group and returned for the JSON line.
pub fn score_pipeline(cases: &[Case]) -> serde_json::Value {
    let mut acc: BTreeMap<(&str, String), Acc> = BTreeMap::new();
    let (mut records, mut reports, mut seen, mut seen_first) = (0, 0, 0, 0);
    for case in cases {
        let r = pipeline::rank(case);
        records += r.records;
        reports += r.reports;
        seen += usize::from(r.root_seen);
        seen_first += usize::from(r.root_seen && r.first.first() == Some(&case.root));
        for (which, ranking) in [("first", &r.first), ("last", &r.last), ("records-first", &r.records_first), ("records-last", &r.records_last)] {
            let h = hits(ranking, &case.root);
            acc.entry((which, "all".to_string())).or_default().add(h);
            acc.entry((which, case.fault.clone())).or_default().add(h);
        }
    }
    let mut json = serde_json::Map::new();
    for ((which, group), a) in &acc {
        println!("  through the operators, {which:>13} report, {group:>5}: AC@1 {:.3} AC@3 {:.3} Avg@5 {:.3} ({} cases)", a.ac(1), a.ac(3), a.avg5(), a.cases);
        json.entry(which.to_string()).or_insert_with(|| serde_json::json!({}))[group] = serde_json::json!({"ac1": r3(a.ac(1)), "ac3": r3(a.ac(3)), "avg5": r3(a.avg5())});
    }
    let n = cases.len().max(1) as f64;
    println!("  per case: {:.1} anomaly records fed to RCA, {:.1} reports", records as f64 / n, reports as f64 / n);
    println!("  the root had an anomaly starting around the injection in {seen} of {} cases; ranked first by the first report in {seen_first} of those", cases.len());
    serde_json::Value::Object(json)
}

pub fn score(cases: &[Case], cfg: &RcaConfig) -> Scores {
    let mut out: Scores = BTreeMap::new();
    for case in cases {
        for (name, method) in METHODS {
            let h = hits(&method(case, cfg), &case.root);
            let m = out.entry(name.to_string()).or_default();
            m.entry("all".to_string()).or_default().add(h);
            m.entry(case.fault.clone()).or_default().add(h);
        }
    }
    out
}

fn r3(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!((x * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

/// Print the table and the last JSON line.
pub fn report(benchmark: &str, scores: &Scores, extra: serde_json::Value) {
    let faults: Vec<String> = scores.get("kubesage").map(|m| m.keys().filter(|k| *k != "all").cloned().collect()).unwrap_or_default();
    print!("{:<10}", "method");
    for f in faults.iter().chain(std::iter::once(&"all".to_string())) {
        print!(" | {:^20}", format!("{f} AC@1 AC@3 Avg@5"));
    }
    println!();
    for (name, _) in METHODS {
        let Some(m) = scores.get(name) else { continue };
        print!("{name:<10}");
        for f in faults.iter().chain(std::iter::once(&"all".to_string())) {
            let a = m.get(f).copied().unwrap_or_default();
            print!(" | {:>6.3} {:>6.3} {:>6.3}", a.ac(1), a.ac(3), a.avg5());
        }
        println!();
    }
    let all = |m: &str| scores.get(m).and_then(|x| x.get("all")).copied().unwrap_or_default();
    let k = all("kubesage");
    let mut baselines = serde_json::Map::new();
    for (name, _) in METHODS.iter().skip(1) {
        let a = all(name);
        baselines.insert(name.to_string(), serde_json::json!({"ac1": r3(a.ac(1)), "ac3": r3(a.ac(3)), "avg5": r3(a.avg5())}));
    }
    let per_fault: serde_json::Map<String, serde_json::Value> = scores
        .get("kubesage")
        .into_iter()
        .flatten()
        .filter(|(f, _)| *f != "all")
        .map(|(f, a)| (f.clone(), serde_json::json!({"ac1": r3(a.ac(1)), "ac3": r3(a.ac(3)), "avg5": r3(a.avg5())})))
        .collect();
    let ahead = METHODS.iter().skip(1).all(|(name, _)| {
        let b = all(name);
        k.ac(1) > b.ac(1) && k.avg5() > b.avg5()
    });
    let mut json = serde_json::json!({
        "benchmark": benchmark,
        "cases": k.cases,
        "ac1": r3(k.ac(1)),
        "ac3": r3(k.ac(3)),
        "avg5": r3(k.avg5()),
        "ahead_of_every_baseline": ahead,
        "per_fault": per_fault,
        "baselines": baselines,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (json.as_object_mut(), extra) {
        obj.extend(extra);
    }
    println!("{json}");
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory of cases in the RCAEval RE1 layout (searched recursively).
    pub dir: PathBuf,
    /// Also score KubeSage through the operators (anomaly detection, then correlation and
    /// RCA from the anomaly records), as a deployment would answer.
    #[arg(long)]
    pub pipeline: bool,
}

pub fn run(args: Args) -> Result<(), String> {
    let started = std::time::Instant::now();
    let dirs = find_cases(&args.dir);
    if dirs.is_empty() {
        return Err(format!("{}: no case (data.csv + inject_time.txt) found", args.dir.display()));
    }
    let cases = dirs.iter().map(|d| load_case(d)).collect::<Result<Vec<_>, _>>()?;
    let scores = score(&cases, &RcaConfig::default());
    println!("RCAEval layout: {} cases under {} ({:.1}s)", cases.len(), args.dir.display(), started.elapsed().as_secs_f64());
    let extra = if args.pipeline { serde_json::json!({"pipeline": score_pipeline(&cases)}) } else { serde_json::json!({}) };
    report("rcaeval", &scores, extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_of_graph_json_gives_the_colocation_groups() {
        let dir = std::env::temp_dir().join(format!("kubesage-rcaeval-placement-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let rows: String = (0..6).map(|i| format!("{i},1,2,3\n")).collect();
        std::fs::write(dir.join("data.csv"), format!("time,a_cpu,b_cpu,c_cpu\n{rows}")).expect("data.csv");
        std::fs::write(dir.join("inject_time.txt"), "3").expect("inject_time.txt");
        let graph = r#"{"calls": [["a", "b"]], "placement": {"a": ["node-1"], "b": ["node-1", "node-2"], "c": ["node-2"], "gone": ["node-1"]}}"#;
        std::fs::write(dir.join("graph.json"), graph).expect("graph.json");
        let case = load_case(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let case = case.expect("loaded");
        let p = problem(&case);
        let id = |i: usize| p.components[i].id.as_str();
        let groups: Vec<Vec<&str>> = p.colocated.iter().map(|g| g.iter().map(|&i| id(i)).collect()).collect();
        assert_eq!(groups, vec![vec!["a", "b"], vec!["b", "c"]]);
        // Without a placement there are no groups.
        let bare = problem(&Case { placement: BTreeMap::new(), ..case });
        assert!(bare.colocated.is_empty());
    }

    #[test]
    fn ac_at_k_and_avg5_by_hand() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(hits(&r(&["a", "b", "c"]), "a"), [true; 5]);
        assert_eq!(hits(&r(&["a", "b", "c"]), "c"), [false, false, true, true, true]);
        assert_eq!(hits(&r(&["a", "b"]), "z"), [false; 5]);
        // Three cases: root 1st, 3rd, absent. AC@1 1/3, AC@2 1/3, AC@3..5 2/3;
        // Avg@5 = (1/3 + 1/3 + 2/3 * 3) / 5 = 8/15.
        let mut acc = Acc::default();
        acc.add(hits(&r(&["a", "b", "c"]), "a"));
        acc.add(hits(&r(&["a", "b", "c"]), "c"));
        acc.add(hits(&r(&["a", "b", "c"]), "z"));
        assert!((acc.ac(1) - 1.0 / 3.0).abs() < 1e-12);
        assert!((acc.ac(3) - 2.0 / 3.0).abs() < 1e-12);
        assert!((acc.avg5() - 8.0 / 15.0).abs() < 1e-12);
        assert!(Acc::default().ac(1).is_nan());
    }

    #[test]
    fn case_names_split_at_the_last_underscore() {
        assert_eq!(split_case_name("cartservice_cpu"), Some(("cartservice".into(), "cpu".into())));
        assert_eq!(split_case_name("ts-order-service_delay"), Some(("ts-order-service".into(), "delay".into())));
        assert_eq!(split_case_name("nofault"), None);
    }
}
