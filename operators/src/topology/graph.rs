//! The live object graph of one cluster.
//!
//! The persisted truth is the map of objects as last announced (`objects`); the petgraph
//! is an index derived from it and rebuilt on restore. Objects are keyed `Kind/namespace/name`
//! (`Node//n1` for cluster-scoped ones), the names alert labels and events carry. An owner
//! or call target that was referenced but never announced is a placeholder node, kept while
//! something points at it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kubesage_schemas::k8s::ObjectRef;
use kubesage_schemas::topology::TopologyUpdate;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::{Deserialize, Serialize};

/// Longest owner chain followed (CronJob -> Job -> Pod is 3; guards against cycles).
const MAX_OWNER_DEPTH: usize = 16;
/// Label EndpointSlices carry to name their Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edge {
    /// Child -> controller owner (Pod -> ReplicaSet -> Deployment, Job -> CronJob, ...).
    OwnedBy,
    /// Pod -> Node.
    RunsOn,
    /// Service -> Pod (selector match). An EndpointSlice is owned by its Service.
    Selects,
    /// Caller -> callee, announced on the topology topic.
    Calls,
    /// Caller -> callee, from configuration (survives every update).
    StaticCalls,
    /// Pod -> ConfigMap or Secret it reads.
    Uses,
}

/// What is kept of an announced object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub owners: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
}

/// `Kind/namespace/name` of a reference; a call target without a kind is a Service.
pub fn key_of(r: &ObjectRef) -> String {
    let kind = if r.kind.is_empty() { "Service" } else { r.kind.as_str() };
    key(kind, &r.namespace, &r.name)
}

pub fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

pub fn node_key(node: &str) -> String {
    key("Node", "", node)
}

/// `(kind, namespace, name)` of a key.
pub fn split_key(k: &str) -> (&str, &str, &str) {
    let mut it = k.splitn(3, '/');
    let kind = it.next().unwrap_or("");
    let ns = it.next().unwrap_or("");
    let name = it.next().unwrap_or("");
    (kind, ns, name)
}

#[derive(Debug, Default)]
pub struct ClusterGraph {
    objects: BTreeMap<String, ObjectRecord>,
    graph: StableDiGraph<String, Edge>,
    index: BTreeMap<String, NodeIndex>,
}

