//! The RCA operator: for each incident the correlator opens or materially updates, an RCA
//! report on `kubesage.rca` — candidate root causes ranked by [`rank_with_states`] (the
//! ranking the benchmarks measure) with the evidence that put each there.
//!
//! It runs chained after the correlator in one operator ([`CorrelateWithRca`]) over the
//! cluster-keyed `kubesage.signals` and reads, right after each event-time boundary `b`,
//! what the correlator knows as of `b`: the graph, the firing alerts and Warning events it
//! placed on components (members of live incidents), and the incident records it published
//! at `b`. What the correlator does not keep, RCA keeps itself, compacted to the latest
//! record of each anomaly: the anomaly records (score, onset, observed value and band) and
//! change events (rollouts, scaling, node events). A report uses exactly the records with
//! time < `b`, so it is as deterministic as the incident itself: its id is derived from the
//! incident id and revision, and replays produce the same report.
//!
//! A report is published when an incident first has candidates and whenever its ranking
//! changes (the first [`RcaOperatorConfig::material_top`] candidates or the symptoms); a
//! revision that changes neither publishes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::signals::{Anomaly, AnomalyPhase, PeerWindow};
use kubesage_schemas::topics;
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

use super::config::RcaConfig;
use super::evidence::{band_z, states, Finding};
use super::history;
use super::rank::{rank_with_states, ranking_states, Change, Component, ComponentState, Problem};
use super::signal::SignalKind;
use crate::correlation::signal::{call_nodes, component_of_call_node, component_of_labels, place, ClassCache, FailureClass, SignalKind as PlacedKind};
use crate::correlation::{ActiveMember, CorrelationConfig, Correlator, Signal, View};
use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::topology::{key, node_key, split_key, Topology};
use crate::{Collector, ConfigIssue, Operator, OperatorError, Snapshot, Stat};

const SNAPSHOT_VERSION: u32 = 1;
pub const SOURCE: &str = "kubesage/operator/rca";
/// Output topic of the RCA operator.
pub const OUTPUT: &str = topics::RCA;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RcaOperatorConfig {
    /// Publish RCA reports (off: the correlator runs alone).
    pub enabled: bool,
    /// Evidence older than this (event time) before a report is not looked at, and is
    /// forgotten.
    #[serde(with = "humantime_serde")]
    pub evidence_window: Duration,
    /// Evidence records (anomaly and change records, about 1 KB each in the checkpoint)
    /// kept per cluster; the oldest go first.
    pub max_evidence_per_cluster: usize,
    /// Components in one problem (symptoms, components with evidence, their dependencies).
    pub max_components: usize,
    /// Series per cluster whose window means (`kubesage.peer.windows`) RCA keeps over the
    /// evidence window, to rank components by how far their windows moved (see
    /// `rca::history`); 0: rank from anomaly records, alerts and events only. Each costs
    /// about 0.86 KB in the `correlate` checkpoint (an hour of one-minute means), which is
    /// one Kafka record: beyond the default, raise `kafka.options."message.max.bytes"` and
    /// the checkpoint topic's `max.message.bytes` with it.
    pub window_series: usize,
    /// While an incident is open, it is ranked again this often (event time) as its
    /// components' windows come in, and a new report published when the ranking changed;
    /// 0: only when the incident itself changes. For at most `evidence_window` after the
    /// incident's last record.
    #[serde(with = "humantime_serde")]
    pub rerank_every: Duration,
    /// Probability that a component with a firing alert is abnormal.
    pub alert_abnormal: f64,
    /// Probability that a component with a Warning Kubernetes event is abnormal.
    pub event_abnormal: f64,
    /// Event reasons that are changes (rollouts, scaling, node reboots), not failures.
    pub change_reasons: Vec<String>,
    /// Components in the graph without any evidence are watched and normal (the
    /// detectors run over every series and said nothing); off: they are unobserved.
    pub silent_is_healthy: bool,
    /// A revision whose first this-many candidates (and symptoms) are unchanged publishes
    /// no new report.
    pub material_top: usize,
    /// The ranking itself (the same settings the benchmarks use).
    pub ranking: RcaConfig,
}

