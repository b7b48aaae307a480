//! Metric anomaly detection: per-series online detectors, causal and single pass, with
//! bounded state per series, calibrated into one anomaly likelihood.
//!
//! Input: `kubesage.metrics` samples (keyed by series). Output: `kubesage.anomalies`, one
//! `started` record when an anomaly begins (confirmed: a second sample beyond the alarm
//! level before the first is forgotten, or one sample as improbable as two; a pair scores
//! its joint probability, weighed by how often the series' alarming samples come in pairs
//! anyway, `detector::Clusters`), `updated`
//! while it lasts (on a new peak, or every `update_every` samples), one `ended` record
//! when the series has been unremarkable for `end_after` samples (or went silent for
//! `idle_after`).
//!
//! Per sample, in `detector.rs`: the seasonal component is removed when the series has
//! one (`seasonal.rs`: augurs period detection and MSTL, refitted on a bounded history
//! every `refit_every` samples); the rest is judged against a robust rolling baseline
//! (`baseline.rs`) by a spike, a level-shift and a variance test whose tail
//! probabilities (statrs) are calibrated against the series' own history into one
//! likelihood (`calibrate.rs`), together with a contextual novelty test (`novelty.rs`: a
//! short sequence of quantised values the series has not shown in its recent history,
//! detector `novel_pattern`) and two record tests (`extremes.rs`: a value beyond the
//! whole range the series has shown, detector `new_extreme`; its level beyond every
//! level it has held, detector `new_level`); a deviation that persists is located as a change point
//! (augurs changepoint) and becomes the new baseline (`regime.rs`).
//!
//! Determinism: samples of one series are applied in the order they arrive and a sample
//! not newer than the series' last one is dropped (counted), so the records and their ids
//! depend only on each series' samples. Records for anomalies of series that went silent
//! are emitted when the watermark passes `last sample + idle_after`, or earlier, when the
//! series' next sample shows the gap; either way the record is the same.

pub mod baseline;
pub mod calibrate;
pub mod config;
pub mod detector;
pub mod extremes;
pub mod novelty;
pub mod regime;
pub mod seasonal;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::{Anomaly, AnomalyPhase, MetricSample};
use kubesage_schemas::topics;
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

pub use config::{AnomalyConfig, SeasonalConfig};
pub use detector::{SeriesDetector, Stack, Transition, Verdict};

use crate::peer::{membership, Membership, WindowMean};
use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::{Collector, Operator, OperatorError, Snapshot, Stat};

const SNAPSHOT_VERSION: u32 = 1;
pub const SOURCE: &str = "kubesage/operator/anomaly";
/// Output topic of the anomaly operator.
pub const OUTPUT: &str = topics::ANOMALIES;

/// One tracked series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub detector: SeriesDetector,
    /// Name and labels, kept only while an anomaly is open (its records carry them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<(String, BTreeMap<String, String>)>,
    /// Peer group membership (decided on the first sample) and the current window mean.
    #[serde(default, skip_serializing_if = "Peer::is_unknown")]
    pub peer: Peer,
    /// For a counter judged by its rate: the time and raw value of its last sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<(Millis, f64)>,
}

/// Whether a metric name is a cumulative series by Prometheus' naming conventions.
pub fn is_cumulative(name: &str) -> bool {
    ["_total", "_count", "_sum", "_bucket"].iter().any(|s| name.ends_with(s))
}

/// The per-second increase of a counter from `last` to `(time, value)`: a drop is a reset,
/// after which the counter counted up from zero (as Prometheus' `rate()` reads it). `None`
/// for a sample not after the last one.
fn counter_rate(last: (Millis, f64), time: Millis, value: f64) -> Option<f64> {
    let (t0, v0) = last;
    if time <= t0 {
        return None;
    }
    let increase = if value >= v0 { value - v0 } else { value };
    Some(increase / ((time - t0) as f64 / 1000.0))
}

/// A series' peer-group state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Peer {
    #[default]
    Unknown,
    /// In no group (no member label, or peer detection is off).
    Alone,
    Member(Box<(Membership, Option<WindowMean>)>),
}

impl Peer {
    fn is_unknown(&self) -> bool {
        *self == Peer::Unknown
    }
}

