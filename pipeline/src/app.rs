//! Starting and stopping the roles of one process.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kubesage_operators::anomaly::AnomalyOperator;
use kubesage_operators::log_anomaly::LogAnomaly;
use kubesage_operators::peer::PeerOutliers;
use kubesage_operators::planner::Planner;
use kubesage_operators::rca::CorrelateWithRca;
use kubesage_schemas::topics;

use crate::collector::alertmanager::AlertCollector;
use crate::collector::ingest::Ingest;
use crate::collector::loki::LokiPush;
use crate::collector::remote_write::RemoteWrite;
use crate::config::{BackendKind, Config, IngestConfig};
use crate::error::{Error, Result};
use crate::executor::{DryRun, Executor};
use crate::host::task::TaskEnv;
use crate::host::{hosted, run_job, JobSpec, Upstream, UpstreamGate};
use crate::inputs::route::ROUTES;
use crate::http::{self, Health};
use crate::inputs::raw_logs::RawLogs;
use crate::kafka::{self, embedded::EmbeddedKafka};
use crate::metrics::Metrics;
use crate::sink::Sink;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Role {
    /// HTTP collectors (Alertmanager webhook and API).
    Collect,
    /// Stream operators (correlation, planning, metric and log anomaly detection).
    Operate,
    /// Remediation executor.
    Execute,
    /// All of the above in one process.
    All,
}

pub fn expand(roles: &[Role]) -> Vec<Role> {
    let mut out: Vec<Role> = if roles.contains(&Role::All) || roles.is_empty() {
        vec![Role::Collect, Role::Operate, Role::Execute]
    } else {
        roles.to_vec()
    };
    out.sort();
    out.dedup();
    out
}

pub struct Running {
    pub http_addr: SocketAddr,
    pub bootstrap: String,
    pub metrics: Arc<Metrics>,
    pub sink: Sink,
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
    workers: Vec<(String, JoinHandle<Result<()>>)>,
    /// Async collectors (Kubernetes watch); aborted on shutdown.
    watchers: Vec<(String, tokio::task::JoinHandle<Result<()>>)>,
    server: tokio::task::JoinHandle<()>,
    server_stop: tokio::sync::oneshot::Sender<()>,
    deadline: Duration,
    /// Keeps the embedded broker alive for the life of the process.
    _embedded: Option<EmbeddedKafka>,
}

