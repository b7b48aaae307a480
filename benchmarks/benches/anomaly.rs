//! Speed of the metric anomaly detector: the per-sample update of the default stack on one
//! series (with and without a seasonal model), and the whole operator over many
//! interleaved series. Also prints the state a series costs.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kubesage_benchmarks::rng::XorShift;
use kubesage_operators::anomaly::{AnomalyConfig, AnomalyOperator, SeasonalConfig, SeriesDetector, Stack};
use kubesage_operators::time::from_millis;
use kubesage_operators::Collector;
use kubesage_schemas::signals::MetricSample;

const T0: i64 = 1_700_000_000_000;

/// A CPU-like series: daily swing, noise, a spike now and then (xorshift, deterministic).
fn series(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = XorShift::new(seed | 1);
    (0..n)
        .map(|i| {
            let day = 0.3 * (i as f64 * std::f64::consts::TAU / 288.0).sin();
            let spike = if rng.f() < 0.001 { 3.0 } else { 0.0 };
            2.0 + day + 0.1 * (rng.f() - 0.5) + spike
        })
        .collect()
}

fn no_season() -> AnomalyConfig {
    AnomalyConfig { seasonal: SeasonalConfig { enabled: false, ..SeasonalConfig::default() }, ..AnomalyConfig::default() }
}

fn state_bytes(cfg: &AnomalyConfig) -> (usize, usize) {
    let stack = Stack::new(cfg);
    let mut d = SeriesDetector::new(&stack);
    for (i, x) in series(5000, 7).into_iter().enumerate() {
        d.update(T0 + i as i64 * 15_000, x, &stack);
    }
    let heap = d.seasonal.as_ref().map_or(0, |s| std::mem::size_of_val(s.as_ref()) + s.heap_bytes());
    (std::mem::size_of::<SeriesDetector>() + heap, serde_json::to_vec(&d).map_or(0, |v| v.len()))
}

fn detector_update(c: &mut Criterion) {
    for (name, cfg) in [("default-no-season", no_season()), ("default-seasonal", AnomalyConfig::default())] {
        let (mem, json) = state_bytes(&cfg);
        eprintln!("state per series ({name}): {mem} bytes in memory, {json} bytes in a snapshot");
        let values = series(100_000, 11);
        let stack = Stack::new(&cfg);
        let mut g = c.benchmark_group("anomaly/update-one-series");
        g.sample_size(10);
        g.throughput(Throughput::Elements(values.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut d = SeriesDetector::new(&stack);
                let mut alarms = 0u32;
                for (i, &x) in values.iter().enumerate() {
                    alarms += u32::from(d.update(T0 + i as i64 * 15_000, x, &stack).transition.is_some());
                }
                alarms
            })
        });
        g.finish();
    }
}

fn operator_many_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("anomaly/operator-many-series");
    g.sample_size(10);
    for n_series in [1_000usize, 10_000] {
        let per_series = 200_000 / n_series;
        let values: Vec<Vec<f64>> = (0..n_series).map(|s| series(per_series, s as u64 + 1)).collect();
        // One column per scrape: every series' value at that time.
        let columns: Vec<Vec<f64>> = (0..per_series).map(|i| values.iter().map(|v| v[i]).collect()).collect();
        let samples: Vec<(String, MetricSample)> = (0..n_series)
            .map(|s| {
                let labels: BTreeMap<String, String> = [("pod".to_string(), format!("web-{s}")), ("namespace".to_string(), "shop".to_string())].into_iter().collect();
                let sample = MetricSample { name: "container_cpu_usage".into(), labels, value: 0.0, timestamp: from_millis(T0) };
                (kubesage_operators::anomaly::series_key(&sample), sample)
            })
            .collect();
        g.throughput(Throughput::Elements((n_series * per_series) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n_series), &n_series, |b, _| {
            b.iter(|| {
                let mut op = AnomalyOperator::new(no_season());
                let mut out = Collector::default();
                for (i, column) in columns.iter().enumerate() {
                    let t = T0 + i as i64 * 15_000;
                    for ((key, sample), &value) in samples.iter().zip(column) {
                        let mut sample = sample.clone();
                        sample.value = value;
                        op.observe("c1", key, &sample, t, &mut out);
                    }
                    out.drain().for_each(drop);
                }
                op.tracked_series()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, detector_update, operator_many_series);
criterion_main!(benches);
