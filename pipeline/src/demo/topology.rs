//! The demo cluster's topology, as the Kubernetes collector would publish it on
//! `kubesage.topology` (there is no API server to watch in the demo): the payments
//! Deployment with the ReplicaSet whose pods crash-loop and the new one the metrics and logs
//! come from, checkout calling payments through their Services, and three nodes.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::k8s::ObjectRef;
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::{topics, Envelope};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka;

/// The demo's cluster label: alerts, samples and log streams all carry it.
pub const CLUSTER: &str = "demo";

fn oref(kind: &str, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef { kind: kind.into(), namespace: namespace.into(), name: name.into(), uid: format!("demo-{kind}-{name}"), api_version: String::new() }
}

fn upsert(object: ObjectRef) -> TopologyUpdate {
    TopologyUpdate::new(TopologyOp::Upsert, object, "1")
}

fn app(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), name.to_string())])
}

/// A ReplicaSet and its pods as `(name suffix, node)`.
type ReplicaSet = (&'static str, &'static [(&'static str, &'static str)]);

/// Every object of the demo cluster.
pub fn objects() -> Vec<TopologyUpdate> {
    let mut v: Vec<TopologyUpdate> = ["node-a", "node-b", "node-c"].iter().map(|n| upsert(oref("Node", "", n))).collect();
    let workloads: [(&str, &[ReplicaSet]); 2] = [
        (
            "payments",
            &[
                ("payments-7c9d8f6b5d", &[("bx2kq", "node-a"), ("d4fzw", "node-b"), ("hq7rt", "node-c"), ("m9wcx", "node-a")]),
                ("payments-7d9f8c6b5", &[("x2x4z", "node-b"), ("q8w2n", "node-c"), ("m4k7p", "node-a"), ("z9r2t", "node-b")]),
            ],
        ),
        ("checkout", &[("checkout-5f6d7c8b9d", &[("kz2lp", "node-a"), ("r7v4n", "node-b")])]),
    ];
    for (deployment, replica_sets) in workloads {
        v.push(upsert(oref("Deployment", "shop", deployment)));
        for (rs, pods) in replica_sets {
            let mut r = upsert(oref("ReplicaSet", "shop", rs));
            r.owners = vec![oref("Deployment", "shop", deployment)];
            v.push(r);
            for (suffix, node) in *pods {
                let mut p = upsert(oref("Pod", "shop", &format!("{rs}-{suffix}")));
                p.owners = vec![oref("ReplicaSet", "shop", rs)];
                p.node = Some(node.to_string());
                p.labels = app(deployment);
                v.push(p);
            }
        }
        let mut s = upsert(oref("Service", "shop", deployment));
        s.selector = app(deployment);
        if deployment == "checkout" {
            s.calls = vec![oref("Service", "shop", "payments")];
        }
        v.push(s);
    }
    v
}

/// Publish the topology at `t`, keyed by object as the collector keys it.
pub async fn publish(config: &Config, bootstrap: &str, t: DateTime<Utc>) -> Result<usize> {
    let producer: FutureProducer = kafka::producer_config(&config.kafka, bootstrap).create().map_err(|e| Error::Internal(format!("demo producer: {e}")))?;
    let objects = objects();
    for u in &objects {
        let subject = format!("{}/{}/{}", u.object.kind, u.object.namespace, u.object.name);
        let env = Envelope::new(stable_id(&["demo-topology", &subject]), "kubesage/demo/topology", t, subject.clone(), CLUSTER, u.clone());
        let payload = serde_json::to_vec(&env).map_err(|e| Error::Internal(format!("encoding topology: {e}")))?;
        producer
            .send(FutureRecord::to(topics::TOPOLOGY).key(&subject).payload(&payload), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| Error::Internal(format!("publishing topology: {e}")))?;
    }
    Ok(objects.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pod_of_the_demo_has_an_owner_chain_and_a_node() {
        let objects = objects();
        let pods: Vec<_> = objects.iter().filter(|u| u.object.kind == "Pod").collect();
        assert_eq!(pods.len(), 10);
        for p in pods {
            assert!(p.node.is_some(), "{}", p.object.name);
            let rs = &p.owners[0];
            let owner = objects.iter().find(|u| u.object.kind == "ReplicaSet" && u.object.name == rs.name).map(|u| u.owners[0].name.clone());
            assert!(owner.is_some_and(|d| p.object.name.starts_with(&d)), "{}", p.object.name);
        }
    }
}
