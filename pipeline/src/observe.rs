//! Prometheus views of what operators conclude, with bounded cardinality: only the top N
//! active anomalies and the top N log templates get a series of their own. Operators stay
//! pure; the runtime watches their outputs.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use kubesage_schemas::incident::{Incident, IncidentStatus, RcaReport};
use kubesage_schemas::signals::{Anomaly, AnomalyPhase, LogPattern};
use kubesage_schemas::{topics, Envelope};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeriesLabel {
    pub signal: String,
    pub series: String,
    /// `peer` for a peer-group outlier, else `own` (judged against its own history): one
    /// series can have both at once.
    pub baseline: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct TemplateLabel {
    pub template_id: String,
}

/// The first-ranked root cause of one open incident.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct RootCauseLabel {
    pub incident_id: String,
    pub component: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Keeps a gauge family holding only the `n` largest values.
pub struct TopN<L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Ord> {
    n: usize,
    values: Mutex<BTreeMap<L, f64>>,
    family: Family<L, FloatGauge>,
}

impl<L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Ord + Send + Sync + 'static> TopN<L> {
    pub fn new(n: usize, family: Family<L, FloatGauge>) -> Self {
        TopN { n, values: Mutex::new(BTreeMap::new()), family }
    }

    pub fn family(&self) -> Family<L, FloatGauge> {
        self.family.clone()
    }

    /// Set (`Some`) or clear (`None`) a value, then publish the top `n`.
    pub fn set(&self, label: L, value: Option<f64>) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(v) => values.insert(label, v),
            None => values.remove(&label),
        };
        self.publish(&mut values);
    }

    /// Clear every value whose label matches `drop`, set `value`, then publish the top `n`.
    pub fn replace(&self, drop: impl Fn(&L) -> bool, value: Option<(L, f64)>) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.retain(|l, _| !drop(l));
        if let Some((label, v)) = value {
            values.insert(label, v);
        }
        self.publish(&mut values);
    }

    fn publish(&self, values: &mut BTreeMap<L, f64>) {
        // Bound the tracked set too: far below the top, values are forgotten.
        if values.len() > self.n * 20 {
            let mut sorted: Vec<(L, f64)> = values.iter().map(|(l, v)| (l.clone(), *v)).collect();
            sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
            *values = sorted.into_iter().take(self.n * 10).collect();
        }
        let mut sorted: Vec<(&L, &f64)> = values.iter().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<(L, f64)> = sorted.into_iter().take(self.n).map(|(l, v)| (l.clone(), *v)).collect();
        self.family.clear();
        for (l, v) in top {
            self.family.get_or_create(&l).set(v);
        }
    }
}

pub struct Observers {
    pub anomalies: TopN<SeriesLabel>,
    pub templates: TopN<TemplateLabel>,
    pub root_causes: TopN<RootCauseLabel>,
}

impl Observers {
    /// Look at one output record; cheap for topics nobody watches.
    pub fn observe(&self, topic: &str, payload: &[u8]) {
        match topic {
            topics::ANOMALIES => {
                if let Ok(e) = serde_json::from_slice::<Envelope<Anomaly>>(payload) {
                    let a = e.data;
                    let baseline = if a.detectors.iter().any(|d| d == "peer_mad") { "peer" } else { "own" };
                    let label = SeriesLabel { signal: label_value(&a.signal), series: label_value(&a.series), baseline: baseline.to_string() };
                    let value = (a.phase != AnomalyPhase::Ended).then_some(a.score);
                    self.anomalies.set(label, value);
                }
            }
            topics::RCA => {
                if let Ok(e) = serde_json::from_slice::<Envelope<RcaReport>>(payload) {
                    let r = e.data;
                    let id = label_value(&r.incident_id);
                    let top = r.candidates.first().map(|c| (RootCauseLabel { incident_id: id.clone(), component: label_value(&c.component) }, c.score));
                    self.root_causes.replace(|l| l.incident_id == id, top);
                }
            }
            topics::INCIDENTS => {
                if let Ok(e) = serde_json::from_slice::<Envelope<Incident>>(payload) {
                    if e.data.status == IncidentStatus::Resolved {
                        let id = label_value(&e.data.incident_id);
                        self.root_causes.replace(|l| l.incident_id == id, None);
                    }
                }
            }
            topics::LOG_PATTERNS => {
                if let Ok(e) = serde_json::from_slice::<Envelope<LogPattern>>(payload) {
                    self.templates.set(TemplateLabel { template_id: label_value(&e.data.template_id) }, Some(e.data.count as f64));
                }
            }
            _ => {}
        }
    }
}

