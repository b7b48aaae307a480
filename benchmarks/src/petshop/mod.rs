//! PetShop harness: the RCA core (`kubesage_operators::rca`, the same pure function the
//! operator calls) over the PetShop root-cause data set (amazon-science, CC-BY-4.0),
//! scored as its paper does: top-1 and top-3 recall of the root-cause node per scenario
//! and target metric, and specificity on the no-issue data.
//!
//! Each issue becomes one [`Problem`]: the call graph (`graph.csv`, caller row -> callee
//! column) as dependency edges, the target node as the symptom, the target timestamp as
//! onset, and per component the signal of the target metric (`latency`/`Average` in
//! seconds, or `availability`/`Average` turned into an error ratio weighted by
//! `requests`/`Sum`) plus its request count (traffic: shows the component is observed).
//! Rows are 5-minute CloudWatch periods; a row is baseline only when its period ended by
//! the target timestamp, which leaves one or two baseline rows per issue. That is why the
//! one configuration used for every scenario differs from the operator's default only in
//! `min_baseline_samples = 1` (a single row gives a level; the scale is then the relative
//! floor). Nothing is tuned per scenario, and nothing is fitted to the test issues.
//!
//! Specificity: the no-issue recordings (low and high traffic) are cut into chunks of the
//! issues' shape (one baseline row, four window rows) and each chunk is asked, per target
//! metric, whether its target node is abnormal (`rca::is_issue`); "no issue" is correct.

pub mod data;

use std::collections::BTreeMap;
use std::path::PathBuf;

use kubesage_operators::rca::{component_states, is_issue, rank, RcaConfig};

use data::{Issue, Recording, Scenario};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// PetShop in its published layout (`<scenario>/graph.csv`, `{train,test}/issue_N/`,
    /// `noissue/`); by default the copy in `shared/datasets/petshop` beside the checkout.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/petshop"))]
    pub data: PathBuf,
    /// Which issues to score: `test` (the published figures are on these), `train`, `all`.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Print every issue's top three with the evidence of the first.
    #[arg(long)]
    pub detail: bool,
}

/// The one configuration used for every scenario (see the module docs).
pub fn config() -> RcaConfig {
    RcaConfig { min_baseline_samples: 1, ..RcaConfig::default() }
}

/// Published anomaly-traversal baseline (top-1, top-3) per scenario family and metric.
pub fn published(scenario: &str, metric: &str) -> Option<(f64, f64)> {
    let family = if scenario.starts_with("temporal") { "temporal" } else { scenario };
    Some(match (family, metric) {
        ("low_traffic", "latency") => (0.571, 0.571),
        ("low_traffic", "availability") => (0.833, 1.0),
        ("high_traffic", "latency") => (0.571, 0.786),
        ("high_traffic", "availability") => (0.667, 1.0),
        ("temporal", "latency") => (1.0, 1.0),
        ("temporal", "availability") => (0.75, 1.0),
        _ => return None,
    })
}

/// Where the root cause landed in one issue's ranking (1-based; `None`: not ranked).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub issue: String,
    pub metric: String,
    pub rank: Option<usize>,
    pub verdict_issue: bool,
    pub top: Vec<String>,
    pub evidence: Vec<String>,
}

pub fn score_issue(scenario: &Scenario, issue: &Issue, cfg: &RcaConfig) -> Outcome {
    let problem = data::problem(&scenario.graph, &issue.recording, &issue.target_node, &issue.target_metric, issue.onset_ms);
    // Verdict by size; ranking as rca-sim ranks (`rank`: by certainty too when no service
    // shows a degradation by size).
    let states = component_states(&problem, cfg);
    let ranked = rank(&problem, cfg);
    let names: Vec<String> = ranked.iter().map(|r| problem.components[r.component].id.clone()).collect();
    Outcome {
        scenario: scenario.name.clone(),
        issue: issue.name.clone(),
        metric: issue.target_metric.clone(),
        rank: names.iter().position(|n| *n == issue.root_cause).map(|p| p + 1),
        verdict_issue: is_issue(&problem, &states),
        top: names.into_iter().take(3).collect(),
        evidence: ranked.first().map(|r| r.evidence.clone()).unwrap_or_default(),
    }
}

