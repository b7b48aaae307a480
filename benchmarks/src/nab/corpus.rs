//! A corpus in NAB's layout: `data/<category>/<file>.csv` (header `timestamp,value`) and
//! `labels/combined_windows.json` (`"<category>/<file>.csv": [[start, end], ...]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use super::scorer::LabelledFile;

/// One data file with its rows as read (the text is kept for the results files).
#[derive(Debug, Clone)]
pub struct DataFile {
    /// `<category>/<file>.csv`
    pub name: String,
    pub category: String,
    /// File name without `.csv`.
    pub stem: String,
    pub timestamps: Vec<i64>,
    pub timestamp_text: Vec<String>,
    pub values: Vec<f64>,
    pub value_text: Vec<String>,
    /// Windows as (first, last) millisecond timestamps.
    pub windows: Vec<(i64, i64)>,
}

impl DataFile {
    pub fn labelled(&self) -> LabelledFile {
        LabelledFile { name: self.name.clone(), timestamps: self.timestamps.clone(), windows: self.windows.clone() }
    }

    /// 1 inside a window, 0 outside (NAB's `label` column).
    pub fn labels(&self) -> Vec<u8> {
        self.timestamps.iter().map(|t| u8::from(self.windows.iter().any(|&(a, b)| a <= *t && *t <= b))).collect()
    }
}

pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// Read every file under `dir/data` that the label file names (and fail on a data file it
/// does not name), sorted by name.
pub fn load(dir: &Path) -> Result<Vec<DataFile>, String> {
    let label_path = dir.join("labels").join("combined_windows.json");
    let text = std::fs::read_to_string(&label_path).map_err(|e| format!("{}: {e}", label_path.display()))?;
    let labels: BTreeMap<String, Vec<Vec<String>>> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", label_path.display()))?;
    let data_dir = dir.join("data");
    let mut found = Vec::new();
    let categories = read_dir_sorted(&data_dir)?;
    for category in categories.iter().filter(|p| p.is_dir()) {
        for file in read_dir_sorted(category)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "csv")) {
            found.push(file);
        }
    }
    let mut files = Vec::with_capacity(found.len());
    for path in found {
        let category = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let name = format!("{category}/{file_name}");
        let windows = labels.get(&name).ok_or_else(|| format!("{name} has no entry in {}", label_path.display()))?;
        let mut parsed = Vec::with_capacity(windows.len());
        for w in windows {
            if w.len() != 2 {
                return Err(format!("{name}: a window must be [start, end]"));
            }
            parsed.push((parse_timestamp(&w[0])?, parse_timestamp(&w[1])?));
        }
        files.push(read_file(&path, name, category, file_name, parsed)?);
    }
    if files.is_empty() {
        return Err(format!("no data files under {}", data_dir.display()));
    }
    Ok(files)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}

fn read_file(path: &Path, name: String, category: String, file_name: String, windows: Vec<(i64, i64)>) -> Result<DataFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    if header != "timestamp,value" {
        return Err(format!("{name}: header {header:?}, expected timestamp,value"));
    }
    let stem = file_name.trim_end_matches(".csv").to_string();
    let mut f = DataFile {
        name,
        category,
        stem,
        timestamps: Vec::new(),
        timestamp_text: Vec::new(),
        values: Vec::new(),
        value_text: Vec::new(),
        windows,
    };
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (ts, v) = line.split_once(',').ok_or_else(|| format!("{}: line {}: expected two columns", f.name, i + 2))?;
        let t = parse_timestamp(ts)?;
        let value: f64 = v.trim().parse().map_err(|e| format!("{}: line {}: {e}", f.name, i + 2))?;
        f.timestamps.push(t);
        f.timestamp_text.push(ts.trim().to_string());
        f.values.push(value);
        f.value_text.push(v.trim().to_string());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_and_without_fractions() {
        assert_eq!(parse_timestamp("2014-04-10 07:15:00.000000"), parse_timestamp("2014-04-10 07:15:00"));
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn loads_a_small_corpus() {
        let dir = std::env::temp_dir().join(format!("kubesage-nab-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data/cat")).expect("mkdir");
        std::fs::create_dir_all(dir.join("labels")).expect("mkdir");
        std::fs::write(dir.join("data/cat/a.csv"), "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,2.5\n2020-01-01 00:10:00,3\n")
            .expect("write");
        std::fs::write(dir.join("labels/combined_windows.json"), r#"{"cat/a.csv": [["2020-01-01 00:05:00.000000", "2020-01-01 00:10:00.000000"]]}"#)
            .expect("write");
        let files = load(&dir).expect("load");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "cat/a.csv");
        assert_eq!(files[0].values, vec![1.0, 2.5, 3.0]);
        assert_eq!(files[0].labels(), vec![0, 1, 1]);
    }
}
