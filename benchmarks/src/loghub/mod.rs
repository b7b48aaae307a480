//! Loghub-2.0 harness: the template miner of `kubesage_operators::logs` (the same code the
//! pipeline hosts) over the 2k samples of every system in a Loghub-style directory, scored
//! with GA, FGA, PA and FTA the way the Loghub-2.0 evaluation computes them ([`metrics`]).
//!
//! For each system: the message of every raw line is cut out with the system's Loghub
//! `log_format` ([`format`]), aligned line by line with the `EventTemplate` column of
//! `<System>_2k.log_structured_corrected.csv` (or `_structured.csv`), mined in file order by
//! a fresh miner, and each line gets the final template of the cluster it joined.
//!
//! (a) One global configuration (`MinerConfig::default()`) for all systems: the headline
//!     figures and the JSON line. (b) Separately labelled: the same miner after the
//!     per-system masking regexes of Drain's Loghub benchmark, as Drain's published figures
//!     use them.
//!
//! `--lines FILE` instead mines the lines of a file once and prints lines per second (the
//! Drain3 comparison script uses it).

mod csv;
pub mod format;
pub mod metrics;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kubesage_operators::logs::{loghub_correct, MinerConfig, TemplateMiner};

use format::{LogFormat, Masks};
use metrics::Scores;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory laid out like loghub2k: one folder per system holding `<System>_2k.log` and
    /// `<System>_2k.log_structured_corrected.csv` (or `_structured.csv`). Default: the
    /// `shared/datasets/loghub2k` next to the workspace.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Log format of a system the built-in table does not know, in Loghub's syntax, e.g.
    /// `MySystem=<Date> <Time> <Level>: <Content>`. Without one, such a system's messages are
    /// taken from the `Content` column of its structured file. Repeatable.
    #[arg(long = "log-format", value_name = "SYSTEM=FORMAT")]
    pub log_formats: Vec<String>,
    /// Only these systems (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub systems: Vec<String>,
    /// Skip the per-system masking report (b).
    #[arg(long)]
    pub global_only: bool,
    /// Also print, per system, up to N ground-truth templates the miner gets wrong.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub show_errors: usize,
    /// Do not score: mine every line of FILE (one message per line) once with the global
    /// configuration and print lines per second as one JSON line.
    #[arg(long, value_name = "FILE")]
    pub lines: Option<PathBuf>,
    /// Do not score: write the messages of every system (in name order) to FILE, one per
    /// line, repeated until there are at least `--min-lines` (the speed comparison's input).
    #[arg(long, value_name = "FILE")]
    pub write_lines: Option<PathBuf>,
    #[arg(long, default_value_t = 1_000_000)]
    pub min_lines: usize,
    /// With `--lines`: every N lines, snapshot the miner and restore it into a fresh one
    /// (untimed), so its caches start empty while its templates are kept. With N the
    /// length of one pass of a repeated corpus, nothing cached crosses a pass.
    #[arg(long)]
    pub cold_caches_every: Option<usize>,
}

/// The data set directory next to the workspace (works from any current directory).
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub2k")
}

/// Where a system's messages came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSource {
    /// Cut from the raw log with the system's `log_format`.
    LogFormat,
    /// The `Content` column of the structured file (no format known, or the raw log did not
    /// align with it).
    StructuredCsv,
}

/// One system's lines and ground truth.
pub struct System {
    pub name: String,
    pub contents: Vec<String>,
    pub truth: Vec<String>,
    pub source: ContentSource,
    /// Lines whose cut-out message differs from the structured file's `Content`.
    pub content_mismatches: usize,
    pub truth_file: String,
    /// (corrected, raw) ground-truth templates when both files exist.
    pub raw_truth: Option<Vec<String>>,
}

/// Systems in a directory: sub-directories holding `<Name>_2k.log`, sorted by name.
pub fn discover(data: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| data.join(n).join(format!("{n}_2k.log")).is_file())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("{}: no <System>/<System>_2k.log found", data.display()));
    }
    Ok(names)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Read one system: cut messages out of the raw log and align them with the ground truth.
