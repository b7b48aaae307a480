//! Alert correlation: alerts, Kubernetes events and anomalies of one cluster are drawn
//! into incidents inside an event-time session window.
//!
//! Second version: when the topology is known (`kubesage.topology` records in the input,
//! call edges from configuration) a signal is placed on its component — the owner root of
//! its pod, its workload, the roots its Service selects, or its node — and incidents are
//! keyed by that component, with the failure class of its signals. Inhibition follows the
//! graph: a failing (NotReady) node absorbs the signals of the pods on it, and a failing
//! dependency absorbs its callers' symptom signals (latency, errors), also when those came
//! first (their incident is merged, its last record naming `merged_into`). A flapping alert
//! is held: it re-opens no incident and does not resolve its incident until it settles.
//! Without topology, the label keys of the first version (workload, node, service) apply.
//!
//! Determinism: events are buffered and applied in event-time order once the watermark
//! passes them, and incident changes are published only at boundaries aligned to multiples
//! of `emit_interval`. The state published at boundary B reflects exactly the events with
//! time < B, so any batching of the input, any watermark granularity and any snapshot /
//! restore point give the same records with the same ids.

pub mod config;
pub mod keys;
pub mod signal;
mod state;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) mod tests_graph;

use chrono::{DateTime, Utc};
use kubesage_schemas::topics;
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

pub use config::{CorrelationConfig, GroupKind, SignalPolicy};
pub use signal::{FailureClass, Signal};
pub use state::ActiveMember;
use state::State;

use crate::time::{duration_millis, to_millis};
use crate::topology::Topology;
use crate::{Collector, Operator, OperatorError, Snapshot, Stat};

const SNAPSHOT_VERSION: u32 = 2;
pub const SOURCE: &str = "kubesage/operator/correlate";

pub struct Correlator {
    cfg: CorrelationConfig,
    interval: i64,
    state: State,
    topology: Topology,
    /// Off only in tests that check the fast path changes nothing.
    fast_path: bool,
}

impl Correlator {
    /// Make the boundary after `t` due, with nothing for the correlator to apply there: a
    /// chained operator (RCA) has records of its own to take in at it.
    pub fn wake_at(&mut self, t: DateTime<Utc>) {
        let t = to_millis(&t);
        self.due_after(t);
        self.state.wake_at(t);
    }

    /// The fast path must not skip the boundary after `t`.
    fn due_after(&mut self, t: i64) {
        let due = t.div_euclid(self.interval) * self.interval + self.interval;
        if let Some(next) = &mut self.state.next_check {
            *next = (*next).min(due);
        }
    }

    pub fn new(cfg: CorrelationConfig) -> Self {
        let interval = duration_millis(cfg.emit_interval).max(1);
        let topology = Topology::new(cfg.topology.clone());
        Correlator { cfg, interval, state: State::default(), topology, fast_path: true }
    }

    /// The graph as the correlator knows it.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Incidents currently tracked (open, or resolved but still in their session).
    pub fn tracked_incidents(&self) -> usize {
        self.state.incidents.len()
    }

    pub fn config(&self) -> &CorrelationConfig {
        &self.cfg
    }

