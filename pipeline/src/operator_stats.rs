//! What operators count about themselves (series held, samples dropped, templates known,
//! lines not learnt), exported as metrics. Each partition's task hands over its operator's
//! latest [`Stat`]s on every tick; a scrape encodes them, one family per stat, labelled by
//! operator (job) and partition. Running totals are part of operator state, so a restored
//! partition continues its counter instead of starting again from zero.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kubesage_operators::Stat;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::metrics::JobPartition;

/// One stat's description (from its first reporter) and its value per partition.
type Family = (Stat, Vec<(JobPartition, u64)>);

#[derive(Debug, Default)]
pub struct OperatorStats {
    /// (job, partition) -> the stats its task last reported.
    tasks: Mutex<BTreeMap<(String, i32), Vec<Stat>>>,
}

impl OperatorStats {
    pub fn set(&self, job: &str, partition: i32, stats: Vec<Stat>) {
        self.lock().insert((job.to_string(), partition), stats);
    }

    /// The partition went to another worker (or this one stops): its series end here.
    pub fn remove(&self, job: &str, partition: i32) {
        self.lock().remove(&(job.to_string(), partition));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, i32), Vec<Stat>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collector for OperatorStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // One family per stat name, whichever tasks report it.
        let mut families: BTreeMap<&'static str, Family> = BTreeMap::new();
        let tasks = self.lock();
        for ((job, partition), stats) in tasks.iter() {
            let labels = JobPartition { operator: job.clone(), partition: partition.to_string() };
            for s in stats {
                families.entry(s.name).or_insert_with(|| (*s, Vec::new())).1.push((labels.clone(), s.value));
            }
        }
        drop(tasks);
        for (name, (first, values)) in &families {
            let kind = if first.total { MetricType::Counter } else { MetricType::Gauge };
            // Ends in a full stop like the help of registered metrics.
            let help = format!("{}.", first.help);
            let mut family = encoder.encode_descriptor(name, &help, None, kind)?;
            for (labels, value) in values {
                let metric = family.encode_family(labels)?;
                if first.total {
                    ConstCounter::new(*value).encode(metric)?;
                } else {
                    ConstGauge::new(i64::try_from(*value).unwrap_or(i64::MAX)).encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;
    use std::sync::Arc;

    #[test]
    fn stats_become_one_family_each_with_a_series_per_partition() {
        let stats = Arc::new(OperatorStats::default());
        let mut registry = Registry::with_prefix("kubesage");
        registry.register_collector(Box::new(stats.clone()));
        let of = |series, evicted| vec![Stat::size("anomaly_series", "Series held", series), Stat::total("anomaly_series_evicted", "Series forgotten", evicted)];
        stats.set("detect-metrics", 0, of(10, 1));
        stats.set("detect-metrics", 1, of(5, 0));
        stats.set("detect-metrics", 2, of(7, 3));
        stats.remove("detect-metrics", 2);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "# HELP kubesage_anomaly_series Series held.",
                "# TYPE kubesage_anomaly_series gauge",
                "kubesage_anomaly_series{operator=\"detect-metrics\",partition=\"0\"} 10",
                "kubesage_anomaly_series{operator=\"detect-metrics\",partition=\"1\"} 5",
                "# HELP kubesage_anomaly_series_evicted Series forgotten.",
                "# TYPE kubesage_anomaly_series_evicted counter",
                "kubesage_anomaly_series_evicted_total{operator=\"detect-metrics\",partition=\"0\"} 1",
                "kubesage_anomaly_series_evicted_total{operator=\"detect-metrics\",partition=\"1\"} 0",
                "# EOF",
            ]
        );
    }
}
