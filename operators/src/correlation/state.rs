//! The correlator's state and its transitions. Plain data, serialisable as the snapshot.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use kubesage_schemas::alert::Severity;
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, IncidentAlert, IncidentStatus};
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

use super::config::CorrelationConfig;
use super::keys;
use super::signal::{call_nodes, component_of_call_node, place, ClassCache, FailureClass, Placed, Signal, SignalKind};
use super::{OUTPUT, SOURCE};
use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::topology::{node_key, split_key, Topology};
use crate::Collector;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// Events waiting for their boundary, by event time; ties ordered by record id.
    buffer: BTreeMap<Millis, Vec<Envelope<Signal>>>,
    pub(super) incidents: BTreeMap<String, IncidentState>,
    /// `cluster/member` -> incident id, for every tracked member.
    members: BTreeMap<String, String>,
    /// `cluster/key` -> incident id, for keys of incidents whose session is open.
    open_keys: BTreeMap<String, String>,
    /// `cluster/component` -> member -> mark, for every firing member placed on a component.
    failing: BTreeMap<String, BTreeMap<String, Mark>>,
    /// `cluster/fingerprint` -> recent status changes of the alert.
    flaps: BTreeMap<String, Flap>,
    /// `(since, cluster/fingerprint)` of every watched alert: who settles first.
    flap_order: BTreeSet<(Millis, String)>,
    /// `cluster/fingerprint` -> latest record of a flapping alert held back.
    held: BTreeMap<String, Envelope<Signal>>,
    /// Times at which a chained operator has records of its own waiting (RCA's window
    /// means): boundaries are due there though the correlator has nothing to apply.
    #[serde(default)]
    wakeups: BTreeSet<Millis>,
    pub(super) watermark: Option<Millis>,
    pub(super) last_boundary: Option<Millis>,
    /// Hashes of the ids of the most recent input records, oldest first.
    #[serde(default)]
    pub(super) seen: VecDeque<u64>,
    /// The same, for lookups (rebuilt from `seen` on restore).
    #[serde(skip)]
    seen_set: HashSet<u64>,
    /// Cache, not state.
    #[serde(skip)]
    classes: ClassCache,
    /// Cache, not state: no boundary work is due before this watermark (`Millis::MAX`:
    /// nothing is due at all). `None`: unknown, recompute.
    #[serde(skip)]
    pub(super) next_check: Option<Millis>,
}

/// A firing signal on a component: its class, and since when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Mark {
    class: FailureClass,
    since: Millis,
}

impl Mark {
    /// Started within `gap` of the span `during`.
    fn near(&self, during: (Millis, Millis), gap: Millis) -> bool {
        self.since >= during.0.saturating_sub(gap) && self.since <= during.1.saturating_add(gap)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flap {
    status: AlertStatus,
    /// Times of status changes within the flap window.
    changes: Vec<Millis>,
    /// Last change (or first sight): the alert settles `flap_window` after it.
    since: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IncidentState {
    id: String,
    cluster: String,
    keys: BTreeSet<String>,
    /// Component the incident is anchored on.
    component: Option<String>,
    started: Millis,
    last_alert: Millis,
    updated: Millis,
    session_open: bool,
    resolved_at: Option<Millis>,
    merged_into: Option<String>,
    members: BTreeMap<String, Member>,
    /// Alerts beyond `max_members`: counted, not tracked.
    overflow: u32,
    revision: u32,
    dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Member {
    alertname: String,
    status: AlertStatus,
    severity: Severity,
    starts_at: Millis,
    labels: BTreeMap<String, String>,
    kind: SignalKind,
    class: FailureClass,
    component: Option<String>,
    node: Option<String>,
    inhibited_by: Option<String>,
    flapping: bool,
}

/// 64 bits of a record id: the leading hex digits of a KubeSage id (itself a hash), else
/// FNV-1a of the text. Compact in snapshots; a collision would need 2^32 ids.
fn id_hash(id: &str) -> u64 {
    match id.get(..16).map(|h| u64::from_str_radix(h, 16)) {
        Some(Ok(v)) if id.len() >= 32 => v,
        _ => id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)),
    }
}

/// A firing member of a tracked incident, where the correlator placed it (what a chained
/// operator, RCA, reads of the correlator's state).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveMember<'a> {
    /// Alert fingerprint, `event:<object>/<reason>` or `anomaly:<id>`.
    pub member: &'a str,
    pub kind: SignalKind,
    /// Alert name, event reason or `anomaly:<metric>`.
    pub name: &'a str,
    pub class: FailureClass,
    pub starts_at: Millis,
    pub component: &'a str,
}

impl State {
    /// Firing members placed on a component, of the live incidents of `cluster`, in
    /// incident and member order.
    pub(super) fn active_members<'a>(&'a self, cluster: &'a str) -> impl Iterator<Item = ActiveMember<'a>> + 'a {
        self.incidents
            .values()
            .filter(move |i| i.cluster == cluster && i.merged_into.is_none())
            .flat_map(|i| i.members.iter())
            .filter(|(_, m)| m.active())
            .filter_map(|(id, m)| Some(ActiveMember { member: id, kind: m.kind, name: &m.alertname, class: m.class, starts_at: m.starts_at, component: m.component.as_deref()? }))
    }
}

