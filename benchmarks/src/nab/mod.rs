//! NAB harness: the metrics anomaly operator (`kubesage_operators::anomaly`, the same code
//! the pipeline hosts) over every series of a corpus in NAB's layout, scored with a port
//! of NAB's scorer (`scorer.rs`).
//!
//! Each file is one series; its rows go through `Operator::on_event` in order, as
//! `kubesage.metrics` samples would. The anomaly score of a row is the score of the alarm
//! the operator raised at that row (an anomaly starting, or an open one escalating to a
//! peak a decade of q higher), 0 where it raised none; so NAB's threshold cannot go below
//! the alarm level. One configuration (the default) for the whole corpus.

pub mod corpus;
pub mod scorer;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use kubesage_operators::anomaly::{AnomalyConfig, AnomalyOperator};
use kubesage_operators::time::from_millis;
use kubesage_operators::{Collector, Operator};
use kubesage_schemas::signals::{Anomaly, MetricSample};
use kubesage_schemas::Envelope;

use corpus::DataFile;
use scorer::{ProfileScore, PROFILES};

/// Name of our detector in results (NAB wants no underscores).
pub const DETECTOR: &str = "kubesage";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Corpus in NAB's layout (`data/`, `labels/combined_windows.json`); by default the
    /// NAB copy in `shared/datasets/nab` beside the checkout.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets/nab"))]
    pub data: PathBuf,
    /// Write NAB-format results under this directory
    /// (`DIR/kubesage/<category>/kubesage_<file>.csv`).
    #[arg(long)]
    pub results_dir: Option<PathBuf>,
    /// Also print, per file, the windows hit and the false positives.
    #[arg(long)]
    pub detail: bool,
    /// Detector configuration (TOML, the `[anomaly]` table's fields); by default the
    /// operator's defaults. One configuration applies to the whole corpus.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print every row of the named file (`<category>/<file>.csv`) with the verdict.
    #[arg(long, hide = true)]
    pub dump: Option<String>,
}

/// A NAB file is one complete recording: a gap between rows is missing data, not a series
/// that went away, so no gap may make the operator forget the series (NAB feeds every
/// row of a file to one detector). The production default (`idle_after` one hour) would
/// restart 18 of the 58 series at their gaps, 226 times for `TravelTime_387` (hourly and
/// irregular series), so they never warm up.
pub fn recording(cfg: AnomalyConfig) -> AnomalyConfig {
    AnomalyConfig { idle_after: RECORDING_IDLE, ..cfg }
}

/// Longer than any NAB file spans (the longest covers about a year).
const RECORDING_IDLE: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);

