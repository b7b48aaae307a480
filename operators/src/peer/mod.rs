//! Peer-group outliers: a member of a group (a pod of a workload, an instance or node of a
//! job) whose recent behaviour departs from its peers'.
//!
//! Input: `kubesage.peer.windows`, per-member window means that the metric anomaly operator
//! publishes keyed by group, so every member of a group meets in one partition. When every
//! member has moved past a window (or fell silent for `grace`), the group is judged on its
//! last `windows` aligned windows (members with a mean in each of them) by the double-MAD detector of
//! augurs (robust z-scores against the peers' median, with separate spreads below and
//! above it, so a skewed group is judged fairly). A member whose latest window is beyond
//! `threshold` is an outlier: one `started` record, `updated` when its score reaches a new
//! peak, `ended` at the first judged window where it is back among its peers (or absent).
//!
//! Determinism: completeness is decided by the members' own progress (each member's
//! windows arrive in order), so the records do not depend on how the members' partitions
//! interleave; the watermark only gives up on silent members. A window record arriving
//! after its window was judged is counted as late and dropped.

pub mod config;
pub mod group;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use augurs::outlier::{MADDetector, OutlierDetector};
use chrono::{DateTime, Utc};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::signals::{Anomaly, AnomalyPhase, PeerWindow};
use kubesage_schemas::{topics, Envelope};
use serde::{Deserialize, Serialize};
use statrs::function::erf::erf;

pub use config::PeerConfig;
pub use group::{membership, workload_of_pod, Membership, WindowMean};

use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::{Collector, Operator, OperatorError, Snapshot, Stat};

