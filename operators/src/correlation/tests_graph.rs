//! Second version: topology keys, inhibition along the graph, flapping guard, events and
//! anomalies folded in.

use std::collections::BTreeMap;

use kubesage_schemas::ids::stable_id;
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::k8s::K8sEvent;
use kubesage_schemas::signals::{Anomaly, AnomalyPhase};
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::Envelope;
use proptest::prelude::*;

use super::tests::{alert, cfg, last_states, run_batched, run_streaming, wm, T0};
use super::*;
use crate::time::from_millis;
use crate::topology::tests::{oref, pod, service};

const F: kubesage_schemas::alertmanager::AlertStatus = kubesage_schemas::alertmanager::AlertStatus::Firing;
const R: kubesage_schemas::alertmanager::AlertStatus = kubesage_schemas::alertmanager::AlertStatus::Resolved;

fn topo_event(i: usize, u: TopologyUpdate) -> Envelope<Signal> {
    signal::from_topology(Envelope::new(stable_id(&["topo", &i.to_string()]), "test", from_millis(T0 - 60_000), "t", "c1", u))
}

/// web -> cart -> redis, web -> payments; pods of cart and payments share node n1.
pub(crate) fn shop() -> Vec<Envelope<Signal>> {
    let rs = |n: &str| oref("ReplicaSet", "shop", n);
    let updates = vec![
        pod("shop", "web-6b8f9c7d5e-tvwxz", rs("web-6b8f9c7d5e"), "n2", "web"),
        pod("shop", "cart-5b7c9d8f4-xzqwv", rs("cart-5b7c9d8f4"), "n1", "cart"),
        pod("shop", "cart-5b7c9d8f4-bcdfg", rs("cart-5b7c9d8f4"), "n2", "cart"),
        pod("shop", "payments-7d9f8b6c5d-hjklm", rs("payments-7d9f8b6c5d"), "n1", "payments"),
        pod("shop", "redis-0", oref("StatefulSet", "shop", "redis"), "n3", "redis"),
        TopologyUpdate { owners: vec![oref("Deployment", "shop", "web")], ..super::super::topology::tests::update(TopologyOp::Upsert, rs("web-6b8f9c7d5e")) },
        TopologyUpdate { owners: vec![oref("Deployment", "shop", "cart")], ..super::super::topology::tests::update(TopologyOp::Upsert, rs("cart-5b7c9d8f4")) },
        TopologyUpdate { owners: vec![oref("Deployment", "shop", "payments")], ..super::super::topology::tests::update(TopologyOp::Upsert, rs("payments-7d9f8b6c5d")) },
        service("shop", "web", "web", &["cart", "payments"]),
        service("shop", "cart", "cart", &["redis"]),
        service("shop", "payments", "payments", &[]),
        service("shop", "redis", "redis", &[]),
    ];
    updates.into_iter().enumerate().map(|(i, u)| topo_event(i, u)).collect()
}

fn run_all(events: Vec<Envelope<Signal>>, until: i64) -> Vec<Envelope<Incident>> {
    let mut op = Correlator::new(cfg());
    let mut out = Collector::default();
    for e in events {
        op.on_event(e, &mut out);
    }
    op.on_watermark(wm(until), &mut out);
    out.decoded(OUTPUT)
}

/// Last state of every incident that was not merged into another.
fn live(records: &[Envelope<Incident>]) -> Vec<Incident> {
    last_states(records).into_values().filter(|i| i.merged_into.is_none()).collect()
}

fn with(events: &[Envelope<Signal>], more: Vec<Envelope<Signal>>) -> Vec<Envelope<Signal>> {
    let mut all = events.to_vec();
    all.extend(more);
    all
}