impl Member {
    /// Firing, or held as firing by the flapping guard.
    fn active(&self) -> bool {
        self.status == AlertStatus::Firing || self.flapping
    }
}

/// The correlation key of a component, in the first version's format (`workload:ns/name`,
/// `node:name`, `service:ns/name`), so that keys from labels and from topology agree.
pub(super) fn component_key(component: &str) -> String {
    match split_key(component) {
        ("Node", _, name) => format!("node:{name}"),
        ("Service", ns, name) => format!("service:{ns}/{name}"),
        (_, ns, name) => format!("workload:{ns}/{name}"),
    }
}

impl State {
    /// Whether a record with this id is among the most recent `max_duplicate_ids`;
    /// remembers it if not.
    pub(super) fn is_duplicate(&mut self, id: &str, cfg: &CorrelationConfig) -> bool {
        if cfg.max_duplicate_ids == 0 {
            return false;
        }
        if self.seen_set.len() != self.seen.len() {
            self.seen_set = self.seen.iter().copied().collect();
        }
        let h = id_hash(id);
        if self.seen_set.contains(&h) {
            return true;
        }
        self.seen.push_back(h);
        self.seen_set.insert(h);
        while self.seen.len() > cfg.max_duplicate_ids {
            if let Some(old) = self.seen.pop_front() {
                self.seen_set.remove(&old);
            }
        }
        false
    }

    /// A boundary is due after `t` (see `wakeups`).
    pub(super) fn wake_at(&mut self, t: Millis) {
        self.wakeups.insert(t);
    }

    pub(super) fn buffer_event(&mut self, event: Envelope<Signal>) {
        let slot = self.buffer.entry(to_millis(&event.time)).or_default();
        // HA Alertmanager pairs and retries deliver the same id: keep one.
        if let Err(pos) = slot.binary_search_by(|e| e.id.cmp(&event.id)) {
            slot.insert(pos, event);
        }
    }

    pub(super) fn has_dirty(&self) -> bool {
        self.incidents.values().any(|i| i.dirty)
    }

    /// Earliest event time at which something must happen (a buffered event to apply, a
    /// wake-up for a chained operator, a session to close, a stale incident to resolve, a
    /// flapping alert to settle).
    pub(super) fn next_due(&self, cfg: &CorrelationConfig) -> Option<Millis> {
        let buffered = self.buffer.keys().next().copied().into_iter().chain(self.wakeups.first().copied());
        let incidents = self.incidents.values().map(|i| {
            if i.session_open {
                i.deadline(cfg)
            } else if i.resolved_at.is_some() {
                i.updated // resolved and closed: due for removal
            } else {
                i.updated.saturating_add(duration_millis(cfg.stale_after))
            }
        });
        let window = duration_millis(cfg.flap_window);
        let flaps = self.flap_order.first().map(|(since, _)| since.saturating_add(window));
        buffered.chain(incidents).chain(flaps).min()
    }