pub fn load_system(data: &Path, name: &str, formats: &HashMap<String, String>) -> Result<System, String> {
    let dir = data.join(name);
    let corrected = dir.join(format!("{name}_2k.log_structured_corrected.csv"));
    let plain = dir.join(format!("{name}_2k.log_structured.csv"));
    let truth_path = if corrected.is_file() { corrected.clone() } else { plain.clone() };
    let table = csv::Table::parse(&read(&truth_path)?);
    let col = |c: &str| table.column(c).ok_or_else(|| format!("{}: no {c} column", truth_path.display()));
    let (ci, ti) = (col("Content")?, col("EventTemplate")?);
    let cell = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
    let truth: Vec<String> = table.rows.iter().map(|r| cell(r, ti)).collect();
    let csv_contents: Vec<String> = table.rows.iter().map(|r| cell(r, ci)).collect();
    let raw_truth = if corrected.is_file() && plain.is_file() {
        let raw = csv::Table::parse(&read(&plain)?);
        raw.column("EventTemplate").map(|i| raw.rows.iter().map(|r| cell(r, i)).collect::<Vec<_>>()).filter(|v| v.len() == truth.len())
    } else {
        None
    };

    let fmt = formats.get(name).map(String::as_str).or_else(|| format::format_of(name));
    let mut contents = None;
    if let Some(fmt) = fmt {
        let f = LogFormat::new(fmt)?;
        let log = read(&dir.join(format!("{name}_2k.log")))?;
        let cut: Vec<String> = log.lines().filter_map(|l| f.content(l)).map(str::to_string).collect();
        if cut.len() == truth.len() {
            contents = Some(cut);
        }
    }
    let (contents, source) = match contents {
        Some(c) => (c, ContentSource::LogFormat),
        None => (csv_contents.clone(), ContentSource::StructuredCsv),
    };
    let content_mismatches = contents.iter().zip(&csv_contents).filter(|(a, b)| a.trim() != b.trim()).count();
    Ok(System {
        name: name.to_string(),
        contents,
        truth,
        source,
        content_mismatches,
        truth_file: truth_path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        raw_truth,
    })
}

/// Mine lines in order with a fresh miner; each line gets the final template of its cluster.
pub fn mine(cfg: &MinerConfig, contents: &[String]) -> Vec<String> {
    let mut miner = TemplateMiner::new(cfg.clone());
    let clusters: Vec<_> = contents.iter().map(|c| miner.add(c).cluster).collect();
    clusters.iter().map(|id| miner.template(*id).map(|t| t.text.to_string()).unwrap_or_default()).collect()
}

pub fn score(system: &System, predicted: &[String]) -> Scores {
    let truth: Vec<&str> = system.truth.iter().map(String::as_str).collect();
    let pred: Vec<&str> = predicted.iter().map(String::as_str).collect();
    metrics::score(&truth, &pred)
}

/// Drain's published 2k figures (GA, FGA, PA, FTA) per system and "Average", if present.
fn published_drain(data: &Path) -> HashMap<String, [Option<f64>; 4]> {
    let mut out: HashMap<String, [Option<f64>; 4]> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(data.join("published/effectiveness_results.csv")) else { return out };
    let table = csv::Table::parse(&text);
    let Some(col) = table.column("Drain") else { return out };
    for row in &table.rows {
        let (Some(key), Some(cell)) = (row.first(), row.get(col)) else { continue };
        let Some((system, metric)) = key.rsplit_once(' ') else { continue };
        let idx = match metric {
            "GA" => 0,
            "FGA" => 1,
            "PA" => 2,
            "FTA" => 3,
            _ => continue,
        };
        let two_k = cell.split('/').next().unwrap_or("").trim().parse::<f64>().ok();
        out.entry(system.to_string()).or_default()[idx] = two_k;
    }
    out
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "  -  ".to_string(), |x| format!("{x:.3}"))
}

