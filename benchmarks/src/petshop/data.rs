//! Reading PetShop: `graph.csv` (adjacency matrix, caller row -> callee column),
//! `metrics.csv` (four header rows: microservice, metric, statistic, unix_timestamp; then
//! one row per 5-minute period) and `target.json`.

use std::collections::BTreeMap;
use std::path::Path;

use kubesage_operators::rca::{Component, Problem, Sample, Signal, SignalKind};
use kubesage_operators::time::Millis;

/// Rows of a no-issue chunk: one baseline row and four window rows, as most issues have.
pub const CHUNK_ROWS: usize = 5;

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<String>,
    /// `(caller, callee)` by index into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

/// A metrics table: timestamps (ms) and columns keyed by `(node, metric, statistic)`.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub t: Vec<Millis>,
    pub columns: BTreeMap<(String, String, String), Vec<f64>>,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub name: String,
    pub recording: Recording,
    pub target_node: String,
    pub target_metric: String,
    pub onset_ms: Millis,
    pub root_cause: String,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub graph: Graph,
    pub issues: Vec<Issue>,
    pub noissue: Option<Recording>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_graph(text: &str) -> Result<Graph, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or("graph.csv: empty")?;
    let nodes: Vec<String> = header.split(',').skip(1).map(str::to_string).collect();
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut edges = Vec::new();
    for line in lines {
        let mut cells = line.split(',');
        let Some(&from) = cells.next().and_then(|name| index.get(name)) else {
            return Err(format!("graph.csv: row {:?} is not a column", line.split(',').next()));
        };
        for (to, v) in cells.enumerate() {
            if v.trim().parse::<f64>().is_ok_and(|x| x != 0.0) && to < nodes.len() {
                edges.push((from, to));
            }
        }
    }
    Ok(Graph { nodes, edges })
}

pub fn parse_metrics(text: &str) -> Result<Recording, String> {
    let rows: Vec<Vec<&str>> = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split(',').collect()).collect();
    if rows.len() < 4 {
        return Err("metrics.csv: fewer than four header rows".into());
    }
    let width = rows[0].len();
    let keys: Vec<(String, String, String)> =
        (1..width).map(|j| (rows[0][j].to_string(), rows[1].get(j).unwrap_or(&"").to_string(), rows[2].get(j).unwrap_or(&"").to_string())).collect();
    let mut rec = Recording::default();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); keys.len()];
    for row in &rows[4..] {
        let t: f64 = row[0].trim().parse().map_err(|_| format!("metrics.csv: bad timestamp {:?}", row[0]))?;
        rec.t.push((t * 1000.0).round() as Millis);
        for (j, col) in cols.iter_mut().enumerate() {
            col.push(row.get(j + 1).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(f64::NAN));
        }
    }
    rec.columns = keys.into_iter().zip(cols).collect();
    Ok(rec)
}

impl Recording {
    /// Sampling step: the smallest positive spacing of the rows (300 s in PetShop).
    pub fn step(&self) -> Millis {
        self.t.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 0).min().unwrap_or(0)
    }

    /// Consecutive chunks of `rows` rows (the last partial one dropped).
    pub fn chunks(&self, rows: usize) -> Vec<Recording> {
        let n = self.t.len() / rows.max(1);
        (0..n)
            .map(|c| {
                let r = c * rows..(c + 1) * rows;
                Recording {
                    t: self.t[r.clone()].to_vec(),
                    columns: self.columns.iter().map(|(k, v)| (k.clone(), v[r.clone()].to_vec())).collect(),
                }
            })
            .collect()
    }

    /// An onset half-way through the second row: one baseline row, the rest window.
    pub fn issue_shaped_onset(&self) -> Option<Millis> {
        Some(self.t.get(1)? + self.step() / 2)
    }

    fn column(&self, node: &str, metric: &str, stat: &str) -> Option<&Vec<f64>> {
        self.columns.get(&(node.to_string(), metric.to_string(), stat.to_string()))
    }
}

/// The RCA problem of one issue (see the module docs of `petshop`).
pub fn problem(graph: &Graph, rec: &Recording, target: &str, metric: &str, onset: Millis) -> Problem {
    let mut names: Vec<String> = graph.nodes.clone();
    for (node, _, _) in rec.columns.keys() {
        if !names.contains(node) {
            names.push(node.clone());
        }
    }
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let step = rec.step();
    let mut signals = Vec::new();
    for (c, node) in names.iter().enumerate() {
        let requests = rec.column(node, "requests", "Sum");
        let samples = |values: &[f64], f: &dyn Fn(usize, f64) -> Sample| -> Vec<Sample> {
            values.iter().enumerate().map(|(i, &v)| f(i, v)).collect()
        };
        if let Some(req) = requests {
            let s = samples(req, &|i, v| Sample::new(rec.t[i], v));
            signals.push(Signal::split(c, format!("{node} requests"), SignalKind::Traffic, s, onset, step));
        }
        match metric {
            "latency" => {
                if let Some(lat) = rec.column(node, "latency", "Average") {
                    let s = samples(lat, &|i, v| Sample::new(rec.t[i], v));
                    signals.push(Signal::split(c, format!("{node} latency"), SignalKind::Latency, s, onset, step));
                }
            }
            _ => {
                if let (Some(avail), Some(req)) = (rec.column(node, "availability", "Average"), requests) {
                    let s = samples(avail, &|i, v| Sample::weighted(rec.t[i], 1.0 - v / 100.0, req[i]));
                    signals.push(Signal::split(c, format!("{node} errors"), SignalKind::ErrorRatio, s, onset, step));
                }
            }
        }
    }
    Problem {
        components: names.iter().map(|n| Component { id: n.clone() }).collect(),
        edges: graph.edges.clone(),
        signals,
        changes: Vec::new(),
        symptoms: index.get(target).copied().into_iter().collect(),
        onset,
        colocated: Vec::new(),
    }
}

