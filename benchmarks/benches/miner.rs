//! Speed of the log template miner over the Loghub-2.0 2k messages (all 14 systems, in
//! name order), from an empty miner each iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kubesage_benchmarks::loghub;
use kubesage_operators::logs::{MinerConfig, TemplateMiner};

fn miner(c: &mut Criterion) {
    let data = loghub::default_data_dir();
    let lines: Vec<String> = match loghub::all_contents(&data) {
        Ok(all) => all.into_iter().flat_map(|(_, c)| c).collect(),
        Err(e) => {
            eprintln!("miner bench skipped: {e}");
            return;
        }
    };
    let mut g = c.benchmark_group("logs/miner");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("loghub2k-all-systems", |b| {
        b.iter(|| {
            let mut m = TemplateMiner::new(MinerConfig::default());
            for l in &lines {
                m.add(l);
            }
            m.len()
        })
    });
    // A warm miner: every template already known (the steady state of a long-running job).
    let mut warm = TemplateMiner::new(MinerConfig::default());
    for l in &lines {
        warm.add(l);
    }
    g.bench_function("loghub2k-warm", |b| {
        b.iter(|| {
            for l in &lines {
                warm.add(l);
            }
            warm.lines()
        })
    });
    g.finish();
}

criterion_group!(benches, miner);
criterion_main!(benches);
