use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::{alert_fingerprint, stable_id};
use kubesage_schemas::incident::{Incident, IncidentStatus};
use kubesage_schemas::Envelope;
use proptest::prelude::*;

use super::*;
use crate::time::from_millis;

pub(crate) const T0: i64 = 1_700_000_000_000;

pub(crate) fn alert(cluster: &str, secs: i64, status: AlertStatus, labels: &[(&str, &str)]) -> Envelope<Signal> {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let fp = alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let t = from_millis(T0 + secs * 1000);
    let data = Alert {
        fingerprint: fp.clone(),
        status,
        alertname: labels.get("alertname").cloned().unwrap_or_default(),
        severity: Severity::from_label(labels.get("severity").map(String::as_str)),
        labels,
        annotations: BTreeMap::new(),
        starts_at: from_millis(T0),
        ends_at: None,
        generator_url: String::new(),
        group_key: None,
        via: "test".into(),
    };
    let id = stable_id(&[&fp, status.as_str(), &secs.to_string()]);
    signal::from_alert(Envelope::new(id, "test", t, fp, cluster, data))
}

pub(crate) fn wm(secs: i64) -> DateTime<Utc> {
    from_millis(T0 + secs * 1000)
}

pub(crate) fn cfg() -> CorrelationConfig {
    CorrelationConfig {
        session_gap: Duration::from_secs(60),
        max_duration: Duration::from_secs(600),
        emit_interval: Duration::from_secs(10),
        stale_after: Duration::from_secs(3600),
        ..CorrelationConfig::default()
    }
}

/// Run events (each followed by a watermark `lag` seconds behind it), then a final watermark.
fn run(events: &[Envelope<Signal>], final_wm: i64) -> Vec<Envelope<Incident>> {
    let mut op = Correlator::new(cfg());
    let mut out = Collector::default();
    for e in events {
        let t = (to_millis(&e.time) - T0) / 1000;
        op.on_event(e.clone(), &mut out);
        op.on_watermark(wm(t - 5), &mut out);
    }
    op.on_watermark(wm(final_wm), &mut out);
    out.decoded(OUTPUT)
}

/// Last published state per incident.
pub(crate) fn last_states(records: &[Envelope<Incident>]) -> BTreeMap<String, Incident> {
    records.iter().map(|r| (r.data.incident_id.clone(), r.data.clone())).collect()
}

const F: AlertStatus = AlertStatus::Firing;
const R: AlertStatus = AlertStatus::Resolved;

#[test]
fn table_of_grouping_cases() {
    struct Case {
        name: &'static str,
        events: Vec<Envelope<Signal>>,
        /// (alert count, firing count, status) per incident, sorted.
        want: Vec<(u32, u32, IncidentStatus)>,
    }
    fn crash(pod: &str) -> [(&str, &str); 4] {
        [("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", pod), ("severity", "warning")]
    }
    let cases = vec![
        Case {
            name: "pods of one deployment form one incident",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 5, F, &crash("payments-7d9f8b6c5d-hjklm")),
                alert("c1", 9, F, &[("alertname", "KubeDeploymentReplicasMismatch"), ("namespace", "shop"), ("deployment", "payments")]),
            ],
            want: vec![(3, 3, IncidentStatus::Open)],
        },
        Case {
            name: "different workloads stay apart",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 1, F, &crash("cart-6f7c8d9b5f-npqrs")),
            ],
            want: vec![(1, 1, IncidentStatus::Open), (1, 1, IncidentStatus::Open)],
        },
        Case {
            name: "clusters never mix",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c2", 1, F, &crash("payments-7d9f8b6c5d-bcdfg")),
            ],
            want: vec![(1, 1, IncidentStatus::Open), (1, 1, IncidentStatus::Open)],
        },
        Case {
            name: "a gap longer than the session starts a new incident",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 200, F, &crash("payments-7d9f8b6c5d-hjklm")),
            ],
            want: vec![(1, 1, IncidentStatus::Open), (1, 1, IncidentStatus::Open)],
        },
        Case {
            name: "resolved when every member resolved",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 3, F, &crash("payments-7d9f8b6c5d-hjklm")),
                alert("c1", 30, R, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 40, R, &crash("payments-7d9f8b6c5d-hjklm")),
            ],
            want: vec![(2, 0, IncidentStatus::Resolved)],
        },
        Case {
            name: "pods on a node join the node's incident",
            events: vec![
                alert("c1", 0, F, &[("alertname", "KubeNodeNotReady"), ("node", "n1"), ("severity", "critical")]),
                alert("c1", 2, F, &[("alertname", "KubePodNotReady"), ("namespace", "a"), ("pod", "x-7d9f8b6c5d-bcdfg"), ("node", "n1")]),
                alert("c1", 3, F, &[("alertname", "KubePodNotReady"), ("namespace", "b"), ("pod", "y-0"), ("node", "n1")]),
            ],
            want: vec![(3, 3, IncidentStatus::Open)],
        },
        Case {
            name: "duplicate deliveries are counted once",
            events: vec![
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 0, F, &crash("payments-7d9f8b6c5d-bcdfg")),
                alert("c1", 4, F, &crash("payments-7d9f8b6c5d-bcdfg")),
            ],
            want: vec![(1, 1, IncidentStatus::Open)],
        },
        Case {
            name: "a resolve without a firing alert opens nothing",
            events: vec![alert("c1", 0, R, &crash("payments-7d9f8b6c5d-bcdfg"))],
            want: vec![],
        },
    ];
    for case in cases {
        let records = run(&case.events, 1000);
        let mut got: Vec<_> = last_states(&records).values().map(|i| (i.alert_count, i.firing_count, i.status)).collect();
        got.sort_by_key(|g| (g.0, g.1, g.2 == IncidentStatus::Open));
        let mut want = case.want;
        want.sort_by_key(|g| (g.0, g.1, g.2 == IncidentStatus::Open));
        assert_eq!(got, want, "{}", case.name);
    }
}

