//! What the correlator takes in (alerts, Kubernetes events, anomalies, topology updates)
//! and how one signal is placed on the topology: its component (owner root, node or
//! service), the node it runs on, and its failure class.

use std::collections::{BTreeMap, HashMap};

use kubesage_schemas::alert::Severity;
use kubesage_schemas::alertmanager::AlertStatus;
use kubesage_schemas::signals::AnomalyPhase;
use kubesage_schemas::Envelope;
use serde::{Deserialize, Serialize};

use super::config::{CorrelationConfig, SignalPolicy};
use super::keys;
use crate::time::{to_millis, Millis};
use crate::topology::{key, node_key, split_key, Topology};

/// One input record of the correlator: the wire type of `kubesage.signals` (an alert,
/// Kubernetes event, anomaly or topology update, recognised by its fields).
pub use kubesage_schemas::signal::{from_alert, from_anomaly, from_event, from_topology, from_window, Signal};

/// Coarse kind of failure a signal speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureClass {
    /// The node itself (NotReady, unreachable, pressure): its pods' alerts follow from it.
    Node,
    /// Pods or workloads down: crash loops, not ready, OOM kills, failed probes.
    Availability,
    /// Saturation: CPU, memory, disk, network.
    Resource,
    /// Slow responses.
    Latency,
    /// Failed responses.
    Errors,
    Other,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Node => "node",
            FailureClass::Availability => "availability",
            FailureClass::Resource => "resource",
            FailureClass::Latency => "latency",
            FailureClass::Errors => "errors",
            FailureClass::Other => "other",
        }
    }

    /// Classify an alert name, event reason or metric name.
    pub fn of(name: &str, on_node: bool) -> FailureClass {
        let n = name.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
        if on_node && has(&["notready", "unreachable", "down", "pressure", "kubelet", "unschedulable", "rebooted"]) {
            return FailureClass::Node;
        }
        // Resources first: `NetworkReceiveErrors` or `DiskLatencyHigh` speak of a resource.
        if has(&["cpu", "memory", "disk", "filesystem", "throttl", "saturat", "iops", "network", "packet", "bandwidth", "quota", "oomkill"]) {
            FailureClass::Resource
        } else if has(&["latency", "slow", "duration", "responsetime", "response_time", "p99", "p95"]) {
            FailureClass::Latency
        } else if has(&["error", "5xx", "failurerate", "failure_rate", "failedrequests"]) {
            FailureClass::Errors
        } else if has(&["crash", "notready", "down", "unavailable", "oom", "backoff", "restart", "mismatch", "fail", "unhealthy", "evict", "probe", "killing"]) {
            FailureClass::Availability
        } else {
            FailureClass::Other
        }
    }
}

/// Memo of [`FailureClass::of`] (a pure function of the name; alert names repeat), bounded.
#[derive(Debug, Default)]
pub struct ClassCache {
    by_name: [HashMap<String, FailureClass>; 2],
}

impl ClassCache {
    const MAX: usize = 4096;

    pub fn of(&mut self, name: &str, on_node: bool) -> FailureClass {
        let map = &mut self.by_name[usize::from(on_node)];
        if let Some(c) = map.get(name) {
            return *c;
        }
        let c = FailureClass::of(name, on_node);
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(name.to_string(), c);
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    Alert,
    K8sEvent,
    Anomaly,
}

/// A signal placed on the topology.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Member identity within the cluster (alert fingerprint, `event:<object>/<reason>`,
    /// `anomaly:<id>`).
    pub member: String,
    pub kind: SignalKind,
    pub status: AlertStatus,
    pub name: String,
    pub severity: Severity,
    pub starts_at: Millis,
    pub labels: BTreeMap<String, String>,
    pub class: FailureClass,
    /// Owner root, node or service the signal is about (`Kind/namespace/name`).
    pub component: Option<String>,
    /// Node the subject runs on.
    pub node: Option<String>,
    /// Label correlation keys (first version), for signals without a component.
    pub label_keys: Vec<String>,
    /// May this signal open an incident (else it only joins one)?
    pub may_open: bool,
}