    /// Everything that happens at boundary `b`: apply events with time < b, absorb
    /// incidents along the graph, settle flapping alerts, close sessions and resolve stale
    /// incidents due before b, publish what changed, forget what is finished.
    pub(super) fn process_boundary(&mut self, b: Millis, cfg: &CorrelationConfig, topo: &mut Topology, out: &mut Collector) {
        let later = self.buffer.split_off(&b);
        let due = std::mem::replace(&mut self.buffer, later);
        self.wakeups = self.wakeups.split_off(&b);
        let mut applied = false;
        for (_, events) in due {
            for e in events {
                applied |= self.apply(e, cfg, topo);
            }
        }
        self.settle_flaps(b, cfg, topo);
        if applied {
            self.absorb(b, cfg, topo);
        }
        let stale_after = duration_millis(cfg.stale_after);
        let mut closed = Vec::new();
        for inc in self.incidents.values_mut() {
            if inc.session_open && inc.deadline(cfg) < b {
                inc.session_open = false;
                closed.push(inc.id.clone());
                for k in &inc.keys {
                    let sk = scoped(&inc.cluster, k);
                    if self.open_keys.get(&sk) == Some(&inc.id) {
                        self.open_keys.remove(&sk);
                    }
                }
                // Events and anomalies without an end last as long as the session.
                let mut changed = false;
                for (m, member) in inc.members.iter_mut().filter(|(_, m)| m.kind == SignalKind::K8sEvent && m.status == AlertStatus::Firing) {
                    member.status = AlertStatus::Resolved;
                    unmark(&mut self.failing, &inc.cluster, member, m);
                    changed = true;
                }
                if changed {
                    inc.refresh_resolution();
                    inc.dirty = true;
                }
            }
            if !inc.session_open && inc.resolved_at.is_none() && inc.updated.saturating_add(stale_after) < b {
                inc.resolved_at = Some(b);
                inc.updated = b;
                inc.dirty = true;
            }
        }
        for inc in self.incidents.values_mut().filter(|i| i.dirty) {
            inc.revision += 1;
            inc.dirty = false;
            let record = inc.to_record(cfg);
            out.emit(OUTPUT, &inc.cluster, &record);
        }
        let finished: Vec<String> = self.incidents.values().filter(|i| !i.session_open && i.resolved_at.is_some()).map(|i| i.id.clone()).collect();
        for id in finished {
            if let Some(inc) = self.incidents.remove(&id) {
                for (m, member) in &inc.members {
                    let mk = scoped(&inc.cluster, m);
                    if self.members.get(&mk) == Some(&id) {
                        self.members.remove(&mk);
                        unmark(&mut self.failing, &inc.cluster, member, m);
                    }
                }
            }
        }
    }

    /// Apply one record; true when a signal was placed or changed.
    fn apply(&mut self, e: Envelope<Signal>, cfg: &CorrelationConfig, topo: &mut Topology) -> bool {
        if let Signal::Topology(u) = &e.data {
            topo.apply(&e.cluster, u);
            return false;
        }
        let known = match &e.data {
            Signal::Alert(a) => self.known_alert(&e.cluster, a),
            _ => None,
        };
        let Some(p) = known.or_else(|| place(&e, topo, cfg, &mut self.classes)) else { return false };
        let t = to_millis(&e.time);
        let mk = scoped(&e.cluster, &p.member);
        let flapping = p.kind == SignalKind::Alert && self.observe_flap(&mk, p.status, t, cfg);
        if let Some(held) = self.held.get_mut(&mk) {
            *held = e; // held until it settles
            return false;
        }
        if let Some(inc_id) = self.members.get(&mk).cloned() {
            if let Some(inc) = self.incidents.get(&inc_id) {
                let refire = p.status == AlertStatus::Firing && inc.resolved_at.is_some() && !inc.session_open;
                if !refire {
                    self.update_member(&inc_id, &e.cluster, p, t, flapping, None, cfg);
                    return true;
                }
            }
            self.members.remove(&mk);
        }
        if p.status == AlertStatus::Resolved {
            // A resolve for an alert we never saw firing (started before us, or
            // untracked overflow): nothing to close.
            return false;
        }
        if flapping {
            // A flapping alert re-opens nothing: held until it settles.
            self.held.insert(mk, e);
            return false;
        }
        self.place_new(&e.cluster, &e.id, p, t, cfg, topo)
    }

    /// An update of an alert tracked in a live incident keeps the placement it has (the
    /// common case in a storm: placing is the costly part).
    fn known_alert(&self, cluster: &str, a: &kubesage_schemas::alert::Alert) -> Option<Placed> {
        let inc = self.incidents.get(self.members.get(&scoped(cluster, &a.fingerprint))?)?;
        if inc.resolved_at.is_some() && !inc.session_open {
            return None; // a re-fire is placed afresh
        }
        let m = inc.members.get(&a.fingerprint).filter(|m| m.component.is_some() && m.kind == SignalKind::Alert && m.labels == a.labels)?;
        Some(Placed {
            member: a.fingerprint.clone(),
            kind: SignalKind::Alert,
            status: a.status,
            name: a.alertname.clone(),
            severity: a.severity,
            starts_at: to_millis(&a.starts_at),
            labels: a.labels.clone(),
            class: m.class,
            component: m.component.clone(),
            node: m.node.clone(),
            label_keys: Vec::new(),
            may_open: true,
        })
    }

