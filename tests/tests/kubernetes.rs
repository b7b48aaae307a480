//! The Kubernetes collector against a local HTTP server that speaks the API server's
//! list/watch protocol (chunked watch streams, bookmarks, 410 Gone) with objects shaped
//! like real ones: repeats of an Event become occurrence records, a 410 forces a relist
//! that emits no duplicates, the watch resumes from the bookmark's resourceVersion, and an
//! edit of a ConfigMap's data (not of its labels) becomes one `ConfigChanged` event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use kubesage_schemas::k8s::K8sEvent;
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::{topics, Envelope};
use kubesage_tests::*;
use serde_json::{json, Value};

#[derive(Default)]
struct Api {
    lists: HashMap<String, usize>,
    watches: HashMap<String, Vec<HashMap<String, String>>>,
}

fn event(uid: &str, rv: &str, count: i64, reason: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": format!("payments.{uid}"), "namespace": "shop", "uid": uid, "resourceVersion": rv, "creationTimestamp": "2026-11-23T10:00:00Z"},
        "eventTime": "2026-11-23T10:00:00.000000Z",
        "series": if count > 1 { json!({"count": count, "lastObservedTime": format!("2026-11-23T10:0{count}:00.000000Z")}) } else { Value::Null },
        "reason": reason, "type": "Warning", "note": "Back-off restarting failed container payments",
        "regarding": {"kind": "Pod", "namespace": "shop", "name": "payments-7c9d8f6b5d-bx2kq", "uid": "p1", "apiVersion": "v1"},
        "reportingController": "kubelet", "reportingInstance": "node-a", "action": "Restarting"
    })
}

fn pod(rv: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "payments-7c9d8f6b5d-bx2kq", "namespace": "shop", "uid": "p1", "resourceVersion": rv, "creationTimestamp": "2025-06-01T00:00:00Z",
            "labels": {"app": "payments", "pod-template-hash": "7c9d8f6b5d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "payments-7c9d8f6b5d", "uid": "rs1", "controller": true}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "payments", "image": "shop/payments:1.4.2", "envFrom": [{"configMapRef": {"name": "payments-flags"}}]}],
            "volumes": [{"name": "db", "secret": {"secretName": "payments-db"}}]},
        "status": {"phase": "Running"}
    })
}

fn config_map(rv: &str, data: Value, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "payments-flags", "namespace": "shop", "uid": "cm1", "resourceVersion": rv, "creationTimestamp": "2025-06-01T00:00:00Z", "labels": labels},
        "data": data
    })
}

fn list(items: Vec<Value>, rv: &str) -> Response {
    axum::Json(json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items})).into_response()
}

/// A watch response: these events, then either the end of the stream or no end at all.
fn watch(events: Vec<Value>, then_hang: bool) -> Response {
    let lines: Vec<Result<Bytes, std::io::Error>> = events.into_iter().map(|e| Ok(Bytes::from(format!("{e}\n")))).collect();
    let head = futures::stream::iter(lines);
    let body = if then_hang { Body::from_stream(head.chain(futures::stream::pending())) } else { Body::from_stream(head) };
    ([("content-type", "application/json")], body).into_response()
}

async fn api(State(state): State<Arc<Mutex<Api>>>, uri: Uri, Query(q): Query<HashMap<String, String>>) -> Response {
    let path = uri.path().to_string();
    let is_watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    let mut s = state.lock().expect("state");
    if !is_watch {
        let n = {
            let c = s.lists.entry(path.clone()).or_default();
            *c += 1;
            *c
        };
        return match (path.as_str(), n) {
            ("/apis/events.k8s.io/v1/events", 1) => list(vec![event("ea", "10", 1, "BackOff")], "100"),
            ("/apis/events.k8s.io/v1/events", _) => list(vec![event("ea", "101", 3, "BackOff"), event("eb", "150", 1, "Unhealthy")], "200"),
            ("/api/v1/pods", _) => list(vec![pod("5")], "100"),
            ("/api/v1/configmaps", 1) => list(vec![config_map("20", json!({"checkout.v2": "false", "retries": "3"}), json!({}))], "100"),
            // After the 410: edited again while the watch was down.
            ("/api/v1/configmaps", _) => list(vec![config_map("30", json!({"checkout.v2": "true", "retries": "5"}), json!({"team": "payments"}))], "200"),
            _ => list(vec![], "100"),
        };
    }
    let calls = s.watches.entry(path.clone()).or_default();
    calls.push(q.clone());
    let n = calls.len();
    match (path.as_str(), n) {
        ("/apis/events.k8s.io/v1/events", 1) => watch(
            vec![
                json!({"type": "MODIFIED", "object": event("ea", "101", 3, "BackOff")}),
                json!({"type": "BOOKMARK", "object": {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"resourceVersion": "102"}}}),
            ],
            false,
        ),
        ("/apis/events.k8s.io/v1/events", 2) => watch(
            vec![json!({"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": "too old resource version: 102 (180)", "reason": "Expired", "code": 410}})],
            false,
        ),
        ("/api/v1/pods", 1) => watch(vec![json!({"type": "DELETED", "object": pod("6")})], true),
        ("/api/v1/configmaps", 1) => watch(
            vec![
                json!({"type": "MODIFIED", "object": config_map("21", json!({"checkout.v2": "true", "retries": "3"}), json!({}))}),
                json!({"type": "MODIFIED", "object": config_map("22", json!({"checkout.v2": "true", "retries": "3"}), json!({"team": "payments"}))}),
                json!({"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": "too old resource version: 22 (180)", "reason": "Expired", "code": 410}}),
            ],
            false,
        ),
        _ => watch(vec![], true),
    }
}

