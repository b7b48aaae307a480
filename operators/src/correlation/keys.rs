//! Correlation keys from alert labels. Kubernetes alert rules name their subject with a
//! handful of conventional labels; these functions read them the way kube-prometheus and
//! kube-state-metrics write them.

use std::collections::BTreeMap;

use super::config::GroupKind;

/// The workload an alert is about: kind (when known) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: Option<&'static str>,
    pub name: String,
}

pub fn label<'a>(labels: &'a BTreeMap<String, String>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| labels.get(*n).map(String::as_str).filter(|v| !v.is_empty()))
}

pub fn namespace(labels: &BTreeMap<String, String>) -> Option<&str> {
    label(labels, &["namespace", "exported_namespace", "k8s_namespace_name"])
}

pub fn workload(labels: &BTreeMap<String, String>) -> Option<Workload> {
    let named = [
        ("deployment", "Deployment"),
        ("statefulset", "StatefulSet"),
        ("daemonset", "DaemonSet"),
        ("k8s_deployment_name", "Deployment"),
        ("k8s_statefulset_name", "StatefulSet"),
        ("k8s_daemonset_name", "DaemonSet"),
    ];
    for (l, kind) in named {
        if let Some(v) = label(labels, &[l]) {
            return Some(Workload { kind: Some(kind), name: v.to_string() });
        }
    }
    if let Some(v) = label(labels, &["workload"]) {
        let kind = match label(labels, &["workload_type"]).map(str::to_ascii_lowercase).as_deref() {
            Some("deployment") => Some("Deployment"),
            Some("statefulset") => Some("StatefulSet"),
            Some("daemonset") => Some("DaemonSet"),
            _ => None,
        };
        return Some(Workload { kind, name: v.to_string() });
    }
    label(labels, &["pod", "pod_name", "k8s_pod_name"]).and_then(workload_from_pod)
}

/// Derive the owning workload from a generated Pod name:
/// `<deploy>-<rs hash>-<5>` is a Deployment, `<sts>-<ordinal>` a StatefulSet,
/// `<ds or job>-<5>` a DaemonSet or Job (kind unknown).
pub fn workload_from_pod(pod: &str) -> Option<Workload> {
    let parts: Vec<&str> = pod.split('-').collect();
    let n = parts.len();
    // Generated name parts use Kubernetes' SafeEncodeString alphabet (no vowels, no 0/1/3),
    // which tells `payments-7d9f8b6c5d-x2k4q` from `node-exporter-8wqzt`.
    let safe = |s: &str| s.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b));
    let is_suffix = |s: &str| s.len() == 5 && safe(s);
    let is_hash = |s: &str| (6..=10).contains(&s.len()) && safe(s);
    if n >= 3 && is_suffix(parts[n - 1]) && is_hash(parts[n - 2]) {
        return Some(Workload { kind: Some("Deployment"), name: parts[..n - 2].join("-") });
    }
    if n >= 2 && parts[n - 1].bytes().all(|b| b.is_ascii_digit()) && !parts[n - 1].is_empty() {
        return Some(Workload { kind: Some("StatefulSet"), name: parts[..n - 1].join("-") });
    }
    if n >= 2 && is_suffix(parts[n - 1]) {
        return Some(Workload { kind: None, name: parts[..n - 1].join("-") });
    }
    None
}

pub fn node(labels: &BTreeMap<String, String>) -> Option<&str> {
    label(labels, &["node", "nodename", "kubernetes_node", "k8s_node_name"])
}

/// The service an alert is about. kube-prometheus alerts carry `service` = the scrape
/// target's Service (e.g. kube-state-metrics) together with an equal `job`; that names the
/// reporter, not the subject, so it is ignored.
pub fn service(labels: &BTreeMap<String, String>) -> Option<&str> {
    let svc = label(labels, &["service", "service_name", "destination_service_name", "k8s_service_name"])?;
    if labels.get("job").map(String::as_str) == Some(svc) {
        return None;
    }
    Some(svc)
}

/// All correlation keys of an alert, in the configured priority order.
pub fn keys_of(labels: &BTreeMap<String, String>, group_by: &[GroupKind]) -> Vec<String> {
    let ns = namespace(labels).unwrap_or("");
    let mut keys = Vec::new();
    for kind in group_by {
        let key = match kind {
            GroupKind::Workload => workload(labels).map(|w| format!("workload:{ns}/{}", w.name)),
            GroupKind::Node => node(labels).map(|n| format!("node:{n}")),
            GroupKind::Service => service(labels).map(|s| format!("service:{ns}/{s}")),
            GroupKind::Namespace => namespace(labels).map(|n| format!("namespace:{n}")),
        };
        keys.extend(key);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn pod_names_map_to_workloads() {
        let cases = [
            ("payments-7d9f8b6c5d-x2k4q", Some((Some("Deployment"), "payments"))),
            ("api-gateway-5b7c9d8f4-bcdfg", Some((Some("Deployment"), "api-gateway"))),
            ("redis-0", Some((Some("StatefulSet"), "redis"))),
            ("node-exporter-8wqzt", Some((None, "node-exporter"))),
            ("standalone", None),
        ];
        for (pod, want) in cases {
            let got = workload_from_pod(pod).map(|w| (w.kind, w.name));
            assert_eq!(got, want.map(|(k, n)| (k, n.to_string())), "{pod}");
        }
    }

    #[test]
    fn keys_follow_priority_and_ignore_reporter_service() {
        let all = [GroupKind::Workload, GroupKind::Node, GroupKind::Service];
        let cases: Vec<(BTreeMap<String, String>, Vec<&str>)> = vec![
            (
                labels(&[("namespace", "shop"), ("pod", "payments-7d9f8b6c5d-x2k4q"), ("node", "n1")]),
                vec!["workload:shop/payments", "node:n1"],
            ),
            (
                labels(&[("namespace", "shop"), ("deployment", "cart"), ("service", "kube-state-metrics"), ("job", "kube-state-metrics")]),
                vec!["workload:shop/cart"],
            ),
            (labels(&[("namespace", "shop"), ("service", "checkout")]), vec!["service:shop/checkout"]),
            (labels(&[("alertname", "Watchdog")]), vec![]),
        ];
        for (l, want) in cases {
            assert_eq!(keys_of(&l, &all), want, "{l:?}");
        }
    }
}
