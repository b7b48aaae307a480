//! Kubernetes objects into KubeSage records: Events into occurrence records (core/v1
//! fields folded into the events.k8s.io/v1 shape), everything else into topology updates.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kubesage_schemas::k8s::{K8sEvent, ObjectRef};
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};

/// What an object contributes to the graph beyond its metadata.
pub trait Placement {
    fn node(&self) -> Option<String> {
        None
    }
    fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    /// ConfigMaps and Secrets it reads.
    fn uses(&self) -> Vec<ObjectRef> {
        Vec::new()
    }
}

/// ConfigMaps the cluster injects into (nearly) every Pod: CA bundles that controllers
/// publish in every namespace. Their rotation is no change of any one workload, and
/// naming them would tie every Pod to them.
const CLUSTER_BUNDLES: [&str; 3] = ["kube-root-ca.crt", "istio-ca-root-cert", "openshift-service-ca.crt"];

impl Placement for Pod {
    fn node(&self) -> Option<String> {
        self.spec.as_ref().and_then(|s| s.node_name.clone())
    }

    /// From volumes (projected ones too) and every container's `envFrom` and `env`.
    fn uses(&self) -> Vec<ObjectRef> {
        let Some(spec) = &self.spec else { return Vec::new() };
        let mut read: BTreeSet<(&str, &str)> = BTreeSet::new();
        for v in spec.volumes.iter().flatten() {
            read.extend(v.config_map.as_ref().map(|c| ("ConfigMap", c.name.as_str())));
            read.extend(v.secret.as_ref().and_then(|s| s.secret_name.as_deref()).map(|n| ("Secret", n)));
            for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                read.extend(p.config_map.as_ref().map(|c| ("ConfigMap", c.name.as_str())));
                read.extend(p.secret.as_ref().map(|s| ("Secret", s.name.as_str())));
            }
        }
        for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
            for f in c.env_from.iter().flatten() {
                read.extend(f.config_map_ref.as_ref().map(|r| ("ConfigMap", r.name.as_str())));
                read.extend(f.secret_ref.as_ref().map(|r| ("Secret", r.name.as_str())));
            }
            for from in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
                read.extend(from.config_map_key_ref.as_ref().map(|r| ("ConfigMap", r.name.as_str())));
                read.extend(from.secret_key_ref.as_ref().map(|r| ("Secret", r.name.as_str())));
            }
        }
        let namespace = self.namespace().unwrap_or_default();
        read.into_iter()
            .filter(|(kind, name)| {
                let cluster_bundle = *kind == "ConfigMap" && CLUSTER_BUNDLES.contains(name);
                !name.is_empty() && !cluster_bundle
            })
            .map(|(kind, name)| ObjectRef { kind: kind.into(), namespace: namespace.clone(), name: name.into(), uid: String::new(), api_version: "v1".into() })
            .collect()
    }
}

impl Placement for Service {
    fn selector(&self) -> BTreeMap<String, String> {
        self.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default()
    }
}

macro_rules! no_placement {
    ($($t:ty),*) => { $(impl Placement for $t {})* };
}
no_placement!(
    k8s_openapi::api::apps::v1::ReplicaSet,
    k8s_openapi::api::apps::v1::Deployment,
    k8s_openapi::api::apps::v1::StatefulSet,
    k8s_openapi::api::apps::v1::DaemonSet,
    k8s_openapi::api::batch::v1::Job,
    k8s_openapi::api::core::v1::Node,
    k8s_openapi::api::discovery::v1::EndpointSlice
);

fn reference(r: &ObjectReference) -> ObjectRef {
    ObjectRef {
        kind: r.kind.clone().unwrap_or_default(),
        namespace: r.namespace.clone().unwrap_or_default(),
        name: r.name.clone().unwrap_or_default(),
        uid: r.uid.clone().unwrap_or_default(),
        api_version: r.api_version.clone().unwrap_or_default(),
    }
}

/// Occurrence count: `series.count`, else core/v1 `count`, else 1.
pub fn event_count(e: &Event) -> i32 {
    e.series.as_ref().map(|s| s.count).or(e.deprecated_count).unwrap_or(1).max(1)
}