/// Start the given roles. With no brokers configured, the embedded Kafka is started and
/// the catalogue's topics are created on it.
pub async fn start(config: Config, roles: &[Role]) -> Result<Running> {
    let roles = expand(roles);
    let (embedded, bootstrap) = if config.kafka.brokers.trim().is_empty() {
        let e = EmbeddedKafka::start()?;
        for t in topics::CATALOGUE {
            e.create_topic(t.name, t.partitions)?;
        }
        let b = e.bootstrap_servers().to_string();
        tracing::info!(bootstrap = %b, "started embedded Kafka (librdkafka mock cluster)");
        (Some(e), b)
    } else {
        (None, config.kafka.brokers.clone())
    };
    let metrics = Metrics::new();
    let sink = Sink::new(&kafka::producer_config(&config.kafka, &bootstrap), metrics.clone())?;
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    let mut watchers = Vec::new();
    let reader = kafka::reader_config(&config.kafka, &bootstrap);

    if roles.contains(&Role::Operate) {
        let cc = config.correlation.clone();
        let rc = config.rca.clone();
        let pc = config.planner.clone();
        let ac = config.anomaly.clone();
        let peers = config.anomaly.peer.clone();
        let lc = config.log_anomaly.clone();
        let mut jobs = vec![
            // Correlation and RCA read every signal of a cluster in one partition.
            JobSpec {
                name: "correlate",
                input_topic: topics::SIGNALS.into(),
                factory: Arc::new(move || hosted(CorrelateWithRca::new(cc.clone(), rc.clone()))),
                upstream: ROUTES.iter().map(|&(job, topic, _)| Upstream { job, topic }).collect(),
            },
            JobSpec {
                name: "plan",
                input_topic: topics::INCIDENTS.into(),
                factory: Arc::new(move || hosted(Planner::new(pc.clone()))),
                upstream: vec![Upstream { job: "correlate", topic: topics::SIGNALS }],
            },
            JobSpec { name: "detect-metrics", input_topic: topics::METRICS.into(), factory: Arc::new(move || hosted(AnomalyOperator::new(ac.clone()))), upstream: vec![] },
            JobSpec {
                name: "detect-peers",
                input_topic: topics::PEER_WINDOWS.into(),
                factory: Arc::new(move || hosted(PeerOutliers::new(peers.clone()))),
                upstream: vec![Upstream { job: "detect-metrics", topic: topics::METRICS }],
            },
            JobSpec { name: "detect-logs", input_topic: topics::LOGS.into(), factory: Arc::new(move || hosted(LogAnomaly::new(lc.clone()))), upstream: vec![] },
        ];
        // Stateless re-keying of alerts, Kubernetes events, anomalies and topology by cluster.
        for &(name, topic, make) in ROUTES {
            jobs.push(JobSpec { name, input_topic: topic.into(), factory: Arc::new(make), upstream: vec![] });
        }
        if config.raw_logs.enabled {
            let rc = config.raw_logs.clone();
            jobs.push(JobSpec { name: "raw-logs", input_topic: rc.topic.clone(), factory: Arc::new(move || Box::new(RawLogs::new(rc.clone()))), upstream: vec![] });
        }
        for spec in jobs {
            metrics.init_job(spec.name);
            let upstream = if spec.upstream.is_empty() {
                None
            } else {
                // Rechecked at most twice per idle timeout: cheap, and prompt enough.
                Some(Arc::new(UpstreamGate::new(&reader, &config.kafka.group_prefix, &spec.upstream, config.runtime.idle_timeout / 2)?))
            };
            let env = TaskEnv { job: spec.name, topic: spec.input_topic.clone(), sink: sink.clone(), metrics: metrics.clone(), runtime: config.runtime.clone(), upstream };
            let group = format!("{}.{}", config.kafka.group_prefix, spec.name);
            let consumer = kafka::consumer_config(&config.kafka, &bootstrap, &group);
            let (reader, stop) = (reader.clone(), stop.clone());
            let name = spec.name.to_string();
            let handle = std::thread::Builder::new().name(format!("job-{name}")).spawn(move || run_job(spec, env, consumer, reader, stop))?;
            workers.push((name, handle));
        }
    }
    if roles.contains(&Role::Execute) {
        let backend = match config.executor.backend {
            BackendKind::DryRun => Arc::new(DryRun),
        };
        metrics.init_executor();
        let exec = Executor { cfg: config.executor.clone(), backend, sink: sink.clone(), metrics: metrics.clone(), runtime: tokio::runtime::Handle::current() };
        let group = format!("{}.execute", config.kafka.group_prefix);
        let consumer = kafka::consumer_config(&config.kafka, &bootstrap, &group);
        let (reader, stop) = (reader.clone(), stop.clone());
        let handle = std::thread::Builder::new().name("executor".into()).spawn(move || exec.run(consumer, reader, group, stop))?;
        workers.push(("execute".into(), handle));
    }

    let mut router = http::router(Health { metrics: metrics.clone(), ready: ready.clone(), failed: failed.clone() });
    if roles.contains(&Role::Collect) {
        let c = &config.collector;
        let ingest = |cfg: &IngestConfig, section: &str| Ingest::new(cfg.clone(), section, sink.clone(), metrics.clone());
        if c.alertmanager.enabled {
            metrics.init_collector("webhook");
            metrics.init_collector("api_v2");
            router = router.merge(AlertCollector::new(ingest(&c.alertmanager, "collector.alertmanager")?).router());
        }
        if c.remote_write.enabled {
            metrics.init_collector("remote_write");
            router = router.merge(RemoteWrite::new(ingest(&c.remote_write, "collector.remote_write")?).router());
        }
        if c.kubernetes.enabled {
            let k = c.kubernetes.clone();
            watchers.push(("kubernetes".to_string(), tokio::spawn(crate::collector::kubernetes::run(k, sink.clone(), metrics.clone()))));
        }
        if c.loki.enabled {
            metrics.init_collector("loki_push");
            router = router.merge(LokiPush::new(ingest(&c.loki, "collector.loki")?).router());
        }
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let http_addr = listener.local_addr()?;
    let (server_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "http server failed");
        }
    });
    ready.store(true, Ordering::Relaxed);
    tracing::info!(%http_addr, roles = ?roles, "kubesage running");
    Ok(Running { http_addr, bootstrap, metrics, sink, stop, failed, workers, watchers, server, server_stop, deadline: config.runtime.shutdown_deadline, _embedded: embedded })
}

impl Running {
    /// Resolves when a worker stopped on its own (which is a failure).
    pub async fn worker_failure(&self) -> String {
        loop {
            let finished = self.workers.iter().find(|(_, h)| h.is_finished()).map(|(n, _)| n).or_else(|| self.watchers.iter().find(|(_, h)| h.is_finished()).map(|(n, _)| n));
            if let Some(name) = finished {
                self.failed.store(true, Ordering::Relaxed);
                return name.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Graceful stop: stop accepting HTTP, stop reading, drain and checkpoint every
    /// partition, wait for deliveries, commit. Errors if anything failed or the deadline
    /// passed.
    pub async fn shutdown(self) -> Result<()> {
        let started = Instant::now();
        let _ = self.server_stop.send(());
        for (_, w) in &self.watchers {
            w.abort();
        }
        let _ = tokio::time::timeout(self.deadline, self.server).await;
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for (name, handle) in self.workers {
            let remaining = self.deadline.saturating_sub(started.elapsed());
            let joined = tokio::time::timeout(remaining, tokio::task::spawn_blocking(move || handle.join())).await;
            match joined {
                Ok(Ok(Ok(Ok(())))) => {}
                Ok(Ok(Ok(Err(e)))) => {
                    tracing::error!(worker = %name, error = %e, "worker failed");
                    result = Err(e);
                }
                Ok(_) => result = Err(Error::Internal(format!("worker {name} panicked"))),
                Err(_) => result = Err(Error::Timeout(format!("worker {name} did not stop within the shutdown deadline"))),
            }
        }
        let remaining = self.deadline.saturating_sub(started.elapsed());
        let sink = self.sink.clone();
        tokio::task::spawn_blocking(move || sink.flush(remaining)).await.map_err(|e| Error::Internal(e.to_string()))??;
        tracing::info!(elapsed = ?started.elapsed(), "shutdown complete");
        result
    }
}