fn print_table(title: &str, rows: &[(String, Scores, usize)], drain: &HashMap<String, [Option<f64>; 4]>) -> [f64; 4] {
    println!("{title}");
    println!("{:<12} {:>5} {:>9}  {:>5}  {:>5}  {:>5}  {:>5}   | Drain published 2k: GA    FGA    PA     FTA", "system", "lines", "tmpl/gt", "GA", "FGA", "PA", "FTA");
    let mut sum = [0.0; 4];
    for (name, s, lines) in rows {
        let d = drain.get(name).copied().unwrap_or_default();
        println!(
            "{:<12} {:>5} {:>4}/{:<4}  {:.3}  {:.3}  {:.3}  {:.3}   |                    {}  {}  {}  {}",
            name,
            lines,
            s.predicted,
            s.truth,
            s.ga,
            s.fga,
            s.pa,
            s.fta,
            fmt_opt(d[0]),
            fmt_opt(d[1]),
            fmt_opt(d[2]),
            fmt_opt(d[3])
        );
        for (acc, v) in sum.iter_mut().zip([s.ga, s.fga, s.pa, s.fta]) {
            *acc += v;
        }
    }
    let n = rows.len().max(1) as f64;
    let avg = sum.map(|v| v / n);
    let d = drain.get("Average").copied().unwrap_or_default();
    println!(
        "{:<12} {:>5} {:>9}  {:.3}  {:.3}  {:.3}  {:.3}   |                    {}  {}  {}  {}",
        "Average",
        rows.iter().map(|r| r.2).sum::<usize>(),
        "",
        avg[0],
        avg[1],
        avg[2],
        avg[3],
        fmt_opt(d[0]),
        fmt_opt(d[1]),
        fmt_opt(d[2]),
        fmt_opt(d[3])
    );
    println!();
    avg
}

/// Ground-truth templates the miner gets wrong, largest first.
fn print_errors(system: &System, predicted: &[String], limit: usize) {
    let mut pred_count: HashMap<&str, usize> = HashMap::new();
    for p in predicted {
        *pred_count.entry(p).or_default() += 1;
    }
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in system.truth.iter().enumerate() {
        groups.entry(t).or_default().push(i);
    }
    let mut wrong: Vec<(&str, &Vec<usize>)> = groups
        .iter()
        .filter(|(_, idx)| {
            let p = predicted[idx[0]].as_str();
            !(idx.iter().all(|&i| predicted[i] == p) && pred_count[p] == idx.len())
        })
        .map(|(t, idx)| (*t, idx))
        .collect();
    wrong.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (t, idx) in wrong.into_iter().take(limit) {
        println!("  {} truth[{}] {}", system.name, idx.len(), t);
        let mut preds: HashMap<&str, usize> = HashMap::new();
        for &i in idx {
            *preds.entry(predicted[i].as_str()).or_default() += 1;
        }
        let mut preds: Vec<_> = preds.into_iter().collect();
        preds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (p, c) in preds.into_iter().take(3) {
            println!("      mined[{c}/{}] {p}", pred_count[p]);
        }
        println!("      e.g. {}", system.contents[idx[0]]);
    }
}