/// Event time of the latest occurrence: `series.lastObservedTime`, `eventTime`,
/// `lastTimestamp`, `firstTimestamp`, then creation.
pub fn event_time(e: &Event) -> Option<DateTime<Utc>> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(e.deprecated_first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

pub fn k8s_event(e: &Event, count: i32) -> Option<K8sEvent> {
    Some(K8sEvent {
        event_type: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        note: e.note.clone().unwrap_or_default(),
        regarding: e.regarding.as_ref().map(reference)?,
        related: e.related.as_ref().map(reference),
        reporting_controller: e
            .reporting_controller
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| e.deprecated_source.as_ref().and_then(|s| s.component.clone()))
            .unwrap_or_default(),
        reporting_instance: e.reporting_instance.clone().filter(|c| !c.is_empty()).or_else(|| e.deprecated_source.as_ref().and_then(|s| s.host.clone())).unwrap_or_default(),
        count: u32::try_from(count).unwrap_or(1),
        observed_at: event_time(e)?,
        event_uid: e.uid().unwrap_or_default(),
    })
}

/// Event time of a topology record: when the change was observed. Not the object's
/// `creationTimestamp`: an update of an object created days ago happens now, and stamping
/// it with its creation would make every update look late to the stages reading it. A
/// delete the API server dated (`deletionTimestamp`, graceful deletion) keeps that date
/// when it is earlier.
pub fn change_time<K: kube::Resource>(obj: &K, op: TopologyOp, observed: DateTime<Utc>) -> DateTime<Utc> {
    match (op, obj.meta().deletion_timestamp.as_ref()) {
        (TopologyOp::Delete, Some(t)) => t.0.min(observed),
        _ => observed,
    }
}

