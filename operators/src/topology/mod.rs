//! Topology: the live object graph of every cluster, from `kubesage.topology` upserts and
//! deletes — owner chains (Pod -> ReplicaSet -> Deployment, Job -> CronJob, ...), Pod ->
//! Node, Service -> Pods (selectors), EndpointSlice -> Service — and a service call graph
//! (edges announced on the topic in `calls`, plus edges from configuration).
//!
//! [`Topology`] is the store with the queries other operators need (owner root, node of a
//! pod, pods of a node, dependencies and dependents in the call graph); operators that need
//! the graph embed one and feed it the topology records of their input.
//! [`TopologyOperator`] hosts it on its own (it emits nothing). Updates apply in input order;
//! the snapshot is the announced objects, and the graph is rebuilt from them on restore.

pub mod graph;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubesage_schemas::topology::{TopologyOp, TopologyUpdate};
use kubesage_schemas::Envelope;
use petgraph::Direction;
use serde::{Deserialize, Serialize};

pub use graph::{key, key_of, node_key, split_key, ClusterGraph, ObjectRecord};

use crate::{Collector, ConfigIssue, Operator, OperatorError, Snapshot};

const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// Objects kept per cluster; updates of new objects beyond it are counted and dropped.
    pub max_objects_per_cluster: usize,
    /// Clusters kept; updates for further clusters are counted and dropped.
    pub max_clusters: usize,
    /// Service call edges known in advance (every cluster), e.g. from an architecture map.
    pub calls: Vec<CallEdge>,
    /// Call-graph hops followed by dependency queries.
    pub max_hops: u32,
}

/// `from` calls `to`. Each is `namespace/name` (a Service) or `Kind/namespace/name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallEdge {
    pub from: String,
    pub to: String,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig { max_objects_per_cluster: 200_000, max_clusters: 64, calls: Vec::new(), max_hops: 6 }
    }
}

impl TopologyConfig {
    pub fn validate(&self, prefix: &str) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.max_objects_per_cluster == 0 {
            issues.push(ConfigIssue::new(format!("{prefix}.max_objects_per_cluster"), "must be greater than 0"));
        }
        if self.max_clusters == 0 {
            issues.push(ConfigIssue::new(format!("{prefix}.max_clusters"), "must be greater than 0"));
        }
        if self.max_hops == 0 {
            issues.push(ConfigIssue::new(format!("{prefix}.max_hops"), "must be greater than 0"));
        }
        for (i, e) in self.calls.iter().enumerate() {
            for (field, v) in [("from", &e.from), ("to", &e.to)] {
                if call_endpoint(v).is_none() {
                    issues.push(ConfigIssue::new(
                        format!("{prefix}.calls[{i}].{field}"),
                        format!("`{v}` is neither namespace/name nor Kind/namespace/name"),
                    ));
                }
            }
        }
        issues
    }

    fn static_calls(&self) -> Vec<(String, String)> {
        self.calls.iter().filter_map(|e| Some((call_endpoint(&e.from)?, call_endpoint(&e.to)?))).collect()
    }
}

/// `ns/name` -> `Service/ns/name`; `Kind/ns/name` as is.
fn call_endpoint(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [ns, name] if !name.is_empty() => Some(key("Service", ns, name)),
        [kind, ns, name] if !kind.is_empty() && !name.is_empty() => Some(key(kind, ns, name)),
        _ => None,
    }
}

/// The graphs of every cluster, with the queries.
#[derive(Debug)]
pub struct Topology {
    cfg: TopologyConfig,
    static_calls: Vec<(String, String)>,
    /// The configured edges alone: the graph of a cluster not announced yet.
    static_graph: ClusterGraph,
    clusters: BTreeMap<String, ClusterGraph>,
    dropped: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TopologyState {
    clusters: BTreeMap<String, BTreeMap<String, ObjectRecord>>,
    dropped: u64,
}

impl Topology {
    pub fn new(cfg: TopologyConfig) -> Self {
        let static_calls = cfg.static_calls();
        let static_graph = ClusterGraph::from_objects(BTreeMap::new(), &static_calls);
        Topology { cfg, static_calls, static_graph, clusters: BTreeMap::new(), dropped: 0 }
    }

    pub fn config(&self) -> &TopologyConfig {
        &self.cfg
    }

    /// Apply one update of `cluster`.
    pub fn apply(&mut self, cluster: &str, u: &TopologyUpdate) {
        if u.op == TopologyOp::Delete {
            if let Some(g) = self.clusters.get_mut(cluster) {
                g.delete(&u.object);
            }
            return;
        }
        if !self.clusters.contains_key(cluster) {
            if self.clusters.len() >= self.cfg.max_clusters {
                self.dropped += 1;
                return;
            }
            self.clusters.insert(cluster.to_string(), ClusterGraph::from_objects(BTreeMap::new(), &self.static_calls));
        }
        let limit = self.cfg.max_objects_per_cluster;
        if let Some(g) = self.clusters.get_mut(cluster) {
            if !g.upsert(u, limit) {
                self.dropped += 1;
            }
        }
    }