/// A label value escaped for the text exposition format. prometheus-client writes label
/// values as they are, and series names carry quotes (`up{job="x"}`), which would end the
/// value early and make `/metrics` unparseable.
pub fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    kubesage_schemas::signals::escape_label_value(s, &mut out);
    out
}

impl PartialOrd for SeriesLabel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeriesLabel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.signal, &self.series, &self.baseline).cmp(&(&other.signal, &other.series, &other.baseline))
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_survive_the_text_format() {
        use prometheus_client::registry::Registry;
        let family: Family<SeriesLabel, FloatGauge> = Family::default();
        let mut reg = Registry::with_prefix("kubesage");
        reg.register("anomaly_score", "s", family.clone());
        let obs = Observers { anomalies: TopN::new(5, family), templates: TopN::new(5, Family::default()), root_causes: TopN::new(5, Family::default()) };
        let a = Anomaly {
            anomaly_id: "a".into(),
            phase: AnomalyPhase::Started,
            signal: "metric".into(),
            series: "up{job=\"a\\\"b\"}".into(),
            labels: Default::default(),
            score: 0.9,
            observed: 1.0,
            expected_low: 0.0,
            expected_high: 0.5,
            detectors: vec![],
            window_start: chrono::DateTime::UNIX_EPOCH,
            window_end: chrono::DateTime::UNIX_EPOCH,
        };
        let env = Envelope::new("i".to_string(), "t", chrono::DateTime::UNIX_EPOCH, "s".to_string(), "c".to_string(), a);
        obs.observe(topics::ANOMALIES, &serde_json::to_vec(&env).expect("encode"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        assert!(text.contains(r#"series="up{job=\"a\\\"b\"}""#), "{text}");
    }

    fn encode(family: &Family<RootCauseLabel, FloatGauge>) -> String {
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("rc", "rc", family.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        text
    }

    #[test]
    fn the_first_root_cause_of_open_incidents_is_a_series() {
        let family: Family<RootCauseLabel, FloatGauge> = Family::default();
        let obs = Observers { anomalies: TopN::new(5, Family::default()), templates: TopN::new(5, Family::default()), root_causes: TopN::new(5, family.clone()) };
        let report = |component: &str, score: f64| {
            let r = RcaReport {
                incident_id: "inc-1".into(),
                incident_revision: 1,
                symptoms: vec![],
                candidates: vec![kubesage_schemas::incident::RcaCandidate { component: component.into(), score, rank: 1, evidence: vec![] }],
                graph_nodes: 3,
            };
            let env = Envelope::new("r".to_string(), "t", chrono::DateTime::UNIX_EPOCH, "s".to_string(), "c".to_string(), r);
            serde_json::to_vec(&env).expect("encode")
        };
        obs.observe(topics::RCA, &report("Deployment/shop/payments", 0.8));
        assert!(encode(&family).contains(r#"rc{incident_id="inc-1",component="Deployment/shop/payments"} 0.8"#), "{}", encode(&family));
        // A new ranking replaces the old one: one series per incident.
        obs.observe(topics::RCA, &report("Node//node-1", 0.6));
        let text = encode(&family);
        assert!(text.contains(r#"component="Node//node-1"} 0.6"#) && !text.contains("payments"), "{text}");
        // Resolved: gone.
        let incident: Incident = serde_json::from_value(serde_json::json!({
            "incident_id": "inc-1", "status": "resolved", "title": "t", "severity": "critical", "keys": [],
            "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:10:00Z", "alertnames": {},
            "alert_count": 1, "firing_count": 0, "alerts": [], "revision": 2
        }))
        .expect("incident");
        let env = Envelope::new("i".to_string(), "t", chrono::DateTime::UNIX_EPOCH, "s".to_string(), "c".to_string(), incident);
        obs.observe(topics::INCIDENTS, &serde_json::to_vec(&env).expect("encode"));
        assert!(!encode(&family).contains("inc-1"), "{}", encode(&family));
    }

    #[test]
    fn only_the_top_n_have_series() {
        let family: Family<TemplateLabel, FloatGauge> = Family::default();
        let top = TopN::new(2, family.clone());
        for (id, v) in [("a", 1.0), ("b", 5.0), ("c", 3.0), ("d", 0.5)] {
            top.set(TemplateLabel { template_id: id.into() }, Some(v));
        }
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("t", "t", family.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        assert!(text.contains("template_id=\"b\"") && text.contains("template_id=\"c\""), "{text}");
        assert!(!text.contains("template_id=\"a\"") && !text.contains("template_id=\"d\""), "{text}");
        top.set(TemplateLabel { template_id: "b".into() }, None);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
        assert!(text.contains("template_id=\"a\"") && !text.contains("template_id=\"b\""), "{text}");
    }
}
