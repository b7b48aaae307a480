//! Alert-storm harness: replays Alertmanager API v2 alerts (JSON lines: `labels`,
//! `annotations`, `startsAt`, `endsAt`; no fault label) through the real correlation
//! operator and scores its grouping against a ground truth (fingerprint -> fault id or
//! null): compression (alerts per incident), pairwise precision/recall/F1, and fault
//! coverage (every fault is the main fault of some incident); the same for a baseline that
//! groups like Alertmanager (group_by alertname+namespace, group_wait, group_interval).
//!
//! Without `--input`, storms are generated (`gen.rs`, seeded) together with their truth and
//! the topology the Kubernetes collector and a service mesh would publish; the operator
//! sees the alerts and the topology, never the truth.
//!
//! Replay rules: a line without `endsAt` is the alert firing at `startsAt`; a line with
//! `endsAt` is its resolve at `endsAt`. Lines go to the operator in event-time order with a
//! watermark `--lateness` behind, as the runtime drives it.

pub mod gen;
pub mod score;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubesage_operators::correlation::{signal, CorrelationConfig, Correlator, Signal, OUTPUT};
use kubesage_operators::time::{from_millis, to_millis};
use kubesage_operators::{Collector, Operator};
use kubesage_schemas::alert::Alert;
use kubesage_schemas::alertmanager::{is_unset, AlertStatus, PostableAlert};
use kubesage_schemas::ids::alert_fingerprint;
use kubesage_schemas::incident::Incident;
use kubesage_schemas::topology::TopologyUpdate;
use kubesage_schemas::Envelope;

use score::{alertmanager_groups, Replayed, Scores};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Alerts to replay (JSON lines of Alertmanager API v2 alerts); generated when absent.
    #[arg(long, requires = "truth")]
    pub input: Option<PathBuf>,
    /// Ground truth: a JSON object mapping each alert fingerprint to a fault id or null.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Topology records (JSON lines of `kubesage.topology` envelopes) given to the operator
    /// before the alerts.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Correlation configuration (TOML, the `[correlation]` table's fields).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// First seed of generated storms.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of generated storms (seeds `seed..seed+seeds`).
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    #[arg(long, default_value_t = 30)]
    pub services: usize,
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    #[arg(long, default_value_t = 12)]
    pub faults: usize,
    /// Background alerts per hour in generated storms.
    #[arg(long, default_value_t = 3.0)]
    pub noise_per_hour: f64,
    /// Flapping alerts in generated storms.
    #[arg(long, default_value_t = 4)]
    pub flapping: usize,
    /// Generated symptom alerts per route only (by default per route and serving pod).
    #[arg(long)]
    pub per_route_symptoms: bool,
    /// Write the generated alerts, truth and topology (of the first seed) into this directory.
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Watermark lag behind the latest event time during replay.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub lateness: Duration,
    /// Baseline: Alertmanager's group_wait.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub group_wait: Duration,
    /// Baseline: Alertmanager's group_interval.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub group_interval: Duration,
    /// Also print, per storm, every incident with the faults of its alerts.
    #[arg(long)]
    pub detail: bool,
    /// Write the last record of every incident (JSON lines) of the first storm here.
    #[arg(long)]
    pub incidents: Option<PathBuf>,
}

/// One storm, ready to replay.
pub struct Case {
    pub name: String,
    pub alerts: Vec<PostableAlert>,
    pub truth: BTreeMap<String, Option<String>>,
    pub topology: Vec<Envelope<TopologyUpdate>>,
}