/// Counters a host may export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyCounters {
    pub samples: u64,
    /// Samples not newer than their series' last one.
    pub out_of_order: u64,
    /// NaN or infinite values (Prometheus staleness markers among them).
    pub non_finite: u64,
    /// Series forgotten because `max_series` was reached.
    pub evicted: u64,
}

pub struct AnomalyOperator {
    cfg: AnomalyConfig,
    stack: Stack,
    idle: Millis,
    peer_window: Millis,
    /// cluster -> series key -> series.
    series: BTreeMap<String, HashMap<String, Series>>,
    tracked: usize,
    watermark: Option<Millis>,
    counters: AnomalyCounters,
    /// Not state: the verdict on the last sample applied (harnesses read it).
    last: Option<Verdict>,
    /// Not state: no series can be idle before this watermark.
    next_idle_check: Millis,
}

#[derive(Serialize, Deserialize)]
struct SnapshotState {
    series: Vec<(String, String, Series)>,
    watermark: Option<Millis>,
    counters: AnomalyCounters,
}

impl AnomalyOperator {
    pub fn new(cfg: AnomalyConfig) -> Self {
        let stack = Stack::new(&cfg);
        let idle = duration_millis(cfg.idle_after).max(1);
        let peer_window = duration_millis(cfg.peer.window).max(1000);
        AnomalyOperator {
            cfg,
            stack,
            idle,
            peer_window,
            series: BTreeMap::new(),
            tracked: 0,
            watermark: None,
            counters: AnomalyCounters::default(),
            last: None,
            next_idle_check: Millis::MIN,
        }
    }

    pub fn config(&self) -> &AnomalyConfig {
        &self.cfg
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The verdict on the last sample `on_event` applied (`None` if it was dropped).
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.last
    }

    pub fn tracked_series(&self) -> usize {
        self.tracked
    }

    pub fn counters(&self) -> AnomalyCounters {
        self.counters
    }

    pub fn series(&self, cluster: &str, key: &str) -> Option<&Series> {
        self.series.get(cluster)?.get(key)
    }

    /// The `n` series with the highest open-anomaly score, for bounded-cardinality
    /// metrics: (cluster, series, score), highest first, ties by name.
    pub fn top_anomalies(&self, n: usize) -> Vec<(String, String, f64)> {
        let mut open: Vec<(String, String, f64)> = self
            .series
            .iter()
            .flat_map(|(c, m)| m.iter().filter_map(move |(k, s)| s.detector.episode.as_ref().map(|e| (c.clone(), k.clone(), e.peak_score))))
            .collect();
        open.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        open.truncate(n);
        open
    }

    /// Apply one sample of one series.
    pub fn observe(&mut self, cluster: &str, key: &str, sample: &MetricSample, time: Millis, out: &mut Collector) -> Option<Verdict> {
        self.counters.samples += 1;
        if !sample.value.is_finite() {
            self.counters.non_finite += 1;
            return None;
        }
        let idle = self.idle;
        let exists = self.series.get(cluster).is_some_and(|m| m.contains_key(key));
        if !exists {
            self.admit(cluster, key);
        }
        let stack = &self.stack;
        let series = self.series.get_mut(cluster).and_then(|m| m.get_mut(key))?;
        let mut value = sample.value;
        if self.cfg.counters_as_rates && is_cumulative(&sample.name) {
            let last = series.counter;
            if last.is_some_and(|(t0, _)| time <= t0) {
                self.counters.out_of_order += 1;
                return None;
            }
            series.counter = Some((time, sample.value));
            // The first sample of a counter has no rate yet.
            value = counter_rate(last?, time, sample.value)?;
        }
        if series.detector.samples() > 0 {
            let last = series.detector.last_time;
            if time <= last {
                self.counters.out_of_order += 1;
                return None;
            }
            if time - last > idle {
                // The series went silent: its anomaly ended then, and it starts afresh.
                Self::end_idle(cluster, key, series, idle, out);
                series.detector = SeriesDetector::new(stack);
            }
        }
        let v = series.detector.update(time, value, stack);
        if series.peer == Peer::Unknown {
            let m = if self.cfg.peer.enabled { membership(sample, &self.cfg.peer) } else { None };
            series.peer = m.map_or(Peer::Alone, |m| Peer::Member(Box::new((m, None))));
        }
        if let Peer::Member(p) = &mut series.peer {
            let (m, acc) = p.as_mut();
            if let Some(done) = WindowMean::add(acc, time, value, self.peer_window) {
                let record = done.record(m, sample, key, self.peer_window);
                let id = stable_id(&["peer-window", cluster, key, &done.start.to_string()]);
                // Stamped when the window closed (this sample's time), not at its end: the
                // record is as timely as the sample, and not late downstream (RCA reads it
                // on kubesage.signals beside alerts and events).
                out.emit(topics::PEER_WINDOWS, &m.group, &Envelope::new(id, SOURCE, from_millis(time), m.group.clone(), cluster.to_string(), record));
            }
        }
        if let Some(tr) = v.transition {
            if tr == Transition::Started {
                series.identity = Some((sample.name.clone(), sample.labels.clone()));
            }
            let phase = match tr {
                Transition::Started => AnomalyPhase::Started,
                Transition::Updated => AnomalyPhase::Updated,
                Transition::Ended => AnomalyPhase::Ended,
            };
            emit(cluster, key, series, phase, time, stack, out);
            if tr == Transition::Ended {
                series.detector.close_episode();
                series.identity = None;
            }
        }
        Some(v)
    }