impl Default for RcaOperatorConfig {
    fn default() -> Self {
        RcaOperatorConfig {
            enabled: true,
            evidence_window: Duration::from_secs(60 * 60),
            max_evidence_per_cluster: 500,
            max_components: 2_000,
            window_series: 1_000,
            rerank_every: Duration::from_secs(60),
            alert_abnormal: 0.9,
            event_abnormal: 0.8,
            change_reasons: ["ScalingReplicaSet", "SuccessfulRescale", "Rebooted", "NodeNotReady", "NodeNotSchedulable", "Drain", kubesage_schemas::k8s::CONFIG_CHANGED, "Updated"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            silent_is_healthy: true,
            material_top: 3,
            ranking: RcaConfig::default(),
        }
    }
}

impl RcaOperatorConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = self.ranking.validate(&format!("{prefix}.ranking"));
        let p = |f: &str| format!("{prefix}.{f}");
        if self.evidence_window.is_zero() {
            issues.push(ConfigIssue::new(p("evidence_window"), "must be greater than 0"));
        }
        for (name, v) in [("max_evidence_per_cluster", self.max_evidence_per_cluster), ("max_components", self.max_components), ("material_top", self.material_top)] {
            if v == 0 {
                issues.push(ConfigIssue::new(p(name), "must be at least 1"));
            }
        }
        for (name, v) in [("alert_abnormal", self.alert_abnormal), ("event_abnormal", self.event_abnormal)] {
            if !(v > 0.0 && v < 1.0) {
                issues.push(ConfigIssue::new(p(name), "must be a probability strictly between 0 and 1"));
            }
        }
        issues
    }
}

/// Evidence of one cluster keyed by (event time, id); a list of records on the wire
/// (JSON maps need string keys).
type Log = BTreeMap<(Millis, String), Envelope<Signal>>;

mod log_as_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(clusters: &BTreeMap<String, Log>, s: S) -> Result<S::Ok, S::Error> {
        let lists: BTreeMap<&String, Vec<&Envelope<Signal>>> = clusters.iter().map(|(c, log)| (c, log.values().collect())).collect();
        lists.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Log>, D::Error> {
        let lists: BTreeMap<String, Vec<Envelope<Signal>>> = BTreeMap::deserialize(d)?;
        Ok(lists.into_iter().map(|(c, list)| (c, list.into_iter().map(|e| ((to_millis(&e.time), e.id.clone()), e)).collect())).collect())
    }
}

/// What the operator keeps: per cluster, the evidence log.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    #[serde(with = "log_as_list")]
    clusters: BTreeMap<String, Log>,
    /// Incident id -> ranking signature of its last published report.
    published: BTreeMap<String, Vec<String>>,
    /// Evidence dropped by the per-cluster bound.
    dropped: u64,
    /// Per cluster, the window means of its series (a snapshot without them starts empty).
    #[serde(default)]
    windows: BTreeMap<String, history::Histories>,
    /// Window means not kept because `window_series` series were kept already.
    #[serde(default)]
    windows_dropped: u64,
    /// Incident id -> its latest record and when it was last ranked, while it is open.
    #[serde(default)]
    open: BTreeMap<String, (Envelope<Incident>, Millis)>,
    /// Window means by record time, taken into `windows` at the first boundary after it
    /// (a report at `b` sees exactly the windows with time < `b`).
    #[serde(default)]
    pending: BTreeMap<Millis, Vec<(String, PeerWindow)>>,
}

/// RCA over the incidents of a correlator it is chained to.
pub struct Rca {
    cfg: RcaOperatorConfig,
    state: State,
}

impl Rca {
    pub fn new(cfg: RcaOperatorConfig) -> Self {
        Rca { cfg, state: State::default() }
    }

    /// Evidence records dropped by `max_evidence_per_cluster`.
    pub fn dropped(&self) -> u64 {
        self.state.dropped
    }

    /// Window means not kept because `window_series` was reached.
    pub fn windows_dropped(&self) -> u64 {
        self.state.windows_dropped
    }

    /// Keep an anomaly record or a change event as evidence (the correlator keeps the
    /// alerts, events and graph).
    pub fn observe(&mut self, e: &Envelope<Signal>) {
        let keep = match &e.data {
            Signal::Anomaly(_) => true,
            Signal::Event(ev) => self.cfg.change_reasons.iter().any(|r| r == &ev.reason),
            Signal::Window(w) => {
                if self.wants(w) {
                    self.state.pending.entry(to_millis(&e.time)).or_default().push((e.cluster.clone(), w.clone()));
                }
                false
            }
            Signal::Alert(_) | Signal::Topology(_) => false,
        };
        if !self.cfg.enabled || !keep {
            return;
        }
        let log = self.state.clusters.entry(e.cluster.clone()).or_default();
        log.insert((to_millis(&e.time), e.id.clone()), e.clone());
        if log.len() > self.cfg.max_evidence_per_cluster {
            // Under pressure, superseded anomaly records and repeated changes go before
            // distinct ones.
            compact(log, Millis::MAX);
            thin_changes(log);
        }
        while log.len() > self.cfg.max_evidence_per_cluster {
            log.pop_first();
            self.state.dropped += 1;
        }
    }