/// Place a signal; `None` for records the correlator does not take (topology updates,
/// ignored kinds, Normal events).
pub fn place(e: &Envelope<Signal>, topo: &Topology, cfg: &CorrelationConfig, classes: &mut ClassCache) -> Option<Placed> {
    match &e.data {
        Signal::Topology(_) | Signal::Window(_) => None,
        Signal::Alert(a) => {
            let mut p = from_labels(&e.cluster, &a.labels, &a.alertname, topo, cfg, classes);
            p.member = a.fingerprint.clone();
            p.status = a.status;
            p.severity = a.severity;
            p.starts_at = to_millis(&a.starts_at);
            Some(p)
        }
        Signal::Anomaly(an) => {
            if cfg.anomalies == SignalPolicy::Ignore {
                return None;
            }
            let metric = an.labels.get("__name__").map(String::as_str).unwrap_or(&an.series);
            let mut p = from_labels(&e.cluster, &an.labels, metric, topo, cfg, classes);
            p.member = format!("anomaly:{}", an.anomaly_id);
            p.kind = SignalKind::Anomaly;
            p.status = if an.phase == AnomalyPhase::Ended { AlertStatus::Resolved } else { AlertStatus::Firing };
            p.name = format!("anomaly:{metric}");
            p.severity = if an.score >= 0.99 { Severity::Warning } else { Severity::Info };
            p.starts_at = to_millis(&an.window_start);
            p.may_open = cfg.anomalies == SignalPolicy::Open;
            Some(p)
        }
        Signal::Event(ev) => {
            if cfg.k8s_events == SignalPolicy::Ignore || ev.event_type != "Warning" {
                return None;
            }
            let r = &ev.regarding;
            let object = key(&r.kind, &r.namespace, &r.name);
            let (component, node) = match r.kind.as_str() {
                "Node" => (node_key(&r.name), Some(r.name.clone())),
                "Pod" => {
                    let root = if topo.contains(&e.cluster, &object) { topo.owner_root(&e.cluster, &object) } else { pod_root(&e.cluster, &r.namespace, &r.name, topo).unwrap_or(object.clone()) };
                    (root, topo.node_of(&e.cluster, &object))
                }
                _ => (topo.owner_root(&e.cluster, &object), None),
            };
            let mut labels = BTreeMap::from([("reason".to_string(), ev.reason.clone()), (r.kind.to_ascii_lowercase(), r.name.clone())]);
            if !r.namespace.is_empty() {
                labels.insert("namespace".into(), r.namespace.clone());
            }
            if let Some(n) = &node {
                labels.insert("node".into(), n.clone());
            }
            Some(Placed {
                member: format!("event:{object}/{}", ev.reason),
                kind: SignalKind::K8sEvent,
                status: AlertStatus::Firing,
                name: ev.reason.clone(),
                severity: Severity::Warning,
                starts_at: to_millis(&ev.observed_at),
                class: classes.of(&ev.reason, r.kind == "Node"),
                component: Some(component),
                node,
                label_keys: Vec::new(),
                labels,
                may_open: cfg.k8s_events == SignalPolicy::Open,
            })
        }
    }
}

/// The component a series with these labels is about, as its anomalies are placed (RCA's
/// window history).
pub fn component_of_labels(cluster: &str, labels: &BTreeMap<String, String>, topo: &Topology, cfg: &CorrelationConfig, classes: &mut ClassCache) -> Option<String> {
    from_labels(cluster, labels, "", topo, cfg, classes).component
}