#[test]
fn watch_resumes_relists_on_410_and_never_duplicates() {
    let broker = Broker::start();
    let state = Arc::new(Mutex::new(Api::default()));
    let api_port = free_port();
    let server_state = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async move {
            let app = Router::new().fallback(api).with_state(server_state);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port)).await.expect("bind");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let extra = format!("[collector.kubernetes]\nenabled = true\ncluster = \"kind-test\"\napi_url = \"http://127.0.0.1:{api_port}\"\nconfig_change_quiet = \"0s\"\n");
    let config = write_config(dir.path(), &broker.bootstrap, port, &extra);
    broker.create_topics(&config);
    let log = dir.path().join("kubesage.log");
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let _ks = run_kubesage(&config, &["collect"], &log);

    let occurrences = || -> Vec<Envelope<K8sEvent>> { broker.read_json::<Envelope<K8sEvent>>(topics::K8S_EVENTS).into_iter().filter(|e| e.data.regarding.kind == "Pod").collect() };
    eventually(Duration::from_secs(60), || {
        let e = occurrences();
        (e.len() >= 3 && state.lock().expect("state").lists.get("/apis/events.k8s.io/v1/events").copied().unwrap_or(0) >= 2).then_some(e)
    })
    .unwrap_or_else(|| panic!("events did not arrive; log:\n{}", tail(&log, 30)));
    std::thread::sleep(Duration::from_secs(2)); // anything extra would show up by now
    let events = occurrences();
    let seen: Vec<(String, u32)> = events.iter().map(|e| (e.data.event_uid.clone(), e.data.count)).collect();
    assert_eq!(seen, vec![("ea".to_string(), 1), ("ea".to_string(), 3), ("eb".to_string(), 1)], "one record per occurrence, none repeated by the relist");
    assert_eq!(events[1].data.observed_at.to_rfc3339(), "2026-11-23T10:03:00+00:00", "series.lastObservedTime is the event time");
    assert_eq!(events[0].cluster, "kind-test");

    {
        let s = state.lock().expect("state");
        let calls = &s.watches["/apis/events.k8s.io/v1/events"];
        assert_eq!(calls[0].get("resourceVersion").map(String::as_str), Some("100"), "watch starts at the list's version");
        assert_eq!(calls[0].get("allowWatchBookmarks").map(String::as_str), Some("true"));
        assert_eq!(calls[1].get("resourceVersion").map(String::as_str), Some("102"), "resumes from the bookmark");
        assert_eq!(s.lists["/apis/events.k8s.io/v1/events"], 2, "410 Gone forces exactly one relist");
    }

    let topo = eventually(Duration::from_secs(30), || {
        let t: Vec<Envelope<TopologyUpdate>> = broker.read_json(topics::TOPOLOGY);
        (t.len() >= 2).then_some(t)
    })
    .unwrap_or_else(|| panic!("topology did not arrive; log:\n{}", tail(&log, 30)));
    assert_eq!(topo[0].data.op, TopologyOp::Upsert);
    assert_eq!(topo[0].data.node.as_deref(), Some("node-a"));
    assert_eq!(topo[0].data.owners[0].name, "payments-7c9d8f6b5d");
    let reads: Vec<String> = topo[0].data.uses.iter().map(|r| format!("{}/{}/{}", r.kind, r.namespace, r.name)).collect();
    assert_eq!(reads, vec!["ConfigMap/shop/payments-flags", "Secret/shop/payments-db"], "what the pod reads");
    assert_eq!(topo[1].data.op, TopologyOp::Delete);
    for t in &topo {
        assert!(t.time >= started, "a topology record is stamped when the change was observed, not at the object's creation: {}", t.time);
    }
    let keys: Vec<String> = broker.read_all(topics::TOPOLOGY).into_iter().map(|(k, _)| k).collect();
    assert!(keys.iter().all(|k| k == "Pod/shop/payments-7c9d8f6b5d-bx2kq"), "keyed by object: {keys:?}");
    let event_keys: Vec<String> = broker.read_all(topics::K8S_EVENTS).into_iter().map(|(k, _)| k).collect();
    assert!(event_keys.iter().all(|k| k == "Pod/shop/payments-7c9d8f6b5d-bx2kq" || k == "ConfigMap/shop/payments-flags"), "keyed by the object they regard: {event_keys:?}");

    // The ConfigMap: its first sight is the baseline, the data edit one change naming the
    // key (not the value), the label edit nothing; the relist after the 410 reports the
    // edit made while the watch was down, and not the first one again.
    let config_changes = || -> Vec<Envelope<K8sEvent>> { broker.read_json::<Envelope<K8sEvent>>(topics::K8S_EVENTS).into_iter().filter(|e| e.data.regarding.kind == "ConfigMap").collect() };
    eventually(Duration::from_secs(30), || (config_changes().len() >= 2).then_some(())).unwrap_or_else(|| panic!("config changes did not arrive; log:\n{}", tail(&log, 30)));
    std::thread::sleep(Duration::from_secs(1));
    let changes = config_changes();
    let seen: Vec<(&str, &str, &str)> = changes.iter().map(|c| (c.data.reason.as_str(), c.data.note.as_str(), c.data.event_uid.as_str())).collect();
    assert_eq!(seen, vec![("ConfigChanged", "data changed: checkout.v2", "cm1@21"), ("ConfigChanged", "data changed: retries", "cm1@30")]);
    assert_eq!(state.lock().expect("state").lists.get("/api/v1/configmaps").copied(), Some(2), "the 410 forced one relist");
    let c = &changes[0].data;
    assert_eq!(c.regarding.name, "payments-flags");
    assert!(changes[0].time >= started);
}