    /// A window mean RCA keeps (see `history::kind`).
    pub fn wants(&self, w: &PeerWindow) -> bool {
        self.cfg.enabled && self.cfg.window_series > 0 && history::kind(&w.name).is_some()
    }

    /// After the correlator processed boundary `b`: report on the incident records it
    /// published there (`out.items()[from..]`), then forget evidence no later report needs.
    pub fn after_boundary(&mut self, b: Millis, view: &View<'_>, out: &mut Collector, from: usize) {
        if !self.cfg.enabled {
            return;
        }
        let horizon = b.saturating_sub(duration_millis(self.cfg.evidence_window));
        // The window means before `b`, in time order; then the history as of `b`.
        let later = self.state.pending.split_off(&b);
        for (_, list) in std::mem::replace(&mut self.state.pending, later) {
            for (cluster, w) in list {
                let kept = history::keep(self.state.windows.entry(cluster).or_default(), &w, self.cfg.window_series, horizon);
                self.state.windows_dropped += u64::from(!kept);
            }
        }
        for h in self.state.windows.values_mut() {
            history::prune(h, horizon);
        }
        self.state.windows.retain(|_, h| !h.is_empty());
        let incidents: Vec<Envelope<Incident>> =
            out.items()[from.min(out.len())..].iter().filter(|e| e.topic == topics::INCIDENTS).filter_map(|e| serde_json::from_slice(&e.payload).ok()).collect();
        let State { clusters, published, windows, open, .. } = &mut self.state;
        // Incidents that changed at `b`, then open ones due to be ranked again as their
        // windows come in.
        let mut incidents: Vec<(Envelope<Incident>, bool)> = incidents.into_iter().map(|e| (e, false)).collect();
        for (inc, _) in &incidents {
            if is_over(&inc.data) {
                open.remove(&inc.data.incident_id);
            } else {
                open.insert(inc.data.incident_id.clone(), (inc.clone(), b));
            }
        }
        open.retain(|_, (inc, _)| to_millis(&inc.time) >= horizon);
        let every = duration_millis(self.cfg.rerank_every);
        if every > 0 {
            for (inc, last) in open.values_mut() {
                if b - *last >= every && windows.contains_key(&inc.cluster) {
                    *last = b;
                    incidents.push((inc.clone(), true));
                }
            }
        }
        // The evidence of a cluster is placed once for all its incidents at this boundary.
        let mut placed: BTreeMap<&str, Placement<'_>> = BTreeMap::new();
        let mut classes = ClassCache::default();
        for (inc, again) in &incidents {
            let id = &inc.data.incident_id;
            if is_over(&inc.data) {
                published.remove(id);
                continue;
            }
            let placement = placed.entry(inc.cluster.as_str()).or_insert_with(|| {
                let evidence: Vec<&Envelope<Signal>> = clusters.get(&inc.cluster).map(|log| log.range((horizon, String::new())..(b, String::new())).map(|(_, e)| e).collect()).unwrap_or_default();
                let mut placement = place_evidence(&inc.cluster, &evidence, view);
                placement.series = place_series(&inc.cluster, windows.get(&inc.cluster), view);
                placement
            });
            // Alerts of the incident that fired and resolved still say where it was abnormal:
            // a root cause recovering before its victims must not hand the ranking to them.
            let resolved: Vec<ResolvedAlert> = inc
                .data
                .alerts
                .iter()
                .filter(|a| a.status == AlertStatus::Resolved && a.inhibited_by.is_none())
                .filter_map(|a| {
                    let (component, class) = view.place_alert(&inc.cluster, a, &mut classes)?;
                    Some(ResolvedAlert { member: a.fingerprint.clone(), component, class, name: a.alertname.clone(), starts_at: to_millis(&a.starts_at) })
                })
                .collect();
            let at = BuildAt { b, lookback: duration_millis(view.config.session_gap) };
            let built = build(&inc.cluster, &inc.data, placement, &resolved, view.topology, &self.cfg, at);
            let ranked = rank_with_states(&built.problem, &built.states, &self.cfg.ranking);
            if ranked.is_empty() {
                continue; // nothing placed on any component yet: nothing to say
            }
            let mut report = super::report(id, &built.problem, &ranked);
            report.incident_revision = inc.data.revision;
            let mut signature: Vec<String> = report.candidates.iter().take(self.cfg.material_top).map(|c| c.component.clone()).collect();
            signature.push("|".into());
            signature.extend(report.symptoms.iter().cloned());
            if published.get(id) == Some(&signature) {
                continue;
            }
            published.insert(id.clone(), signature);
            let revision = inc.data.revision.to_string();
            let (rid, at) = if *again { (stable_id(&["rca", id, &revision, "at", &b.to_string()]), from_millis(b)) } else { (stable_id(&["rca", id, &revision]), inc.time) };
            out.emit(OUTPUT, &inc.cluster, &Envelope::new(rid, SOURCE, at, id.clone(), inc.cluster.clone(), report));
        }
        drop(placed);
        for log in clusters.values_mut() {
            while log.first_key_value().is_some_and(|((t, _), _)| *t < horizon) {
                log.pop_first();
            }
            compact(log, b);
        }
        clusters.retain(|_, log| !log.is_empty());
    }

    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }

    fn restore_value(&mut self, v: serde_json::Value) -> Result<(), OperatorError> {
        self.state = if v.is_null() { State::default() } else { serde_json::from_value(v).map_err(|e| OperatorError::Snapshot(e.to_string()))? };
        Ok(())
    }
}

