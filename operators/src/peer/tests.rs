use std::collections::BTreeMap;

use kubesage_schemas::signals::{Anomaly, AnomalyPhase, MetricSample, PeerWindow};
use kubesage_schemas::{topics, Envelope};
use proptest::prelude::*;

use super::*;
use crate::anomaly::{AnomalyConfig, AnomalyOperator};

const T0: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;

fn window(member: &str, w: i64, mean: f64) -> Envelope<PeerWindow> {
    let labels: BTreeMap<String, String> = [("namespace".to_string(), "shop".to_string()), ("workload".to_string(), "web".to_string())].into_iter().collect();
    let data = PeerWindow {
        group: r#"cpu{namespace="shop",workload="web"}"#.into(),
        name: "cpu".into(),
        labels,
        member: member.into(),
        member_label: "pod".into(),
        series: format!("cpu{{pod=\"{member}\"}}"),
        window_start: from_millis(T0 + w * MIN),
        window_end: from_millis(T0 + (w + 1) * MIN),
        mean,
        samples: 4,
    };
    Envelope::new(format!("{member}/{w}"), "test", data.window_end, data.group.clone(), "c1", data)
}

/// `members` pods for `windows` minutes; `odd(member, w)` may replace a mean.
fn group(members: usize, windows: i64, odd: impl Fn(usize, i64) -> Option<f64>) -> Vec<Envelope<PeerWindow>> {
    let mut v = Vec::new();
    for w in 0..windows {
        for m in 0..members {
            let normal = 1.0 + 0.02 * ((m as i64 * 7 + w * 3) % 5) as f64;
            v.push(window(&format!("web-{m}"), w, odd(m, w).unwrap_or(normal)));
        }
    }
    v
}

fn run(events: &[Envelope<PeerWindow>], cfg: PeerConfig) -> (Vec<Anomaly>, PeerCounters) {
    let mut op = PeerOutliers::new(cfg);
    let mut out = Collector::default();
    for e in events {
        op.on_event(e.clone(), &mut out);
        op.on_watermark(e.data.window_start, &mut out);
    }
    flush(&mut op, &mut out);
    (out.decoded::<Anomaly>(topics::ANOMALIES).into_iter().map(|e| e.data).collect(), op.counters())
}

/// Two ticks far apart: every member is heard from, then given up; what is left is judged.
fn flush(op: &mut PeerOutliers, out: &mut Collector) {
    op.on_tick(from_millis(T0), out);
    op.on_tick(from_millis(T0 + 60 * MIN), out);
}

fn summary(records: &[Anomaly]) -> Vec<(String, AnomalyPhase)> {
    records.iter().map(|r| (r.labels["peer_member"].clone(), r.phase)).collect()
}