impl ClusterGraph {
    pub fn objects(&self) -> &BTreeMap<String, ObjectRecord> {
        &self.objects
    }

    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    /// Graph nodes, placeholders included.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn contains(&self, k: &str) -> bool {
        self.objects.contains_key(k)
    }

    /// Build from persisted objects and the configured call edges.
    pub fn from_objects(objects: BTreeMap<String, ObjectRecord>, static_calls: &[(String, String)]) -> Self {
        let mut g = ClusterGraph::default();
        for (from, to) in static_calls {
            g.add_static_call(from, to);
        }
        for (k, rec) in objects {
            g.put(k, rec);
        }
        g
    }

    pub fn add_static_call(&mut self, from: &str, to: &str) {
        let (a, b) = (self.node(from), self.node(to));
        if !self.graph.edges_connecting(a, b).any(|e| *e.weight() == Edge::StaticCalls) {
            self.graph.add_edge(a, b, Edge::StaticCalls);
        }
    }

    /// Apply an upsert; `false` when the object is new and `limit` objects are already kept.
    pub fn upsert(&mut self, u: &TopologyUpdate, limit: usize) -> bool {
        let k = key_of(&u.object);
        if !self.objects.contains_key(&k) && self.objects.len() >= limit {
            return false;
        }
        let mut labels = u.labels.clone();
        let mut owners: Vec<String> = u.owners.iter().map(key_of).collect();
        if u.object.kind == "EndpointSlice" {
            // The slice's Service is its owner by convention and by label; keep only the label.
            if let Some(svc) = labels.remove(SERVICE_NAME_LABEL) {
                owners.retain(|o| !o.starts_with("Service/"));
                owners.push(key("Service", &u.object.namespace, &svc));
            }
            labels.clear();
        }
        let rec = ObjectRecord {
            owners,
            node: u.node.clone().filter(|n| !n.is_empty()),
            selector: u.selector.clone(),
            labels,
            calls: u.calls.iter().map(key_of).collect(),
            uses: u.uses.iter().map(key_of).collect(),
        };
        self.put(k, rec);
        true
    }

    pub fn delete(&mut self, object: &ObjectRef) {
        let k = key_of(object);
        if self.objects.remove(&k).is_none() {
            return;
        }
        if let Some(&ix) = self.index.get(&k) {
            self.clear_outgoing(ix, &[Edge::OwnedBy, Edge::RunsOn, Edge::Calls, Edge::Uses]);
            // A Service no longer selects; a Pod is no longer selected.
            let selects: Vec<_> = self
                .graph
                .edges_directed(ix, Direction::Outgoing)
                .chain(self.graph.edges_directed(ix, Direction::Incoming))
                .filter(|e| *e.weight() == Edge::Selects && split_key(&self.graph[e.source()]).0 == "Service")
                .map(|e| e.id())
                .collect();
            for e in selects {
                self.graph.remove_edge(e);
            }
            self.collect(ix);
        }
    }

    fn put(&mut self, k: String, rec: ObjectRecord) {
        let ix = self.node(&k);
        self.clear_outgoing(ix, &[Edge::OwnedBy, Edge::RunsOn, Edge::Calls, Edge::Uses]);
        for o in &rec.owners {
            let to = self.node(o);
            self.graph.add_edge(ix, to, Edge::OwnedBy);
        }
        if let Some(n) = &rec.node {
            let to = self.node(&node_key(n));
            self.graph.add_edge(ix, to, Edge::RunsOn);
        }
        for c in &rec.calls {
            let to = self.node(c);
            self.graph.add_edge(ix, to, Edge::Calls);
        }
        for u in &rec.uses {
            let to = self.node(u);
            self.graph.add_edge(ix, to, Edge::Uses);
        }
        let (kind, ns, _) = split_key(&k);
        let (kind, ns) = (kind.to_string(), ns.to_string());
        self.objects.insert(k.clone(), rec);
        match kind.as_str() {
            "Service" => self.reselect_service(&k, ix, &ns),
            "Pod" => self.reselect_pod(&k, ix, &ns),
            _ => {}
        }
    }

    fn reselect_service(&mut self, k: &str, ix: NodeIndex, ns: &str) {
        let old: Vec<_> = self.graph.edges_directed(ix, Direction::Outgoing).filter(|e| *e.weight() == Edge::Selects).map(|e| e.id()).collect();
        for e in old {
            self.graph.remove_edge(e);
        }
        let selector = self.objects.get(k).map(|r| r.selector.clone()).unwrap_or_default();
        if selector.is_empty() {
            return; // a Service without a selector selects nothing (its slices name the endpoints)
        }
        let prefix = key("Pod", ns, "");
        let pods: Vec<String> = self
            .objects
            .range(prefix.clone()..)
            .take_while(|(pk, _)| pk.starts_with(&prefix))
            .filter(|(_, r)| matches(&selector, &r.labels))
            .map(|(pk, _)| pk.clone())
            .collect();
        for p in pods {
            let to = self.node(&p);
            self.graph.add_edge(ix, to, Edge::Selects);
        }
    }

    fn reselect_pod(&mut self, k: &str, ix: NodeIndex, ns: &str) {
        let old: Vec<_> = self.graph.edges_directed(ix, Direction::Incoming).filter(|e| *e.weight() == Edge::Selects).map(|e| e.id()).collect();
        for e in old {
            self.graph.remove_edge(e);
        }
        let labels = self.objects.get(k).map(|r| r.labels.clone()).unwrap_or_default();
        let prefix = key("Service", ns, "");
        let services: Vec<String> = self
            .objects
            .range(prefix.clone()..)
            .take_while(|(sk, _)| sk.starts_with(&prefix))
            .filter(|(_, r)| !r.selector.is_empty() && matches(&r.selector, &labels))
            .map(|(sk, _)| sk.clone())
            .collect();
        for s in services {
            let from = self.node(&s);
            self.graph.add_edge(from, ix, Edge::Selects);
        }
    }

    fn node(&mut self, k: &str) -> NodeIndex {
        if let Some(&ix) = self.index.get(k) {
            return ix;
        }
        let ix = self.graph.add_node(k.to_string());
        self.index.insert(k.to_string(), ix);
        ix
    }

    fn clear_outgoing(&mut self, ix: NodeIndex, kinds: &[Edge]) {
        let edges: Vec<_> = self.graph.edges_directed(ix, Direction::Outgoing).filter(|e| kinds.contains(e.weight())).map(|e| (e.id(), e.target())).collect();
        for (e, target) in edges {
            self.graph.remove_edge(e);
            self.collect(target);
        }
    }

    /// Remove a node that is neither announced nor referenced, and what only it referenced.
    fn collect(&mut self, ix: NodeIndex) {
        let mut queue = VecDeque::from([ix]);
        while let Some(ix) = queue.pop_front() {
            let Some(k) = self.graph.node_weight(ix).cloned() else { continue };
            if self.objects.contains_key(&k) || self.graph.edges_directed(ix, Direction::Incoming).next().is_some() {
                continue;
            }
            queue.extend(self.graph.neighbors_directed(ix, Direction::Outgoing));
            self.graph.remove_node(ix);
            self.index.remove(&k);
        }
    }

    fn targets(&self, k: &str, edge: Edge, dir: Direction) -> Vec<String> {
        let Some(&ix) = self.index.get(k) else { return Vec::new() };
        let mut out: Vec<String> = self
            .graph
            .edges_directed(ix, dir)
            .filter(|e| *e.weight() == edge)
            .map(|e| self.graph[if dir == Direction::Outgoing { e.target() } else { e.source() }].clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Top of the controller chain (the object itself when it has no owner).
    pub fn owner_root(&self, k: &str) -> String {
        let mut cur = k.to_string();
        for _ in 0..MAX_OWNER_DEPTH {
            match self.targets(&cur, Edge::OwnedBy, Direction::Outgoing).into_iter().next() {
                Some(o) if o != k => cur = o,
                _ => break,
            }
        }
        cur
    }

    pub fn node_of(&self, pod: &str) -> Option<String> {
        self.targets(pod, Edge::RunsOn, Direction::Outgoing).into_iter().next().map(|n| split_key(&n).2.to_string())
    }

    pub fn pods_of_node(&self, node: &str) -> Vec<String> {
        self.targets(&node_key(node), Edge::RunsOn, Direction::Incoming)
    }

    /// Owner roots of the Pods that read a ConfigMap or Secret (`ConfigMap/ns/name`): the
    /// workloads an edit of it changes.
    pub fn roots_using(&self, config: &str) -> Vec<String> {
        let mut roots: Vec<String> = self.targets(config, Edge::Uses, Direction::Incoming).iter().map(|p| self.owner_root(p)).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    pub fn pods_of_service(&self, service: &str) -> Vec<String> {
        self.targets(service, Edge::Selects, Direction::Outgoing).into_iter().filter(|p| p.starts_with("Pod/")).collect()
    }

    pub fn services_of_pod(&self, pod: &str) -> Vec<String> {
        self.targets(pod, Edge::Selects, Direction::Incoming).into_iter().filter(|s| s.starts_with("Service/")).collect()
    }

    /// Owner roots of the pods a Service selects.
    pub fn roots_of_service(&self, service: &str) -> Vec<String> {
        let roots: BTreeSet<String> = self.pods_of_service(service).iter().map(|p| self.owner_root(p)).collect();
        roots.into_iter().collect()
    }

    /// Services selecting any pod owned (transitively) by `root`.
    pub fn services_of_root(&self, root: &str) -> Vec<String> {
        let mut found = BTreeSet::new();
        let mut queue = VecDeque::from([(root.to_string(), 0usize)]);
        let mut seen = BTreeSet::new();
        while let Some((k, depth)) = queue.pop_front() {
            if !seen.insert(k.clone()) || depth > MAX_OWNER_DEPTH {
                continue;
            }
            if k.starts_with("Pod/") {
                found.extend(self.services_of_pod(&k));
            }
            for child in self.targets(&k, Edge::OwnedBy, Direction::Incoming) {
                queue.push_back((child, depth + 1));
            }
        }
        found.into_iter().collect()
    }

    /// Call-graph neighbours within `max_hops`, nearest first: what `k` calls
    /// (`Outgoing`, its dependencies) or what calls it (`Incoming`, its dependents).
    pub fn calls_within(&self, k: &str, dir: Direction, max_hops: u32) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([k.to_string()]);
        let mut frontier = vec![k.to_string()];
        for hop in 1..=max_hops {
            let mut next = BTreeSet::new();
            for f in &frontier {
                for e in [Edge::Calls, Edge::StaticCalls] {
                    for t in self.targets(f, e, dir) {
                        if seen.insert(t.clone()) {
                            next.insert(t);
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            out.extend(next.iter().map(|n| (n.clone(), hop)));
            frontier = next.into_iter().collect();
        }
        out
    }
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}