/// An incident nothing more is reported on: resolved, or merged into another.
fn is_over(inc: &Incident) -> bool {
    inc.status == IncidentStatus::Resolved || inc.merged_into.is_some()
}

/// Keep, of the records before `b` (every later report starts after it), only the latest
/// record of each anomaly while it lasted, and its end: the log stays as small as what
/// happened in the window. An anomaly that ended stays (until it leaves the window): a
/// persistent fault ends as an anomaly once the detector takes its level as the new
/// regime, yet it is still the incident's cause; the end record alone would not say how
/// abnormal it was (its band is the new regime's).
fn compact(log: &mut Log, b: Millis) {
    keep_latest(log, b, |e| match &e.data {
        Signal::Anomaly(a) => Some(format!("{}/{}", a.anomaly_id, a.phase == AnomalyPhase::Ended)),
        _ => None,
    });
}

/// Keep only the latest change event of each object and reason (a ConfigMap a controller
/// keeps rewriting, a workload scaled again and again).
fn thin_changes(log: &mut Log) {
    keep_latest(log, Millis::MAX, |e| match &e.data {
        Signal::Event(ev) => Some(format!("{}/{}/{}/{}", ev.regarding.kind, ev.regarding.namespace, ev.regarding.name, ev.reason)),
        _ => None,
    });
}

/// Of the records before `b` that `key` names, drop all but the latest of each key.
fn keep_latest(log: &mut Log, b: Millis, key: impl Fn(&Envelope<Signal>) -> Option<String>) {
    let mut latest: BTreeMap<String, (Millis, String)> = BTreeMap::new();
    let mut drop = Vec::new();
    for (k, e) in log.range(..(b, String::new())) {
        if let Some(old) = key(e).and_then(|name| latest.insert(name, k.clone())) {
            drop.push(old);
        }
    }
    for k in drop {
        log.remove(&k);
    }
}

/// A problem with the states of its components.
pub struct Built {
    pub problem: Problem,
    pub states: Vec<super::rank::ComponentState>,
}

struct Components {
    ids: BTreeMap<String, usize>,
    list: Vec<String>,
    max: usize,
}

impl Components {
    fn get(&mut self, c: &str) -> Option<usize> {
        if let Some(&i) = self.ids.get(c) {
            return Some(i);
        }
        if self.list.len() >= self.max {
            return None;
        }
        self.ids.insert(c.to_string(), self.list.len());
        self.list.push(c.to_string());
        Some(self.list.len() - 1)
    }
}

fn kind_of_class(c: FailureClass) -> SignalKind {
    match c {
        FailureClass::Latency => SignalKind::Latency,
        FailureClass::Errors => SignalKind::ErrorRatio,
        FailureClass::Resource => SignalKind::Saturation,
        FailureClass::Node | FailureClass::Availability | FailureClass::Other => SignalKind::Other,
    }
}

fn fmt_time(ms: Millis) -> String {
    from_millis(ms).format("%H:%M:%S").to_string()
}

/// The components a change event is about: a Node; for a ConfigMap or Secret, every
/// workload whose Pods read it (none when no known Pod reads it); else the owner root.
fn changed_components(cluster: &str, kind: &str, ns: &str, name: &str, topo: &Topology) -> Vec<String> {
    match kind {
        "Node" => vec![node_key(name)],
        "ConfigMap" | "Secret" => topo.roots_using(cluster, &key(kind, ns, name)),
        _ => vec![topo.owner_root(cluster, &key(kind, ns, name))],
    }
}

/// One piece of placed evidence.
/// An alert of the incident that fired and has resolved, where it was placed.
pub struct ResolvedAlert {
    pub member: String,
    pub component: String,
    pub class: FailureClass,
    pub name: String,
    pub starts_at: Millis,
}