#[test]
fn table_of_peer_outliers() {
    type Odd = Box<dyn Fn(usize, i64) -> Option<f64>>;
    type Want = Vec<(&'static str, AnomalyPhase)>;
    let cases: Vec<(&str, usize, Odd, Want)> = vec![
        ("alike peers raise nothing", 5, Box::new(|_, _| None), vec![]),
        (
            "one pod runs hot for a while, then rejoins",
            5,
            Box::new(|m, w| (m == 3 && (8..12).contains(&w)).then_some(3.0)),
            vec![("web-3", AnomalyPhase::Started), ("web-3", AnomalyPhase::Ended)],
        ),
        ("two members are not a group", 2, Box::new(|m, w| (m == 1 && w > 6).then_some(9.0)), vec![]),
        (
            "an outlier that gets worse is updated",
            6,
            Box::new(|m, w| (m == 0 && w >= 8).then_some(2.0 + (w - 8) as f64)),
            vec![("web-0", AnomalyPhase::Started), ("web-0", AnomalyPhase::Updated), ("web-0", AnomalyPhase::Updated), ("web-0", AnomalyPhase::Ended)],
        ),
    ];
    for (name, members, odd, want) in cases {
        let events = group(members, 14, odd);
        let (records, _) = run(&events, PeerConfig::default());
        let want: Vec<(String, AnomalyPhase)> = want.into_iter().map(|(m, p)| (m.to_string(), p)).collect();
        let got = summary(&records);
        // Updates depend on how the score grows; compare starts and ends exactly.
        let firm = |v: &[(String, AnomalyPhase)]| v.iter().filter(|(_, p)| *p != AnomalyPhase::Updated).cloned().collect::<Vec<_>>();
        assert_eq!(firm(&got), firm(&want), "{name}: {records:#?}");
        assert_eq!(got.iter().any(|(_, p)| *p == AnomalyPhase::Updated), want.iter().any(|(_, p)| *p == AnomalyPhase::Updated), "{name}: {got:?}");
        for r in &records {
            assert_eq!(r.detectors, vec![DETECTOR.to_string()]);
            assert!((0.0..=1.0).contains(&r.score));
        }
        if let Some(started) = records.iter().find(|r| r.phase == AnomalyPhase::Started) {
            assert!(started.observed > started.expected_high, "{started:?}");
            assert_eq!(started.labels.get("__name__").map(String::as_str), Some("cpu"));
        }
    }
}

#[test]
fn late_windows_are_counted_and_dropped() {
    let mut events = group(4, 8, |_, _| None);
    events.push(window("web-0", 1, 50.0));
    let (records, counters) = run(&events, PeerConfig::default());
    assert!(records.is_empty());
    assert_eq!(counters.late, 1);
}

#[test]
fn a_silent_group_ends_its_outliers_and_is_forgotten() {
    let events = group(5, 10, |m, w| (m == 2 && w >= 7).then_some(4.0));
    let mut op = PeerOutliers::new(PeerConfig::default());
    let mut out = Collector::default();
    for e in &events {
        op.on_event(e.clone(), &mut out);
    }
    op.on_tick(from_millis(T0), &mut out);
    op.on_tick(from_millis(T0 + 6 * MIN), &mut out);
    assert_eq!(op.groups(), 1, "members silent for one grace are given up, the group is kept");
    op.on_tick(from_millis(T0 + 11 * MIN), &mut out);
    let records: Vec<Anomaly> = out.decoded::<Anomaly>(topics::ANOMALIES).into_iter().map(|e| e.data).collect();
    assert_eq!(summary(&records).last().map(|r| r.1), Some(AnomalyPhase::Ended));
    assert_eq!(op.groups(), 0);
}

#[test]
fn the_metric_operator_feeds_the_peer_operator() {
    // Four pods of one Deployment scraped every 15 s; one doubles its CPU after 10 minutes.
    let mut metrics = AnomalyOperator::new(AnomalyConfig::default());
    let mut windows = Collector::default();
    let pods = ["web-7d9f8c6b5-x2x4z", "web-7d9f8c6b5-q8w2n", "web-7d9f8c6b5-m4k7p", "web-7d9f8c6b5-z9r2t"];
    for i in 0..80i64 {
        for (p, pod) in pods.iter().enumerate() {
            let labels: BTreeMap<String, String> = [("namespace", "shop"), ("pod", pod), ("container_id", "x")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let value = if p == 1 && i >= 40 { 2.0 } else { 1.0 } + 0.01 * ((i + p as i64) % 3) as f64;
            let t = from_millis(T0 + i * 15_000);
            let sample = MetricSample { name: "container_cpu".into(), labels, value, timestamp: t };
            let key = crate::anomaly::series_key(&sample);
            metrics.on_event(Envelope::new(format!("{p}/{i}"), "test", t, key, "c1", sample), &mut windows);
        }
    }
    let records: Vec<Envelope<PeerWindow>> = windows.decoded(topics::PEER_WINDOWS);
    assert_eq!(records.len(), 4 * 19, "one record per pod per finished minute");
    assert!(records.iter().all(|r| r.data.group == r#"container_cpu{namespace="shop",workload="web"}"#));
    let (anomalies, _) = run(&records, PeerConfig::default());
    assert_eq!(summary(&anomalies).first(), Some(&("web-7d9f8c6b5-q8w2n".to_string(), AnomalyPhase::Started)));
}

#[test]
fn config_errors_name_fields() {
    let bad = PeerConfig { windows: 0, min_members: 1, threshold: -1.0, member_labels: vec![], ..PeerConfig::default() };
    let paths: Vec<String> = bad.validate("anomaly.peer").into_iter().map(|i| i.path).collect();
    for want in ["anomaly.peer.windows", "anomaly.peer.min_members", "anomaly.peer.threshold", "anomaly.peer.member_labels"] {
        assert!(paths.iter().any(|p| p == want), "{want} missing: {paths:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Snapshot at any record, restore into a fresh operator, go on: same records; and the
    /// watermark may trail by any number of windows.
    #[test]
    fn snapshot_restore_and_watermark_lag_do_not_change_the_output(cut in 0usize..70, lag in 0i64..4, odd_at in 6i64..12) {
        let events = group(5, 14, |m, w| (m == 4 && w >= odd_at && w < odd_at + 3).then_some(3.5));
        let (whole, _) = run(&events, PeerConfig::default());
        let mut op = PeerOutliers::new(PeerConfig::default());
        let mut out = Collector::default();
        for (i, e) in events.iter().enumerate() {
            if i == cut {
                let snap = serde_json::to_vec(&op.snapshot()).expect("encode");
                op = PeerOutliers::new(PeerConfig::default());
                op.restore(serde_json::from_slice(&snap).expect("decode")).expect("restore");
            }
            op.on_event(e.clone(), &mut out);
            op.on_watermark(from_millis(to_millis(&e.data.window_start) - lag * MIN), &mut out);
        }
        flush(&mut op, &mut out);
        let got: Vec<Anomaly> = out.decoded::<Anomaly>(topics::ANOMALIES).into_iter().map(|e| e.data).collect();
        prop_assert_eq!(got, whole);
    }

    /// Members' windows come from different partitions at different speeds (a backlog
    /// after a restart): once the members are known (they were, before the restart), any
    /// interleaving that keeps each member's own order, with the watermark following the
    /// newest record, gives the same records.
    #[test]
    fn interleaving_members_does_not_change_the_output(picks in proptest::collection::vec(0usize..5, 70), odd_at in 6i64..12) {
        let events = group(5, 14, |m, w| (m == 4 && w >= odd_at && w < odd_at + 3).then_some(3.5));
        let (whole, _) = run(&events, PeerConfig::default());
        // Per-member queues, drained in the order `picks` names (then whatever is left).
        let mut queues: Vec<std::collections::VecDeque<Envelope<PeerWindow>>> = vec![Default::default(); 5];
        for e in &events {
            let m: usize = e.data.member.trim_start_matches("web-").parse().expect("member");
            queues[m].push_back(e.clone());
        }
        // Every member's first window, in order: the group as a restored snapshot knows it.
        let mut order: Vec<Envelope<PeerWindow>> = queues.iter_mut().filter_map(|q| q.pop_front()).collect();
        for &p in &picks {
            if let Some(e) = queues[p].pop_front() {
                order.push(e);
            }
        }
        for q in &mut queues {
            order.extend(q.drain(..));
        }
        let mut op = PeerOutliers::new(PeerConfig::default());
        let mut out = Collector::default();
        let mut newest = i64::MIN;
        for e in &order {
            op.on_event(e.clone(), &mut out);
            newest = newest.max(to_millis(&e.data.window_start));
            op.on_watermark(from_millis(newest), &mut out);
        }
        flush(&mut op, &mut out);
        let got: Vec<Anomaly> = out.decoded::<Anomaly>(topics::ANOMALIES).into_iter().map(|e| e.data).collect();
        prop_assert_eq!(got, whole);
    }
}
