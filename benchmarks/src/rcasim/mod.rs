//! rca-sim: a seeded simulator of microservice call graphs (replicas on nodes) with one
//! injected fault per case (CPU hog, memory leak, network delay, packet loss, disk I/O)
//! that propagates along the call graph, so callers often look worse than the root cause
//! (fan-out multiplies a dependency's latency, retries its errors, and quiet callers show
//! a shift in more standard deviations than a noisy root; call chains are at most
//! [`sim::MAX_CALL_DEPTH`] deep, as in real applications), plus distractors (CPU bursts,
//! memory steps, short latency glitches, noisy neighbours on the root's nodes) and missing
//! metrics (columns dropped, samples lost, for any service, the root's included).
//!
//! Cases are written in the RCAEval RE1 layout under `OUT/svc<N>/<service>_<fault>/<n>/`
//! (`data.csv`, `inject_time.txt`, `root_cause.json`, and `graph.json` with the call graph
//! and placement), then read back and scored by [`crate::rcaeval`] exactly as any RE1
//! directory would be: the ranking sees `data.csv`, `inject_time.txt` and `graph.json`,
//! never the truth. The fault type cycles with the seed (`seed % 5`).

pub mod sim;

use std::path::{Path, PathBuf};

use kubesage_operators::rca::RcaConfig;

use crate::rcaeval;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seeds, as `A-B` (inclusive) and/or a comma-separated list.
    #[arg(long, default_value = "0-99")]
    pub seeds: String,
    /// Service counts of the simulated applications.
    #[arg(long, default_value = "10,20,50")]
    pub services: String,
    /// Keep the generated cases here (by default a temporary directory, removed after).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print every case KubeSage does not rank first, with the evidence.
    #[arg(long)]
    pub detail: bool,
    /// Also score KubeSage through the operators (anomaly detection, then correlation and
    /// RCA from the anomaly records), as a deployment would answer.
    #[arg(long)]
    pub pipeline: bool,
}

pub fn parse_list(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?}: expected a number or A-B");
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| bad())?);
        }
    }
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Write one case under `root` in the RE1 layout; returns its directory.
pub fn write_case(root: &Path, case: &sim::Case) -> Result<PathBuf, String> {
    let svc = &case.topology.services[case.root].name;
    let group = root.join(format!("svc{}", case.topology.services.len())).join(format!("{svc}_{}", case.fault));
    std::fs::create_dir_all(&group).map_err(|e| format!("{}: {e}", group.display()))?;
    let n = std::fs::read_dir(&group).map(|d| d.count()).unwrap_or(0) + 1;
    let dir = group.join(n.to_string());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(&dir.join("data.csv"), &case.data_csv())?;
    write(&dir.join("inject_time.txt"), &format!("{}\n", case.inject_time))?;
    write(&dir.join("graph.json"), &case.graph_json().to_string())?;
    write(&dir.join("root_cause.json"), &case.root_cause_json().to_string())?;
    Ok(dir)
}