#[test]
fn severity_rolls_up_and_title_names_the_workload() {
    let events = vec![
        alert("c1", 0, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-bcdfg"), ("severity", "warning")]),
        alert("c1", 1, F, &[("alertname", "PaymentsErrors"), ("namespace", "shop"), ("deployment", "payments"), ("severity", "critical")]),
        alert("c1", 2, F, &[("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-hjklm"), ("severity", "warning")]),
    ];
    let states = last_states(&run(&events, 60));
    let inc = states.values().next().expect("one incident");
    assert_eq!(inc.severity, Severity::Critical);
    assert_eq!(inc.workload.as_deref(), Some("Deployment/payments"));
    assert_eq!(inc.namespace.as_deref(), Some("shop"));
    assert_eq!(inc.title, "KubePodCrashLooping on Deployment/payments (+1 other alert kinds)");
}

#[test]
fn changes_publish_once_per_interval_and_ids_are_revisions() {
    let events: Vec<_> = (0..9)
        .map(|i| alert("c1", i, F, &[("alertname", "A"), ("namespace", "n"), ("deployment", "d"), ("instance", &format!("i{i}"))]))
        .collect();
    let records = run(&events, 60);
    // Alerts at 0..8s all fall before the 10s boundary: one record.
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data.alert_count, 9);
    assert_eq!(records[0].id, stable_id(&["incident-revision", &records[0].data.incident_id, "1"]));
}

#[test]
fn stale_incidents_resolve() {
    let events = vec![alert("c1", 0, F, &[("alertname", "A"), ("deployment", "d")])];
    let records = run(&events, 4000);
    let last = &records.last().expect("records").data;
    assert_eq!(last.status, IncidentStatus::Resolved);
    assert_eq!(records.len(), 2);
}

#[test]
fn restore_rejects_other_versions() {
    let mut op = Correlator::new(cfg());
    let err = op.restore(Snapshot { version: 99, state: serde_json::Value::Null });
    assert!(matches!(err, Err(OperatorError::SnapshotVersion { found: 99, expected: 2 })));
}

fn arb_events() -> impl Strategy<Value = Vec<Envelope<Signal>>> {
    let workloads = ["payments-7d9f8b6c5d-bcdfg", "payments-7d9f8b6c5d-hjklm", "cart-0", "cart-1", "web-6b8f9c7d5e-tvwxz"];
    let one = (0i64..600, 0usize..5, 0usize..3, any::<bool>(), 0usize..2).prop_map(move |(t, w, n, resolved, c)| {
        let status = if resolved { R } else { F };
        let cluster = ["c1", "c2"][c];
        alert(cluster, t, status, &[("alertname", "X"), ("namespace", "shop"), ("pod", workloads[w]), ("node", ["n1", "n2", "n3"][n])])
    });
    prop::collection::vec(one, 1..60).prop_map(|mut v| {
        v.sort_by_key(|e| e.time); // a source in event-time order, up to ties
        v
    })
}

/// Events in roughly time order, some up to a minute out of order (late for the watermark).
fn arb_disordered_events() -> impl Strategy<Value = Vec<Envelope<Signal>>> {
    (arb_events(), prop::collection::vec((0usize..60, 0usize..60), 0..10)).prop_map(|(mut v, swaps)| {
        for (a, b) in swaps {
            if a < v.len() && b < v.len() && (to_millis(&v[a].time) - to_millis(&v[b].time)).abs() < 60_000 {
                v.swap(a, b);
            }
        }
        v
    })
}