enum Evidence<'a> {
    /// An anomaly that has ended (its latest record while it lasted, and when it ended).
    Ended(&'a Anomaly, Millis),
    /// A firing alert or Warning event the correlator placed.
    Member(ActiveMember<'a>),
    /// The latest record of an anomaly, placed here.
    Anomaly(&'a Anomaly),
}

/// One cluster's evidence before a boundary, placed on the graph as of that boundary.
pub struct Placement<'a> {
    /// Member id -> evidence, in member order.
    evidence: BTreeMap<String, (String, Evidence<'a>)>,
    /// `(component, at, what)` of change events.
    changes: Vec<(String, Millis, String)>,
    nodes_of_root: BTreeMap<String, BTreeSet<String>>,
    /// Component -> the kept window histories of the series placed on it.
    series: BTreeMap<String, Vec<&'a history::History>>,
}

/// Place the evidence of `cluster`: the correlator's firing members (alerts, events) and
/// the anomaly records and change events RCA kept (in time order).
pub fn place_evidence<'a>(cluster: &'a str, records: &[&'a Envelope<Signal>], view: &View<'a>) -> Placement<'a> {
    let topo = view.topology;
    let mut classes = ClassCache::default();
    let mut evidence: BTreeMap<String, (String, Evidence<'a>)> = BTreeMap::new();
    for m in view.active_members(cluster).filter(|m| m.kind != PlacedKind::Anomaly) {
        evidence.insert(m.member.to_string(), (m.component.to_string(), Evidence::Member(m)));
    }
    let mut changes = Vec::new();
    for &e in records {
        match &e.data {
            Signal::Event(ev) => {
                let r = &ev.regarding;
                let what = if ev.note.is_empty() { ev.reason.clone() } else { format!("{}: {}", ev.reason, ev.note) };
                for component in changed_components(cluster, &r.kind, &r.namespace, &r.name, topo) {
                    changes.push((component, to_millis(&ev.observed_at), what.clone()));
                }
            }
            Signal::Anomaly(a) => {
                let Some(p) = place(e, topo, view.config, &mut classes) else { continue };
                let Some(c) = p.component.clone() else { continue };
                if a.phase != AnomalyPhase::Ended {
                    evidence.insert(p.member.clone(), (c, Evidence::Anomaly(a)));
                } else if let Some((_, Evidence::Anomaly(last))) = evidence.remove(&p.member) {
                    // `build` decides whether it still bears on an incident.
                    evidence.insert(p.member.clone(), (c, Evidence::Ended(last, to_millis(&a.window_end))));
                }
            }
            Signal::Alert(_) | Signal::Topology(_) | Signal::Window(_) => {}
        }
    }
    Placement { evidence, changes, nodes_of_root: nodes_of_roots(cluster, topo), series: BTreeMap::new() }
}

/// The kept series of a cluster on the components they are about.
fn place_series<'a>(cluster: &str, histories: Option<&'a history::Histories>, view: &View<'_>) -> BTreeMap<String, Vec<&'a history::History>> {
    let mut out: BTreeMap<String, Vec<&history::History>> = BTreeMap::new();
    let mut classes = ClassCache::default();
    for h in histories.into_iter().flat_map(|h| h.values()) {
        if let Some(c) = component_of_labels(cluster, &h.labels, view.topology, view.config, &mut classes) {
            out.entry(c).or_default().push(h);
        }
    }
    out
}

/// Build the problem of one incident from its cluster's placed evidence: components
/// (symptoms, everything with evidence, their nodes, the workloads their Services select,
/// their call-graph dependencies), dependency edges, findings, changes and onset.
/// The windows of the series placed on a component are scored as the benchmarks score
/// samples, split where the fault began (`fault_onset`), using the windows ended by `b`.
pub fn build(cluster: &str, inc: &Incident, placement: &Placement<'_>, resolved: &[ResolvedAlert], topo: &Topology, cfg: &RcaOperatorConfig, at: BuildAt) -> Built {
    let BuildAt { b, lookback } = at;
    let mut comps = Components { ids: BTreeMap::new(), list: Vec::new(), max: cfg.max_components.max(1) };
    let members: BTreeSet<&str> = inc.alerts.iter().map(|a| a.fingerprint.as_str()).collect();
    let mut symptoms = BTreeSet::new();
    if let Some(c) = &inc.component {
        symptoms.extend(comps.get(c));
    }
    let mut findings = Vec::new();
    // Alerts and events (also in `findings`): they stay in a windowed component's evidence.
    let mut member_findings = Vec::new();
    let tolerance = duration_millis(cfg.ranking.onset_tolerance);
    for (member, (component, ev)) in &placement.evidence {
        // An anomaly over before the incident began is no evidence about it.
        if let Evidence::Ended(_, ended) = ev {
            if *ended < to_millis(&inc.started_at) - tolerance {
                continue;
            }
        }
        let Some(i) = comps.get(component) else { continue };
        if members.contains(member.as_str()) {
            symptoms.insert(i);
        }
        let finding = match ev {
            Evidence::Anomaly(a) | Evidence::Ended(a, _) => {
                let metric = a.labels.get("__name__").map(String::as_str).unwrap_or(&a.series);
                let kind = SignalKind::from_metric_name(metric);
                let z = band_z(kind, a.observed, a.expected_low, a.expected_high);
                let abnormal = if z.is_some_and(|z| z < 0.0) { 0.0 } else { a.score.clamp(0.0, 1.0) };
                let mid = (a.expected_low + a.expected_high) / 2.0;
                let latency_delta = (kind == SignalKind::Latency && z.is_some()).then_some(a.observed - mid);
                let onset = to_millis(&a.window_start);
                let band = if z.is_some() { format!(" against [{:.3}, {:.3}]", a.expected_low, a.expected_high) } else { String::new() };
                let ended = if let Evidence::Ended(_, at) = ev { format!(", ended {}", fmt_time(*at)) } else { String::new() };
                let note = format!(
                    "anomaly {metric}: {:.3}{band} (score {:.2}, {}) since {}{ended}",
                    a.observed,
                    a.score,
                    if a.detectors.is_empty() { a.signal.clone() } else { a.detectors.join("+") },
                    fmt_time(onset)
                );
                Finding { component: i, kind, abnormal, z, onset, latency_delta, note }
            }
            Evidence::Member(m) => {
                let (abnormal, note) = match m.kind {
                    PlacedKind::K8sEvent => {
                        let object = m.member.strip_prefix("event:").and_then(|o| o.rsplit_once('/')).map_or(m.member, |(o, _)| o);
                        (cfg.event_abnormal, format!("event {} on {object} since {}", m.name, fmt_time(m.starts_at)))
                    }
                    _ => (cfg.alert_abnormal, format!("alert {} firing since {} ({})", m.name, fmt_time(m.starts_at), m.class.as_str())),
                };
                let f = Finding { component: i, kind: kind_of_class(m.class), abnormal, z: None, onset: m.starts_at, latency_delta: None, note };
                member_findings.push(f.clone());
                f
            }
        };
        findings.push(finding);
    }
    for r in resolved {
        if placement.evidence.contains_key(&r.member) {
            continue;
        }
        let Some(i) = comps.get(&r.component) else { continue };
        symptoms.insert(i);
        let note = format!("alert {} fired from {} (resolved) ({})", r.name, fmt_time(r.starts_at), r.class.as_str());
        let f = Finding { component: i, kind: kind_of_class(r.class), abnormal: cfg.alert_abnormal, z: None, onset: r.starts_at, latency_delta: None, note };
        member_findings.push(f.clone());
        findings.push(f);
    }
    let nodes_of_root = &placement.nodes_of_root;
    // Dependencies, breadth first from everything named so far.
    let mut edges = Vec::new();
    let mut next = 0;
    while next < comps.list.len() {
        let c = comps.list[next].clone();
        let mut deps: Vec<String> = Vec::new();
        match split_key(&c).0 {
            "Node" => {}
            "Service" => deps.extend(topo.roots_of_service(cluster, &c)),
            _ => deps.extend(nodes_of_root.get(&c).into_iter().flatten().map(|n| node_key(n))),
        }
        for cn in call_nodes(cluster, &c, topo) {
            for (d, hops) in topo.dependencies(cluster, &cn) {
                if hops == 1 {
                    deps.push(component_of_call_node(cluster, &d, topo));
                }
            }
        }
        deps.sort();
        deps.dedup();
        for d in deps.iter().filter(|d| **d != c) {
            if let Some(j) = comps.get(d) {
                edges.push((next, j));
            }
        }
        next += 1;
    }
    // Changes are evidence about the components the problem has, never a reason to add
    // one: a ConfigMap shared by many workloads must not crowd out the findings.
    let changes: Vec<Change> = placement
        .changes
        .iter()
        .filter_map(|(c, at, what)| comps.ids.get(c).map(|&i| Change { component: i, at: *at, what: what.clone() }))
        .collect();
    let known = topo.cluster(cluster);
    let observed: Vec<bool> = comps.list.iter().map(|c| cfg.silent_is_healthy && (known.is_some_and(|g| g.contains(c)) || split_key(c).0 == "Node")).collect();
    let n = comps.list.len();
    let from_findings = states(n, &findings, &observed, &cfg.ranking);
    let started = to_millis(&inc.started_at);
    let split = fault_onset(started, &findings, lookback);
    let signals = comps.list.iter().enumerate().flat_map(|(i, c)| placement.series.get(c).into_iter().flatten().map(move |h| history::signal(h, i, split, b))).collect();
    let colocated = colocated(&comps.list, nodes_of_root);
    let problem = Problem {
        components: comps.list.into_iter().map(|id| Component { id }).collect(),
        edges,
        signals,
        changes,
        symptoms: symptoms.into_iter().collect(),
        onset: started,
        colocated,
    };
    let component_states = if problem.signals.is_empty() {
        from_findings
    } else {
        merge_states(&problem, ranking_states(&problem, &cfg.ranking), from_findings, &findings, &member_findings, &cfg.ranking)
    };
    Built { problem, states: component_states }
}

/// The boundary a problem is built at, and how long before an incident's start the fault
/// behind it may have begun: the correlator's session gap (anomalies this close before its
/// first alert join it).
#[derive(Debug, Clone, Copy)]
pub struct BuildAt {
    pub b: Millis,
    pub lookback: Millis,
}

/// Where the fault behind an incident began: its earliest abnormal finding, when that came
/// at most `lookback` before the incident's start (detectors see a fault before the page
/// fires), else the start. Windows before it are the baseline.
fn fault_onset(started: Millis, findings: &[Finding], lookback: Millis) -> Millis {
    findings.iter().filter(|f| f.abnormal >= 0.5).map(|f| f.onset).filter(|&t| t >= started.saturating_sub(lookback)).fold(started, Millis::min)
}

/// A component with scored windows is judged by them (as the benchmarks judge samples);
/// one without, by its findings. Its findings count on top of the windows where no
/// window measures their kind (a log anomaly, a peer outlier, an error alert on a
/// component whose errors are not windowed), and its alerts and events (`members`) stay in
/// its evidence: a latency alert on a component whose latency windows barely moved says
/// where the page came from, not that the component degraded (the alert's threshold is
/// absolute, the windows' baseline its own).
fn merge_states(problem: &Problem, measured: Vec<ComponentState>, from_findings: Vec<ComponentState>, findings: &[Finding], members: &[Finding], cfg: &RcaConfig) -> Vec<ComponentState> {
    let n = measured.len();
    let watched: BTreeSet<(usize, SignalKind)> = problem.signals.iter().filter(|s| !s.window.is_empty()).map(|s| (s.component, s.kind)).collect();
    let unmeasured: Vec<Finding> = findings.iter().filter(|f| !watched.contains(&(f.component, f.kind))).cloned().collect();
    let extra = states(n, &unmeasured, &vec![false; n], cfg);
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); n];
    for f in members.iter().chain(&unmeasured).filter(|f| f.component < n) {
        if !notes[f.component].contains(&f.note) {
            notes[f.component].push(f.note.clone());
        }
    }
    measured
        .into_iter()
        .zip(from_findings)
        .zip(extra)
        .zip(notes)
        .map(|(((mut m, f), a), notes)| {
            if !m.observed {
                return f;
            }
            if !a.notes.is_empty() {
                m.abnormal = m.abnormal.max(a.abnormal);
                m.degraded = m.degraded.max(a.degraded);
                m.z = m.z.max(a.z);
                m.onset = m.onset.into_iter().chain(a.onset).min();
            }
            m.notes = notes;
            m
        })
        .collect()
}