#[test]
fn a_not_ready_node_absorbs_the_alerts_of_its_pods_before_and_after_it() {
    let events = with(
        &shop(),
        vec![
            // Pod alerts of two workloads on n1, the first ones before the node's own alert.
            alert("c1", 0, F, &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", "cart-5b7c9d8f4-xzqwv")]),
            alert("c1", 12, F, &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-hjklm")]),
            alert("c1", 25, F, &[("alertname", "KubeNodeNotReady"), ("node", "n1"), ("severity", "critical")]),
            alert("c1", 31, F, &[("alertname", "KubeContainerWaiting"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-hjklm")]),
            // cart's other pod is on n2: not the node's doing.
            alert("c1", 33, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "cart-5b7c9d8f4-bcdfg")]),
        ],
    );
    let records = run_all(events, 50);
    let live = live(&records);
    assert_eq!(live.len(), 2, "{live:#?}");
    let node = live.iter().find(|i| i.component.as_deref() == Some("Node//n1")).expect("node incident");
    assert_eq!(node.alert_count, 4);
    assert_eq!(node.inhibited_count, 3);
    assert_eq!(node.failure_class.as_deref(), Some("node"));
    assert!(node.alerts.iter().filter(|a| a.alertname != "KubeNodeNotReady").all(|a| a.inhibited_by.as_deref() == Some("Node//n1")));
    assert!(node.keys.contains(&"node:n1".to_string()));
    let cart = live.iter().find(|i| i.component.as_deref() == Some("Deployment/shop/cart")).expect("cart incident");
    assert_eq!((cart.alert_count, cart.workload.as_deref()), (1, Some("Deployment/cart")));
    // The incidents opened before the node alert end merged into the node's.
    let merged: Vec<_> = last_states(&records).into_values().filter(|i| i.merged_into.is_some()).collect();
    assert_eq!(merged.len(), 2);
    assert!(merged.iter().all(|m| m.merged_into.as_deref() == Some(node.incident_id.as_str()) && m.status == IncidentStatus::Resolved));
}

#[test]
fn a_failing_dependency_absorbs_its_callers_symptoms() {
    let latency = |svc: &'static str| [("alertname", "HighLatency"), ("namespace", "shop"), ("service", svc)];
    let errors = |svc: &'static str| [("alertname", "HighErrorRate"), ("namespace", "shop"), ("service", svc)];
    let events = with(
        &shop(),
        vec![
            // Callers complain first, two hops and one hop up.
            alert("c1", 0, F, &latency("web")),
            alert("c1", 5, F, &errors("cart")),
            alert("c1", 14, F, &[("alertname", "ContainerCPUThrottlingHigh"), ("namespace", "shop"), ("pod", "redis-0")]),
            alert("c1", 20, F, &latency("cart")),
            alert("c1", 22, F, &errors("web")),
            alert("c1", 24, F, &latency("redis")),
            // payments is no caller of redis: its symptom is its own incident.
            alert("c1", 26, F, &latency("payments")),
            // A caller's own failure (not a symptom) is not absorbed.
            alert("c1", 28, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "web-6b8f9c7d5e-tvwxz")]),
        ],
    );
    let records = run_all(events, 60);
    let live = live(&records);
    let by_component: BTreeMap<String, &Incident> = live.iter().map(|i| (i.component.clone().unwrap_or_default(), i)).collect();
    assert_eq!(by_component.keys().cloned().collect::<Vec<_>>(), vec!["Deployment/shop/payments", "Deployment/shop/web", "StatefulSet/shop/redis"]);
    let redis = by_component["StatefulSet/shop/redis"];
    assert_eq!(redis.alert_count, 6);
    assert_eq!(redis.inhibited_count, 4);
    assert_eq!(redis.failure_class.as_deref(), Some("resource"));
    assert_eq!(by_component["Deployment/shop/web"].alertnames.keys().collect::<Vec<_>>(), vec!["KubePodCrashLooping"]);
    assert_eq!(by_component["Deployment/shop/payments"].alert_count, 1);
}

#[test]
fn symptoms_alone_go_to_the_deepest_component_failing_at_the_same_time() {
    let latency = |svc: &'static str, i: &'static str| [("alertname", "HighLatency"), ("namespace", "shop"), ("service", svc), ("route", i)];
    let components = |redis_at: i64| {
        let events = with(
            &shop(),
            vec![
                alert("c1", 0, F, &latency("web", "a")),
                alert("c1", 1, F, &latency("cart", "a")),
                alert("c1", 2, F, &latency("cart", "b")),
                alert("c1", redis_at, F, &latency("redis", "a")),
            ],
        );
        let mut got: Vec<(String, u32)> = live(&run_all(events, redis_at + 60)).iter().map(|i| (i.component.clone().unwrap_or_default(), i.alert_count)).collect();
        got.sort();
        got
    };
    // redis slows down with them: its callers' symptoms are its own.
    assert_eq!(components(30), vec![("StatefulSet/shop/redis".to_string(), 4)]);
    // redis slows down long after (more than the session gap): unrelated.
    assert_eq!(components(200), vec![("Deployment/shop/cart".to_string(), 3), ("StatefulSet/shop/redis".to_string(), 1)]);
}

#[test]
fn absorbed_symptoms_move_to_a_better_explanation() {
    let errors = |svc: &'static str, r: &'static str| [("alertname", "HighErrorRate"), ("namespace", "shop"), ("service", svc), ("route", r)];
    let crash = |pod: &'static str| [("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", pod)];
    let events = with(
        &shop(),
        vec![
            // A bystander: payments (which web also calls) has one unrelated crash.
            alert("c1", 0, F, &crash("payments-7d9f8b6c5d-hjklm")),
            // web's errors come first and can only be blamed on payments...
            alert("c1", 5, F, &errors("web", "a")),
            alert("c1", 6, F, &errors("web", "b")),
            // ... until cart crashes on both pods (and web calls cart too).
            alert("c1", 12, F, &crash("cart-5b7c9d8f4-xzqwv")),
            alert("c1", 13, F, &crash("cart-5b7c9d8f4-bcdfg")),
            alert("c1", 15, F, &errors("cart", "a")),
        ],
    );
    let records = run_all(events, 60);
    let live = live(&records);
    let by_component: BTreeMap<String, &Incident> = live.iter().map(|i| (i.component.clone().unwrap_or_default(), i)).collect();
    let cart = by_component["Deployment/shop/cart"];
    assert_eq!(cart.alert_count, 5, "{live:#?}");
    assert!(cart.alerts.iter().filter(|a| a.labels.get("service").is_some_and(|s| s == "web")).all(|a| a.inhibited_by.as_deref() == Some("Deployment/shop/cart")));
    assert_eq!(by_component["Deployment/shop/payments"].alert_count, 1);
    // web's errors were published in the payments incident first, then moved.
    assert!(records.iter().any(|r| r.data.component.as_deref() == Some("Deployment/shop/payments") && r.data.alert_count == 3));
}

#[test]
fn a_node_absorbs_only_what_fails_with_it() {
    let events = with(
        &shop(),
        vec![
            alert("c1", 0, F, &[("alertname", "KubeNodeNotReady"), ("node", "n1")]),
            alert("c1", 20, F, &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", "cart-5b7c9d8f4-xzqwv")]),
            // Long after the node went down (more than the session gap), still NotReady: a
            // new problem of a pod on it is its own.
            alert("c1", 400, F, &[("alertname", "ContainerHighCPUUsage"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-hjklm")]),
        ],
    );
    let live = live(&run_all(events, 500));
    let mut got: Vec<(String, u32)> = live.iter().map(|i| (i.component.clone().unwrap_or_default(), i.alert_count)).collect();
    got.sort();
    assert_eq!(got, vec![("Deployment/shop/payments".to_string(), 1), ("Node//n1".to_string(), 2)]);
}

#[test]
fn without_topology_the_label_keys_still_group() {
    let events = vec![
        alert("c1", 0, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-bcdfg")]),
        alert("c1", 3, F, &[("alertname", "KubeDeploymentReplicasMismatch"), ("namespace", "shop"), ("deployment", "payments")]),
    ];
    let live = live(&run_all(events, 60));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].component.as_deref(), Some("Deployment/shop/payments"));
    assert_eq!(live[0].keys, vec!["workload:shop/payments".to_string()]);
}

/// An alert firing for 2 minutes out of every 6, for an hour (session gap 60s).
fn flapping(from: i64, until: i64) -> Vec<Envelope<Signal>> {
    let l = [("alertname", "KubeHpaMaxedOut"), ("namespace", "shop"), ("deployment", "web")];
    let mut v = Vec::new();
    let mut t = from;
    while t < until {
        v.push(alert("c1", t, F, &l));
        v.push(alert("c1", t + 120, R, &l));
        t += 360;
    }
    v
}

#[test]
fn a_flapping_alert_is_held_not_reopening_incidents() {
    let guarded = run_all(flapping(0, 3600), 3600);
    let unguarded = {
        let mut op = Correlator::new(CorrelationConfig { flap_threshold: 1000, ..cfg() });
        let mut out = Collector::default();
        for e in flapping(0, 3600) {
            op.on_event(e, &mut out);
        }
        op.on_watermark(wm(3600), &mut out);
        out.decoded::<Incident>(OUTPUT)
    };
    let count = |r: &[Envelope<Incident>]| last_states(r).len();
    assert_eq!(count(&unguarded), 10, "every re-fire opens an incident without the guard");
    // F R F R: the fourth change (at 6m + 2m) makes it flapping; the re-fire at 12m is held.
    assert_eq!(count(&guarded), 2);
    // Once it stops flapping and keeps firing, it is let through.
    let l = [("alertname", "KubeHpaMaxedOut"), ("namespace", "shop"), ("deployment", "web")];
    let mut settles = flapping(0, 1800);
    settles.push(alert("c1", 1800, F, &l));
    let records = run_all(settles, 1800 + 1800 + 120);
    let states = last_states(&records);
    assert_eq!(states.len(), 3, "one more incident after the alert settled as firing");
    let last = records.last().expect("records");
    assert_eq!(last.data.status, IncidentStatus::Open);
    assert_eq!(last.data.started_at, from_millis(T0 + 1800 * 1000), "it fired at 1800s");
}

#[test]
fn a_flapping_member_keeps_its_incident_open() {
    let mut events = vec![alert("c1", 0, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("deployment", "web"), ("pod", "web-6b8f9c7d5e-tvwxz")])];
    let l = [("alertname", "HighErrorRate"), ("namespace", "shop"), ("deployment", "web")];
    for i in 0..5 {
        events.push(alert("c1", 1 + i * 20, F, &l));
        events.push(alert("c1", 11 + i * 20, R, &l));
    }
    let records = run_all(events, 120);
    let states: Vec<_> = last_states(&records).into_values().collect();
    assert_eq!(states.len(), 1);
    let flapper = states[0].alerts.iter().find(|a| a.alertname == "HighErrorRate").expect("member");
    assert!(flapper.flapping);
    assert_eq!(states[0].firing_count, 2, "held as firing while it flaps");
}

pub(crate) fn k8s_event(secs: i64, kind: &str, name: &str, reason: &str, event_type: &str) -> Envelope<Signal> {
    let e = K8sEvent {
        event_type: event_type.into(),
        reason: reason.into(),
        note: String::new(),
        regarding: oref(kind, if kind == "Node" { "" } else { "shop" }, name),
        related: None,
        reporting_controller: "kubelet".into(),
        reporting_instance: String::new(),
        count: 1,
        observed_at: from_millis(T0 + secs * 1000),
        event_uid: format!("{name}-{reason}-{secs}"),
    };
    signal::from_event(Envelope::new(stable_id(&["ev", name, reason, &secs.to_string()]), "test", from_millis(T0 + secs * 1000), name, "c1", e))
}

fn anomaly(secs: i64, pod: &str, phase: AnomalyPhase) -> Envelope<Signal> {
    let a = Anomaly {
        anomaly_id: format!("a-{pod}"),
        phase,
        signal: "metric".into(),
        series: format!("container_memory_working_set_bytes{{pod=\"{pod}\"}}"),
        labels: BTreeMap::from([("__name__".into(), "container_memory_working_set_bytes".into()), ("namespace".into(), "shop".into()), ("pod".into(), pod.into())]),
        score: 0.999,
        observed: 1.0,
        expected_low: 0.0,
        expected_high: 0.5,
        detectors: vec!["spike".into()],
        window_start: from_millis(T0 + secs * 1000),
        window_end: from_millis(T0 + secs * 1000),
    };
    signal::from_anomaly(Envelope::new(stable_id(&["an", pod, &secs.to_string(), &format!("{phase:?}")]), "test", from_millis(T0 + secs * 1000), pod, "c1", a))
}

#[test]
fn events_and_anomalies_fold_into_the_incident() {
    /// (name, input, (alerts, events, anomalies) per incident)
    type Case = (&'static str, Vec<Envelope<Signal>>, Vec<(u32, u32, u32)>);
    let cases: Vec<Case> = vec![
        (
            "an alert, a Warning event and an anomaly of one workload",
            with(
                &shop(),
                vec![
                    anomaly(0, "cart-5b7c9d8f4-bcdfg", AnomalyPhase::Started), // joins only: nothing open yet
                    alert("c1", 10, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "cart-5b7c9d8f4-xzqwv")]),
                    k8s_event(12, "Pod", "cart-5b7c9d8f4-bcdfg", "BackOff", "Warning"),
                    k8s_event(13, "Pod", "cart-5b7c9d8f4-bcdfg", "Pulled", "Normal"),
                    k8s_event(14, "Pod", "cart-5b7c9d8f4-bcdfg", "BackOff", "Warning"), // same member again
                    anomaly(15, "cart-5b7c9d8f4-bcdfg", AnomalyPhase::Updated),
                ],
            ),
            vec![(3, 1, 1)],
        ),
        (
            "a NodeNotReady event makes the node absorb its pods' alerts",
            with(
                &shop(),
                vec![
                    k8s_event(0, "Node", "n1", "NodeNotReady", "Warning"),
                    alert("c1", 5, F, &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-hjklm")]),
                ],
            ),
            vec![(2, 1, 0)],
        ),
        ("an anomaly alone opens nothing", with(&shop(), vec![anomaly(0, "redis-0", AnomalyPhase::Started)]), vec![]),
        ("a Normal event opens nothing", vec![k8s_event(0, "Pod", "x-0", "Scheduled", "Normal")], vec![]),
    ];
    for (name, events, want) in cases {
        let mut got: Vec<(u32, u32, u32)> = live(&run_all(events, 60)).iter().map(|i| (i.alert_count, i.event_count, i.anomaly_count)).collect();
        got.sort();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn event_only_incidents_resolve_when_their_session_closes() {
    let records = run_all(vec![k8s_event(0, "Pod", "x-0", "FailedMount", "Warning")], 300);
    let last = live(&records);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].status, IncidentStatus::Resolved);
    assert_eq!(last[0].firing_count, 0);
}

fn arb_graph_events() -> impl Strategy<Value = Vec<Envelope<Signal>>> {
    let pods = ["web-6b8f9c7d5e-tvwxz", "cart-5b7c9d8f4-xzqwv", "cart-5b7c9d8f4-bcdfg", "payments-7d9f8b6c5d-hjklm", "redis-0"];
    let one = (0i64..900, 0usize..5, 0usize..6, any::<bool>()).prop_map(move |(t, p, kind, resolved)| {
        let status = if resolved { R } else { F };
        match kind {
            0 => alert("c1", t, status, &[("alertname", "KubePodNotReady"), ("namespace", "shop"), ("pod", pods[p])]),
            1 => alert("c1", t, status, &[("alertname", "KubeNodeNotReady"), ("node", ["n1", "n2", "n3", "n1", "n2"][p])]),
            2 => alert("c1", t, status, &[("alertname", "HighLatency"), ("namespace", "shop"), ("service", ["web", "cart", "payments", "redis", "web"][p])]),
            3 => alert("c1", t, status, &[("alertname", "CPUThrottlingHigh"), ("namespace", "shop"), ("pod", pods[p])]),
            4 => k8s_event(t, "Pod", pods[p], "BackOff", "Warning"),
            _ => anomaly(t, pods[p], if resolved { AnomalyPhase::Ended } else { AnomalyPhase::Started }),
        }
    });
    prop::collection::vec(one, 1..60).prop_map(|mut v| {
        v.sort_by_key(|e| e.time);
        let mut all = shop();
        all.extend(v);
        all
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn with_topology_any_batching_gives_the_same_incidents(events in arb_graph_events(), cuts in prop::collection::vec(0usize..80, 0..8)) {
        let one_by_one: Vec<usize> = (1..=events.len()).collect();
        prop_assert_eq!(run_batched(&events, &one_by_one, None), run_batched(&events, &cuts, None));
    }

    #[test]
    fn with_topology_the_watermark_fast_path_changes_nothing(events in arb_graph_events()) {
        prop_assert_eq!(run_streaming(&events, true), run_streaming(&events, false));
    }

    #[test]
    fn with_topology_snapshot_and_restore_give_the_same_incidents(events in arb_graph_events(), at in 0usize..80) {
        let every: Vec<usize> = (1..=events.len()).collect();
        let straight = run_batched(&events, &every, None);
        let restored = run_batched(&events, &every, Some(at % (events.len() + 1)));
        prop_assert_eq!(straight, restored);
    }
}
