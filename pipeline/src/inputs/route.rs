//! Routing jobs: the Kafka Streams way to bring differently keyed inputs together. Each
//! `route-*` job reads one input topic (alerts, Kubernetes events, anomalies, topology; keyed
//! by object or series) and writes every record unchanged — same envelope, same id, same
//! event time — onto `kubesage.signals`, keyed by its cluster, so every signal of a cluster
//! meets the correlator and RCA in one partition. Routing is stateless: the ids are those
//! of the inputs (a replay writes the same records, which subscribers de-duplicate), and
//! the record is acknowledged before its input offset is committed like any job's output.
//! Lateness is not a router's business (it has no windows); the reading stage decides.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use kubesage_operators::time::to_millis;
use kubesage_operators::rca::history;
use kubesage_operators::{Collector, OperatorError, Snapshot};
use kubesage_schemas::alert::Alert;
use kubesage_schemas::k8s::K8sEvent;
use kubesage_schemas::signal::{self, Signal};
use kubesage_schemas::signals::{Anomaly, PeerWindow};
use kubesage_schemas::topics;
use kubesage_schemas::topology::TopologyUpdate;
use kubesage_schemas::Envelope;
use serde::de::DeserializeOwned;

use crate::config::LatePolicy;
use crate::host::hosted::{Applied, HostedOperator, RecordMeta};

/// Re-keys envelopes of payload `P` onto `kubesage.signals` by cluster.
pub struct SignalRoute<P> {
    name: &'static str,
    lift: fn(Envelope<P>) -> Envelope<Signal>,
    /// Records stage 2 reads; the others are read and passed over.
    wanted: fn(&P) -> bool,
    _payload: PhantomData<fn() -> P>,
}

/// A routing job: (job name, input topic, router).
pub type Route = (&'static str, &'static str, fn() -> Box<dyn HostedOperator>);

/// The routes into `kubesage.signals`.
pub const ROUTES: &[Route] = &[
    ("route-alerts", topics::ALERTS, || Box::new(SignalRoute::<Alert>::new("route-alerts", signal::from_alert))),
    ("route-events", topics::K8S_EVENTS, || Box::new(SignalRoute::<K8sEvent>::new("route-events", signal::from_event))),
    ("route-anomalies", topics::ANOMALIES, || Box::new(SignalRoute::<Anomaly>::new("route-anomalies", signal::from_anomaly))),
    ("route-topology", topics::TOPOLOGY, || Box::new(SignalRoute::<TopologyUpdate>::new("route-topology", signal::from_topology))),
    // RCA's window history of the series it can read (see `rca::history`).
    ("route-windows", topics::PEER_WINDOWS, || Box::new(SignalRoute::<PeerWindow>::new("route-windows", signal::from_window).only(|w| history::kind(&w.name).is_some()))),
];

impl<P> SignalRoute<P> {
    pub fn new(name: &'static str, lift: fn(Envelope<P>) -> Envelope<Signal>) -> Self {
        SignalRoute { name, lift, wanted: |_| true, _payload: PhantomData }
    }

    /// Route only the records `wanted` accepts.
    pub fn only(self, wanted: fn(&P) -> bool) -> Self {
        SignalRoute { wanted, ..self }
    }
}

