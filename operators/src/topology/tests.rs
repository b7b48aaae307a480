use std::collections::BTreeMap;

use kubesage_schemas::ids::stable_id;
use kubesage_schemas::k8s::ObjectRef;
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::Envelope;
use proptest::prelude::*;

use super::*;
use crate::time::from_millis;

pub(crate) fn oref(kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef { kind: kind.into(), namespace: ns.into(), name: name.into(), uid: format!("uid-{kind}-{name}"), api_version: String::new() }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(crate) fn update(op: TopologyOp, object: ObjectRef) -> TopologyUpdate {
    TopologyUpdate::new(op, object, "1")
}

/// A pod that reads these ConfigMaps and Secrets (`Kind/name`).
fn reading(p: TopologyUpdate, uses: &[(&str, &str)]) -> TopologyUpdate {
    let ns = p.object.namespace.clone();
    TopologyUpdate { uses: uses.iter().map(|(kind, name)| oref(kind, &ns, name)).collect(), ..p }
}

pub(crate) fn pod(ns: &str, name: &str, owner: ObjectRef, node: &str, app: &str) -> TopologyUpdate {
    TopologyUpdate { owners: vec![owner], node: Some(node.into()), labels: labels(&[("app", app)]), ..update(TopologyOp::Upsert, oref("Pod", ns, name)) }
}

pub(crate) fn service(ns: &str, name: &str, app: &str, calls: &[&str]) -> TopologyUpdate {
    TopologyUpdate {
        selector: labels(&[("app", app)]),
        calls: calls.iter().map(|c| oref("Service", ns, c)).collect(),
        ..update(TopologyOp::Upsert, oref("Service", ns, name))
    }
}

fn owned(kind: &str, ns: &str, name: &str, owner: ObjectRef) -> TopologyUpdate {
    TopologyUpdate { owners: vec![owner], ..update(TopologyOp::Upsert, oref(kind, ns, name)) }
}

/// A small shop: web -> cart -> redis, web -> payments; a CronJob's Job's Pod. Payments
/// reads its own ConfigMap and Secret; web and cart share a ConfigMap of feature flags.
fn shop() -> Vec<TopologyUpdate> {
    vec![
        reading(pod("shop", "payments-7d9f8b6c5d-bcdfg", oref("ReplicaSet", "shop", "payments-7d9f8b6c5d"), "n1", "payments"), &[("ConfigMap", "payments"), ("Secret", "payments-db")]),
        owned("ReplicaSet", "shop", "payments-7d9f8b6c5d", oref("Deployment", "shop", "payments")),
        update(TopologyOp::Upsert, oref("Deployment", "shop", "payments")),
        reading(pod("shop", "payments-7d9f8b6c5d-hjklm", oref("ReplicaSet", "shop", "payments-7d9f8b6c5d"), "n2", "payments"), &[("ConfigMap", "payments"), ("Secret", "payments-db")]),
        reading(pod("shop", "cart-5b7c9d8f4-xzqwv", oref("ReplicaSet", "shop", "cart-5b7c9d8f4"), "n1", "cart"), &[("ConfigMap", "flags")]),
        owned("ReplicaSet", "shop", "cart-5b7c9d8f4", oref("Deployment", "shop", "cart")),
        pod("shop", "redis-0", oref("StatefulSet", "shop", "redis"), "n2", "redis"),
        reading(pod("shop", "web-6b8f9c7d5e-tvwxz", oref("ReplicaSet", "shop", "web-6b8f9c7d5e"), "n2", "web"), &[("ConfigMap", "flags")]),
        owned("ReplicaSet", "shop", "web-6b8f9c7d5e", oref("Deployment", "shop", "web")),
        service("shop", "web", "web", &["cart", "payments"]),
        service("shop", "cart", "cart", &["redis"]),
        service("shop", "payments", "payments", &[]),
        service("shop", "redis", "redis", &[]),
        pod("batch", "report-28912345-pqrst", oref("Job", "batch", "report-28912345"), "n3", "report"),
        owned("Job", "batch", "report-28912345", oref("CronJob", "batch", "report")),
        TopologyUpdate {
            labels: labels(&[("kubernetes.io/service-name", "cart")]),
            owners: vec![oref("Service", "shop", "cart")],
            ..update(TopologyOp::Upsert, oref("EndpointSlice", "shop", "cart-abcde"))
        },
    ]
}

fn topo(updates: &[TopologyUpdate]) -> Topology {
    let mut t = Topology::new(TopologyConfig::default());
    for u in updates {
        t.apply("c1", u);
    }
    t
}

#[test]
fn queries_over_owner_chains_nodes_services_and_calls() {
    let t = topo(&shop());
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        ("root of a deployment pod", vec![t.owner_root("c1", "Pod/shop/payments-7d9f8b6c5d-bcdfg")], vec!["Deployment/shop/payments"]),
        ("root of a statefulset pod", vec![t.owner_root("c1", "Pod/shop/redis-0")], vec!["StatefulSet/shop/redis"]),
        ("root of a cronjob pod", vec![t.owner_root("c1", "Pod/batch/report-28912345-pqrst")], vec!["CronJob/batch/report"]),
        ("root of an endpoint slice", vec![t.owner_root("c1", "EndpointSlice/shop/cart-abcde")], vec!["Service/shop/cart"]),
        ("root of an unknown object is itself", vec![t.owner_root("c1", "Pod/x/y")], vec!["Pod/x/y"]),
        ("node of a pod", t.node_of("c1", "Pod/shop/cart-5b7c9d8f4-xzqwv").into_iter().collect(), vec!["n1"]),
        ("pods of a node", t.pods_of_node("c1", "n1"), vec!["Pod/shop/cart-5b7c9d8f4-xzqwv", "Pod/shop/payments-7d9f8b6c5d-bcdfg"]),
        ("pods of a service", t.pods_of_service("c1", "Service/shop/payments"), vec!["Pod/shop/payments-7d9f8b6c5d-bcdfg", "Pod/shop/payments-7d9f8b6c5d-hjklm"]),
        ("roots of a service", t.roots_of_service("c1", "Service/shop/cart"), vec!["Deployment/shop/cart"]),
        ("services of a root", t.services_of_root("c1", "Deployment/shop/payments"), vec!["Service/shop/payments"]),
        ("workloads reading a configmap", t.roots_using("c1", "ConfigMap/shop/payments"), vec!["Deployment/shop/payments"]),
        ("workloads reading a secret", t.roots_using("c1", "Secret/shop/payments-db"), vec!["Deployment/shop/payments"]),
        ("workloads sharing a configmap", t.roots_using("c1", "ConfigMap/shop/flags"), vec!["Deployment/shop/cart", "Deployment/shop/web"]),
        ("a configmap nobody reads", t.roots_using("c1", "ConfigMap/shop/unused"), vec![]),
        ("dependencies", t.dependencies("c1", "Service/shop/web").into_iter().map(|(k, h)| format!("{k}@{h}")).collect(), vec!["Service/shop/cart@1", "Service/shop/payments@1", "Service/shop/redis@2"]),
        ("dependents", t.dependents("c1", "Service/shop/redis").into_iter().map(|(k, h)| format!("{k}@{h}")).collect(), vec!["Service/shop/cart@1", "Service/shop/web@2"]),
        ("other clusters know nothing", t.pods_of_node("c2", "n1"), vec![]),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn deletes_and_relabels_update_the_graph() {
    let mut t = topo(&shop());
    // The pod moves out of the service by a label change.
    let mut moved = pod("shop", "payments-7d9f8b6c5d-hjklm", oref("ReplicaSet", "shop", "payments-7d9f8b6c5d"), "n3", "other");
    t.apply("c1", &moved);
    assert_eq!(t.pods_of_service("c1", "Service/shop/payments"), vec!["Pod/shop/payments-7d9f8b6c5d-bcdfg".to_string()]);
    assert_eq!(t.node_of("c1", "Pod/shop/payments-7d9f8b6c5d-hjklm").as_deref(), Some("n3"));
    assert!(t.pods_of_node("c1", "n2").iter().all(|p| !p.contains("hjklm")));
    // A pod that stops reading a ConfigMap no longer ties it to its workload; a deleted
    // pod reads nothing.
    t.apply("c1", &pod("shop", "web-6b8f9c7d5e-tvwxz", oref("ReplicaSet", "shop", "web-6b8f9c7d5e"), "n2", "web"));
    assert_eq!(t.roots_using("c1", "ConfigMap/shop/flags"), vec!["Deployment/shop/cart".to_string()]);
    t.apply("c1", &update(TopologyOp::Delete, oref("Pod", "shop", "cart-5b7c9d8f4-xzqwv")));
    assert!(t.roots_using("c1", "ConfigMap/shop/flags").is_empty());
    moved.op = TopologyOp::Delete;
    t.apply("c1", &moved);
    assert_eq!(t.pods_of_node("c1", "n3"), vec!["Pod/batch/report-28912345-pqrst".to_string()]);
    // The ReplicaSet goes while a pod still points at it: it stays as a placeholder, and the
    // chain ends there (its own owners went with it).
    t.apply("c1", &update(TopologyOp::Delete, oref("ReplicaSet", "shop", "payments-7d9f8b6c5d")));
    assert_eq!(t.owner_root("c1", "Pod/shop/payments-7d9f8b6c5d-bcdfg"), "ReplicaSet/shop/payments-7d9f8b6c5d");
    assert!(t.contains("c1", "Deployment/shop/payments"), "the announced Deployment stays");
    // A Service deleted selects nothing and calls nothing.
    t.apply("c1", &update(TopologyOp::Delete, oref("Service", "shop", "cart")));
    assert!(t.pods_of_service("c1", "Service/shop/cart").is_empty());
    assert_eq!(t.dependencies("c1", "Service/shop/web").len(), 2, "web still calls cart and payments, cart no longer calls redis");
    // Placeholders nobody references disappear.
    let g = t.cluster("c1").expect("cluster");
    let before = g.node_count();
    t.apply("c1", &update(TopologyOp::Delete, oref("Pod", "batch", "report-28912345-pqrst")));
    let g = t.cluster("c1").expect("cluster");
    assert_eq!(g.node_count(), before - 2, "the pod and its node (a placeholder nothing else runs on) are gone");
    assert!(g.contains("Job/batch/report-28912345"), "the announced Job stays");
}

#[test]
fn configured_calls_and_bounds() {
    let cfg = TopologyConfig {
        calls: vec![CallEdge { from: "shop/web".into(), to: "Deployment/shop/cart".into() }],
        max_objects_per_cluster: 2,
        max_clusters: 1,
        ..TopologyConfig::default()
    };
    assert!(cfg.validate("topology").is_empty());
    let mut t = Topology::new(cfg);
    assert_eq!(t.dependencies("c9", "Service/shop/web"), vec![("Deployment/shop/cart".to_string(), 1)], "configured edges hold before anything is announced");
    for u in shop().iter().take(4) {
        t.apply("c1", u);
    }
    t.apply("c2", &shop()[0]);
    assert_eq!(t.cluster("c1").map(|g| g.object_count()), Some(2));
    assert_eq!(t.dropped(), 3);
    assert_eq!(t.dependents("c1", "Deployment/shop/cart"), vec![("Service/shop/web".to_string(), 1)]);

    let bad = TopologyConfig { calls: vec![CallEdge { from: "web".into(), to: "a/b/c/d".into() }], max_hops: 0, ..TopologyConfig::default() };
    let paths: Vec<String> = bad.validate("topology").into_iter().map(|i| i.path).collect();
    assert_eq!(paths, vec!["topology.max_hops", "topology.calls[0].from", "topology.calls[0].to"]);
}

fn envelope(i: usize, u: TopologyUpdate) -> Envelope<TopologyUpdate> {
    Envelope::new(stable_id(&["t", &i.to_string()]), "test", from_millis(1_700_000_000_000 + i as i64), "s", "c1", u)
}

/// Everything the queries can say about a set of keys.
fn answers(t: &Topology) -> Vec<String> {
    let keys = ["Pod/shop/payments-7d9f8b6c5d-bcdfg", "Pod/shop/redis-0", "Service/shop/web", "Service/shop/cart", "Service/shop/redis", "Deployment/shop/payments"];
    let mut out = Vec::new();
    for k in keys {
        out.push(format!("{k} root={} node={:?} deps={:?} dependents={:?} pods={:?}", t.owner_root("c1", k), t.node_of("c1", k), t.dependencies("c1", k), t.dependents("c1", k), t.pods_of_service("c1", k)));
    }
    for n in ["n1", "n2", "n3"] {
        out.push(format!("{n}: {:?}", t.pods_of_node("c1", n)));
    }
    for c in ["ConfigMap/shop/payments", "Secret/shop/payments-db", "ConfigMap/shop/flags"] {
        out.push(format!("{c}: {:?}", t.roots_using("c1", c)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any subsequence of updates and deletes, snapshot and restore at any point: the
    /// restored graph answers every query as the original does.
    #[test]
    fn snapshot_and_restore_keep_every_answer(ops in prop::collection::vec((0usize..16, any::<bool>()), 0..40), at in 0usize..40) {
        let all = shop();
        let mut a = TopologyOperator::new(TopologyConfig::default());
        let mut b = TopologyOperator::new(TopologyConfig::default());
        let mut out = Collector::default();
        for (i, (which, delete)) in ops.iter().enumerate() {
            let mut u = all[*which].clone();
            if *delete {
                u.op = TopologyOp::Delete;
            }
            a.on_event(envelope(i, u.clone()), &mut out);
            b.on_event(envelope(i, u), &mut out);
            if i == at {
                let bytes = serde_json::to_vec(&b.snapshot()).expect("encode");
                b = TopologyOperator::new(TopologyConfig::default());
                b.restore(serde_json::from_slice(&bytes).expect("decode")).expect("restore");
            }
        }
        prop_assert_eq!(answers(a.topology()), answers(b.topology()));
        prop_assert!(out.is_empty());
    }
}