fn load_issue(dir: &Path) -> Result<Issue, String> {
    let recording = parse_metrics(&read(&dir.join("metrics.csv"))?)?;
    let target: serde_json::Value = serde_json::from_str(&read(&dir.join("target.json"))?).map_err(|e| format!("{}: {e}", dir.display()))?;
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string).ok_or_else(|| format!("{}: target.json lacks a field", dir.display()));
    let ts = target["target"]["timestamp"].as_f64().ok_or_else(|| format!("{}: target.json lacks target.timestamp", dir.display()))?;
    Ok(Issue {
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        recording,
        target_node: s(&target["target"]["node"])?,
        target_metric: s(&target["target"]["metric"])?,
        onset_ms: (ts * 1000.0).round() as Millis,
        root_cause: s(&target["root_cause"]["node"])?,
    })
}

fn sorted_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    // issue_2 before issue_10
    v.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let num: u64 = name.rsplit('_').next().and_then(|x| x.parse().ok()).unwrap_or(u64::MAX);
        (num, name)
    });
    v
}

/// Every scenario under `root` (a folder with `graph.csv`), with the issues of `splits`.
pub fn load(root: &Path, splits: &[&str]) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.join("graph.csv").is_file()) {
        let graph = parse_graph(&read(&dir.join("graph.csv"))?)?;
        let mut issues = Vec::new();
        for split in splits {
            for d in sorted_dirs(&dir.join(split)) {
                if d.join("metrics.csv").is_file() {
                    issues.push(load_issue(&d)?);
                }
            }
        }
        let noissue_path = dir.join("noissue").join("metrics.csv");
        let noissue = if noissue_path.is_file() { Some(parse_metrics(&read(&noissue_path)?)?) } else { None };
        out.push(Scenario { name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), graph, issues, noissue });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "microservice,a,a,a,b,b\n\
metric,latency,requests,availability,latency,requests\n\
statistic,Average,Sum,Average,Average,Sum\n\
unix_timestamp,,,,,\n\
1000.0,0.1,100,100,0.2,50\n\
1300.0,0.1,100,99,,50\n\
1600.0,0.5,100,90,0.2,50\n";

    #[test]
    fn graph_and_metrics_parse() {
        let g = parse_graph(",a,b,c\na,0.0,1.0,0.0\nb,0.0,0.0,1\nc,0,0,0\n").expect("graph");
        assert_eq!(g.nodes, vec!["a", "b", "c"]);
        assert_eq!(g.edges, vec![(0, 1), (1, 2)]);
        let r = parse_metrics(METRICS).expect("metrics");
        assert_eq!(r.t, vec![1_000_000, 1_300_000, 1_600_000]);
        assert_eq!(r.step(), 300_000);
        let lat_b = r.column("b", "latency", "Average").expect("column");
        assert!(lat_b[1].is_nan());
    }

    #[test]
    fn problems_split_rows_whose_period_ended_by_onset() {
        let g = parse_graph(",a,b\na,0,1\nb,0,0\n").expect("graph");
        let r = parse_metrics(METRICS).expect("metrics");
        // Onset inside the second row: only the first row is baseline.
        let p = problem(&g, &r, "a", "availability", 1_450_000);
        assert_eq!(p.symptoms, vec![0]);
        assert_eq!(p.edges, vec![(0, 1)]);
        let errors = p.signals.iter().find(|s| s.kind == SignalKind::ErrorRatio).expect("errors");
        assert_eq!(errors.baseline.len(), 1);
        assert_eq!(errors.window.len(), 2);
        assert!((errors.window[1].value - 0.1).abs() < 1e-12 && errors.window[1].weight == 100.0);
        // b has no availability column: only its traffic and nothing else.
        assert!(p.signals.iter().filter(|s| s.component == 1).all(|s| s.kind == SignalKind::Traffic));
        let p = problem(&g, &r, "a", "latency", 1_450_000);
        assert_eq!(p.signals.iter().filter(|s| s.kind == SignalKind::Latency).count(), 2);
    }
}
