//! Load harness: alert ingest rate through the Alertmanager collector into a real Kafka
//! broker, counting only alerts the broker acknowledged (the collector answers 2xx only
//! then). Bounded by count and time; stops by itself.
//!
//!   cargo run --release -p kubesage-benchmarks --bin load -- --brokers 127.0.0.1:9092
//!
//! Without --brokers it uses the embedded Kafka. The last line is one JSON object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kubesage::app::{self, Role};
use kubesage::config::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Kafka bootstrap servers; empty: embedded mock cluster.
    #[arg(long, default_value = "")]
    brokers: String,
    /// Alerts to send in all.
    #[arg(long, default_value_t = 200_000)]
    alerts: u64,
    /// Alerts per request (`POST /api/v2/alerts`).
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: u64,
    /// Stop after this long whatever the count.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    max_time: Duration,
}

fn batch_body(start: u64, n: u64) -> String {
    let alerts: Vec<_> = (start..start + n)
        .map(|i| {
            json!({
                "labels": {"alertname": "LoadTest", "namespace": format!("ns{}", i % 50), "pod": format!("pod-{i}"), "cluster": format!("c{}", i % 12), "severity": "warning"},
                "annotations": {"summary": "load"},
                "startsAt": "2026-11-23T10:00:00Z"
            })
        })
        .collect();
    serde_json::Value::Array(alerts).to_string()
}

fn topic_end_sum(bootstrap: &str) -> i64 {
    let consumer: BaseConsumer = match rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).create() {
        Ok(c) => c,
        Err(_) => return -1,
    };
    (0..6).filter_map(|p| consumer.fetch_watermarks(kubesage_schemas::topics::ALERTS, p, Duration::from_secs(5)).ok()).map(|(_, h)| h).sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = Config::default();
    config.kafka.brokers = args.brokers.clone();
    config.server.listen = "127.0.0.1:0".parse()?;
    let running = app::start(config, &[Role::Collect]).await?;
    let url = format!("http://{}/api/v2/alerts", running.http_addr);
    let before = topic_end_sum(&running.bootstrap);
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, next, acked, failed) = (client.clone(), url.clone(), next.clone(), acked.clone(), failed.clone());
        let (total, batch, max_time) = (args.alerts, args.batch, args.max_time);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= total || started.elapsed() > max_time {
                    return lat;
                }
                let n = batch.min(total - start);
                let t = Instant::now();
                match client.post(&url).header("content-type", "application/json").body(batch_body(start, n)).send().await {
                    Ok(r) if r.status().is_success() => {
                        acked.fetch_add(n, Ordering::Relaxed);
                        lat.push(t.elapsed());
                    }
                    _ => {
                        failed.fetch_add(n, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    let after = topic_end_sum(&running.bootstrap);
    running.shutdown().await?;
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let acked = acked.load(Ordering::Relaxed);
    let rate = acked as f64 / elapsed.as_secs_f64();
    println!("alerts acknowledged   {acked} in {:.2}s ({} failed)", elapsed.as_secs_f64(), failed.load(Ordering::Relaxed));
    println!("ingest rate           {rate:.0} alerts/s (batch {}, {} requests in flight)", args.batch, args.concurrency);
    println!("request latency       p50 {:.1} ms, p99 {:.1} ms", pct(0.5), pct(0.99));
    println!("records on topic      {} new (broker high watermarks)", after - before);
    println!("{}", json!({"benchmark": "alert_ingest", "alerts": acked, "seconds": elapsed.as_secs_f64(), "alerts_per_second": rate, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "records_on_topic": after - before, "broker": if args.brokers.is_empty() { "embedded" } else { "external" }}));
    Ok(())
}