    /// Record a status change of an alert; true when it is flapping.
    fn observe_flap(&mut self, mk: &str, status: AlertStatus, t: Millis, cfg: &CorrelationConfig) -> bool {
        let window = duration_millis(cfg.flap_window);
        match self.flaps.get_mut(mk) {
            Some(f) => {
                if f.status != status {
                    f.status = status;
                    f.changes.push(t);
                    if t > f.since {
                        self.flap_order.remove(&(f.since, mk.to_string()));
                        self.flap_order.insert((t, mk.to_string()));
                        f.since = t;
                    }
                }
                f.changes.retain(|c| *c >= t.saturating_sub(window));
                f.changes.len() >= cfg.flap_threshold as usize
            }
            None => {
                if self.flaps.len() < cfg.max_flap_tracked {
                    self.flaps.insert(mk.to_string(), Flap { status, changes: Vec::new(), since: t });
                    self.flap_order.insert((t, mk.to_string()));
                }
                false
            }
        }
    }

    /// Alerts steady for `flap_window` before `b` are no longer watched; a held one is let
    /// through (if still firing), a member stops being held as firing.
    fn settle_flaps(&mut self, b: Millis, cfg: &CorrelationConfig, topo: &mut Topology) {
        let window = duration_millis(cfg.flap_window);
        let mut settled = Vec::new();
        while let Some((since, mk)) = self.flap_order.first().cloned() {
            if since.saturating_add(window) >= b {
                break;
            }
            self.flap_order.pop_first();
            settled.push(mk);
        }
        for mk in settled {
            self.flaps.remove(&mk);
            if let Some(e) = self.held.remove(&mk) {
                if let Some(p) = place(&e, topo, cfg, &mut self.classes).filter(|p| p.status == AlertStatus::Firing) {
                    let t = to_millis(&e.time);
                    self.place_new(&e.cluster, &e.id, p, t, cfg, topo);
                }
                continue;
            }
            let Some(inc_id) = self.members.get(&mk).cloned() else { continue };
            let Some(inc) = self.incidents.get_mut(&inc_id) else { continue };
            let fp = mk.split_once('/').map_or(mk.as_str(), |(_, fp)| fp);
            if let Some(m) = inc.members.get_mut(fp).filter(|m| m.flapping) {
                m.flapping = false;
                if !m.active() {
                    unmark(&mut self.failing, &inc.cluster, m, fp);
                }
                inc.refresh_resolution();
                inc.dirty = true;
            }
        }
    }

