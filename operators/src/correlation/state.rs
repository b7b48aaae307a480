//! The correlator's state and its transitions. Plain data, serialisable as the snapshot.

use std::collections::{BTreeMap, BTreeSet};

use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, IncidentAlert, IncidentStatus};
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

use super::config::CorrelationConfig;
use super::keys;
use super::{OUTPUT, SOURCE};
use crate::time::{duration_millis, from_millis, to_millis, Millis};
use crate::Collector;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// Events waiting for their boundary, by event time; ties ordered by record id.
    buffer: BTreeMap<Millis, Vec<Envelope<Alert>>>,
    pub(super) incidents: BTreeMap<String, IncidentState>,
    /// `cluster/fingerprint` -> incident id, for every tracked member.
    members: BTreeMap<String, String>,
    /// `cluster/key` -> incident id, for keys of incidents whose session is open.
    open_keys: BTreeMap<String, String>,
    pub(super) watermark: Option<Millis>,
    pub(super) last_boundary: Option<Millis>,
    /// Cache, not state: no boundary work is due before this watermark (`Millis::MAX`:
    /// nothing is due at all). `None`: unknown, recompute.
    #[serde(skip)]
    pub(super) next_check: Option<Millis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IncidentState {
    id: String,
    cluster: String,
    keys: BTreeSet<String>,
    started: Millis,
    last_alert: Millis,
    updated: Millis,
    session_open: bool,
    resolved_at: Option<Millis>,
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
}

impl State {
    pub(super) fn buffer_event(&mut self, event: Envelope<Alert>) {
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
    /// session to close, a stale incident to resolve).
    pub(super) fn next_due(&self, cfg: &CorrelationConfig) -> Option<Millis> {
        let buffered = self.buffer.keys().next().copied();
        let incidents = self.incidents.values().map(|i| {
            if i.session_open {
                i.deadline(cfg)
            } else if i.resolved_at.is_some() {
                i.updated // resolved and closed: due for removal
            } else {
                i.updated.saturating_add(duration_millis(cfg.stale_after))
            }
        });
        buffered.into_iter().chain(incidents).min()
    }

    /// Everything that happens at boundary `b`: apply events with time < b, close
    /// sessions and resolve stale incidents due before b, publish what changed, forget
    /// what is finished.
    pub(super) fn process_boundary(&mut self, b: Millis, cfg: &CorrelationConfig, out: &mut Collector) {
        let later = self.buffer.split_off(&b);
        let due = std::mem::replace(&mut self.buffer, later);
        for (_, events) in due {
            for e in events {
                self.apply(e, cfg);
            }
        }
        let stale_after = duration_millis(cfg.stale_after);
        for inc in self.incidents.values_mut() {
            if inc.session_open && inc.deadline(cfg) < b {
                inc.session_open = false;
                for k in &inc.keys {
                    self.open_keys.remove(&scoped(&inc.cluster, k));
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
        let finished: Vec<String> = self
            .incidents
            .values()
            .filter(|i| !i.session_open && i.resolved_at.is_some())
            .map(|i| i.id.clone())
            .collect();
        for id in finished {
            if let Some(inc) = self.incidents.remove(&id) {
                for fp in inc.members.keys() {
                    self.members.remove(&scoped(&inc.cluster, fp));
                }
            }
        }
    }

    fn apply(&mut self, e: Envelope<Alert>, cfg: &CorrelationConfig) {
        let t = to_millis(&e.time);
        let member_key = scoped(&e.cluster, &e.data.fingerprint);
        if let Some(inc_id) = self.members.get(&member_key).cloned() {
            if let Some(inc) = self.incidents.get_mut(&inc_id) {
                let refire = e.data.status == AlertStatus::Firing && inc.resolved_at.is_some() && !inc.session_open;
                if !refire {
                    inc.update_member(&e, t, cfg);
                    return;
                }
            }
            self.members.remove(&member_key);
        }
        if e.data.status == AlertStatus::Resolved {
            // A resolve for an alert we never saw firing (started before us, or
            // untracked overflow): nothing to close.
            return;
        }
        let mut alert_keys = keys::keys_of(&e.data.labels, &cfg.group_by);
        if alert_keys.is_empty() {
            let ns = keys::namespace(&e.data.labels).unwrap_or("");
            alert_keys.push(format!("alertname:{ns}/{}", e.data.alertname));
        }
        let joined = alert_keys
            .iter()
            .filter_map(|k| self.open_keys.get(&scoped(&e.cluster, k)))
            .filter_map(|id| self.incidents.get(id))
            .min_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)))
            .map(|i| i.id.clone());
        let inc_id = match joined {
            Some(id) => id,
            None => {
                let id = stable_id(&["incident", &e.cluster, &alert_keys[0], &e.id]);
                self.incidents.insert(id.clone(), IncidentState::new(id.clone(), e.cluster.clone(), t));
                id
            }
        };
        let primary = scoped(&e.cluster, &alert_keys[0]);
        if let Some(inc) = self.incidents.get_mut(&inc_id) {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.open_keys.entry(primary) {
                slot.insert(inc_id.clone());
                inc.keys.insert(alert_keys[0].clone());
            }
            if inc.members.len() < cfg.max_members {
                self.members.insert(member_key, inc_id.clone());
            }
            inc.update_member(&e, t, cfg);
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
            started: t,
            last_alert: t,
            updated: t,
            session_open: true,
            resolved_at: None,
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

    fn update_member(&mut self, e: &Envelope<Alert>, t: Millis, cfg: &CorrelationConfig) {
        let a = &e.data;
        let member = Member {
            alertname: a.alertname.clone(),
            status: a.status,
            severity: a.severity,
            starts_at: to_millis(&a.starts_at),
            labels: a.labels.clone(),
        };
        match self.members.get(&a.fingerprint) {
            Some(m) if *m == member => return, // a duplicate delivery changes nothing
            None if self.members.len() >= cfg.max_members => {
                self.overflow += 1;
                self.dirty = true;
                return;
            }
            _ => {}
        }
        self.members.insert(a.fingerprint.clone(), member);
        if a.status == AlertStatus::Firing && self.session_open {
            self.last_alert = self.last_alert.max(t);
        }
        self.updated = self.updated.max(t);
        self.resolved_at = if self.members.values().any(|m| m.status == AlertStatus::Firing) {
            None
        } else {
            Some(self.updated)
        };
        self.dirty = true;
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
        let workload = common(self.members.values().map(|m| {
            keys::workload(&m.labels).map(|w| match w.kind {
                Some(kind) => format!("{kind}/{}", w.name),
                None => w.name,
            })
        }));
        let node = common(self.members.values().map(|m| keys::node(&m.labels)));
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
            })
            .collect();
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
            firing_count: firing.len() as u32,
            alerts,
            revision: self.revision,
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