/// Alert or anomaly labels on the topology. With topology the component is the owner root
/// of the pod (or the workload, or the roots a Service selects); without, the same names
/// are derived from the labels, so the two agree when topology arrives later.
pub(super) fn from_labels(cluster: &str, labels: &BTreeMap<String, String>, name: &str, topo: &Topology, cfg: &CorrelationConfig, classes: &mut ClassCache) -> Placed {
    let ns = keys::namespace(labels).unwrap_or("");
    let pod = keys::label(labels, &["pod", "pod_name", "k8s_pod_name"]);
    let mut node = keys::node(labels).map(str::to_string);
    let mut component = None;
    if let Some(p) = pod {
        let pk = key("Pod", ns, p);
        if topo.contains(cluster, &pk) {
            component = Some(topo.owner_root(cluster, &pk));
            node = topo.node_of(cluster, &pk).or(node);
        }
    }
    if component.is_none() {
        component = keys::workload(labels).map(|w| workload_key(cluster, ns, w.kind, &w.name, topo));
    }
    if component.is_none() {
        component = keys::service(labels).map(|s| {
            let svc = key("Service", ns, s);
            match topo.roots_of_service(cluster, &svc).as_slice() {
                [root] => root.clone(),
                _ => svc,
            }
        });
    }
    let on_node = component.is_none() && node.is_some();
    if on_node {
        component = node.as_deref().map(node_key);
    }
    // Only needed when nothing names a component (then only a namespace key can apply).
    let label_keys = if component.is_none() { keys::keys_of(labels, &cfg.group_by) } else { Vec::new() };
    Placed {
        member: String::new(),
        kind: SignalKind::Alert,
        status: AlertStatus::Firing,
        name: name.to_string(),
        severity: Severity::None,
        starts_at: 0,
        labels: labels.clone(),
        class: classes.of(name, on_node),
        component,
        node,
        label_keys,
        may_open: true,
    }
}

fn pod_root(cluster: &str, ns: &str, pod: &str, topo: &Topology) -> Option<String> {
    keys::workload_from_pod(pod).map(|w| workload_key(cluster, ns, w.kind, &w.name, topo))
}

/// `Kind/ns/name` of a workload named by labels; an unknown kind is looked up in the
/// topology, else taken as a Deployment (the common case, and what pod names suggest).
fn workload_key(cluster: &str, ns: &str, kind: Option<&str>, name: &str, topo: &Topology) -> String {
    if let Some(kind) = kind {
        return key(kind, ns, name);
    }
    ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"]
        .iter()
        .map(|k| key(k, ns, name))
        .find(|k| topo.contains(cluster, k))
        .unwrap_or_else(|| key("Deployment", ns, name))
}

/// Call-graph nodes standing for a component: the Services selecting its pods, and the
/// component itself (edges may name workloads).
pub fn call_nodes(cluster: &str, component: &str, topo: &Topology) -> Vec<String> {
    let mut nodes = vec![component.to_string()];
    if split_key(component).0 != "Service" {
        nodes.extend(topo.services_of_root(cluster, component));
    }
    nodes
}

/// The component a call-graph node stands for: the owner root of the pods a Service
/// selects (when exactly one), else the node itself.
pub fn component_of_call_node(cluster: &str, n: &str, topo: &Topology) -> String {
    if split_key(n).0 == "Service" {
        if let [root] = topo.roots_of_service(cluster, n).as_slice() {
            return root.clone();
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::FailureClass::{self, *};

    #[test]
    fn failure_classes_of_common_alerts_and_reasons() {
        let cases: [(&str, bool, FailureClass); 17] = [
            ("NetworkReceiveErrors", false, Resource),
            ("NodeDiskIOLatencyHigh", false, Resource),
            ("MemcachedHighLatency", false, Latency),
            ("KubeNodeNotReady", true, Node),
            ("NodeNotReady", true, Node),
            ("KubeletDown", true, Node),
            ("NodeFilesystemSpaceFillingUp", true, Resource),
            ("KubePodNotReady", false, Availability),
            ("KubePodCrashLooping", false, Availability),
            ("BackOff", false, Availability),
            ("KubeDeploymentReplicasMismatch", false, Availability),
            ("CPUThrottlingHigh", false, Resource),
            ("container_memory_working_set_bytes", false, Resource),
            ("HighLatency", false, Latency),
            ("http_request_duration_seconds", false, Latency),
            ("HighErrorRate", false, Errors),
            ("Watchdog", false, Other),
        ];
        for (name, on_node, want) in cases {
            assert_eq!(FailureClass::of(name, on_node), want, "{name}");
        }
    }
}
