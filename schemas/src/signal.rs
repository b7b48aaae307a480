//! The stage-2 signal stream: every input the correlator and RCA read, re-keyed by cluster
//! onto `kubesage.signals` so that everything about one cluster meets in one partition.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::envelope::{Envelope, Payload};
use crate::k8s::K8sEvent;
use crate::signals::{Anomaly, PeerWindow};
use crate::topology::TopologyUpdate;

/// One record of `kubesage.signals`. On the wire it is exactly the payload of the topic it
/// was routed from (`kubesage.alerts`, `kubesage.k8s.events`, `kubesage.anomalies`,
/// `kubesage.topology`, `kubesage.peer.windows`), in the same envelope (same id, time,
/// type): the variant is recognised by its fields, so an alert record decodes as it always
/// did. Window means are RCA's history of the series placed on a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Signal {
    Alert(Alert),
    Event(K8sEvent),
    Anomaly(Anomaly),
    Topology(TopologyUpdate),
    Window(PeerWindow),
}

impl Payload for Signal {
    /// Only used for envelopes built around a signal directly; a routed record keeps the
    /// `type` of its source topic.
    const KIND: &'static str = "io.kubesage.signal.v1";
}

macro_rules! lift {
    ($($fn:ident: $t:ty => $v:ident),*) => {$(
        /// The same envelope (id, time, type included), as a signal.
        pub fn $fn(e: Envelope<$t>) -> Envelope<Signal> {
            Envelope { specversion: e.specversion, id: e.id, source: e.source, kind: e.kind, time: e.time, subject: e.subject, cluster: e.cluster, data: Signal::$v(e.data) }
        }
    )*};
}
lift!(from_alert: Alert => Alert, from_event: K8sEvent => Event, from_anomaly: Anomaly => Anomaly, from_topology: TopologyUpdate => Topology, from_window: PeerWindow => Window);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifted_envelope_is_byte_for_byte_its_source() {
        let raw = r#"{"specversion":"1.0","id":"a1","source":"s","type":"io.kubesage.k8s.event.v1","time":"2026-11-23T10:00:00Z","subject":"Pod/shop/p","cluster":"c1","data":{"event_type":"Warning","reason":"BackOff","note":"","regarding":{"kind":"Pod","namespace":"shop","name":"p","uid":"","api_version":""},"reporting_controller":"kubelet","reporting_instance":"","count":1,"observed_at":"2026-11-23T10:00:00Z","event_uid":"u"}}"#;
        let e: Envelope<K8sEvent> = serde_json::from_str(raw).expect("event");
        let lifted = from_event(e);
        assert_eq!(serde_json::to_string(&lifted).expect("json"), raw);
        let back: Envelope<Signal> = serde_json::from_str(raw).expect("signal");
        assert!(matches!(back.data, Signal::Event(_)));
    }
}