    /// [`Operator::on_watermark`], calling `after(b, view, out, from)` after every
    /// event-time boundary `b` it processes: the view then reflects exactly the records with
    /// time < b, and `out.items()[from..]` are the incident records published at `b`. Chained operators (RCA) hook in here to stay as deterministic as the
    /// correlator itself.
    pub fn on_watermark_with<F>(&mut self, watermark: DateTime<Utc>, out: &mut Collector, mut after: F)
    where
        F: FnMut(i64, &View<'_>, &mut Collector, usize),
    {
        let wm = to_millis(&watermark);
        if self.state.watermark.is_some_and(|w| wm <= w) {
            return;
        }
        self.state.watermark = Some(wm);
        // Fast path (the runtime calls this after every record): nothing is due yet. It
        // must leave exactly the state `advance` would.
        if let (Some(next), Some(last), true) = (self.state.next_check, self.state.last_boundary, self.fast_path) {
            if wm < next {
                if next == i64::MAX {
                    self.state.last_boundary = Some(last.max(wm.div_euclid(self.interval) * self.interval));
                }
                return;
            }
        }
        self.advance(wm, out, &mut after);
        let step = self.interval;
        self.state.next_check = Some(if self.state.has_dirty() {
            self.state.last_boundary.map_or(i64::MIN, |l| l + step)
        } else {
            let last = self.state.last_boundary.unwrap_or(i64::MIN);
            self.state.next_due(&self.cfg).map_or(i64::MAX, |t| (t.div_euclid(step) * step + step).max(last.saturating_add(step)))
        });
    }

    /// Process every boundary up to `wm`, skipping boundaries where nothing is due.
    fn advance<F>(&mut self, wm: i64, out: &mut Collector, after: &mut F)
    where
        F: FnMut(i64, &View<'_>, &mut Collector, usize),
    {
        let step = self.interval;
        let floor = |t: i64| t.div_euclid(step) * step;
        // Start just below the earliest buffered event, so that the first boundary does not
        // depend on how far the first watermark happened to jump.
        let first = self.state.next_due(&self.cfg).unwrap_or(wm).min(wm);
        let mut last = *self.state.last_boundary.get_or_insert_with(|| floor(first));
        loop {
            let mut b = last + step;
            if !self.state.has_dirty() {
                match self.state.next_due(&self.cfg) {
                    Some(t) => b = b.max(floor(t) + step),
                    None => {
                        last = last.max(floor(wm));
                        break;
                    }
                }
            }
            if b > wm {
                break;
            }
            let from = out.len();
            self.state.process_boundary(b, &self.cfg, &mut self.topology, out);
            after(b, &View { topology: &self.topology, config: &self.cfg, state: &self.state }, out, from);
            last = b;
        }
        self.state.last_boundary = Some(last);
    }
}

impl Operator for Correlator {
    type In = Signal;
    const NAME: &'static str = "correlate";

    fn on_event(&mut self, event: Envelope<Signal>, _out: &mut Collector) {
        if self.state.is_duplicate(&event.id, &self.cfg) {
            return;
        }
        self.due_after(to_millis(&event.time));
        self.state.buffer_event(event);
    }

    fn on_watermark(&mut self, watermark: DateTime<Utc>, out: &mut Collector) {
        self.on_watermark_with(watermark, out, |_, _, _, _| {});
    }

    fn snapshot(&self) -> Snapshot {
        // State is plain data (maps with string/integer keys): encoding cannot fail.
        let saved = SavedRef { state: &self.state, topology: self.topology.to_value() };
        Snapshot::of(SNAPSHOT_VERSION, &saved).unwrap_or(Snapshot { version: SNAPSHOT_VERSION, state: serde_json::Value::Null })
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        let saved: Saved = snapshot.decode(SNAPSHOT_VERSION)?;
        self.topology.restore_value(saved.topology)?;
        self.state = saved.state;
        Ok(())
    }

    fn stats(&self) -> Vec<Stat> {
        vec![Stat::size("correlation_incidents", "Incidents the correlator tracks (open, or resolved and still in their session)", self.tracked_incidents() as u64)]
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    state: &'a State,
    topology: serde_json::Value,
}

#[derive(Deserialize)]
struct Saved {
    state: State,
    topology: serde_json::Value,
}

/// What a chained operator sees of the correlator right after a boundary.
pub struct View<'a> {
    /// The graph as of the boundary (topology records with time < b applied).
    pub topology: &'a Topology,
    pub config: &'a CorrelationConfig,
    state: &'a State,
}

impl<'a> View<'a> {
    /// Firing members of the live incidents of `cluster`, where they were placed.
    pub fn active_members(&self, cluster: &'a str) -> impl Iterator<Item = ActiveMember<'a>> + 'a {
        self.state.active_members(cluster)
    }

    /// Where an incident's alert sits (component and failure class): where the correlator
    /// placed it when it arrived (its pod may have left the graph since, and a pod's name
    /// need not name its workload), else where its labels place it on the graph now.
    pub fn place_alert(&self, cluster: &str, alert: &kubesage_schemas::incident::IncidentAlert, classes: &mut signal::ClassCache) -> Option<(String, FailureClass)> {
        if let Some(c) = &alert.component {
            let on_node = crate::topology::split_key(c).0 == "Node";
            return Some((c.clone(), classes.of(&alert.alertname, on_node)));
        }
        let p = signal::from_labels(cluster, &alert.labels, &alert.alertname, self.topology, self.config, classes);
        Some((p.component?, p.class))
    }
}

/// Output topic of the correlator.
pub const OUTPUT: &str = topics::INCIDENTS;