    /// Updates dropped by the bounds.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn cluster(&self, cluster: &str) -> Option<&ClusterGraph> {
        self.clusters.get(cluster)
    }

    /// True when anything is known of `cluster` (objects or configured call edges).
    pub fn knows(&self, cluster: &str) -> bool {
        self.clusters.contains_key(cluster) || !self.static_calls.is_empty()
    }

    pub fn contains(&self, cluster: &str, k: &str) -> bool {
        self.clusters.get(cluster).is_some_and(|g| g.contains(k))
    }

    /// Top of `k`'s controller chain; `k` itself when nothing is known.
    pub fn owner_root(&self, cluster: &str, k: &str) -> String {
        self.clusters.get(cluster).map_or_else(|| k.to_string(), |g| g.owner_root(k))
    }

    /// Node name a Pod runs on.
    pub fn node_of(&self, cluster: &str, pod: &str) -> Option<String> {
        self.clusters.get(cluster)?.node_of(pod)
    }

    /// Workloads (owner roots) whose Pods read a ConfigMap or Secret.
    pub fn roots_using(&self, cluster: &str, config: &str) -> Vec<String> {
        self.clusters.get(cluster).map(|g| g.roots_using(config)).unwrap_or_default()
    }

    pub fn pods_of_node(&self, cluster: &str, node: &str) -> Vec<String> {
        self.clusters.get(cluster).map(|g| g.pods_of_node(node)).unwrap_or_default()
    }

    pub fn pods_of_service(&self, cluster: &str, service: &str) -> Vec<String> {
        self.clusters.get(cluster).map(|g| g.pods_of_service(service)).unwrap_or_default()
    }

    pub fn roots_of_service(&self, cluster: &str, service: &str) -> Vec<String> {
        self.clusters.get(cluster).map(|g| g.roots_of_service(service)).unwrap_or_default()
    }

    pub fn services_of_root(&self, cluster: &str, root: &str) -> Vec<String> {
        self.clusters.get(cluster).map(|g| g.services_of_root(root)).unwrap_or_default()
    }

    /// What `k` calls, transitively within `max_hops`, nearest first, with hop counts.
    pub fn dependencies(&self, cluster: &str, k: &str) -> Vec<(String, u32)> {
        self.calls(cluster, k, Direction::Outgoing)
    }

    /// What calls `k`, transitively within `max_hops`, nearest first, with hop counts.
    pub fn dependents(&self, cluster: &str, k: &str) -> Vec<(String, u32)> {
        self.calls(cluster, k, Direction::Incoming)
    }

    fn calls(&self, cluster: &str, k: &str, dir: Direction) -> Vec<(String, u32)> {
        // Configured edges hold for clusters not announced yet.
        self.clusters.get(cluster).unwrap_or(&self.static_graph).calls_within(k, dir, self.cfg.max_hops)
    }

    fn state(&self) -> TopologyState {
        TopologyState {
            clusters: self.clusters.iter().map(|(c, g)| (c.clone(), g.objects().clone())).collect(),
            dropped: self.dropped,
        }
    }

    fn set_state(&mut self, state: TopologyState) {
        self.dropped = state.dropped;
        self.clusters = state.clusters.into_iter().map(|(c, objects)| (c, ClusterGraph::from_objects(objects, &self.static_calls))).collect();
    }

    /// State as a serialisable value (embedded in other operators' snapshots).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self.state()).unwrap_or(serde_json::Value::Null)
    }

    pub fn restore_value(&mut self, v: serde_json::Value) -> Result<(), OperatorError> {
        let state: TopologyState = if v.is_null() { TopologyState::default() } else { serde_json::from_value(v).map_err(|e| OperatorError::Snapshot(e.to_string()))? };
        self.set_state(state);
        Ok(())
    }
}

/// Hosts a [`Topology`] on the topology topic. It publishes nothing: its state is what
/// other operators query when they embed it.
pub struct TopologyOperator {
    topology: Topology,
}

impl TopologyOperator {
    pub fn new(cfg: TopologyConfig) -> Self {
        TopologyOperator { topology: Topology::new(cfg) }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }
}

impl Operator for TopologyOperator {
    type In = TopologyUpdate;
    const NAME: &'static str = "topology";

    fn on_event(&mut self, event: Envelope<TopologyUpdate>, _out: &mut Collector) {
        self.topology.apply(&event.cluster, &event.data);
    }

    fn on_watermark(&mut self, _watermark: DateTime<Utc>, _out: &mut Collector) {}

    fn snapshot(&self) -> Snapshot {
        Snapshot { version: SNAPSHOT_VERSION, state: self.topology.to_value() }
    }

    fn restore(&mut self, snapshot: Snapshot) -> Result<(), OperatorError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(OperatorError::SnapshotVersion { found: snapshot.version, expected: SNAPSHOT_VERSION });
        }
        self.topology.restore_value(snapshot.state)
    }
}