fn mine_file(path: &Path, cold_caches_every: Option<usize>) -> Result<(), String> {
    let text = read(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let cfg = MinerConfig::default();
    let mut miner = TemplateMiner::new(cfg.clone());
    let every = cold_caches_every.filter(|&n| n > 0).unwrap_or(lines.len().max(1));
    let mut secs = 0.0;
    for (k, chunk) in lines.chunks(every).enumerate() {
        if k > 0 {
            let snapshot = miner.snapshot().map_err(|e| e.to_string())?;
            miner = TemplateMiner::new(cfg.clone());
            miner.restore(snapshot).map_err(|e| e.to_string())?;
        }
        let start = Instant::now();
        for l in chunk {
            miner.add(l);
        }
        secs += start.elapsed().as_secs_f64();
    }
    let rate = lines.len() as f64 / secs.max(1e-9);
    eprintln!("kubesage miner: {} lines in {secs:.3} s = {rate:.0} lines/s (one thread), {} templates", lines.len(), miner.len());
    println!(
        "{{\"benchmark\":\"loghub-lines\",\"lines\":{},\"seconds\":{secs:.6},\"lines_per_sec\":{rate:.0},\"templates\":{}}}",
        lines.len(),
        miner.len()
    );
    Ok(())
}

fn write_lines(data: &Path, path: &Path, min_lines: usize) -> Result<(), String> {
    use std::io::Write;
    let all: Vec<String> = all_contents(data)?.into_iter().flat_map(|(_, c)| c).map(|l| l.replace(['\n', '\r'], " ")).collect();
    if all.is_empty() {
        return Err(format!("no messages under {}", data.display()));
    }
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let mut n = 0;
    while n < min_lines.max(all.len()) {
        for l in &all {
            writeln!(w, "{l}").map_err(io)?;
        }
        n += all.len();
    }
    w.flush().map_err(io)?;
    eprintln!("wrote {n} lines ({} messages a pass) to {}", all.len(), path.display());
    Ok(())
}

/// Messages of every system of a directory, in name order (the benches' input).
pub fn all_contents(data: &Path) -> Result<Vec<(String, Vec<String>)>, String> {
    let formats = HashMap::new();
    discover(data)?.into_iter().map(|n| load_system(data, &n, &formats).map(|s| (s.name, s.contents))).collect()
}

pub fn run(args: Args) -> Result<(), String> {
    if let Some(path) = &args.lines {
        return mine_file(path, args.cold_caches_every);
    }
    let data = args.data.clone().unwrap_or_else(default_data_dir);
    if let Some(path) = &args.write_lines {
        return write_lines(&data, path, args.min_lines);
    }
    let mut formats = HashMap::new();
    for f in &args.log_formats {
        let (s, fmt) = f.split_once('=').ok_or_else(|| format!("--log-format {f:?}: expected SYSTEM=FORMAT"))?;
        formats.insert(s.to_string(), fmt.to_string());
    }
    let mut names = discover(&data)?;
    if !args.systems.is_empty() {
        names.retain(|n| args.systems.iter().any(|s| s == n));
    }
    let systems: Vec<System> = names.iter().map(|n| load_system(&data, n, &formats)).collect::<Result<_, _>>()?;
    let drain = published_drain(&data);
    let cfg = MinerConfig::default();

    println!("Loghub-2.0 2k: {} ({} systems)", data.display(), systems.len());
    for s in &systems {
        let src = match s.source {
            ContentSource::LogFormat => "log_format",
            ContentSource::StructuredCsv => "Content column (no log_format matched)",
        };
        println!("  {:<12} {} lines, truth {}, message from {}, {} differ from the Content column", s.name, s.truth.len(), s.truth_file, src, s.content_mismatches);
    }
    let (mut same, mut all) = (0usize, 0usize);
    for s in &systems {
        if let Some(raw) = &s.raw_truth {
            all += raw.len();
            same += raw.iter().zip(&s.truth).filter(|(r, t)| loghub_correct(r) == **t).count();
        }
    }
    if all > 0 {
        println!("Canonical form check: Loghub-2.0's correction rules as implemented by the miner turn the raw ground truth into the corrected one for {same}/{all} lines.");
    }
    println!();

    let config_json = serde_json::to_string(&cfg).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut mined_lines = 0usize;
    let start = Instant::now();
    let mut predictions = Vec::new();
    for s in &systems {
        let predicted = mine(&cfg, &s.contents);
        mined_lines += s.contents.len();
        rows.push((s.name.clone(), score(s, &predicted), s.contents.len()));
        predictions.push(predicted);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let global = print_table(&format!("(a) KubeSage miner, ONE global configuration for all systems: {config_json}"), &rows, &drain);
    println!("(mined {mined_lines} lines in {elapsed:.3} s including final template lookup)\n");
    if args.show_errors > 0 {
        for (s, p) in systems.iter().zip(&predictions) {
            print_errors(s, p, args.show_errors);
        }
        println!();
    }

    if !args.global_only {
        let mut rows_b = Vec::new();
        for s in &systems {
            let Some(patterns) = format::drain_masks(&s.name) else { continue };
            let masks = Masks::new(patterns)?;
            let masked: Vec<String> = s.contents.iter().map(|c| masks.apply(c)).collect();
            let predicted = mine(&cfg, &masked);
            rows_b.push((s.name.clone(), score(s, &predicted), s.contents.len()));
        }
        if !rows_b.is_empty() {
            print_table(
                "(b) PER-SYSTEM masking, reported separately: the same miner and configuration after each system's masking regexes from Drain's Loghub benchmark",
                &rows_b,
                &drain,
            );
        }
    }
    println!("{{\"benchmark\":\"loghub\",\"ga\":{:.4},\"fga\":{:.4},\"pa\":{:.4},\"fta\":{:.4}}}", global[0], global[1], global[2], global[3]);
    Ok(())
}
