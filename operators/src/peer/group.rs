//! Which peer group a series belongs to, and the per-series window means fed to it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubesage_schemas::signals::{series_key, MetricSample, PeerWindow};
use serde::{Deserialize, Serialize};

use super::PeerConfig;
use crate::time::{from_millis, Millis};

/// A series' place in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub group: String,
    pub labels: BTreeMap<String, String>,
    pub member: String,
    /// The label naming the member (a snapshot without it has none).
    #[serde(default)]
    pub member_label: String,
}

/// The group of a sample's series, if it has a member label.
pub fn membership(sample: &MetricSample, cfg: &PeerConfig) -> Option<Membership> {
    let (label, member) = cfg.member_labels.iter().find_map(|l| sample.labels.get(l).map(|v| (l.as_str(), v.clone())))?;
    let mut labels: BTreeMap<String, String> =
        sample.labels.iter().filter(|(k, _)| !cfg.member_labels.contains(k) && !cfg.ignore_labels.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if label == "pod" {
        labels.insert("workload".to_string(), workload_of_pod(&member).to_string());
    }
    Some(Membership { group: series_key(&sample.name, &labels), labels, member, member_label: label.to_string() })
}

/// The controller name in a pod name: `web-7d9f8c6b5-x2x4z` (Deployment) -> `web`,
/// `db-2` (StatefulSet) -> `db`, `agent-x2x4z` (DaemonSet, Job) -> `agent`. A name that
/// fits none of these is its own workload.
pub fn workload_of_pod(pod: &str) -> &str {
    let strip = |name: &str, fits: &dyn Fn(&str) -> bool| -> Option<usize> { name.rsplit_once('-').filter(|(head, tail)| !head.is_empty() && fits(tail)).map(|(head, _)| head.len()) };
    let random = |t: &str| t.len() == 5 && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ordinal = |t: &str| !t.is_empty() && t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit());
    // ReplicaSet template hashes: 6 to 10 characters of Kubernetes' safe alphabet.
    let hash = |t: &str| (6..=10).contains(&t.len()) && t.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b));
    if let Some(n) = strip(pod, &ordinal) {
        return &pod[..n];
    }
    match strip(pod, &random) {
        Some(n) => {
            let rest = &pod[..n];
            strip(rest, &hash).map_or(rest, |m| &rest[..m])
        }
        None => pod,
    }
}

/// Running mean of one series over its current window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowMean {
    pub start: Millis,
    pub sum: f64,
    pub samples: u32,
}

impl WindowMean {
    /// Add a sample; when it opens a later window, the finished one is returned.
    pub fn add(acc: &mut Option<WindowMean>, t: Millis, value: f64, window: Millis) -> Option<WindowMean> {
        let start = t.div_euclid(window) * window;
        match acc {
            Some(a) if a.start == start => {
                a.sum += value;
                a.samples += 1;
                None
            }
            _ => acc.replace(WindowMean { start, sum: value, samples: 1 }).filter(|a| a.start < start),
        }
    }

    pub fn record(&self, m: &Membership, sample: &MetricSample, series: &str, window: Millis) -> PeerWindow {
        let at = |ms: Millis| -> DateTime<Utc> { from_millis(ms) };
        PeerWindow {
            group: m.group.clone(),
            name: sample.name.clone(),
            labels: m.labels.clone(),
            member: m.member.clone(),
            member_label: m.member_label.clone(),
            series: series.to_string(),
            window_start: at(self.start),
            window_end: at(self.start + window),
            mean: self.sum / f64::from(self.samples.max(1)),
            samples: self.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_from_pod_names() {
        for (pod, want) in [
            ("payments-7d9f8c6b5-x2x4z", "payments"),
            ("web-frontend-5f4d8b9c7b-abc12", "web-frontend"),
            ("postgres-0", "postgres"),
            ("kafka-12", "kafka"),
            ("node-exporter-8kq2z", "node-exporter"),
            ("standalone", "standalone"),
            ("-0", "-0"),
        ] {
            assert_eq!(workload_of_pod(pod), want, "{pod}");
        }
    }

    #[test]
    fn pods_of_one_workload_share_a_group() {
        let cfg = PeerConfig::default();
        let s = |pod: &str, container_id: &str| MetricSample {
            name: "cpu".into(),
            labels: [("namespace", "shop"), ("pod", pod), ("container_id", container_id)].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            value: 1.0,
            timestamp: from_millis(0),
        };
        let a = membership(&s("web-7d9f8c6b5-x2x4z", "c1"), &cfg).expect("member");
        let b = membership(&s("web-7d9f8c6b5-q8w2n", "c2"), &cfg).expect("member");
        assert_eq!(a.group, b.group);
        assert_eq!(a.group, r#"cpu{namespace="shop",workload="web"}"#);
        assert_ne!(a.member, b.member);
        let lone = MetricSample { labels: BTreeMap::new(), ..s("x", "y") };
        assert!(membership(&lone, &cfg).is_none());
    }

    #[test]
    fn window_means_close_when_a_later_window_starts() {
        let mut acc = None;
        assert_eq!(WindowMean::add(&mut acc, 1_000, 2.0, 60_000), None);
        assert_eq!(WindowMean::add(&mut acc, 59_000, 4.0, 60_000), None);
        let done = WindowMean::add(&mut acc, 61_000, 9.0, 60_000).expect("closed");
        assert_eq!((done.start, done.samples, done.sum), (0, 2, 6.0));
        assert_eq!(acc.as_ref().map(|a| a.start), Some(60_000));
    }
}