impl<P: DeserializeOwned> HostedOperator for SignalRoute<P> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn apply(&mut self, payload: &[u8], _meta: RecordMeta<'_>, _watermark: Option<i64>, _policy: LatePolicy, out: &mut Collector) -> Applied {
        let event: Envelope<P> = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => return Applied::Invalid(format!("not a valid {} input record: {e}", self.name)),
        };
        if event.id.is_empty() {
            return Applied::Invalid("envelope id is empty".into());
        }
        if event.cluster.is_empty() {
            return Applied::Invalid("envelope cluster is empty".into());
        }
        let event_ms = to_millis(&event.time);
        if !(self.wanted)(&event.data) {
            return Applied::OnTime { event_ms };
        }
        let routed = (self.lift)(event);
        out.emit(topics::SIGNALS, &routed.cluster.clone(), &routed);
        Applied::OnTime { event_ms }
    }

    fn on_watermark(&mut self, _watermark_ms: i64, _out: &mut Collector) {}

    fn on_tick(&mut self, _now: DateTime<Utc>, _out: &mut Collector) {}

    fn snapshot(&self) -> Snapshot {
        Snapshot { version: 1, state: serde_json::Value::Null }
    }

    fn restore(&mut self, _snapshot: Snapshot) -> Result<(), OperatorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"specversion":"1.0","id":"e1","source":"kubesage/collector/kubernetes","type":"io.kubesage.k8s.event.v1","time":"2026-11-23T10:00:00Z","subject":"Pod/shop/p","cluster":"prod","data":{"event_type":"Warning","reason":"BackOff","note":"","regarding":{"kind":"Pod","namespace":"shop","name":"p","uid":"","api_version":""},"reporting_controller":"kubelet","reporting_instance":"","count":1,"observed_at":"2026-11-23T10:00:00Z","event_uid":"u"}}"#;
    const TOPOLOGY: &str = r#"{"specversion":"1.0","id":"t1","source":"kubesage/collector/kubernetes","type":"io.kubesage.topology.v1","time":"2026-11-23T10:00:01Z","subject":"Pod/shop/p","cluster":"prod","data":{"op":"upsert","object":{"kind":"Pod","namespace":"shop","name":"p","uid":"p1","api_version":""},"owners":[],"node":"node-a","resource_version":"7"}}"#;
    const ALERT: &str = r#"{"specversion":"1.0","id":"a1","source":"kubesage/collector/alertmanager","type":"io.kubesage.alert.v1","time":"2026-11-23T10:00:02Z","subject":"f1","cluster":"prod","data":{"fingerprint":"f1","status":"firing","alertname":"HighLatency","severity":"warning","labels":{"alertname":"HighLatency","namespace":"shop"},"annotations":{},"starts_at":"2026-11-23T10:00:00Z","generator_url":"","via":"api"}}"#;
    const ANOMALY: &str = r#"{"specversion":"1.0","id":"n1","source":"kubesage/operator/anomaly","type":"io.kubesage.anomaly.v1","time":"2026-11-23T10:00:03Z","subject":"s","cluster":"prod","data":{"anomaly_id":"x","phase":"started","signal":"metric","series":"s","labels":{},"score":0.99,"observed":2.0,"expected_low":0.1,"expected_high":0.3,"detectors":["spike"],"window_start":"2026-11-23T10:00:00Z","window_end":"2026-11-23T10:00:03Z"}}"#;
    const WINDOW: &str = r#"{"specversion":"1.0","id":"w1","source":"kubesage/operator/anomaly","type":"io.kubesage.peer.window.v1","time":"2026-11-23T10:01:00Z","subject":"g","cluster":"prod","data":{"group":"cpu{namespace=\"shop\"}","name":"cpu","labels":{"namespace":"shop"},"member":"web-0","member_label":"pod","series":"cpu{namespace=\"shop\",pod=\"web-0\"}","window_start":"2026-11-23T10:00:00Z","window_end":"2026-11-23T10:01:00Z","mean":0.5,"samples":4}}"#;

    fn route(name: &str, payload: &str) -> (Applied, Collector) {
        let (_, _, make) = ROUTES.iter().find(|r| r.0 == name).copied().expect("route");
        let mut op = make();
        let mut out = Collector::default();
        // A watermark far ahead: routing never drops or dead-letters a record as late.
        let applied = op.apply(payload.as_bytes(), RecordMeta { key: None, timestamp_ms: None }, Some(i64::MAX), LatePolicy::Drop, &mut out);
        (applied, out)
    }

    #[test]
    fn every_input_is_rekeyed_by_cluster_unchanged() {
        type Case = (&'static str, &'static str, fn(&Signal) -> bool);
        let cases: [Case; 5] = [
            ("route-windows", WINDOW, |s| matches!(s, Signal::Window(_))),
            ("route-events", EVENT, |s| matches!(s, Signal::Event(_))),
            ("route-topology", TOPOLOGY, |s| matches!(s, Signal::Topology(_))),
            ("route-anomalies", ANOMALY, |s| matches!(s, Signal::Anomaly(_))),
            ("route-alerts", ALERT, |s| matches!(s, Signal::Alert(_))),
        ];
        for (name, payload, variant) in cases {
            let (applied, out) = route(name, payload);
            assert!(matches!(applied, Applied::OnTime { .. }), "{name}: {applied:?}");
            let [item] = out.items() else { panic!("{name}: one output expected") };
            assert_eq!((item.topic, item.key.as_str()), (topics::SIGNALS, "prod"), "{name}");
            let input: serde_json::Value = serde_json::from_str(payload).expect("input");
            let output: serde_json::Value = serde_json::from_slice(&item.payload).expect("output");
            assert_eq!(input, output, "{name}: the record is routed unchanged (same id, time, type)");
            let decoded: Envelope<Signal> = serde_json::from_slice(&item.payload).expect("signal");
            assert!(variant(&decoded.data), "{name}: decodes as the right signal");
        }
    }

    #[test]
    fn windows_rca_cannot_read_are_not_routed() {
        let bucket = WINDOW.replace(r#""name":"cpu""#, r#""name":"http_request_duration_seconds_bucket""#);
        let (applied, out) = route("route-windows", &bucket);
        assert!(matches!(applied, Applied::OnTime { .. }) && out.is_empty(), "{applied:?}");
        assert_eq!(route("route-windows", WINDOW).1.len(), 1);
    }

    #[test]
    fn bad_records_are_invalid() {
        for (name, payload, why) in [
            ("route-events", "{", "not a valid route-events"),
            ("route-alerts", EVENT, "not a valid route-alerts"),
            ("route-events", &EVENT.replace(r#""cluster":"prod""#, r#""cluster":"""#), "cluster is empty"),
            ("route-events", &EVENT.replace(r#""id":"e1""#, r#""id":"""#), "id is empty"),
        ] {
            match route(name, payload).0 {
                Applied::Invalid(reason) => assert!(reason.contains(why), "{name}: {reason}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