const SNAPSHOT_VERSION: u32 = 1;
const UNHEARD: Millis = Millis::MIN;
const SOURCE: &str = "kubesage/operator/peer";
pub const DETECTOR: &str = "peer_mad";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Group {
    name: String,
    labels: BTreeMap<String, String>,
    /// Window start -> member -> (series, mean).
    windows: BTreeMap<Millis, BTreeMap<String, (String, f64)>>,
    /// Windows up to this start have been judged.
    judged_through: Option<Millis>,
    /// Latest window start each member reported. A member's windows arrive in order (one
    /// task emits them, to one partition), so a later one means its earlier ones are in.
    #[serde(default)]
    progress: BTreeMap<String, Millis>,
    /// Processing time (tick) each member was last heard from; `UNHEARD` until the next
    /// tick stamps it. Reset on restore: a restart is not a member's silence.
    #[serde(default)]
    heard: BTreeMap<String, Millis>,
    episodes: BTreeMap<String, Episode>,
    last_update: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Episode {
    anomaly_id: String,
    series: String,
    started: Millis,
    peak: f64,
    revision: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCounters {
    pub windows: u64,
    pub late: u64,
    pub judged: u64,
    pub evicted_groups: u64,
}

pub struct PeerOutliers {
    cfg: PeerConfig,
    window: Millis,
    grace: Millis,
    /// Latest processing-time tick (not state).
    now: Option<Millis>,
    /// (cluster, group) -> state.
    groups: BTreeMap<(String, String), Group>,
    counters: PeerCounters,
}

#[derive(Serialize, Deserialize)]
struct State {
    groups: Vec<((String, String), Group)>,
    counters: PeerCounters,
}

/// One member's verdict in one judged window.
struct Judged {
    member: String,
    series: String,
    mean: f64,
    z: f64,
    band: (f64, f64),
}

impl PeerOutliers {
    pub fn new(cfg: PeerConfig) -> Self {
        let window = duration_millis(cfg.window).max(1000);
        let grace = duration_millis(cfg.grace);
        PeerOutliers { cfg, window, grace, now: None, groups: BTreeMap::new(), counters: PeerCounters::default() }
    }

    pub fn counters(&self) -> PeerCounters {
        self.counters
    }

    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Judge window `start` of a group against its last `windows` windows.
    fn judge(cfg: &PeerConfig, g: &Group, start: Millis, window: Millis) -> Vec<Judged> {
        let first = start - (cfg.windows as Millis - 1) * window;
        let span: Vec<&BTreeMap<String, (String, f64)>> = g.windows.range(first..=start).map(|(_, m)| m).collect();
        if span.len() < cfg.windows || !g.windows.contains_key(&start) {
            return Vec::new();
        }
        let Some(latest) = span.last() else { return Vec::new() };
        // Members with a mean in every window of the span, in name order.
        let members: Vec<(&String, &String)> = latest.iter().filter(|(m, _)| span.iter().all(|w| w.contains_key(*m))).map(|(m, (s, _))| (m, s)).collect();
        if members.len() < cfg.min_members {
            return Vec::new();
        }
        let rows: Vec<Vec<f64>> = members.iter().map(|(m, _)| span.iter().map(|w| w.get(*m).map_or(f64::NAN, |v| v.1)).collect()).collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let detector = MADDetector::with_threshold(cfg.threshold);
        // A group whose members are all alike (zero spread) has no outlier.
        let Ok(output) = detector.preprocess(&refs).and_then(|p| detector.detect(&p)) else { return Vec::new() };
        let last = cfg.windows - 1;
        let band = output.cluster_band.as_ref().map_or((f64::NEG_INFINITY, f64::INFINITY), |b| (b.min.get(last).copied().unwrap_or(f64::NEG_INFINITY), b.max.get(last).copied().unwrap_or(f64::INFINITY)));
        members
            .iter()
            .zip(&output.series_results)
            .zip(&rows)
            .map(|(((m, s), r), row)| Judged { member: (*m).clone(), series: (*s).clone(), mean: row[last], z: r.scores.get(last).copied().filter(|z| z.is_finite()).unwrap_or(0.0), band })
            .collect()
    }

    fn close(&mut self, key: &(String, String), start: Millis, out: &mut Collector) {
        let (cfg, window) = (&self.cfg, self.window);
        let Some(g) = self.groups.get_mut(key) else { return };
        let judged = Self::judge(cfg, g, start, window);
        self.counters.judged += 1;
        let end = start + window;
        let mut outlying: BTreeMap<String, &Judged> = BTreeMap::new();
        for j in &judged {
            if j.z > cfg.threshold {
                outlying.insert(j.member.clone(), j);
            }
        }
        for (member, j) in &outlying {
            let likelihood = erf(j.z / std::f64::consts::SQRT_2);
            let (phase, episode) = match g.episodes.get_mut(member) {
                Some(e) if j.z > e.peak => {
                    e.peak = j.z;
                    e.revision += 1;
                    (AnomalyPhase::Updated, e.clone())
                }
                Some(_) => continue,
                None => {
                    let e = Episode { anomaly_id: stable_id(&["peer", &key.0, &key.1, member, &start.to_string()]), series: j.series.clone(), started: start, peak: j.z, revision: 0 };
                    g.episodes.insert(member.clone(), e.clone());
                    (AnomalyPhase::Started, e)
                }
            };
            emit(key, g, member, &episode, phase, (j.mean, likelihood, j.band), end, out);
        }
        let ended: Vec<String> = g.episodes.keys().filter(|m| !outlying.contains_key(*m)).cloned().collect();
        for member in ended {
            if let Some(mut e) = g.episodes.remove(&member) {
                e.revision += 1;
                let seen = judged.iter().find(|j| j.member == member);
                let (mean, band) = seen.map_or((f64::NAN, (f64::NAN, f64::NAN)), |j| (j.mean, j.band));
                emit(key, g, &member, &e, AnomalyPhase::Ended, (mean, 0.0, band), end, out);
            }
        }
        g.judged_through = Some(start);
        let keep_from = start - (cfg.windows as Millis - 2) * window;
        g.windows.retain(|&s, _| s >= keep_from);
        // Members that left (no window in the span) stop being waited for.
        g.progress.retain(|_, &mut latest| latest >= keep_from - window);
        let progress = &g.progress;
        g.heard.retain(|m, _| progress.contains_key(m));
    }

    /// Judge the group's windows that are complete, oldest first. Window `w` is complete
    /// when every member that reported `w` or the window before it has reported a later
    /// one, or has not been heard from for `grace` of processing time. The windows of one
    /// group come from many partitions at different speeds (a backlog after a restart
    /// spreads them over many minutes of event time), so no watermark can tell.
    fn judge_ready(&mut self, key: &(String, String), out: &mut Collector) {
        let (window, grace, now) = (self.window, self.grace, self.now);
        loop {
            let Some(g) = self.groups.get(key) else { return };
            let next = g.windows.keys().copied().find(|&s| g.judged_through.is_none_or(|j| s > j));
            let Some(w) = next else { return };
            let gone = |m: &String| {
                let heard = g.heard.get(m).copied().unwrap_or(UNHEARD);
                heard != UNHEARD && now.is_some_and(|n| n - heard >= grace)
            };
            let waiting = g.progress.iter().any(|(m, &latest)| latest >= w - window && latest <= w && !gone(m));
            if waiting {
                return;
            }
            self.close(key, w, out);
        }
    }

    fn evict_if_full(&mut self) {
        if self.groups.len() < self.cfg.max_groups {
            return;
        }
        let victim = self.groups.iter().min_by_key(|(k, g)| (g.last_update, (*k).clone())).map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.groups.remove(&k);
            self.counters.evicted_groups += 1;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(key: &(String, String), g: &Group, member: &str, e: &Episode, phase: AnomalyPhase, seen: (f64, f64, (f64, f64)), end: Millis, out: &mut Collector) {
    let (observed, score, band) = seen;
    let mut labels = g.labels.clone();
    labels.insert("__name__".into(), g.name.clone());
    labels.insert("peer_group".into(), key.1.clone());
    labels.insert("peer_member".into(), member.to_string());
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let record = Anomaly {
        anomaly_id: e.anomaly_id.clone(),
        phase,
        signal: "metric".into(),
        series: e.series.clone(),
        labels,
        score,
        observed: finite(observed),
        expected_low: finite(band.0),
        expected_high: finite(band.1),
        detectors: vec![DETECTOR.to_string()],
        window_start: from_millis(e.started),
        window_end: from_millis(end),
    };
    let id = stable_id(&["peer-record", &e.anomaly_id, &e.revision.to_string()]);
    out.emit(topics::ANOMALIES, &key.0, &Envelope::new(id, SOURCE, from_millis(end), e.series.clone(), key.0.clone(), record));
}

impl Operator for PeerOutliers {
    type In = PeerWindow;
    const NAME: &'static str = "peer";

    fn on_event(&mut self, e: Envelope<PeerWindow>, out: &mut Collector) {
        let start = to_millis(&e.data.window_start);
        let key = (e.cluster.clone(), e.data.group.clone());
        if !e.data.mean.is_finite() || self.groups.get(&key).and_then(|g| g.judged_through).is_some_and(|j| start <= j) {
            self.counters.late += 1;
            return;
        }
        if !self.groups.contains_key(&key) {
            self.evict_if_full();
        }
        self.counters.windows += 1;
        let g = self.groups.entry(key.clone()).or_insert_with(|| Group { name: e.data.name.clone(), labels: e.data.labels.clone(), ..Group::default() });
        g.last_update = g.last_update.max(start);
        let latest = g.progress.entry(e.data.member.clone()).or_insert(start);
        *latest = (*latest).max(start);
        g.heard.insert(e.data.member.clone(), self.now.unwrap_or(UNHEARD));
        g.windows.entry(start).or_default().insert(e.data.member, (e.data.series, e.data.mean));
        self.judge_ready(&key, out);
    }

    /// Event time plays no part in when windows are judged (see `judge_ready`).
    fn on_watermark(&mut self, _watermark: DateTime<Utc>, _out: &mut Collector) {}

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Collector) {
        let now = to_millis(&now);
        self.now = Some(now);
        for g in self.groups.values_mut() {
            for heard in g.heard.values_mut().filter(|h| **h == UNHEARD) {
                *heard = now;
            }
        }
        let keys: Vec<(String, String)> = self.groups.keys().cloned().collect();
        for key in &keys {
            self.judge_ready(key, out);
        }
        // Groups none of whose members was heard from for twice `grace`: their open outliers
        // end, their state goes.
        let idle: Vec<(String, String)> =
            self.groups.iter().filter(|(_, g)| g.heard.values().all(|&h| h != UNHEARD && now - h >= 2 * self.grace)).map(|(k, _)| k.clone()).collect();
        for key in idle {
            if let Some(mut g) = self.groups.remove(&key) {
                let end = g.last_update + self.window;
                for (member, mut e) in std::mem::take(&mut g.episodes) {
                    e.revision += 1;
                    emit(&key, &g, &member, &e, AnomalyPhase::Ended, (f64::NAN, 0.0, (f64::NAN, f64::NAN)), end, out);
                }
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let state = State { groups: self.groups.iter().map(|(k, g)| (k.clone(), g.clone())).collect(), counters: self.counters };
        Snapshot::of(SNAPSHOT_VERSION, &state).unwrap_or(Snapshot { version: SNAPSHOT_VERSION, state: serde_json::Value::Null })
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let state: State = snapshot.decode(SNAPSHOT_VERSION)?;
        self.groups = state.groups.into_iter().collect();
        self.counters = state.counters;
        // A restart is not silence: every member counts as heard from at the next tick.
        for g in self.groups.values_mut() {
            g.heard.values_mut().for_each(|h| *h = UNHEARD);
        }
        Ok(())
    }

    fn stats(&self) -> Vec<Stat> {
        let c = &self.counters;
        vec![
            Stat::size("peer_groups", "Peer groups (pods of a workload, nodes of a pool) being compared", self.groups.len() as u64),
            Stat::total("peer_windows", "Member window means the peer comparison received", c.windows),
            Stat::total("peer_windows_late", "Member window means dropped: not finite, or for a window already judged", c.late),
            Stat::total("peer_judgements", "Group windows judged", c.judged),
            Stat::total("peer_groups_evicted", "Peer groups forgotten because anomaly.peer.max_groups was reached", c.evicted_groups),
        ]
    }
}