/// Components (by index) whose pods share a node, one group per node with at least two.
fn colocated(components: &[String], nodes_of_root: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<usize>> {
    super::colocation_groups(components.iter().enumerate().flat_map(|(i, c)| nodes_of_root.get(c).into_iter().flatten().map(move |n| (i, n.as_str()))))
}

/// Nodes the pods of each owner root run on.
fn nodes_of_roots(cluster: &str, topo: &Topology) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Some(g) = topo.cluster(cluster) else { return out };
    for (k, rec) in g.objects().range("Pod/".to_string()..) {
        if !k.starts_with("Pod/") {
            break;
        }
        if let Some(n) = &rec.node {
            out.entry(g.owner_root(k)).or_default().insert(n.clone());
        }
    }
    out
}

/// The correlator with RCA chained after it: one operator over `kubesage.signals`,
/// publishing incidents on `kubesage.incidents` and reports on `kubesage.rca`.
pub struct CorrelateWithRca {
    correlator: Correlator,
    rca: Rca,
}

impl CorrelateWithRca {
    pub fn new(correlation: CorrelationConfig, rca: RcaOperatorConfig) -> Self {
        CorrelateWithRca { correlator: Correlator::new(correlation), rca: Rca::new(rca) }
    }

    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    pub fn rca(&self) -> &Rca {
        &self.rca
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    correlator: Snapshot,
    rca: serde_json::Value,
}

impl Operator for CorrelateWithRca {
    type In = Signal;
    const NAME: &'static str = "correlate";