pub fn topology<K>(obj: &K, kind: &str, op: TopologyOp) -> TopologyUpdate
where
    K: kube::Resource + Placement,
{
    let owners = obj
        .owner_references()
        .iter()
        .map(|o| ObjectRef { kind: o.kind.clone(), namespace: obj.namespace().unwrap_or_default(), name: o.name.clone(), uid: o.uid.clone(), api_version: o.api_version.clone() })
        .collect();
    TopologyUpdate {
        op,
        object: ObjectRef { kind: kind.to_string(), namespace: obj.namespace().unwrap_or_default(), name: obj.name_any(), uid: obj.uid().unwrap_or_default(), api_version: String::new() },
        owners,
        node: obj.node(),
        selector: obj.selector(),
        labels: obj.labels().clone(),
        calls: Vec::new(),
        uses: obj.uses(),
        resource_version: obj.resource_version().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> Event {
        serde_json::from_value(json).expect("event")
    }

    #[test]
    fn events_normalise_core_and_series_fields() {
        let series = event(serde_json::json!({
            "metadata": {"name": "p.1", "namespace": "shop", "uid": "u1", "resourceVersion": "9"},
            "eventTime": "2026-11-23T10:00:00.000000Z",
            "series": {"count": 7, "lastObservedTime": "2026-11-23T10:05:00.000000Z"},
            "reason": "BackOff", "type": "Warning", "note": "Back-off restarting failed container",
            "regarding": {"kind": "Pod", "namespace": "shop", "name": "payments-7c9d8f6b5d-bx2kq"},
            "reportingController": "kubelet"
        }));
        assert_eq!(event_count(&series), 7);
        let k = k8s_event(&series, 7).expect("normalised");
        assert_eq!(k.observed_at.to_rfc3339(), "2026-11-23T10:05:00+00:00", "series.lastObservedTime wins");
        assert_eq!(k.regarding.name, "payments-7c9d8f6b5d-bx2kq");

        let core = event(serde_json::json!({
            "metadata": {"name": "n.1", "uid": "u2"},
            "deprecatedCount": 3,
            "deprecatedFirstTimestamp": "2026-11-23T09:00:00Z",
            "deprecatedLastTimestamp": "2026-11-23T09:30:00Z",
            "deprecatedSource": {"component": "node-controller", "host": "cp-1"},
            "reason": "NodeNotReady",
            "regarding": {"kind": "Node", "name": "node-a"}
        }));
        assert_eq!(event_count(&core), 3);
        let k = k8s_event(&core, 3).expect("normalised");
        assert_eq!(k.reporting_controller, "node-controller");
        assert_eq!(k.reporting_instance, "cp-1");
        assert_eq!(k.observed_at.to_rfc3339(), "2026-11-23T09:30:00+00:00");
        assert_eq!(k.event_type, "Normal");
    }

    #[test]
    fn topology_records_are_stamped_when_the_change_was_observed() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "shop", "uid": "p1", "resourceVersion": "9", "creationTimestamp": "2025-01-01T00:00:00Z"}
        }))
        .expect("pod");
        let now: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().expect("time");
        assert_eq!(change_time(&pod, TopologyOp::Upsert, now), now, "an update of an old object happens now, not at its creation");
        assert_eq!(change_time(&pod, TopologyOp::Delete, now), now);
        pod.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-11-23T09:59:30Z".parse().expect("time")));
        assert_eq!(change_time(&pod, TopologyOp::Delete, now).to_rfc3339(), "2026-11-23T09:59:30+00:00", "a dated deletion keeps its date");
    }

    #[test]
    fn pods_carry_owners_and_node() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "payments-7c9d8f6b5d-bx2kq", "namespace": "shop", "uid": "p1", "resourceVersion": "5",
                "labels": {"app": "payments"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "payments-7c9d8f6b5d", "uid": "rs1"}]},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c"}]}
        }))
        .expect("pod");
        let t = topology(&pod, "Pod", TopologyOp::Upsert);
        assert_eq!(t.node.as_deref(), Some("node-a"));
        assert_eq!(t.owners[0].kind, "ReplicaSet");
        assert_eq!(t.owners[0].namespace, "shop");
        assert_eq!(t.resource_version, "5");
        assert!(t.uses.is_empty());
    }

    #[test]
    fn pods_name_every_configmap_and_secret_they_read() {
        let spec = |spec: serde_json::Value| -> Pod { serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": spec})).expect("pod") };
        let cases = vec![
            ("configmap volume", spec(serde_json::json!({"containers": [{"name": "c"}], "volumes": [{"name": "v", "configMap": {"name": "app-config"}}]})), vec!["ConfigMap/app-config"]),
            ("secret volume", spec(serde_json::json!({"containers": [{"name": "c"}], "volumes": [{"name": "v", "secret": {"secretName": "db"}}]})), vec!["Secret/db"]),
            (
                "projected volume",
                spec(serde_json::json!({"containers": [{"name": "c"}], "volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "b"}}, {"serviceAccountToken": {"path": "t"}}]}}]})),
                vec!["ConfigMap/a", "Secret/b"],
            ),
            (
                "envFrom of an init container",
                spec(serde_json::json!({"containers": [{"name": "c"}], "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "flags"}}, {"secretRef": {"name": "token"}}]}]})),
                vec!["ConfigMap/flags", "Secret/token"],
            ),
            (
                "env valueFrom, repeated names once",
                spec(serde_json::json!({"containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "a"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "b"}}},
                    {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "E", "value": "plain"}]}]})),
                vec!["ConfigMap/flags", "Secret/db"],
            ),
            (
                "the API access volume every pod gets projects the cluster CA bundle: not named",
                spec(serde_json::json!({"containers": [{"name": "c"}], "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}]})),
                vec![],
            ),
            ("nothing read", spec(serde_json::json!({"containers": [{"name": "c"}], "volumes": [{"name": "v", "emptyDir": {}}]})), vec![]),
        ];
        for (name, pod, want) in cases {
            let got: Vec<String> = pod.uses().iter().map(|r| format!("{}/{}", r.kind, r.name)).collect();
            assert_eq!(got, want, "{name}");
            assert!(pod.uses().iter().all(|r| r.namespace == "shop"), "{name}: in the pod's namespace");
        }
    }
}