pub fn run(args: Args) -> Result<(), String> {
    let mut cfg = match &args.config {
        Some(p) => toml::from_str::<CorrelationConfig>(&std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?).map_err(|e| format!("{}: {e}", p.display()))?,
        None => CorrelationConfig::default(),
    };
    // The harness reads every member from the incident records.
    cfg.max_listed_alerts = usize::MAX;
    let issues = cfg.validate("correlation");
    if !issues.is_empty() {
        return Err(issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "));
    }
    let cases = match &args.input {
        Some(input) => vec![load_case(input, args.truth.as_deref(), args.topology.as_deref())?],
        None => (args.seed..args.seed + args.seeds.max(1)).map(|seed| generated(&args, seed)).collect::<Result<Vec<_>, _>>()?,
    };
    let mut stdout = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock<'_>, line: String| writeln!(out, "{line}").map_err(|e| e.to_string());
    w(&mut stdout, format!("{:<12} {:>6} {:>6} | {:>9} {:>9} {:>6} {:>6} {:>6} {:>7} | {:>9} {:>9} {:>6} {:>6} {:>6} {:>7}", "storm", "alerts", "faults", "incidents", "per-inc", "P", "R", "F1", "covered", "am-groups", "per-group", "P", "R", "F1", "covered"))?;
    let (mut ours_all, mut base_all) = (Vec::new(), Vec::new());
    for case in &cases {
        let replayed = replay_order(&case.alerts);
        let (predicted, incidents, records) = correlate(&cfg, case, &replayed, args.lateness);
        if let (Some(p), true) = (&args.incidents, std::ptr::eq(case, &cases[0])) {
            let body: String = records.iter().filter_map(|r| serde_json::to_string(r).ok()).map(|l| l + "\n").collect();
            std::fs::write(p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let ours = score::score(&case.truth, &predicted, incidents);
        if args.detail {
            for line in detail(case, &predicted) {
                w(&mut stdout, line)?;
            }
        }
        let (am, groups) = alertmanager_groups(&replayed, &["alertname", "namespace"], millis(args.group_wait), millis(args.group_interval));
        let base = score::score(&case.truth, &am, groups);
        w(&mut stdout, format!("{:<12} {:>6} {:>6} | {}| {}", case.name, ours.alerts, ours.faults, row(&ours), row(&base)))?;
        ours_all.push(ours);
        base_all.push(base);
    }
    let ours = total(&ours_all);
    let base = total(&base_all);
    if cases.len() > 1 {
        w(&mut stdout, format!("{:<12} {:>6} {:>6} | {}| {}", "all", ours.alerts, ours.faults, row(&ours), row(&base)))?;
    }
    let json = serde_json::json!({
        "benchmark": "storm",
        "storms": cases.len(),
        "alerts": ours.alerts,
        "faults": ours.faults,
        "incidents": ours.incidents,
        "alerts_per_incident": round(ours.alerts_per_incident),
        "f1": round(ours.f1),
        "precision": round(ours.precision),
        "recall": round(ours.recall),
        "fault_coverage": round(ours.fault_coverage),
        "baseline": {
            "name": "alertmanager group_by [alertname, namespace]",
            "groups": base.incidents,
            "alerts_per_incident": round(base.alerts_per_incident),
            "f1": round(base.f1),
            "precision": round(base.precision),
            "recall": round(base.recall),
            "fault_coverage": round(base.fault_coverage),
        },
    });
    w(&mut stdout, json.to_string())
}

/// Per incident: how many alerts of which fault (or noise) it holds.
fn detail(case: &Case, predicted: &BTreeMap<String, String>) -> Vec<String> {
    let mut by_incident: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (fp, fault) in &case.truth {
        let inc = predicted.get(fp).map_or("(none)", String::as_str);
        *by_incident.entry(inc).or_default().entry(fault.clone().unwrap_or_else(|| "noise".into())).or_default() += 1;
    }
    by_incident.into_iter().map(|(inc, faults)| format!("  {:<50} {faults:?}", inc)).collect()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn row(s: &Scores) -> String {
    format!("{:>9} {:>9.1} {:>6.3} {:>6.3} {:>6.3} {:>3}/{:<3} ", s.incidents, s.alerts_per_incident, s.precision, s.recall, s.f1, s.faults_covered, s.faults)
}

/// Sums over storms: compression from the totals, precision/recall/F1 averaged per storm
/// (pairs never cross storms), coverage from the totals.
fn total(all: &[Scores]) -> Scores {
    let n = all.len().max(1) as f64;
    let sum = |f: fn(&Scores) -> usize| all.iter().map(f).sum::<usize>();
    let (alerts, incidents, faults, covered) = (sum(|s| s.alerts), sum(|s| s.incidents), sum(|s| s.faults), sum(|s| s.faults_covered));
    let mean = |f: fn(&Scores) -> f64| all.iter().map(f).sum::<f64>() / n;
    Scores {
        alerts,
        incidents,
        alerts_per_incident: if incidents > 0 { alerts as f64 / incidents as f64 } else { 0.0 },
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
        faults,
        faults_covered: covered,
        fault_coverage: if faults > 0 { covered as f64 / faults as f64 } else { 1.0 },
    }
}

fn generated(args: &Args, seed: u64) -> Result<Case, String> {
    let gc = gen::GenConfig { seed, services: args.services, nodes: args.nodes, faults: args.faults, noise_per_hour: args.noise_per_hour, flapping: args.flapping, per_pod_symptoms: !args.per_route_symptoms };
    let storm = gen::generate(&gc);
    let mut truth = BTreeMap::new();
    for n in &storm.notifications {
        truth.insert(n.fingerprint(), n.fault.clone());
    }
    if args.detail {
        for (id, (kind, at)) in &storm.faults {
            println!("  {id} {} at {at}", kind.name());
        }
    }
    let case = Case { name: format!("seed-{seed}"), alerts: storm.notifications.iter().map(|n| n.alert.clone()).collect(), truth, topology: gen::topology(&storm.cluster) };
    if let (Some(dir), true) = (&args.write, seed == args.seed) {
        write_case(dir, &case)?;
    }
    Ok(case)
}

fn write_case(dir: &Path, case: &Case) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lines = |items: Vec<String>| items.into_iter().map(|l| l + "\n").collect::<String>();
    let alerts = lines(case.alerts.iter().filter_map(|a| serde_json::to_string(a).ok()).collect());
    let topology = lines(case.topology.iter().filter_map(|t| serde_json::to_string(t).ok()).collect());
    let truth = serde_json::to_string_pretty(&case.truth).map_err(|e| e.to_string())?;
    for (name, body) in [("alerts.jsonl", alerts), ("truth.json", truth), ("topology.jsonl", topology)] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

fn load_case(input: &Path, truth: Option<&Path>, topology: Option<&Path>) -> Result<Case, String> {
    let read_lines = |p: &Path| -> Result<Vec<String>, String> {
        let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        std::io::BufReader::new(f).lines().map(|l| l.map_err(|e| format!("{}: {e}", p.display()))).filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty())).collect()
    };
    let mut alerts = Vec::new();
    for (i, line) in read_lines(input)?.iter().enumerate() {
        let a: PostableAlert = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", input.display(), i + 1))?;
        if a.starts_at.is_none() {
            return Err(format!("{}:{}: startsAt is required for replay", input.display(), i + 1));
        }
        alerts.push(a);
    }
    let truth = match truth {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?).map_err(|e| format!("{}: {e}", p.display()))?,
        None => BTreeMap::new(),
    };
    let mut topo = Vec::new();
    if let Some(p) = topology {
        for (i, line) in read_lines(p)?.iter().enumerate() {
            topo.push(serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", p.display(), i + 1))?);
        }
    }
    let mut case = Case { name: input.file_stem().and_then(|s| s.to_str()).unwrap_or("input").to_string(), alerts, truth, topology: topo };
    // Alerts the truth does not name are noise.
    for a in &case.alerts {
        case.truth.entry(fingerprint(&a.labels)).or_insert(None);
    }
    Ok(case)
}

fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Notifications in event-time order (stable for ties).
pub fn replay_order(alerts: &[PostableAlert]) -> Vec<Replayed> {
    let mut out: Vec<Replayed> = alerts
        .iter()
        .filter_map(|a| {
            let starts = a.starts_at?;
            let (status, time) = match a.ends_at.filter(|e| !is_unset(e)) {
                Some(e) => (AlertStatus::Resolved, e),
                None => (AlertStatus::Firing, starts),
            };
            Some(Replayed { fingerprint: fingerprint(&a.labels), status, time: to_millis(&time), starts_at: to_millis(&starts), labels: a.labels.clone() })
        })
        .collect();
    out.sort_by_key(|r| r.time);
    out
}

/// Feed the topology and the alerts to the correlator; fingerprint -> incident, and the
/// number of incidents it published (not counting those merged into another).
fn correlate(cfg: &CorrelationConfig, case: &Case, replayed: &[Replayed], lateness: Duration) -> (BTreeMap<String, String>, usize, Vec<Incident>) {
    let mut op = Correlator::new(cfg.clone());
    let mut out = Collector::default();
    let mut records: Vec<Envelope<Incident>> = Vec::new();
    for t in &case.topology {
        op.on_event(signal::from_topology(t.clone()), &mut out);
    }
    let lag = millis(lateness);
    let by_fp: BTreeMap<String, &PostableAlert> = case.alerts.iter().map(|a| (fingerprint(&a.labels), a)).collect();
    for r in replayed {
        let Some(a) = by_fp.get(&r.fingerprint) else { continue };
        op.on_event(envelope(r, a), &mut out);
        op.on_watermark(from_millis(r.time - lag), &mut out);
        records.extend(out.decoded::<Incident>(OUTPUT));
        out.drain().for_each(drop);
    }
    let end = replayed.last().map_or(0, |r| r.time) + 7 * 24 * 3_600_000;
    op.on_watermark(from_millis(end), &mut out);
    records.extend(out.decoded::<Incident>(OUTPUT));
    let mut last: BTreeMap<String, Incident> = BTreeMap::new();
    for r in records {
        last.insert(r.data.incident_id.clone(), r.data);
    }
    let mut live: Vec<&Incident> = last.values().filter(|i| i.merged_into.is_none()).collect();
    live.sort_by(|a, b| (a.started_at, &a.incident_id).cmp(&(b.started_at, &b.incident_id)));
    let mut assigned = BTreeMap::new();
    for inc in &live {
        // Named by component and start, so that detail lines say what the incident is about.
        let name = format!("{} {} {}", &inc.incident_id[..8], inc.started_at.format("%H:%M:%S"), inc.component.as_deref().unwrap_or("-"));
        for a in &inc.alerts {
            assigned.entry(a.fingerprint.clone()).or_insert_with(|| name.clone());
        }
    }
    let n = live.len();
    (assigned, n, last.into_values().collect())
}

/// The record the collector would publish for this notification, received at its time.
fn envelope(r: &Replayed, a: &PostableAlert) -> Envelope<Signal> {
    let line = PostableAlert { starts_at: Some(from_millis(r.starts_at)), ends_at: (r.status == AlertStatus::Resolved).then(|| from_millis(r.time)), ..a.clone() };
    let (id, alert) = Alert::from_postable(&line, from_millis(r.time));
    let cluster = a.labels.get("cluster").cloned().unwrap_or_else(|| gen::CLUSTER.to_string());
    signal::from_alert(Envelope::new(id, "kubesage/benchmarks/storm", from_millis(r.time), r.fingerprint.clone(), cluster, alert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> gen::GenConfig {
        gen::GenConfig { seed, services: 12, nodes: 4, faults: 4, noise_per_hour: 2.0, flapping: 2, per_pod_symptoms: true }
    }

    #[test]
    fn generation_is_seeded_and_the_truth_is_consistent() {
        let a = gen::generate(&small(7));
        let b = gen::generate(&small(7));
        let c = gen::generate(&small(8));
        let lines = |s: &gen::Storm| s.notifications.iter().map(|n| serde_json::to_string(&n.alert).unwrap_or_default()).collect::<Vec<_>>();
        assert_eq!(lines(&a), lines(&b));
        assert_ne!(lines(&a), lines(&c));
        // One fault (or noise) per fingerprint, and no fault label for the operator to read.
        let mut owner: BTreeMap<String, Option<String>> = BTreeMap::new();
        for n in &a.notifications {
            assert_eq!(owner.entry(n.fingerprint()).or_insert(n.fault.clone()), &n.fault);
            assert!(n.alert.labels.keys().all(|k| !k.contains("fault")));
            assert!(n.alert.labels.values().all(|v| !v.contains("fault")));
        }
        assert!(a.faults.len() == 4 && owner.values().any(Option::is_none));
        // Every call edge and pod placement is in the topology records.
        let topo = gen::topology(&a.cluster);
        let pods = a.cluster.services.iter().map(|s| s.pods.len()).sum::<usize>();
        assert_eq!(topo.iter().filter(|t| t.data.object.kind == "Pod" && t.data.node.is_some()).count(), pods);
    }

    #[test]
    fn replay_scores_a_generated_storm_and_beats_the_baseline() {
        let storm = gen::generate(&small(1));
        let truth = storm.notifications.iter().map(|n| (n.fingerprint(), n.fault.clone())).collect();
        let case = Case { name: "t".into(), alerts: storm.notifications.iter().map(|n| n.alert.clone()).collect(), truth, topology: gen::topology(&storm.cluster) };
        let cfg = CorrelationConfig { max_listed_alerts: usize::MAX, ..CorrelationConfig::default() };
        let replayed = replay_order(&case.alerts);
        assert!(replayed.windows(2).all(|w| w[0].time <= w[1].time));
        let (predicted, incidents, _) = correlate(&cfg, &case, &replayed, Duration::from_secs(30));
        let ours = score::score(&case.truth, &predicted, incidents);
        let (am, groups) = alertmanager_groups(&replayed, &["alertname", "namespace"], 30_000, 300_000);
        let base = score::score(&case.truth, &am, groups);
        assert!(ours.f1 > base.f1 && ours.alerts_per_incident > base.alerts_per_incident, "{ours:?} vs {base:?}");
        assert_eq!(ours.fault_coverage, 1.0, "{ours:?}");
    }
}