    fn on_event(&mut self, event: Envelope<Signal>, out: &mut Collector) {
        // Window means are RCA's alone: the correlator only wakes for them.
        if let Signal::Window(w) = &event.data {
            if self.rca.wants(w) {
                self.rca.observe(&event);
                self.correlator.wake_at(event.time);
            }
            return;
        }
        self.rca.observe(&event);
        self.correlator.on_event(event, out);
    }

    fn on_watermark(&mut self, watermark: DateTime<Utc>, out: &mut Collector) {
        let rca = &mut self.rca;
        self.correlator.on_watermark_with(watermark, out, |b, view, out, from| rca.after_boundary(b, view, out, from));
    }

    fn snapshot(&self) -> Snapshot {
        let saved = Saved { correlator: self.correlator.snapshot(), rca: self.rca.to_value() };
        Snapshot::of(SNAPSHOT_VERSION, &saved).unwrap_or(Snapshot { version: SNAPSHOT_VERSION, state: serde_json::Value::Null })
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let saved: Saved = snapshot.decode(SNAPSHOT_VERSION)?;
        self.correlator.restore(saved.correlator)?;
        self.rca.restore_value(saved.rca)
    }

    fn stats(&self) -> Vec<Stat> {
        let mut stats = self.correlator.stats();
        stats.push(Stat::total("rca_evidence_dropped", "Anomalies and change events not kept as RCA evidence because rca.max_evidence_per_cluster was reached", self.rca.dropped()));
        stats.push(Stat::total("rca_windows_dropped", "Window means not kept by RCA because rca.window_series series were kept already", self.rca.windows_dropped()));
        stats
    }
}

#[cfg(test)]
mod colocation_tests {
    use super::*;