    /// Open or join the incident a new signal belongs to.
    fn place_new(&mut self, cluster: &str, record_id: &str, p: Placed, t: Millis, cfg: &CorrelationConfig, topo: &Topology) -> bool {
        let (anchor, inhibited_by) = self.anchor(cluster, &p, t, cfg, topo);
        let mut keys: Vec<String> = match &anchor {
            Some(c) => vec![component_key(c)],
            None => p.label_keys.clone(),
        };
        if keys.is_empty() {
            let ns = keys::namespace(&p.labels).unwrap_or("");
            keys.push(format!("alertname:{ns}/{}", p.name));
        }
        let via_member = inhibited_by.as_deref().and_then(|c| self.incident_of_component(cluster, c));
        let joined = via_member.or_else(|| {
            keys.iter()
                .filter_map(|k| self.open_keys.get(&scoped(cluster, k)))
                .filter_map(|id| self.incidents.get(id))
                .min_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)))
                .map(|i| i.id.clone())
        });
        let inc_id = match joined {
            Some(id) => id,
            None if !p.may_open => return false,
            None => {
                let id = stable_id(&["incident", cluster, &keys[0], record_id]);
                let mut inc = IncidentState::new(id.clone(), cluster.to_string(), t);
                inc.component = anchor.clone();
                self.incidents.insert(id.clone(), inc);
                id
            }
        };
        let primary = scoped(cluster, &keys[0]);
        if let Some(inc) = self.incidents.get_mut(&inc_id) {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.open_keys.entry(primary) {
                slot.insert(inc_id.clone());
                inc.keys.insert(keys[0].clone());
            }
            if inc.members.len() < cfg.max_members {
                self.members.insert(scoped(cluster, &p.member), inc_id.clone());
            }
        }
        self.update_member(&inc_id, cluster, p, t, false, inhibited_by, cfg);
        true
    }

    /// Where a signal belongs on the graph: a failing node for the signals of its pods, a
    /// failing dependency for its callers' symptoms, else its own component. The second
    /// value names the component that absorbed it.
    fn anchor(&self, cluster: &str, p: &Placed, t: Millis, cfg: &CorrelationConfig, topo: &Topology) -> (Option<String>, Option<String>) {
        if cfg.inhibit_by_node && p.class != FailureClass::Node {
            if let Some(nk) = p.node.as_deref().map(node_key) {
                if p.component.as_deref() != Some(nk.as_str()) && self.node_failing(cluster, &nk, (t, t), cfg) {
                    return (Some(nk.clone()), Some(nk));
                }
            }
        }
        let Some(c) = &p.component else { return (None, None) };
        if cfg.inhibit_by_dependency && cfg.symptom_classes.contains(&p.class) {
            if let Some(d) = self.failing_dependency(cluster, c, (t, t), cfg, topo) {
                return (Some(d.clone()), Some(d));
            }
        }
        (Some(c.clone()), None)
    }

    /// The node failed within `session_gap` of `during` (and still fails).
    fn node_failing(&self, cluster: &str, nk: &str, during: (Millis, Millis), cfg: &CorrelationConfig) -> bool {
        let gap = duration_millis(cfg.session_gap);
        self.failing.get(&scoped(cluster, nk)).is_some_and(|m| m.values().any(|m| m.class == FailureClass::Node && m.near(during, gap)))
    }

    /// The failing dependency of `c` that best explains its symptoms, which showed during
    /// `during`: only a dependency with a signal that started within `session_gap` of them
    /// counts (failures far apart in time are not one failure). One with such signals of a
    /// cause class wins, the one with most of them first, then the deepest; else the
    /// deepest one showing symptoms (the callers above it fail because it does).
    fn failing_dependency(&self, cluster: &str, c: &str, during: (Millis, Millis), cfg: &CorrelationConfig, topo: &Topology) -> Option<String> {
        let gap = duration_millis(cfg.session_gap);
        let near = |m: &Mark| m.near(during, gap);
        let mut best: Option<(Rank, String)> = None;
        for n in call_nodes(cluster, c, topo) {
            for (d, hops) in topo.dependencies(cluster, &n) {
                let dc = component_of_call_node(cluster, &d, topo);
                if dc == c {
                    continue;
                }
                let Some(marks) = self.failing.get(&scoped(cluster, &dc)) else { continue };
                let (mut near_any, mut causes) = (false, 0);
                for m in marks.values().filter(|m| near(m)) {
                    near_any = true;
                    causes += usize::from(!cfg.symptom_classes.contains(&m.class));
                }
                if !near_any {
                    continue;
                }
                let hops = i64::from(hops);
                // Ties go to the deeper one: what fails below explains what fails above.
                let rank = (causes > 0, causes, hops);
                if best.as_ref().is_none_or(|(r, k)| rank > *r || (rank == *r && dc < *k)) {
                    best = Some((rank, dc));
                }
            }
        }
        best.map(|(_, d)| d)
    }

    /// The open incident holding a component's signals: by its key, else by a member.
    fn incident_of_component(&self, cluster: &str, c: &str) -> Option<String> {
        if let Some(id) = self.open_keys.get(&scoped(cluster, &component_key(c))) {
            return Some(id.clone());
        }
        let m = self.failing.get(&scoped(cluster, c))?;
        m.keys().filter_map(|fp| self.members.get(&scoped(cluster, fp))).find(|id| self.incidents.get(*id).is_some_and(|i| i.session_open)).cloned()
    }

    /// Fold open incidents into the incident of what explains them: all signals on pods of
    /// a failing node, or only symptoms of a component with a failing dependency.
    fn absorb(&mut self, b: Millis, cfg: &CorrelationConfig, topo: &Topology) {
        let nodes_failing = cfg.inhibit_by_node && self.failing.values().any(|marks| marks.values().any(|m| m.class == FailureClass::Node));
        // Decide on the state as it is, then merge (a target merged meanwhile is followed).
        let mut merges = Vec::new();
        for inc in self.incidents.values().filter(|i| i.session_open && i.merged_into.is_none() && !i.members.is_empty()) {
            let mut target = None;
            if nodes_failing {
                // On one node, and not about the node itself.
                let node = inc.members.values().next().and_then(|m| m.node.as_ref()).filter(|n| inc.members.values().all(|m| m.node.as_ref() == Some(*n) && m.class != FailureClass::Node));
                if let Some(nk) = node.map(|n| node_key(n)).filter(|nk| self.node_failing(&inc.cluster, nk, (inc.started, inc.last_alert), cfg)) {
                    target = Some(nk);
                }
            }
            if let (None, Some(c), true) = (&target, &inc.component, cfg.inhibit_by_dependency) {
                if inc.members.values().all(|m| cfg.symptom_classes.contains(&m.class)) {
                    target = self.failing_dependency(&inc.cluster, c, (inc.started, inc.last_alert), cfg, topo);
                }
            }
            let Some(by) = target else { continue };
            if let Some(into) = self.incident_of_component(&inc.cluster, &by).filter(|into| *into != inc.id) {
                merges.push((inc.id.clone(), into, by));
            }
        }
        for (from, into, by) in merges {
            let into = self.final_incident(into);
            if into != from {
                self.merge(&from, &into, &by, b, cfg);
            }
        }
        self.reanchor(b, cfg, topo);
    }

    /// Where an incident's members are now: itself, or the incident it was merged into.
    fn final_incident(&self, mut id: String) -> String {
        for _ in 0..64 {
            match self.incidents.get(&id).and_then(|i| i.merged_into.clone()) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Symptoms absorbed by a dependency move when a better explanation showed up since
    /// (a dependency with more or causal signals, e.g. the root cause alerting after a
    /// bystander did).
    fn reanchor(&mut self, b: Millis, cfg: &CorrelationConfig, topo: &Topology) {
        if !cfg.inhibit_by_dependency {
            return;
        }
        let mut moves = Vec::new();
        for inc in self.incidents.values().filter(|i| i.session_open && i.merged_into.is_none()) {
            let mut best_of: BTreeMap<(&str, Millis), Option<String>> = BTreeMap::new();
            for (fp, m) in &inc.members {
                let (Some(by), Some(c)) = (m.inhibited_by.as_deref(), m.component.as_deref()) else { continue };
                if split_key(by).0 == "Node" || !cfg.symptom_classes.contains(&m.class) {
                    continue;
                }
                let best = best_of.entry((c, m.starts_at)).or_insert_with(|| self.failing_dependency(&inc.cluster, c, (m.starts_at, m.starts_at), cfg, topo));
                let Some(best) = best.as_ref().filter(|d| d.as_str() != by) else { continue };
                if let Some(into) = self.incident_of_component(&inc.cluster, best).filter(|into| *into != inc.id) {
                    moves.push((inc.id.clone(), into, fp.clone(), best.clone()));
                }
            }
        }
        for (from, into, fp, by) in moves {
            let into = self.final_incident(into);
            if into != from {
                self.move_member(&from, &into, &fp, &by, b, cfg);
            }
        }
    }

    fn move_member(&mut self, from: &str, into: &str, fp: &str, by: &str, b: Millis, cfg: &CorrelationConfig) {
        let Some(src) = self.incidents.get_mut(from) else { return };
        let Some(mut m) = src.members.remove(fp) else { return };
        let cluster = src.cluster.clone();
        src.refresh_resolution();
        src.dirty = true;
        if src.members.is_empty() && src.overflow == 0 {
            for k in &src.keys {
                let sk = scoped(&cluster, k);
                if self.open_keys.get(&sk).map(String::as_str) == Some(from) {
                    self.open_keys.remove(&sk);
                }
            }
            src.session_open = false;
            src.merged_into = Some(into.to_string());
            src.resolved_at = Some(b.max(src.updated));
            src.updated = src.updated.max(b);
        }
        let mk = scoped(&cluster, fp);
        m.inhibited_by = Some(by.to_string());
        let Some(dst) = self.incidents.get_mut(into) else { return };
        if dst.members.len() < cfg.max_members {
            dst.members.insert(fp.to_string(), m);
            self.members.insert(mk, into.to_string());
        } else {
            dst.overflow += 1;
            self.members.remove(&mk);
        }
        dst.refresh_resolution();
        dst.dirty = true;
    }

    fn merge(&mut self, from: &str, into: &str, by: &str, b: Millis, cfg: &CorrelationConfig) {
        let Some(mut src) = self.incidents.remove(from) else { return };
        let Some(dst) = self.incidents.get_mut(into) else {
            self.incidents.insert(from.to_string(), src);
            return;
        };
        for (fp, m) in &src.members {
            let mut m = m.clone();
            m.inhibited_by.get_or_insert_with(|| by.to_string());
            let mk = scoped(&src.cluster, fp);
            if dst.members.len() < cfg.max_members || dst.members.contains_key(fp) {
                dst.members.insert(fp.clone(), m);
                self.members.insert(mk, into.to_string());
            } else {
                dst.overflow += 1;
                self.members.remove(&mk);
            }
        }
        dst.overflow += src.overflow;
        // The absorbed incident's keys close with it: a later signal of that component
        // that the failure does not explain opens its own incident.
        for k in &src.keys {
            let sk = scoped(&src.cluster, k);
            if self.open_keys.get(&sk).map(String::as_str) == Some(from) {
                self.open_keys.remove(&sk);
            }
        }
        dst.started = dst.started.min(src.started);
        dst.last_alert = dst.last_alert.max(src.last_alert);
        dst.updated = dst.updated.max(src.updated);
        dst.refresh_resolution();
        dst.dirty = true;
        src.session_open = false;
        src.merged_into = Some(into.to_string());
        src.resolved_at = Some(b.max(src.updated));
        src.updated = src.updated.max(b);
        src.dirty = true;
        self.incidents.insert(from.to_string(), src);
    }

    #[allow(clippy::too_many_arguments)]
    fn update_member(&mut self, inc_id: &str, cluster: &str, p: Placed, t: Millis, flapping: bool, inhibited_by: Option<String>, cfg: &CorrelationConfig) {
        let Some(inc) = self.incidents.get_mut(inc_id) else { return };
        let previous = inc.members.get(&p.member);
        let member = Member {
            alertname: p.name,
            status: p.status,
            severity: p.severity,
            starts_at: p.starts_at,
            labels: p.labels,
            kind: p.kind,
            class: p.class,
            component: previous.map_or(p.component, |m| m.component.clone()),
            node: p.node,
            inhibited_by: previous.map_or(inhibited_by, |m| m.inhibited_by.clone()),
            flapping,
        };
        match previous {
            Some(m) if *m == member => return, // a duplicate delivery changes nothing
            None if inc.members.len() >= cfg.max_members => {
                inc.overflow += 1;
                inc.dirty = true;
                return;
            }
            _ => {}
        }
        if member.active() {
            if let Some(c) = &member.component {
                let marks = self.failing.entry(scoped(cluster, c)).or_default();
                let since = marks.get(&p.member).map_or(t, |m| m.since);
                marks.insert(p.member.clone(), Mark { class: member.class, since });
            }
        } else {
            unmark(&mut self.failing, cluster, &member, &p.member);
        }
        let firing = p.status == AlertStatus::Firing;
        inc.members.insert(p.member, member);
        if firing && inc.session_open {
            inc.last_alert = inc.last_alert.max(t);
        }
        inc.updated = inc.updated.max(t);
        inc.refresh_resolution();
        inc.dirty = true;
    }
}

/// How well a failing dependency explains a caller: has cause-class signals, most cause
/// signals, deepest.
type Rank = (bool, usize, i64);

/// Forget a member's mark on its component.
fn unmark(failing: &mut BTreeMap<String, BTreeMap<String, Mark>>, cluster: &str, m: &Member, member: &str) {
    if let Some(c) = &m.component {
        let ck = scoped(cluster, c);
        if let Some(marks) = failing.get_mut(&ck) {
            marks.remove(member);
            if marks.is_empty() {
                failing.remove(&ck);
            }
        }
    }
}

fn scoped(cluster: &str, key: &str) -> String {
    format!("{cluster}/{key}")
}

impl IncidentState {
    fn new(id: String, cluster: String, t: Millis) -> Self {
        IncidentState {
            id,
            cluster,
            keys: BTreeSet::new(),
            component: None,
            started: t,
            last_alert: t,
            updated: t,
            session_open: true,
            resolved_at: None,
            merged_into: None,
            members: BTreeMap::new(),
            overflow: 0,
            revision: 0,
            dirty: false,
        }
    }

    fn deadline(&self, cfg: &CorrelationConfig) -> Millis {
        let gap = self.last_alert.saturating_add(duration_millis(cfg.session_gap));
        gap.min(self.started.saturating_add(duration_millis(cfg.max_duration)))
    }

    fn refresh_resolution(&mut self) {
        self.resolved_at = if self.members.values().any(Member::active) { None } else { Some(self.updated) };
    }

    fn to_record(&self, cfg: &CorrelationConfig) -> Envelope<Incident> {
        let firing: Vec<&Member> = self.members.values().filter(|m| m.status == AlertStatus::Firing).collect();
        let severity_pool = if firing.is_empty() { self.members.values().collect() } else { firing.clone() };
        let severity = severity_pool.iter().map(|m| m.severity).max().unwrap_or_default();
        let mut alertnames: BTreeMap<String, u32> = BTreeMap::new();
        for m in self.members.values() {
            *alertnames.entry(m.alertname.clone()).or_default() += 1;
        }
        let namespace = common(self.members.values().map(|m| keys::namespace(&m.labels)));
        let workload = match self.component.as_deref().map(split_key) {
            Some((kind, _, name)) if !matches!(kind, "Node" | "Service") => Some(format!("{kind}/{name}")),
            _ => common(self.members.values().map(|m| {
                keys::workload(&m.labels).map(|w| match w.kind {
                    Some(kind) => format!("{kind}/{}", w.name),
                    None => w.name,
                })
            })),
        };
        let node = match self.component.as_deref().map(split_key) {
            Some(("Node", _, name)) => Some(name.to_string()),
            _ => common(self.members.values().map(|m| keys::node(&m.labels))),
        };
        let subject = workload.clone().or(node.map(|n| format!("node {n}"))).or(namespace.clone());
        let top = alertnames.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(n, _)| n.as_str()).unwrap_or("alerts");
        let mut title = match &subject {
            Some(s) => format!("{top} on {s}"),
            None => top.to_string(),
        };
        if alertnames.len() > 1 {
            title.push_str(&format!(" (+{} other alert kinds)", alertnames.len() - 1));
        }
        let alerts = self
            .members
            .iter()
            .take(cfg.max_listed_alerts)
            .map(|(fp, m)| IncidentAlert {
                fingerprint: fp.clone(),
                alertname: m.alertname.clone(),
                status: m.status,
                severity: m.severity,
                starts_at: from_millis(m.starts_at),
                labels: m.labels.clone(),
                signal: match m.kind {
                    SignalKind::Alert => None,
                    SignalKind::K8sEvent => Some("k8s-event".into()),
                    SignalKind::Anomaly => Some("anomaly".into()),
                },
                inhibited_by: m.inhibited_by.clone(),
                component: m.component.clone(),
                flapping: m.flapping,
            })
            .collect();
        let count = |k: SignalKind| self.members.values().filter(|m| m.kind == k).count() as u32;
        let failure_class = self.members.values().filter(|m| m.inhibited_by.is_none()).map(|m| m.class).min().map(|c| c.as_str().to_string());
        let incident = Incident {
            incident_id: self.id.clone(),
            status: if self.resolved_at.is_some() { IncidentStatus::Resolved } else { IncidentStatus::Open },
            title,
            severity,
            keys: self.keys.iter().cloned().collect(),
            namespace,
            workload,
            started_at: from_millis(self.started),
            updated_at: from_millis(self.updated),
            resolved_at: self.resolved_at.map(from_millis),
            alertnames,
            alert_count: self.members.len() as u32 + self.overflow,
            firing_count: self.members.values().filter(|m| m.active()).count() as u32,
            alerts,
            revision: self.revision,
            component: self.component.clone(),
            failure_class,
            inhibited_count: self.members.values().filter(|m| m.inhibited_by.is_some()).count() as u32,
            event_count: count(SignalKind::K8sEvent),
            anomaly_count: count(SignalKind::Anomaly),
            merged_into: self.merged_into.clone(),
        };
        let id = stable_id(&["incident-revision", &self.id, &self.revision.to_string()]);
        Envelope::new(id, SOURCE, from_millis(self.updated), self.id.clone(), self.cluster.clone(), incident)
    }
}

/// The value every item shares, if all items have one and they agree.
fn common<S: Into<String>>(mut items: impl Iterator<Item = Option<S>>) -> Option<String> {
    let first: String = items.next()??.into();
    for item in items {
        if item.map(Into::into).as_deref() != Some(first.as_str()) {
            return None;
        }
    }
    Some(first)
}
