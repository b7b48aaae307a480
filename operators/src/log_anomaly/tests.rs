use std::collections::BTreeMap;
use std::time::Duration;

use kubesage_schemas::signals::{Anomaly, AnomalyPhase, LogPattern, LogRecord};
use kubesage_schemas::{topics, Envelope};
use proptest::prelude::*;

use super::*;

/// On a minute boundary, so minute `m` of a test is window `m`.
const T0: i64 = 1_700_000_040_000;

fn line(secs: i64, app: &str, text: &str, level: Option<&str>) -> Envelope<LogRecord> {
    let stream = BTreeMap::from([("app".to_string(), app.to_string())]);
    let t = from_millis(T0 + secs * 1000);
    let id = stable_id(&[app, text, &secs.to_string()]);
    Envelope::new(id, "test", t, app, "c1", LogRecord { stream, line: text.into(), timestamp: t, level: level.map(str::to_string) })
}

fn cfg() -> LogAnomalyConfig {
    LogAnomalyConfig { window: Duration::from_secs(60), warmup_windows: 5, ..LogAnomalyConfig::default() }
}

/// Ten normal requests a minute for `minutes`, then `extra` lines in the last minute.
fn steady(minutes: i64, extra: Vec<Envelope<LogRecord>>) -> Vec<Envelope<LogRecord>> {
    let mut v = Vec::new();
    for m in 0..minutes {
        for i in 0..10 {
            v.push(line(m * 60 + i * 5, "web", &format!("GET /api/items/{} 200 {}ms", m * 10 + i, 3 + i), Some("info")));
        }
    }
    v.extend(extra);
    v.sort_by_key(|e| e.time);
    v
}

fn run(events: &[Envelope<LogRecord>]) -> Collector {
    let mut op = LogAnomaly::new(cfg());
    let mut out = Collector::default();
    for e in events {
        op.on_event(e.clone(), &mut out);
        op.on_watermark(e.time - chrono::Duration::seconds(1), &mut out);
    }
    op.on_watermark(from_millis(T0 + 10_000_000), &mut out);
    out
}

fn kinds(out: &Collector) -> Vec<(String, AnomalyPhase)> {
    out.decoded::<Anomaly>(topics::ANOMALIES).into_iter().map(|e| (e.data.labels["kind"].clone(), e.data.phase)).collect()
}

#[test]
fn table_of_log_anomalies() {
    let last = 20 * 60;
    type Want = Vec<(&'static str, AnomalyPhase)>;
    let cases: Vec<(&str, Vec<Envelope<LogRecord>>, Want)> = vec![
        ("steady traffic is quiet", steady(20, vec![]), vec![]),
        (
            "a template never seen before, after warm-up",
            steady(20, vec![line(last - 30, "web", "panic: runtime error: invalid memory address or nil pointer dereference", Some("error"))]),
            vec![("new-pattern", AnomalyPhase::Started), ("new-pattern", AnomalyPhase::Ended)],
        ),
        (
            "a spike of a known template",
            steady(20, (0..200).map(|i| line(last - 50 + (i % 40), "web", &format!("GET /api/items/{i} 200 4ms"), Some("info"))).collect()),
            vec![("spike", AnomalyPhase::Started), ("spike", AnomalyPhase::Ended)],
        ),
        (
            "a burst of error lines",
            {
                let mut base = steady(20, vec![]);
                for m in 0..20 {
                    base.push(line(m * 60 + 1, "web", &format!("upstream timeout after {}ms", 100 + m), Some("error")));
                }
                base.extend((0..60).map(|i| line(last - 40 + (i % 30), "web", &format!("upstream timeout after {}ms", 200 + i), Some("error"))));
                base.sort_by_key(|e| e.time);
                base
            },
            vec![("spike", AnomalyPhase::Started), ("error-burst", AnomalyPhase::Started), ("error-burst", AnomalyPhase::Ended), ("spike", AnomalyPhase::Ended)],
        ),
    ];
    for (name, events, want) in cases {
        let out = run(&events);
        let got = kinds(&out);
        let want: Vec<(String, AnomalyPhase)> = want.into_iter().map(|(k, p)| (k.to_string(), p)).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort_by(|a, b| (a.1 as u8, &a.0).cmp(&(b.1 as u8, &b.0)));
        let mut want_sorted = want.clone();
        want_sorted.sort_by(|a, b| (a.1 as u8, &a.0).cmp(&(b.1 as u8, &b.0)));
        assert_eq!(got_sorted, want_sorted, "{name}");
    }
}

#[test]
fn windows_publish_template_counts() {
    let out = run(&steady(3, vec![]));
    let patterns: Vec<LogPattern> = out.decoded::<LogPattern>(topics::LOG_PATTERNS).into_iter().map(|e| e.data).collect();
    assert_eq!(patterns.len(), 3, "one template, three windows");
    assert!(patterns.iter().all(|p| p.count == 10 && p.template.contains("<*>")), "{patterns:?}");
    assert_eq!(patterns[0].examples.len(), 3);
}

fn encoded(out: &mut Collector) -> Vec<(String, String)> {
    out.drain().map(|e| (e.id, String::from_utf8_lossy(&e.payload).into_owned())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn snapshot_and_restore_mid_stream_gives_the_same_output(cut in 0usize..400, extra in 0usize..120) {
        let events = steady(15, (0..extra).map(|i| line(14 * 60 + (i as i64 % 50), "web", &format!("retrying connection {i}"), Some("warn"))).collect());
        let mut straight = run(&events);
        let cut = cut % (events.len() + 1);
        let mut op = LogAnomaly::new(cfg());
        let mut out = Collector::default();
        for (i, e) in events.iter().enumerate() {
            if i == cut {
                let snap = serde_json::to_vec(&op.snapshot()).expect("encode");
                op = LogAnomaly::new(cfg());
                op.restore(serde_json::from_slice(&snap).expect("decode")).expect("restore");
            }
            op.on_event(e.clone(), &mut out);
            op.on_watermark(e.time - chrono::Duration::seconds(1), &mut out);
        }
        op.on_watermark(from_millis(T0 + 10_000_000), &mut out);
        prop_assert_eq!(encoded(&mut straight), encoded(&mut out));
    }
}

#[test]
fn stats_count_lines_templates_and_lines_not_learnt() {
    let mut c = cfg();
    c.miner.max_templates = 2;
    let mut op = LogAnomaly::new(c);
    let mut out = Collector::default();
    let texts = ["GET /api/items/1 200 3ms", "connection reset by peer", "GET /api/items/2 200 4ms", "disk quota exceeded on volume data", "user logged out"];
    for (i, t) in texts.iter().enumerate() {
        op.on_event(line(i as i64, "web", t, None), &mut out);
    }
    let stat = |op: &LogAnomaly, name: &str| op.stats().iter().find(|s| s.name == name).map(|s| (s.value, s.total));
    assert_eq!(stat(&op, "logs_lines"), Some((5, true)));
    assert_eq!(stat(&op, "logs_templates"), Some((2, false)));
    assert_eq!(stat(&op, "logs_lines_unlearnt"), Some((2, true)), "the table was full for the last two new shapes");
    // Totals are state: a restored operator continues them.
    let mut restored = LogAnomaly::new(LogAnomalyConfig { miner: op.cfg.miner.clone(), ..cfg() });
    restored.restore(op.snapshot()).expect("restore");
    assert_eq!(stat(&restored, "logs_lines_unlearnt"), Some((2, true)));
}