    fn admit(&mut self, cluster: &str, key: &str) {
        if self.tracked >= self.cfg.max_series {
            // Forget the least recently seen series (ties by name): deterministic.
            let victim = self
                .series
                .iter()
                .flat_map(|(c, m)| m.iter().map(move |(k, s)| (s.detector.last_time, c, k)))
                .min()
                .map(|(_, c, k)| (c.clone(), k.clone()));
            if let Some((c, k)) = victim {
                if let Some(m) = self.series.get_mut(&c) {
                    m.remove(&k);
                    if m.is_empty() {
                        self.series.remove(&c);
                    }
                }
                self.tracked -= 1;
                self.counters.evicted += 1;
            }
        }
        let fresh = Series { detector: SeriesDetector::new(&self.stack), identity: None, peer: Peer::Unknown, counter: None };
        self.series.entry(cluster.to_string()).or_default().insert(key.to_string(), fresh);
        self.tracked += 1;
    }

    fn end_idle(cluster: &str, key: &str, series: &mut Series, idle: Millis, out: &mut Collector) {
        if let Some(e) = &mut series.detector.episode {
            e.revision += 1;
            let at = series.detector.last_time.saturating_add(idle);
            emit_idle(cluster, key, series, at, out);
        }
        series.detector.close_episode();
        series.identity = None;
    }
}

/// Build and emit the record of the series' open episode.
fn emit(cluster: &str, key: &str, series: &Series, phase: AnomalyPhase, time: Millis, stack: &Stack, out: &mut Collector) {
    let Some(e) = &series.detector.episode else { return };
    let (low, high) = series.detector.band(e.expected, e.scale, stack);
    push_record(cluster, key, series, phase, time, (low, high), out);
}

fn emit_idle(cluster: &str, key: &str, series: &Series, time: Millis, out: &mut Collector) {
    let Some(e) = &series.detector.episode else { return };
    push_record(cluster, key, series, AnomalyPhase::Ended, time, (e.expected - 3.0 * e.scale, e.expected + 3.0 * e.scale), out);
}

fn push_record(cluster: &str, key: &str, series: &Series, phase: AnomalyPhase, time: Millis, band: (f64, f64), out: &mut Collector) {
    let Some(e) = &series.detector.episode else { return };
    let anomaly_id = stable_id(&["anomaly", cluster, key, &e.started.to_string()]);
    let (name, labels) = series.identity.clone().unwrap_or_default();
    let mut labels = labels;
    if !name.is_empty() {
        labels.insert("__name__".to_string(), name);
    }
    let record = Anomaly {
        anomaly_id: anomaly_id.clone(),
        phase,
        signal: "metric".to_string(),
        // A counter's observed value and band are its rate: the record says so.
        series: if series.counter.is_some() { format!("rate({key})") } else { key.to_string() },
        labels,
        score: e.peak_score,
        observed: e.observed,
        expected_low: band.0,
        expected_high: band.1,
        detectors: calibrate::detector_names(e.detectors),
        window_start: from_millis(e.started),
        window_end: from_millis(time),
    };
    let id = stable_id(&["anomaly-record", &anomaly_id, &e.revision.to_string()]);
    out.emit(OUTPUT, cluster, &Envelope::new(id, SOURCE, from_millis(time), key.to_string(), cluster.to_string(), record));
}