/// One by one, a watermark a second behind each event, with or without the fast path.
pub(super) fn run_streaming(events: &[Envelope<Signal>], fast_path: bool) -> Vec<(String, String)> {
    let mut op = Correlator::new(cfg());
    op.fast_path = fast_path;
    let mut out = Collector::default();
    for e in events {
        op.on_event(e.clone(), &mut out);
        op.on_watermark(e.time - chrono::Duration::seconds(1), &mut out);
    }
    op.on_watermark(wm(100_000), &mut out);
    out.drain().map(|e| (e.id, String::from_utf8_lossy(&e.payload).into_owned())).collect()
}

/// Feed `events` in batches at the given cut points, with a watermark after each batch.
pub(super) fn run_batched(events: &[Envelope<Signal>], cuts: &[usize], restore_at: Option<usize>) -> Vec<(String, String)> {
    let mut op = Correlator::new(cfg());
    let mut out = Collector::default();
    let mut emitted = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (events.len() + 1)).collect();
    bounds.push(events.len());
    bounds.sort();
    for end in bounds {
        for e in &events[start..end.max(start)] {
            op.on_event(e.clone(), &mut out);
        }
        if end > start {
            // Watermark = last event time seen: valid because the source is time-ordered.
            op.on_watermark(events[end - 1].time - chrono::Duration::milliseconds(1), &mut out);
            start = end;
        }
        if restore_at == Some(end) {
            let snap = op.snapshot();
            let bytes = serde_json::to_vec(&snap).expect("encode");
            op = Correlator::new(cfg());
            op.restore(serde_json::from_slice(&bytes).expect("decode")).expect("restore");
        }
    }
    op.on_watermark(wm(100_000), &mut out);
    emitted.extend(out.drain().map(|e| (e.id, String::from_utf8_lossy(&e.payload).into_owned())));
    emitted
}

#[test]
fn fast_path_handles_late_events_after_an_idle_stretch() {
    let l = |pod: &'static str| [("alertname", "X"), ("namespace", "shop"), ("pod", pod)];
    let run = |fast_path: bool| {
        let mut op = Correlator::new(cfg());
        op.fast_path = fast_path;
        let mut out = Collector::default();
        op.on_event(alert("c1", 0, F, &l("a-0")), &mut out);
        op.on_event(alert("c1", 10, R, &l("a-0")), &mut out);
        // Idle: the watermark follows the clock; the incident resolves and is forgotten.
        op.on_watermark(wm(200), &mut out);
        op.on_watermark(wm(400), &mut out);
        op.on_event(alert("c1", 300, F, &l("c-0")), &mut out); // late
        op.on_event(alert("c1", 405, F, &l("c-1")), &mut out);
        op.on_watermark(wm(404), &mut out);
        op.on_watermark(wm(1000), &mut out);
        out.drain().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(run(true), run(false));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_batching_gives_the_same_incidents(events in arb_events(), cuts in prop::collection::vec(0usize..64, 0..8)) {
        let one_by_one: Vec<usize> = (1..=events.len()).collect();
        let a = run_batched(&events, &one_by_one, None);
        let b = run_batched(&events, &cuts, None);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn the_watermark_fast_path_changes_nothing(events in arb_disordered_events()) {
        prop_assert_eq!(run_streaming(&events, true), run_streaming(&events, false));
    }

    #[test]
    fn snapshot_and_restore_mid_stream_gives_the_same_incidents(events in arb_events(), at in 0usize..64) {
        let every: Vec<usize> = (1..=events.len()).collect();
        let straight = run_batched(&events, &every, None);
        let restored = run_batched(&events, &every, Some(at % (events.len() + 1)));
        prop_assert_eq!(straight, restored);
    }
}

#[test]
fn replayed_records_are_applied_once() {
    // An upstream stage that crashed re-delivers what it had already written: a firing
    // record after its resolve must not re-open or re-publish anything.
    let l = [("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", "payments-7c9d8f6b5d-bx2kq")];
    let events = vec![alert("c1", 0, F, &l), alert("c1", 30, R, &l)];
    let mut replayed = events.clone();
    replayed.extend(events.clone());
    let once = run(&events, 600);
    assert!(!once.is_empty());
    assert_eq!(run(&replayed, 600), once);
    // The most recent ids are remembered, however far apart in event time.
    let mut op = Correlator::new(CorrelationConfig { max_duplicate_ids: 2, ..cfg() });
    let mut out = Collector::default();
    for e in &events {
        op.on_event(e.clone(), &mut out);
    }
    assert_eq!(op.state.seen.len(), 2);
    op.on_event(alert("c1", 7200, F, &l), &mut out);
    assert_eq!(op.state.seen.len(), 2, "bounded");
}