    #[test]
    fn components_sharing_a_node_form_a_group() {
        let comps: Vec<String> = ["Deployment/shop/cart", "Deployment/shop/redis", "Node//n1", "Deployment/shop/web"].iter().map(|s| s.to_string()).collect();
        let mut nodes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        nodes.entry(comps[0].clone()).or_default().extend(["n1".to_string(), "n2".to_string()]);
        nodes.entry(comps[1].clone()).or_default().insert("n1".to_string());
        nodes.entry(comps[3].clone()).or_default().insert("n2".to_string());
        nodes.entry("Deployment/shop/absent".to_string()).or_default().insert("n1".to_string());
        // n1: cart and redis; n2: cart and web; a workload not in the problem is left out.
        assert_eq!(colocated(&comps, &nodes), vec![vec![0, 1], vec![0, 3]]);
        assert!(colocated(&comps, &BTreeMap::new()).is_empty(), "no placement, no groups");
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::rca::signal::{Sample, Signal as RankSignal};

    /// A latency alert on a component whose latency windows did not move leaves it normal
    /// (the windows measure latency); an error alert, which no window measures, counts.
    #[test]
    fn alerts_count_where_no_window_measures_them() {
        let cfg = RcaConfig::default();
        let flat: Vec<Sample> = (0..20).map(|i| Sample::new(i * 60_000, 0.1 + 0.001 * f64::from((i % 3) as i32))).collect();
        let signal = RankSignal::split(0, "latency of web-0", SignalKind::Latency, flat, 15 * 60_000, 60_000);
        let problem = Problem { components: vec![Component { id: "Deployment/shop/web".into() }], signals: vec![signal], onset: 15 * 60_000, ..Problem::default() };
        let alert = |kind: SignalKind| Finding { component: 0, kind, abnormal: 0.9, z: None, onset: 15 * 60_000, latency_delta: None, note: format!("alert {kind:?}") };
        let merged = |f: Finding| {
            let findings = vec![f.clone()];
            merge_states(&problem, ranking_states(&problem, &cfg), states(1, &findings, &[true], &cfg), &findings, &findings, &cfg).remove(0)
        };
        let latency = merged(alert(SignalKind::Latency));
        assert!(latency.abnormal < 0.5 && latency.notes == vec!["alert Latency".to_string()], "{latency:?}");
        let errors = merged(alert(SignalKind::ErrorRatio));
        assert!(errors.abnormal >= 0.9 && errors.degraded >= 0.9, "{errors:?}");
    }
}
