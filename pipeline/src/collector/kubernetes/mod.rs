//! Kubernetes collector: watches Events (events.k8s.io/v1) and the objects the topology
//! is built from, with the `kube` crate's watcher (list then watch, resume from the last
//! resourceVersion, bookmarks, relist on 410 Gone). A relist emits only what changed; an
//! Event whose count grows yields one occurrence record per growth. ConfigMap data edits
//! become `ConfigChanged` events (`config_changes`).

pub mod config_changes;
pub mod dedup;
pub mod normalize;

use std::fmt::Debug;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use kubesage_schemas::ids::stable_id;
use kubesage_schemas::topics::{K8S_EVENTS, TOPOLOGY};
use kubesage_schemas::topology::TopologyOp;
use kubesage_schemas::Envelope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::sink::{AckTracker, Sink};
use dedup::{Occurrences, Published};
use normalize::Placement;

const SOURCE: &str = "kubesage/collector/kubernetes";
/// List page size for ConfigMaps.
const CONFIG_MAP_PAGE: u32 = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    pub enabled: bool,
    /// Cluster name put on every record.
    pub cluster: String,
    /// API server URL; unset: in-cluster service account or the local kubeconfig.
    pub api_url: Option<String>,
    /// Watch ConfigMaps and publish a `ConfigChanged` event when one's data changes (needs
    /// list/watch on configmaps; values are never published, only the changed keys).
    pub config_changes: bool,
    /// At most one `ConfigChanged` per ConfigMap in this long (controllers that write their
    /// status into a ConfigMap's data every few seconds would flood RCA's evidence).
    #[serde(with = "humantime_serde")]
    pub config_change_quiet: std::time::Duration,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig { enabled: false, cluster: "default".into(), api_url: None, config_changes: true, config_change_quiet: std::time::Duration::from_secs(300) }
    }
}

#[derive(Clone)]
struct Out {
    sink: Sink,
    metrics: Arc<Metrics>,
    cluster: String,
    tracker: Arc<AckTracker>,
}

impl Out {
    async fn send<T: Serialize + kubesage_schemas::envelope::Payload>(&self, topic: &'static str, key: &str, record: &Envelope<T>) -> Result<()> {
        let bytes = serde_json::to_vec(record).map_err(|e| Error::Internal(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        self.sink.send(&self.tracker, topic, key, &bytes, deadline).await?;
        self.metrics.events_emitted.get_or_create(&crate::metrics::JobTopic { operator: "kubernetes".into(), topic: topic.into() }).inc();
        Ok(())
    }
}

pub async fn client(cfg: &KubernetesConfig) -> Result<Client> {
    let config = match &cfg.api_url {
        Some(url) => kube::Config::new(url.parse().map_err(|e| Error::Config(format!("collector.kubernetes.api_url: {e}")))?),
        None => kube::Config::infer().await.map_err(|e| Error::Config(format!("no Kubernetes API configured: {e}")))?,
    };
    Client::try_from(config).map_err(|e| Error::Config(format!("Kubernetes client: {e}")))
}

/// Watch everything until the task is dropped.
pub async fn run(cfg: KubernetesConfig, sink: Sink, metrics: Arc<Metrics>) -> Result<()> {
    let client = client(&cfg).await?;
    let out = Out { sink, metrics, cluster: cfg.cluster.clone(), tracker: AckTracker::new() };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(watch_events(Api::all(client.clone()), out.clone()));
    macro_rules! objects {
        ($($t:ty => $kind:literal),*) => { $( tasks.spawn(watch_objects::<$t>(Api::all(client.clone()), $kind, out.clone())); )* };
    }
    objects!(Pod => "Pod", ReplicaSet => "ReplicaSet", Deployment => "Deployment", StatefulSet => "StatefulSet", DaemonSet => "DaemonSet", Job => "Job", Node => "Node", Service => "Service", EndpointSlice => "EndpointSlice");
    if cfg.config_changes {
        tasks.spawn(watch_config_maps(Api::all(client.clone()), out.clone(), cfg.config_change_quiet));
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| Error::Internal(e.to_string()))??;
    }
    Ok(())
}

async fn watch_events(api: Api<Event>, out: Out) -> Result<()> {
    let mut counts = Occurrences::default();
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(ev) = stream.try_next().await.transpose() {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "event watch error (retrying)");
                continue;
            }
        };
        match ev {
            watcher::Event::Apply(e) | watcher::Event::InitApply(e) => {
                let uid = e.uid().unwrap_or_default();
                let Some(count) = counts.observe(&uid, normalize::event_count(&e)) else { continue };
                let Some(record) = normalize::k8s_event(&e, count) else { continue };
                let id = stable_id(&["k8s-event", &out.cluster, &uid, &count.to_string()]);
                // Keyed by the object it is about (an input topic); routed by cluster later.
                let subject = format!("{}/{}/{}", record.regarding.kind, record.regarding.namespace, record.regarding.name);
                out.send(K8S_EVENTS, &subject, &Envelope::new(id, SOURCE, record.observed_at, subject.clone(), out.cluster.clone(), record)).await?;
            }
            watcher::Event::Delete(e) => counts.forget(&e.uid().unwrap_or_default()),
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }
    Ok(())
}

