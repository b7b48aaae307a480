//! Throughput of the correlation operator: alerts applied per second with a watermark after
//! every alert (the way the runtime drives it), and snapshot cost.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kubesage_operators::correlation::{signal, CorrelationConfig, Correlator, Signal};
use kubesage_operators::time::from_millis;
use kubesage_operators::{Collector, Operator};
use kubesage_schemas::alert::{Alert, Severity};
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::ids::{alert_fingerprint, stable_id};
use kubesage_schemas::Envelope;

/// `n` alerts over `workloads` workloads of 4 pods, fired and resolved over an hour.
fn storm(n: usize, workloads: usize) -> Vec<Envelope<Signal>> {
    let t0 = 1_700_000_000_000i64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let w = i % workloads;
        let pod = format!("svc{w}-7c9d8f6b5d-{}", ["bx2kq", "d4fzw", "hq7rt", "m9wcx"][(i / workloads) % 4]);
        let labels: BTreeMap<String, String> = [("alertname", "KubePodCrashLooping"), ("namespace", "shop"), ("pod", pod.as_str()), ("node", "n1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let fp = alert_fingerprint(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let status = if (i / (workloads * 4)).is_multiple_of(2) { AlertStatus::Firing } else { AlertStatus::Resolved };
        let t = t0 + i as i64 * 3_600_000 / n as i64;
        let alert = Alert {
            fingerprint: fp.clone(),
            status,
            alertname: "KubePodCrashLooping".into(),
            severity: Severity::Warning,
            labels,
            annotations: BTreeMap::new(),
            starts_at: from_millis(t),
            ends_at: None,
            generator_url: String::new(),
            group_key: None,
            via: "bench".into(),
        };
        out.push(signal::from_alert(Envelope::new(stable_id(&[&fp, &i.to_string()]), "bench", from_millis(t), fp, "c1", alert)));
    }
    out
}

fn run(events: &[Envelope<Signal>]) -> usize {
    let mut op = Correlator::new(CorrelationConfig::default());
    let mut out = Collector::default();
    let mut emitted = 0;
    for e in events {
        let t = e.time;
        op.on_event(e.clone(), &mut out);
        op.on_watermark(t - chrono::Duration::seconds(5), &mut out);
        emitted += out.drain().count();
    }
    emitted
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("correlation");
    for workloads in [10usize, 200] {
        let events = storm(20_000, workloads);
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_with_input(BenchmarkId::new("alerts", format!("{workloads}_workloads")), &events, |b, ev| b.iter(|| run(ev)));
    }
    let events = storm(5_000, 200);
    let mut op = Correlator::new(CorrelationConfig::default());
    let mut out = Collector::default();
    for e in &events[..2_500] {
        op.on_event(e.clone(), &mut out);
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("snapshot_2500_buffered", |b| b.iter(|| serde_json::to_vec(&op.snapshot()).map(|v| v.len()).unwrap_or(0)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
