//! RCA's own history of the series placed on components: the window means the metrics
//! anomaly operator publishes (`kubesage.peer.windows`, routed onto `kubesage.signals`).
//!
//! Why: anomaly records say that a series alarmed, not by how much its windows moved, and
//! nothing about the series that did not alarm. The ranking the benchmarks measure weighs
//! every component's shift against its own baseline, including the small shifts along a
//! call chain that carry a fault to the alerting service. With the window means RCA ranks
//! from the same kind of evidence, one mean per window instead of every sample.
//!
//! Bounded: at most `window_series` series per cluster, each holding the windows of the
//! evidence window (60 one-minute means by default); series of unknown meaning (metric
//! names [`SignalKind::from_metric_name`] cannot read) are not kept.

use std::collections::{BTreeMap, VecDeque};

use kubesage_schemas::signals::PeerWindow;
use serde::{Deserialize, Serialize};

use super::signal::{Sample, Signal, SignalKind};
use crate::time::{to_millis, Millis};

/// Window means of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub name: String,
    /// The series' own labels (its member label included).
    pub labels: BTreeMap<String, String>,
    pub member: String,
    /// Window length.
    pub step: Millis,
    /// `(window start, mean)` in time order, one per window.
    pub points: VecDeque<(Millis, f64)>,
}

/// Series key -> history, of one cluster.
pub type Histories = BTreeMap<String, History>;

/// Keep one window mean; `false` when the series is new and `max_series` are kept already.
pub fn keep(histories: &mut Histories, w: &PeerWindow, max_series: usize) -> bool {
    if SignalKind::from_metric_name(&w.name) == SignalKind::Other || !w.mean.is_finite() {
        return true;
    }
    let start = to_millis(&w.window_start);
    let step = (to_millis(&w.window_end) - start).max(1);
    if !histories.contains_key(&w.series) {
        if histories.len() >= max_series {
            return false;
        }
        let mut labels = w.labels.clone();
        if !w.member_label.is_empty() {
            // `workload` is the group's, derived from the pod name: the pod places the
            // series itself.
            if w.member_label == "pod" {
                labels.remove("workload");
            }
            labels.insert(w.member_label.clone(), w.member.clone());
        }
        histories.insert(w.series.clone(), History { name: w.name.clone(), labels, member: w.member.clone(), step, points: VecDeque::new() });
    }
    let Some(h) = histories.get_mut(&w.series) else { return true };
    // In time order; a replayed window replaces itself.
    let at = h.points.partition_point(|p| p.0 < start);
    match h.points.get_mut(at) {
        Some(p) if p.0 == start => p.1 = w.mean,
        _ => h.points.insert(at, (start, w.mean)),
    }
    true
}

/// Forget windows that started before `horizon`, and series left without any.
pub fn prune(histories: &mut Histories, horizon: Millis) {
    for h in histories.values_mut() {
        while h.points.front().is_some_and(|p| p.0 < horizon) {
            h.points.pop_front();
        }
    }
    histories.retain(|_, h| !h.points.is_empty());
}

/// The series as a ranking signal of `component`: the windows that ended by `b`, split at
/// `onset`.
pub fn signal(h: &History, component: usize, onset: Millis, b: Millis) -> Signal {
    let samples: Vec<Sample> = h.points.iter().filter(|p| p.0 + h.step <= b).map(|&(t, v)| Sample::new(t, v)).collect();
    Signal::split(component, format!("{} of {}", h.name, h.member), SignalKind::from_metric_name(&h.name), samples, onset, h.step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;

    fn window(series: &str, name: &str, start: Millis, mean: f64) -> PeerWindow {
        PeerWindow {
            group: format!("{name}{{namespace=\"shop\",workload=\"web\"}}"),
            name: name.into(),
            labels: [("namespace".to_string(), "shop".to_string()), ("workload".to_string(), "web".to_string())].into(),
            member: "web-0".into(),
            member_label: "pod".into(),
            series: series.into(),
            window_start: from_millis(start),
            window_end: from_millis(start + 60_000),
            mean,
            samples: 4,
        }
    }

    #[test]
    fn windows_are_kept_in_order_once_each_within_the_bound() {
        let mut h = Histories::new();
        for (start, mean) in [(120_000, 3.0), (0, 1.0), (60_000, 2.0), (60_000, 2.5)] {
            assert!(keep(&mut h, &window("a", "latency", start, mean), 2));
        }
        let a = &h["a"];
        assert_eq!(a.points.iter().copied().collect::<Vec<_>>(), vec![(0, 1.0), (60_000, 2.5), (120_000, 3.0)], "ordered, a replay replaces");
        assert_eq!(a.labels.get("pod").map(String::as_str), Some("web-0"));
        assert!(!a.labels.contains_key("workload"), "the pod places the series");
        assert_eq!(a.step, 60_000);
        assert!(keep(&mut h, &window("b", "cpu", 0, 1.0), 2));
        assert!(!keep(&mut h, &window("c", "cpu", 0, 1.0), 2), "a third series is over the bound");
        assert!(keep(&mut h, &window("d", "kube_pod_info", 0, 1.0), 2) && !h.contains_key("d"), "unknown meaning is not kept");
        prune(&mut h, 60_000);
        assert_eq!(h["a"].points.len(), 2);
        prune(&mut h, 10_000_000);
        assert!(h.is_empty());
    }

    #[test]
    fn a_signal_has_the_windows_ended_by_the_boundary_split_at_onset() {
        let mut h = Histories::new();
        for (i, mean) in [1.0, 1.0, 1.0, 5.0, 5.0].into_iter().enumerate() {
            keep(&mut h, &window("a", "latency", i as Millis * 60_000, mean), 10);
        }
        let s = signal(&h["a"], 7, 180_000, 270_000);
        assert_eq!((s.component, s.kind), (7, SignalKind::Latency));
        assert_eq!(s.baseline.len(), 3);
        assert_eq!(s.window.len(), 1, "the window ending at 300 s is after the boundary");
    }
}
