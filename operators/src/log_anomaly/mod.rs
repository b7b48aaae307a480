//! Log anomaly operator: mines every line into a template (the same miner the Loghub
//! harness scores), counts lines per stream and template in event-time windows, and flags
//! a template never seen before (after a warm-up), a count spike or drop against the
//! template's own baseline, and bursts of error-level lines. Per window it publishes each
//! template's count to `kubesage.log.patterns`; anomalies go to `kubesage.anomalies` with
//! a start, updates while they last and an end.

pub mod config;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::{series_key, Anomaly, AnomalyPhase, LogPattern, LogRecord};
use kubesage_schemas::{topics, Envelope};
use serde::{Deserialize, Serialize};
use statrs::distribution::{DiscreteCDF, Poisson};

pub use config::LogAnomalyConfig;

use crate::logs::{Change, TemplateId, TemplateMiner};
use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::{Collector, Operator, OperatorError, Snapshot, Stat};

const SNAPSHOT_VERSION: u32 = 1;
const SOURCE: &str = "kubesage/operator/log-anomaly";

pub struct LogAnomaly {
    cfg: LogAnomalyConfig,
    window: Millis,
    miner: TemplateMiner,
    state: State,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Open windows by start: (stream key, template) -> counts.
    open: BTreeMap<Millis, BTreeMap<String, Count>>,
    /// Baseline per `stream\u{1f}template` (and `stream\u{1f}errors`).
    baselines: BTreeMap<String, Baseline>,
    /// Stream key -> (labels, windows seen).
    streams: BTreeMap<String, (BTreeMap<String, String>, u32)>,
    /// Anomalies reported in the last closed window: key -> (anomaly id, kind).
    active: BTreeMap<String, (String, String)>,
    /// Start of the newest closed window.
    closed_through: Option<Millis>,
    late_lines: u64,
    miner: Option<Snapshot>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Count {
    stream: String,
    template: u64,
    lines: u64,
    errors: u64,
    created: bool,
    examples: Vec<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Baseline {
    rate: f64,
    windows: u32,
}

/// One judged count.
struct Finding {
    key: String,
    kind: &'static str,
    stream: String,
    template: Option<u64>,
    observed: u64,
    expected: f64,
    p: f64,
    examples: Vec<String>,
}

fn is_error(level: Option<&str>) -> bool {
    matches!(level, Some("error" | "err" | "fatal" | "critical" | "crit" | "panic" | "emerg" | "alert"))
}

impl LogAnomaly {
    pub fn new(cfg: LogAnomalyConfig) -> Self {
        let window = duration_millis(cfg.window).max(1000);
        let miner = TemplateMiner::new(cfg.miner.clone());
        LogAnomaly { cfg, window, miner, state: State::default() }
    }

    fn template_text(&self, id: u64) -> String {
        self.miner.template(TemplateId(id)).map(|t| t.text.to_string()).unwrap_or_default()
    }

    /// Close every window that ends at or before `wm`, in time order.
    fn close_until(&mut self, wm: Millis, out: &mut Collector) {
        let due: Vec<Millis> = self.state.open.keys().copied().filter(|start| start + self.window <= wm).collect();
        for start in due {
            if let Some(counts) = self.state.open.remove(&start) {
                self.close_window(start, counts, out);
            }
        }
        // A whole window without a line after an anomaly: it is over (the stream went
        // quiet), so end it now rather than whenever the stream logs again.
        if let Some(last) = self.state.closed_through.filter(|_| !self.state.active.is_empty()) {
            let next = last + self.window;
            if next + self.window <= wm && !self.state.open.contains_key(&next) {
                self.close_window(next, BTreeMap::new(), out);
            }
        }
    }

    fn close_window(&mut self, start: Millis, counts: BTreeMap<String, Count>, out: &mut Collector) {
        let end = start + self.window;
        let alpha = 2.0 / (f64::from(self.cfg.baseline_windows) + 1.0);
        let mut findings = Vec::new();
        let mut errors_by_stream: BTreeMap<String, u64> = BTreeMap::new();
        let active_streams: BTreeSet<String> = counts.values().map(|c| c.stream.clone()).collect();
        for s in &active_streams {
            if let Some(entry) = self.state.streams.get_mut(s) {
                entry.1 += 1;
            }
        }
        for (key, c) in &counts {
            *errors_by_stream.entry(c.stream.clone()).or_default() += c.errors;
            let warm_stream = self.state.streams.get(&c.stream).is_some_and(|(_, n)| *n > self.cfg.warmup_windows);
            let base = self.state.baselines.get(key).cloned();
            if c.created && warm_stream {
                findings.push(Finding { key: key.clone(), kind: "new-pattern", stream: c.stream.clone(), template: Some(c.template), observed: c.lines, expected: 0.0, p: 0.0, examples: c.examples.clone() });
            } else if let Some(b) = base.as_ref().filter(|b| b.windows >= self.cfg.warmup_windows) {
                let p = upper_tail(b.rate, c.lines);
                if c.lines >= self.cfg.min_count && p < self.cfg.p_value {
                    findings.push(Finding { key: key.clone(), kind: "spike", stream: c.stream.clone(), template: Some(c.template), observed: c.lines, expected: b.rate, p, examples: c.examples.clone() });
                }
            }
            self.update_baseline(key, c.lines as f64, alpha);
            let pattern = LogPattern {
                template_id: format!("{:016x}", c.template),
                template: self.template_text(c.template),
                stream: self.state.streams.get(&c.stream).map(|(l, _)| l.clone()).unwrap_or_default(),
                count: c.lines,
                examples: c.examples.clone(),
                window_start: from_millis(start),
                window_end: from_millis(end),
            };
            let id = stable_id(&["log-pattern", key, &start.to_string()]);
            // Keyed by cluster, as the catalogue says: stage 2 meets per cluster.
            let cluster = self.cluster_of(&c.stream);
            out.emit(topics::LOG_PATTERNS, &cluster, &Envelope::new(id, SOURCE, from_millis(end), key.clone(), cluster.clone(), pattern));
        }
        // Templates that went quiet in streams that did log: a drop.
        let quiet: Vec<(String, Baseline)> = self
            .state
            .baselines
            .iter()
            .filter(|(k, _)| !k.ends_with("\u{1f}errors") && !counts.contains_key(*k))
            .filter(|(k, _)| k.split('\u{1f}').next().is_some_and(|s| active_streams.contains(s)))
            .map(|(k, b)| (k.clone(), b.clone()))
            .collect();
        for (key, b) in quiet {
            let p = (-b.rate).exp();
            if b.windows >= self.cfg.warmup_windows && p < self.cfg.p_value {
                let (stream, template) = key.split_once('\u{1f}').map(|(s, t)| (s.to_string(), u64::from_str_radix(t, 16).ok())).unwrap_or_default();
                findings.push(Finding { key: key.clone(), kind: "drop", stream, template, observed: 0, expected: b.rate, p, examples: vec![] });
            }
            self.update_baseline(&key, 0.0, alpha);
        }
        for (stream, errors) in errors_by_stream {
            let key = format!("{stream}\u{1f}errors");
            if let Some(b) = self.state.baselines.get(&key).filter(|b| b.windows >= self.cfg.warmup_windows) {
                let p = upper_tail(b.rate, errors);
                if errors >= self.cfg.min_count && p < self.cfg.p_value {
                    findings.push(Finding { key: key.clone(), kind: "error-burst", stream: stream.clone(), template: None, observed: errors, expected: b.rate, p, examples: vec![] });
                }
            }
            self.update_baseline(&key, errors as f64, alpha);
        }
        self.publish(findings, start, end, out);
    }

    fn update_baseline(&mut self, key: &str, value: f64, alpha: f64) {
        if !self.state.baselines.contains_key(key) && self.state.baselines.len() >= self.cfg.max_keys {
            return;
        }
        let b = self.state.baselines.entry(key.to_string()).or_default();
        b.rate = if b.windows == 0 { value } else { b.rate + alpha * (value - b.rate) };
        b.windows = b.windows.saturating_add(1);
    }

    fn cluster_of(&self, stream: &str) -> String {
        self.state.streams.get(stream).and_then(|(l, _)| l.get("cluster").cloned()).unwrap_or_else(|| "default".into())
    }

    /// Start, update and end anomalies: one record when it starts, updates while it lasts,
    /// one when it ends.
    fn publish(&mut self, findings: Vec<Finding>, start: Millis, end: Millis, out: &mut Collector) {
        let mut still: BTreeMap<String, (String, String)> = BTreeMap::new();
        for f in findings {
            let (anomaly_id, phase) = match self.state.active.get(&f.key) {
                Some((id, _)) => (id.clone(), AnomalyPhase::Updated),
                None => (stable_id(&["log-anomaly", &f.key, f.kind, &start.to_string()]), AnomalyPhase::Started),
            };
            let mut labels = self.state.streams.get(&f.stream).map(|(l, _)| l.clone()).unwrap_or_default();
            labels.insert("kind".into(), f.kind.into());
            if let Some(t) = f.template {
                labels.insert("template_id".into(), format!("{t:016x}"));
                labels.insert("template".into(), self.template_text(t));
            }
            if let Some(e) = f.examples.first() {
                labels.insert("example".into(), e.clone());
            }
            let spread = 3.0 * f.expected.sqrt();
            let anomaly = Anomaly {
                anomaly_id: anomaly_id.clone(),
                phase,
                signal: "log".into(),
                series: f.key.replace('\u{1f}', "/"),
                labels,
                score: (1.0 - f.p).clamp(0.0, 1.0),
                observed: f.observed as f64,
                expected_low: (f.expected - spread).max(0.0),
                expected_high: f.expected + spread,
                detectors: vec![f.kind.to_string()],
                window_start: from_millis(start),
                window_end: from_millis(end),
            };
            let id = stable_id(&["log-anomaly-record", &anomaly_id, &start.to_string()]);
            let cluster = self.cluster_of(&f.stream);
            out.emit(topics::ANOMALIES, &cluster, &Envelope::new(id, SOURCE, from_millis(end), f.key.replace('\u{1f}', "/"), cluster.clone(), anomaly));
            still.insert(f.key.clone(), (anomaly_id, f.kind.to_string()));
        }
        let ended: Vec<(String, (String, String))> = self.state.active.iter().filter(|(k, _)| !still.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        for (key, (anomaly_id, kind)) in ended {
            let stream = key.split('\u{1f}').next().unwrap_or_default().to_string();
            let mut labels = self.state.streams.get(&stream).map(|(l, _)| l.clone()).unwrap_or_default();
            labels.insert("kind".into(), kind.clone());
            let anomaly = Anomaly {
                anomaly_id: anomaly_id.clone(),
                phase: AnomalyPhase::Ended,
                signal: "log".into(),
                series: key.replace('\u{1f}', "/"),
                labels,
                score: 0.0,
                observed: 0.0,
                expected_low: 0.0,
                expected_high: 0.0,
                detectors: vec![kind],
                window_start: from_millis(start),
                window_end: from_millis(end),
            };
            let id = stable_id(&["log-anomaly-record", &anomaly_id, "ended"]);
            let cluster = self.cluster_of(&stream);
            out.emit(topics::ANOMALIES, &cluster, &Envelope::new(id, SOURCE, from_millis(end), key.replace('\u{1f}', "/"), cluster.clone(), anomaly));
        }
        self.state.active = still;
        self.state.closed_through = Some(self.state.closed_through.map_or(start, |c| c.max(start)));
    }
}

/// P(X >= k) for X ~ Poisson(rate); a rate of 0 is treated as a small one so that a first
/// burst is judged, not divided by zero.
fn upper_tail(rate: f64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    match Poisson::new(rate.max(0.1)) {
        Ok(p) => p.sf(k - 1),
        Err(_) => 1.0,
    }
}

impl Operator for LogAnomaly {
    type In = LogRecord;
    const NAME: &'static str = "log-anomaly";

    fn on_event(&mut self, e: Envelope<LogRecord>, _out: &mut Collector) {
        let t = to_millis(&e.time);
        let start = t.div_euclid(self.window) * self.window;
        if self.state.closed_through.is_some_and(|c| start <= c) {
            self.state.late_lines += 1;
            return;
        }
        let mut labels = e.data.stream.clone();
        labels.insert("cluster".into(), e.cluster.clone());
        let stream = series_key("", &labels);
        self.state.streams.entry(stream.clone()).or_insert_with(|| (labels, 0));
        let mined = self.miner.add(&e.data.line);
        let template = mined.template.0;
        let key = format!("{stream}\u{1f}{template:016x}");
        let examples = self.cfg.examples;
        let c = self.state.open.entry(start).or_default().entry(key).or_insert_with(|| Count { stream, template, ..Count::default() });
        c.lines += 1;
        if is_error(e.data.level.as_deref()) {
            c.errors += 1;
        }
        c.created |= mined.change == Change::Created;
        if c.examples.len() < examples && !c.examples.contains(&e.data.line) {
            c.examples.push(e.data.line);
        }
    }

    fn on_watermark(&mut self, watermark: DateTime<Utc>, out: &mut Collector) {
        self.close_until(to_millis(&watermark), out);
    }

    fn snapshot(&self) -> Snapshot {
        let mut state = serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null);
        if let (Ok(m), Some(obj)) = (self.miner.snapshot(), state.as_object_mut()) {
            obj.insert("miner".into(), serde_json::to_value(m).unwrap_or(serde_json::Value::Null));
        }
        Snapshot { version: SNAPSHOT_VERSION, state }
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let mut state: State = snapshot.decode(SNAPSHOT_VERSION)?;
        let mut miner = TemplateMiner::new(self.cfg.miner.clone());
        if let Some(m) = state.miner.take() {
            miner.restore(m)?;
        }
        self.miner = miner;
        self.state = state;
        Ok(())
    }

    fn stats(&self) -> Vec<Stat> {
        vec![
            Stat::size("logs_templates", "Log templates the miner knows", self.miner.len() as u64),
            Stat::total("logs_lines", "Log lines the template miner read", self.miner.lines()),
            Stat::total("logs_lines_unlearnt", "Log lines that matched no template once log_anomaly.miner.max_templates was reached", self.miner.overflow()),
        ]
    }
}