/// ConfigMaps into `ConfigChanged` events (see `config_changes`).
async fn watch_config_maps(api: Api<ConfigMap>, out: Out, quiet: std::time::Duration) -> Result<()> {
    let mut versions = config_changes::ConfigVersions::new(quiet);
    // Small pages: a ConfigMap may hold up to 1 MiB (dashboards, release manifests).
    let mut stream = watcher(api, watcher::Config::default().page_size(CONFIG_MAP_PAGE)).default_backoff().boxed();
    while let Some(ev) = stream.try_next().await.transpose() {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(kind = "ConfigMap", error = %e, "watch error (retrying)");
                continue;
            }
        };
        match ev {
            watcher::Event::Init => versions.begin_relist(),
            watcher::Event::InitDone => versions.end_relist(),
            watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => {
                let now = chrono::Utc::now();
                let Some(keys) = versions.observe(&config_changes::config_key(&cm), config_changes::digest(&cm), now) else { continue };
                let record = config_changes::change_event(&cm, &keys, now);
                let id = stable_id(&["config-change", &out.cluster, &record.event_uid]);
                let subject = format!("ConfigMap/{}/{}", record.regarding.namespace, record.regarding.name);
                out.send(K8S_EVENTS, &subject, &Envelope::new(id, SOURCE, record.observed_at, subject.clone(), out.cluster.clone(), record)).await?;
            }
            watcher::Event::Delete(cm) => versions.forget(&config_changes::config_key(&cm), chrono::Utc::now()),
        }
    }
    Ok(())
}

async fn watch_objects<K>(api: Api<K>, kind: &'static str, out: Out) -> Result<()>
where
    K: kube::Resource<DynamicType = ()> + Placement + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut published = Published::default();
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut last_known: std::collections::HashMap<String, K> = std::collections::HashMap::new();
    while let Some(ev) = stream.try_next().await.transpose() {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(kind, error = %e, "watch error (retrying)");
                continue;
            }
        };
        match ev {
            watcher::Event::Init => published.begin_relist(),
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let uid = o.uid().unwrap_or_default();
                if published.apply(&uid, &o.resource_version().unwrap_or_default()) {
                    emit(&out, &o, kind, TopologyOp::Upsert).await?;
                    last_known.insert(uid, o);
                }
            }
            watcher::Event::InitDone => {
                for uid in published.end_relist() {
                    if let Some(o) = last_known.remove(&uid) {
                        emit(&out, &o, kind, TopologyOp::Delete).await?;
                    }
                }
            }
            watcher::Event::Delete(o) => {
                let uid = o.uid().unwrap_or_default();
                if published.delete(&uid) {
                    last_known.remove(&uid);
                    emit(&out, &o, kind, TopologyOp::Delete).await?;
                }
            }
        }
    }
    Ok(())
}

async fn emit<K: kube::Resource + Placement>(out: &Out, o: &K, kind: &str, op: TopologyOp) -> Result<()> {
    let update = normalize::topology(o, kind, op);
    let op_name = if op == TopologyOp::Delete { "delete" } else { "upsert" };
    let id = stable_id(&["topology", &out.cluster, &update.object.uid, &update.resource_version, op_name]);
    let subject = format!("{kind}/{}/{}", update.object.namespace, update.object.name);
    let time = normalize::change_time(o, op, chrono::Utc::now());
    // Keyed by object: one object's upserts and deletes stay in order on one partition.
    out.send(TOPOLOGY, &subject, &Envelope::new(id, SOURCE, time, subject.clone(), out.cluster.clone(), update)).await
}