pub fn run(args: Args) -> Result<(), String> {
    let started = std::time::Instant::now();
    let seeds = parse_list(&args.seeds)?;
    let sizes = parse_list(&args.services)?;
    if seeds.is_empty() || sizes.iter().any(|&s| s < 2) {
        return Err("need at least one seed and service counts of at least 2".into());
    }
    let (out, temporary) = match &args.out {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("kubesage-rca-sim-{}", std::process::id())), true),
    };
    if out.exists() && std::fs::read_dir(&out).map(|mut d| d.next().is_some()).unwrap_or(false) {
        return Err(format!("{}: not empty; give an empty or new directory", out.display()));
    }
    let mut dirs = Vec::new();
    let mut profiles = Vec::new();
    for &n in &sizes {
        let generated: Vec<sim::Case> = seeds.iter().map(|&seed| sim::generate(seed, n as usize, seed as usize)).collect();
        for case in &generated {
            dirs.push(write_case(&out, case)?);
        }
        profiles.push((n, sim::profile(&generated)));
    }
    let cases = dirs.iter().map(|d| rcaeval::load_case(d)).collect::<Result<Vec<_>, _>>()?;
    if args.detail {
        rcaeval::print_misses(&cases, &RcaConfig::default());
    }
    let mut scores = rcaeval::score(&cases, &RcaConfig::default());
    println!(
        "rca-sim: {} cases (seeds {}, services {}) written under {}; {:.1}s",
        cases.len(),
        args.seeds,
        args.services,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    // What the simulated applications look like before the fault (no ranking involved).
    for (n, p) in &profiles {
        println!(
            "  {n:>3} services, before the fault: frontend latency-50 median {:.3}s (p90 over cases {:.3}s), slowest service {:.3}s, busiest service {:.2} cores, call chains up to {} deep",
            p.frontend_latency_median, p.frontend_latency_p90, p.slowest_service_latency, p.busiest_service_cpu, p.deepest_call_chain
        );
    }
    // Per size, KubeSage only (the table below is over every case).
    for &n in &sizes {
        let sub: Vec<rcaeval::Case> = cases.iter().filter(|c| c.services().len() == n as usize).cloned().collect();
        let s = rcaeval::score(&sub, &RcaConfig::default());
        if let Some(a) = s.get("kubesage").and_then(|m| m.get("all")) {
            println!("  {n:>3} services: kubesage AC@1 {:.3} AC@3 {:.3} Avg@5 {:.3} ({} cases)", a.ac(1), a.ac(3), a.avg5(), a.cases);
        }
    }
    if temporary {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let mut extra = serde_json::json!({"seeds": args.seeds, "services": args.services});
    if args.pipeline {
        extra["pipeline"] = rcaeval::score_pipeline(&cases);
    }
    scores.retain(|_, m| !m.is_empty());
    rcaeval::report("rca-sim", &scores, extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse() {
        assert_eq!(parse_list("0-3,7").expect("list"), vec![0, 1, 2, 3, 7]);
        assert!(parse_list("5-2").is_err());
        assert!(parse_list("x").is_err());
    }

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        let a = sim::generate(7, 10, 7);
        let b = sim::generate(7, 10, 7);
        assert_eq!(a.data_csv(), b.data_csv());
        assert_eq!(a.root_cause_json(), b.root_cause_json());
        let c = sim::generate(8, 10, 8);
        assert_ne!(a.data_csv(), c.data_csv());
        assert_eq!(a.fault, sim::FAULTS[7 % 5]);
    }

    #[test]
    fn writes_the_re1_layout_and_reads_back_without_the_truth_in_the_data() {
        let root = std::env::temp_dir().join(format!("kubesage-rcasim-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let case = sim::generate(3, 10, 3);
        let dir = write_case(&root, &case).expect("written");
        let svc = &case.topology.services[case.root].name;
        assert_eq!(dir, root.join("svc10").join(format!("{svc}_{}", case.fault)).join("1"));
        for f in ["data.csv", "inject_time.txt", "graph.json", "root_cause.json"] {
            assert!(dir.join(f).is_file(), "{f}");
        }
        let header = std::fs::read_to_string(dir.join("data.csv")).expect("csv");
        let header = header.lines().next().expect("header");
        assert!(header.starts_with("time,"));
        // Columns are `<service>_<metric>` in name order, whoever the root is.
        let cols: Vec<&str> = header.split(',').skip(1).collect();
        let mut sorted = cols.clone();
        sorted.sort();
        assert_eq!(cols, sorted);
        assert!(cols.iter().all(|c| sim::METRICS.iter().any(|m| c.ends_with(&format!("_{m}")))));
        // Read back as any RCAEval case: truth from root_cause.json and the folder name agree.
        let loaded = rcaeval::load_case(&dir).expect("loaded");
        assert_eq!(loaded.root, *svc);
        assert_eq!(loaded.inject_time, case.inject_time);
        assert_eq!(loaded.normal_rows(), sim::NORMAL_ROWS);
        assert_eq!(loaded.calls.len(), case.topology.calls.len());
        // A second case of the same service and fault goes to `2`.
        let again = write_case(&root, &case).expect("written");
        assert!(again.ends_with("2"));
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    #[test]
    fn call_chains_stay_as_deep_as_real_applications_and_every_service_is_called() {
        let mut deepest = 0;
        for seed in 0..30u64 {
            let case = sim::generate(seed, 50, seed as usize);
            let depth = case.topology.depth();
            assert!(depth <= sim::MAX_CALL_DEPTH, "seed {seed}: chains {depth} deep");
            deepest = deepest.max(depth);
            for callee in 1..50 {
                assert!(case.topology.calls.iter().any(|c| c.callee == callee), "seed {seed}: service {callee} has no caller");
            }
        }
        // The cap binds: 50-service applications do reach it.
        assert_eq!(deepest, sim::MAX_CALL_DEPTH);
        let p = sim::profile(&(0..10u64).map(|seed| sim::generate(seed, 10, seed as usize)).collect::<Vec<_>>());
        assert_eq!(p.cases, 10);
        assert!(p.frontend_latency_median > 0.0 && p.frontend_latency_median <= p.frontend_latency_p90);
        assert!(p.frontend_latency_p90 <= p.slowest_service_latency);
        assert!(p.deepest_call_chain <= sim::MAX_CALL_DEPTH);
    }

    #[test]
    fn the_fault_shows_at_the_root_and_propagates_to_its_callers() {
        // A delay at the root raises its own latency and every caller's.
        for seed in [2u64, 7, 12] {
            let case = sim::generate(seed, 10, 2);
            assert_eq!(case.fault, "delay");
            let mean = |v: &[f64]| {
                let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                f.iter().sum::<f64>() / f.len() as f64
            };
            let shift = |svc: usize| {
                let name = format!("{}_latency-50", case.topology.services[svc].name);
                case.columns.get(&name).map(|v| mean(&v[sim::NORMAL_ROWS + 5..]) - mean(&v[..sim::NORMAL_ROWS]))
            };
            if let Some(d) = shift(case.root) {
                assert!(d > 0.04, "seed {seed}: root latency shift {d}");
            }
            for c in case.topology.calls.iter().filter(|c| c.callee == case.root) {
                if let Some(d) = shift(c.caller) {
                    assert!(d > 0.04, "seed {seed}: caller latency shift {d}");
                }
            }
        }
    }
}