/// "No issue" verdicts over chunks of a no-issue recording, per target metric:
/// `(metric, correct, chunks)`.
pub fn specificity(scenario: &Scenario, noissue: &Recording, target: &str, cfg: &RcaConfig) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for metric in ["latency", "availability"] {
        let (mut ok, mut total) = (0, 0);
        for chunk in noissue.chunks(data::CHUNK_ROWS) {
            let Some(onset) = chunk.issue_shaped_onset() else { continue };
            let problem = data::problem(&scenario.graph, &chunk, target, metric, onset);
            let states = component_states(&problem, cfg);
            total += 1;
            if !is_issue(&problem, &states) {
                ok += 1;
            }
            // The ranking must still run on anything (it is what the operator would do).
            let _ = rank(&problem, cfg);
        }
        out.push((metric.to_string(), ok, total));
    }
    out
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn json_num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!((x * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let started = std::time::Instant::now();
    let cfg = config();
    let issues = cfg.validate("rca");
    if !issues.is_empty() {
        return Err(issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "));
    }
    let splits: &[&str] = match args.split.as_str() {
        "test" => &["test"],
        "train" => &["train"],
        "all" => &["train", "test"],
        other => return Err(format!("--split {other}: expected test, train or all")),
    };
    let scenarios = data::load(&args.data, splits)?;
    if scenarios.is_empty() {
        return Err(format!("{}: no PetShop scenarios found", args.data.display()));
    }
    // (scenario, metric) -> (n, top1, top3, verdicts "issue")
    let mut cells: BTreeMap<(String, String), (usize, usize, usize, usize)> = BTreeMap::new();
    let mut spec_cells: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for sc in &scenarios {
        for issue in &sc.issues {
            let o = score_issue(sc, issue, &cfg);
            let c = cells.entry((sc.name.clone(), o.metric.clone())).or_default();
            c.0 += 1;
            c.1 += usize::from(o.rank == Some(1));
            c.2 += usize::from(o.rank.is_some_and(|r| r <= 3));
            c.3 += usize::from(o.verdict_issue);
            if args.detail {
                println!(
                    "{:<18} {:<9} {:<13} root {:<45} rank {:<4} top3 {:?}",
                    sc.name,
                    o.issue,
                    o.metric,
                    issue.root_cause,
                    o.rank.map_or("-".to_string(), |r| r.to_string()),
                    o.top
                );
                for e in &o.evidence {
                    println!("      {e}");
                }
            }
        }
        if let Some(noissue) = &sc.noissue {
            let target = sc.issues.first().map_or("PetSite", |i| i.target_node.as_str());
            for (metric, ok, total) in specificity(sc, noissue, target, &cfg) {
                spec_cells.insert((sc.name.clone(), metric), (ok, total));
            }
        }
    }
    println!("PetShop ({} split), one configuration for all scenarios", args.split);
    println!(
        "{:<18} {:<13} {:>3} {:>7} {:>7} {:>15} {:>9} {:>12}",
        "scenario", "metric", "n", "top-1", "top-3", "published 1/3", "verdict", "specificity"
    );
    let (mut n, mut t1, mut t3) = (0, 0, 0);
    let (mut min1, mut min3) = (f64::INFINITY, f64::INFINITY);
    for ((scenario, metric), (cn, c1, c3, cv)) in &cells {
        n += cn;
        t1 += c1;
        t3 += c3;
        min1 = min1.min(ratio(*c1, *cn));
        min3 = min3.min(ratio(*c3, *cn));
        let publ = published(scenario, metric).map_or("-".to_string(), |(a, b)| format!("{a:.3}/{b:.3}"));
        let spec = spec_cells
            .get(&(scenario.clone(), metric.clone()))
            .map_or("-".to_string(), |(ok, total)| format!("{:.3} ({ok}/{total})", ratio(*ok, *total)));
        println!(
            "{:<18} {:<13} {:>3} {:>7.3} {:>7.3} {:>15} {:>9} {:>12}",
            scenario,
            metric,
            cn,
            ratio(*c1, *cn),
            ratio(*c3, *cn),
            publ,
            format!("{cv}/{cn}"),
            spec
        );
    }
    let (sok, stotal) = spec_cells.values().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!(
        "all                              {n:>3} {:>7.3} {:>7.3}                 specificity {:.3} ({sok}/{stotal}); {:.1}s",
        ratio(t1, n),
        ratio(t3, n),
        ratio(sok, stotal),
        started.elapsed().as_secs_f64()
    );
    println!("(verdict: issues the RCA itself calls an issue; the ranking is scored either way)");
    let json = serde_json::json!({
        "benchmark": "petshop",
        "split": args.split,
        "issues": n,
        "top1": json_num(ratio(t1, n)),
        "top3": json_num(ratio(t3, n)),
        "min_top1": json_num(min1),
        "min_top3": json_num(min3),
        "specificity": json_num(ratio(sok, stotal)),
        "noissue_chunks": stotal,
    });
    println!("{json}");
    Ok(())
}