/// Scores of every row of every file, from one operator fed the whole corpus.
pub fn detect(files: &[DataFile], cfg: AnomalyConfig) -> Result<(Vec<Vec<f64>>, DetectStats), String> {
    let issues = cfg.validate("anomaly");
    if !issues.is_empty() {
        return Err(issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "));
    }
    let mut op = AnomalyOperator::new(cfg);
    let mut out = Collector::default();
    let mut all = Vec::with_capacity(files.len());
    let mut stats = DetectStats::default();
    for f in files {
        let mut scores = Vec::with_capacity(f.values.len());
        let labels: BTreeMap<String, String> = [("file".to_string(), f.name.clone())].into_iter().collect();
        let key = format!("nab{{file=\"{}\"}}", f.name);
        // NAB's timestamps are local wall-clock time and repeat or step back at daylight
        // saving changes; rows are samples in file order, so event time is made strictly
        // increasing (as Prometheus' would be).
        let mut last = i64::MIN;
        for (&t, &v) in f.timestamps.iter().zip(&f.values) {
            let t = t.max(last.saturating_add(1));
            last = t;
            let time = from_millis(t);
            let sample = MetricSample { name: "nab".into(), labels: labels.clone(), value: v, timestamp: time };
            let id = format!("{}/{t}", f.name);
            op.on_event(Envelope::new(id, "nab", time, key.clone(), "nab", sample), &mut out);
            scores.push(op.last_verdict().map_or(0.0, |v| v.alarm_score));
        }
        let records: Vec<Envelope<Anomaly>> = out.decoded(kubesage_operators::anomaly::OUTPUT);
        stats.records += records.len();
        stats.anomalies += records.iter().filter(|r| r.data.phase == kubesage_schemas::signals::AnomalyPhase::Started).count();
        out.drain().for_each(drop);
        stats.rows += f.values.len();
        all.push(scores);
    }
    Ok((all, stats))
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DetectStats {
    pub rows: usize,
    pub records: usize,
    pub anomalies: usize,
}

/// Write `DIR/<detector>/<category>/<detector>_<file>.csv` as NAB's scorer reads them.
pub fn write_results(dir: &Path, detector: &str, files: &[DataFile], scores: &[Vec<f64>]) -> Result<(), String> {
    for (f, s) in files.iter().zip(scores) {
        let folder = dir.join(detector).join(&f.category);
        std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let path = folder.join(format!("{detector}_{}.csv", f.stem));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?);
        let labels = f.labels();
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        writeln!(w, "timestamp,value,anomaly_score,label").map_err(io)?;
        for i in 0..f.values.len() {
            writeln!(w, "{},{},{},{}", f.timestamp_text[i], f.value_text[i], s[i], labels[i]).map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    Ok(())
}

/// Published normalised scores (`results/final_results.json`): detector -> profile -> score.
fn published(dir: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    std::fs::read_to_string(dir.join("results").join("final_results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn run(args: Args) -> Result<(), String> {
    let started = std::time::Instant::now();
    let files = corpus::load(&args.data)?;
    if let Some(name) = &args.dump {
        return dump(&files, name);
    }
    let labelled: Vec<_> = files.iter().map(DataFile::labelled).collect();
    let cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            toml::from_str::<AnomalyConfig>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => AnomalyConfig::default(),
    };
    let cfg = recording(cfg);
    let (scores, stats) = detect(&files, cfg)?;
    let elapsed = started.elapsed();
    if let Some(dir) = &args.results_dir {
        write_results(dir, DETECTOR, &files, &scores)?;
        println!("results written under {}", dir.join(DETECTOR).display());
    }
    let mut ours: Vec<ProfileScore> = Vec::new();
    for (name, cost) in PROFILES {
        ours.push(scorer::score_corpus(&labelled, &scores, name, &cost)?);
    }
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    println!(
        "NAB: {} files, {} rows, {} windows; {} anomalies raised ({} records) in {:.2}s",
        files.len(),
        stats.rows,
        windows,
        stats.anomalies,
        stats.records,
        elapsed.as_secs_f64()
    );
    println!();
    println!("{:<22} {:>9} {:>9} {:>9}", "detector", "standard", "low FP", "low FN");
    let mut table: Vec<(String, [f64; 3])> = published(&args.data)
        .into_iter()
        .map(|(d, p)| {
            let g = |k: &str| p.get(k).copied().unwrap_or(f64::NAN);
            (d, [g("standard"), g("reward_low_FP_rate"), g("reward_low_FN_rate")])
        })
        .collect();
    table.push((format!("{DETECTOR} (this run)"), [ours[0].normalised, ours[1].normalised, ours[2].normalised]));
    table.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    for (d, s) in &table {
        println!("{:<22} {:>9.2} {:>9.2} {:>9.2}", d, s[0], s[1], s[2]);
    }
    println!();
    for p in &ours {
        println!(
            "{:<19} threshold {:.4}  raw {:>8.3}  (null {:.1}, perfect {:.1})  TP rows {} FP rows {} FN rows {}",
            p.profile, p.threshold, p.raw, p.null_raw, p.perfect_raw, p.counts.tp, p.counts.fp, p.counts.fn_
        );
    }
    if args.detail {
        print_detail(&files, &labelled, &scores, ours[0].threshold)?;
    }
    println!(
        "{{\"benchmark\":\"nab\",\"standard\":{},\"reward_low_fp\":{},\"reward_low_fn\":{}}}",
        round2(ours[0].normalised),
        round2(ours[1].normalised),
        round2(ours[2].normalised)
    );
    Ok(())
}

/// Per file, at the standard profile's threshold: windows hit (and how early), false
/// positives, raw score.
fn print_detail(files: &[DataFile], labelled: &[scorer::LabelledFile], scores: &[Vec<f64>], threshold: f64) -> Result<(), String> {
    let cost = PROFILES[0].1;
    println!();
    println!("{:<58} {:>6} {:>8} {:>5} {:>7}  hits (row offset in window / width)", "file (standard profile)", "rows", "windows", "FP", "raw");
    for (i, (f, s)) in files.iter().zip(scores).enumerate() {
        let points = scorer::sweep(&labelled[i], s, &cost, 0)?;
        let at = scorer::score_at(&points, &cost, threshold);
        let probation = scorer::probationary_length(s.len());
        let mut hits = Vec::new();
        for &(a, b) in &f.windows {
            let lo = f.timestamps.iter().position(|&t| t == a).unwrap_or(0);
            let hi = f.timestamps.iter().position(|&t| t == b).unwrap_or(0);
            let first = (lo.max(probation)..=hi).find(|&r| s[r] >= threshold);
            hits.push(first.map_or("miss".to_string(), |r| format!("{}/{}", r - lo, hi - lo + 1)));
        }
        println!("{:<58} {:>6} {:>8} {:>5} {:>7.3}  {}", f.name, s.len(), f.windows.len(), at.fp, at.score, hits.join(" "));
    }
    Ok(())
}

fn dump(files: &[DataFile], name: &str) -> Result<(), String> {
    let f = files.iter().find(|f| f.name == *name).ok_or_else(|| format!("no file {name}"))?;
    let stack = kubesage_operators::anomaly::Stack::new(&AnomalyConfig::default());
    let mut d = kubesage_operators::anomaly::SeriesDetector::new(&stack);
    let labels = f.labels();
    println!("row,label,value,expected,scale,q,score,alarm,mask,threshold,index,rate1,rate2,rate4,grid_lo,grid_hi");
    for (i, (&t, &x)) in f.timestamps.iter().zip(&f.values).enumerate() {
        let v = d.update(t + i as i64, x, &stack);
        // As the operator does: an ended anomaly is forgotten, so the next one starts.
        if v.transition == Some(kubesage_operators::anomaly::Transition::Ended) {
            d.close_episode();
        }
        println!(
            "{i},{},{x},{:.4},{:.4},{:.3e},{:.4},{:.4},{},{:.4},{:.4},{:.4},{:.4},{:.4},{},{}",
            labels[i],
            v.expected,
            v.scale,
            v.q,
            v.score,
            v.alarm_score,
            v.detectors,
            d.tail.threshold,
            d.tail.index,
            d.novelty.rates[0],
            d.novelty.rates[1],
            d.novelty.rates[3],
            d.novelty.grid_lo,
            d.novelty.grid_hi
        );
    }
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