/// Series key of a sample: `name{label="value",...}` with labels sorted (the collector's
/// envelope subject, when it is set, is the same string).
pub fn series_key(sample: &MetricSample) -> String {
    kubesage_schemas::signals::series_key(&sample.name, &sample.labels)
}

impl Operator for AnomalyOperator {
    type In = MetricSample;
    const NAME: &'static str = "anomaly";

    fn on_event(&mut self, event: Envelope<MetricSample>, out: &mut Collector) {
        let time = to_millis(&event.data.timestamp);
        let key = if event.subject.is_empty() { series_key(&event.data) } else { event.subject.clone() };
        self.last = self.observe(&event.cluster, &key, &event.data, time, out);
    }

    fn on_watermark(&mut self, watermark: DateTime<Utc>, out: &mut Collector) {
        let wm = to_millis(&watermark);
        if self.watermark.is_some_and(|w| wm <= w) {
            return;
        }
        self.watermark = Some(wm);
        if wm < self.next_idle_check {
            return;
        }
        let idle = self.idle;
        let mut next = Millis::MAX;
        let mut emptied = Vec::new();
        for (cluster, m) in &mut self.series {
            let mut gone: Vec<String> = m.iter().filter(|(_, s)| s.detector.last_time.saturating_add(idle) < wm).map(|(k, _)| k.clone()).collect();
            gone.sort();
            for k in gone {
                if let Some(mut s) = m.remove(&k) {
                    Self::end_idle(cluster, &k, &mut s, idle, out);
                    self.tracked -= 1;
                }
            }
            for s in m.values() {
                next = next.min(s.detector.last_time.saturating_add(idle));
            }
            if m.is_empty() {
                emptied.push(cluster.clone());
            }
        }
        for c in emptied {
            self.series.remove(&c);
        }
        // Series seen later only push this further out; a new series cannot be idle
        // before its first sample + idle, which is later than any watermark yet.
        self.next_idle_check = next.saturating_add(1).max(wm.saturating_add(1)).min(wm.saturating_add(idle));
    }

    fn snapshot(&self) -> Snapshot {
        let mut series: Vec<(String, String, Series)> =
            self.series.iter().flat_map(|(c, m)| m.iter().map(move |(k, s)| (c.clone(), k.clone(), s.clone()))).collect();
        series.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let state = SnapshotState { series, watermark: self.watermark, counters: self.counters };
        Snapshot::of(SNAPSHOT_VERSION, &state).unwrap_or(Snapshot { version: SNAPSHOT_VERSION, state: serde_json::Value::Null })
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let state: SnapshotState = snapshot.decode(SNAPSHOT_VERSION)?;
        self.series.clear();
        self.tracked = state.series.len();
        for (c, k, s) in state.series {
            self.series.entry(c).or_default().insert(k, s);
        }
        self.watermark = state.watermark;
        self.counters = state.counters;
        self.next_idle_check = Millis::MIN;
        self.last = None;
        Ok(())
    }

    fn stats(&self) -> Vec<Stat> {
        let c = &self.counters;
        vec![
            Stat::size("anomaly_series", "Metric series the anomaly detector holds state for", self.tracked as u64),
            Stat::total("anomaly_samples", "Metric samples the anomaly detector received", c.samples),
            Stat::total("anomaly_samples_out_of_order", "Samples dropped because they were not newer than their series' last one", c.out_of_order),
            Stat::total("anomaly_samples_non_finite", "NaN or infinite samples dropped (Prometheus staleness markers among them)", c.non_finite),
            Stat::total("anomaly_series_evicted", "Series forgotten because anomaly.max_series was reached", c.evicted),
        ]
    }
}
