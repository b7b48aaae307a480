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
//! evidence window (60 one-minute means by default, as `f32`: about 0.8 KB per series in
//! a checkpoint); series of unknown meaning ([`kind`]) are not kept. At the bound a new
//! series takes the place of one that has missed five windows, else it is not kept.
//!
//! The operator takes a window in at the first boundary after its record, in time order,
//! so the history as of a boundary depends only on the records before it; windows older
//! than the evidence window are dropped, and the kept ones span it at most.

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
    /// Start of the first window kept.
    pub start: Millis,
    /// Means of consecutive windows from `start` (`None`: no mean for that window).
    pub means: VecDeque<Option<f32>>,
}

/// What a series measures, for RCA; `None` for series it does not keep: unknown meaning,
/// and the `_bucket` and `_sum` parts of Prometheus histograms and summaries (their
/// window means are rates of counts per bucket and of summed durations, not latencies).
/// A histogram's `_count` is its request rate.
pub fn kind(name: &str) -> Option<SignalKind> {
    if name.ends_with("_bucket") || name.ends_with("_sum") {
        return None;
    }
    if name.ends_with("_count") {
        return Some(SignalKind::Traffic);
    }
    Some(SignalKind::from_metric_name(name)).filter(|k| *k != SignalKind::Other)
}

/// Series key -> history, of one cluster.
pub type Histories = BTreeMap<String, History>;

/// Windows a series may miss before a new series takes its place at the bound (a pod
/// replaced in a rollout stops sending; its history would otherwise hold its slot until
/// it leaves the evidence window).
const SILENT_WINDOWS: Millis = 5;

/// Keep one window mean (one starting before `horizon` is too old to keep); `false` when
/// the series is new, `max_series` are kept already and none of them has gone silent.
pub fn keep(histories: &mut Histories, w: &PeerWindow, max_series: usize, horizon: Millis) -> bool {
    let start = to_millis(&w.window_start);
    let step = (to_millis(&w.window_end) - start).max(1);
    let mean = w.mean as f32;
    if kind(&w.name).is_none() || !mean.is_finite() || start < horizon {
        return true;
    }
    if !histories.contains_key(&w.series) {
        if histories.len() >= max_series && !evict_silent(histories, start) {
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
        histories.insert(w.series.clone(), History { name: w.name.clone(), labels, member: w.member.clone(), step, start, means: VecDeque::new() });
    }
    let Some(h) = histories.get_mut(&w.series) else { return true };
    let offset = start - h.start;
    let at = offset.div_euclid(h.step);
    // (The operator prunes at the horizon and takes in windows before the boundary only:
    // the deque spans the evidence window at most.)
    if h.means.is_empty() || step != h.step || offset.rem_euclid(h.step) != 0 {
        (h.step, h.start, h.means) = (step, start, VecDeque::from([Some(mean)]));
        return true;
    }
    // Before the first kept window (it came late): room in front.
    for _ in at..0 {
        h.means.push_front(None);
        h.start -= h.step;
    }
    let at = at.max(0) as usize;
    while h.means.len() <= at {
        h.means.push_back(None);
    }
    // A replayed window replaces itself.
    h.means[at] = Some(mean);
    true
}

/// At the bound, forget the series silent longest, if it has missed `SILENT_WINDOWS`
/// windows by `now` (a scan of the kept series: only when a new one finds them full).
fn evict_silent(histories: &mut Histories, now: Millis) -> bool {
    let last = |h: &History| h.start + (h.means.len() as Millis - 1) * h.step;
    let silent = histories.iter().filter(|(_, h)| now - last(h) >= SILENT_WINDOWS * h.step).min_by_key(|(k, h)| (last(h), (*k).clone())).map(|(k, _)| k.clone());
    silent.is_some_and(|k| histories.remove(&k).is_some())
}

/// Forget windows that started before `horizon`, and series left without any.
pub fn prune(histories: &mut Histories, horizon: Millis) {
    for h in histories.values_mut() {
        while !h.means.is_empty() && (h.start < horizon || h.means.front() == Some(&None)) {
            h.means.pop_front();
            h.start += h.step;
        }
    }
    histories.retain(|_, h| !h.means.is_empty());
}

impl History {
    /// `(window start, mean)` of the windows with a mean, in time order.
    pub fn points(&self) -> impl Iterator<Item = (Millis, f64)> + '_ {
        self.means.iter().enumerate().filter_map(|(i, m)| m.map(|m| (self.start + i as Millis * self.step, f64::from(m))))
    }
}

/// The series as a ranking signal of `component`: the windows that ended by `b`, split at
/// `onset`.
pub fn signal(h: &History, component: usize, onset: Millis, b: Millis) -> Signal {
    let samples: Vec<Sample> = h.points().filter(|p| p.0 + h.step <= b).map(|(t, v)| Sample::new(t, v)).collect();
    Signal::split(component, format!("{} of {}", h.name, h.member), kind(&h.name).unwrap_or(SignalKind::Other), samples, onset, h.step)
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
            assert!(keep(&mut h, &window("a", "latency", start, mean), 2, 0));
        }
        let a = &h["a"];
        assert_eq!(a.points().collect::<Vec<_>>(), vec![(0, 1.0), (60_000, 2.5), (120_000, 3.0)], "ordered, a replay replaces");
        assert_eq!(a.labels.get("pod").map(String::as_str), Some("web-0"));
        assert!(!a.labels.contains_key("workload"), "the pod places the series");
        assert_eq!(a.step, 60_000);
        assert!(keep(&mut h, &window("b", "cpu", 0, 1.0), 2, 0));
        assert!(!keep(&mut h, &window("c", "cpu", 0, 1.0), 2, 0), "a third series is over the bound");
        assert!(keep(&mut h, &window("d", "kube_pod_info", 0, 1.0), 2, 0) && !h.contains_key("d"), "unknown meaning is not kept");
        prune(&mut h, 60_000);
        assert_eq!(h["a"].points().count(), 2);
        // A gap is kept as such; a window out of step starts afresh; one before the
        // horizon is too old to keep; a mean beyond f32 is not kept.
        assert!(keep(&mut h, &window("a", "latency", 300_000, 4.0), 2, 0));
        assert_eq!(h["a"].points().map(|p| p.0).collect::<Vec<_>>(), vec![60_000, 120_000, 300_000]);
        assert!(keep(&mut h, &window("a", "latency", 0, 9.0), 2, 60_000));
        assert!(keep(&mut h, &window("a", "latency", 360_000, 1e300), 2, 0));
        assert_eq!(h["a"].points().count(), 3);
        assert!(keep(&mut h, &window("a", "latency", 330_000, 5.0), 2, 0));
        assert_eq!(h["a"].points().collect::<Vec<_>>(), vec![(330_000, 5.0)]);
        prune(&mut h, 1_000_000_000);
        assert!(h.is_empty());
    }

    /// At the bound a new series takes the place of one that went silent (a pod replaced
    /// in a rollout), not of one still sending.
    #[test]
    fn a_silent_series_gives_its_place_up_at_the_bound() {
        let mut h = Histories::new();
        for m in 0..10 {
            keep(&mut h, &window("old-pod", "cpu", m * 60_000, 1.0), 2, 0);
            keep(&mut h, &window("live", "cpu", m * 60_000, 1.0), 2, 0);
        }
        // Two minutes on, the old pod is not silent long enough yet.
        for m in 10..12 {
            keep(&mut h, &window("live", "cpu", m * 60_000, 1.0), 2, 0);
        }
        assert!(!keep(&mut h, &window("new-pod", "cpu", 11 * 60_000, 1.0), 2, 0));
        for m in 12..15 {
            keep(&mut h, &window("live", "cpu", m * 60_000, 1.0), 2, 0);
        }
        assert!(keep(&mut h, &window("new-pod", "cpu", 14 * 60_000, 1.0), 2, 0));
        assert_eq!(h.keys().map(String::as_str).collect::<Vec<_>>(), vec!["live", "new-pod"]);
    }

    #[test]
    fn histogram_parts_are_rates_not_latencies() {
        for (name, want) in [
            ("http_request_duration_seconds", Some(SignalKind::Latency)),
            ("http_request_duration_seconds_bucket", None),
            ("http_request_duration_seconds_sum", None),
            ("http_request_duration_seconds_count", Some(SignalKind::Traffic)),
            ("container_cpu_usage_seconds_total", Some(SignalKind::Cpu)),
            ("kube_pod_info", None),
        ] {
            assert_eq!(kind(name), want, "{name}");
        }
    }

    #[test]
    fn a_signal_has_the_windows_ended_by_the_boundary_split_at_onset() {
        let mut h = Histories::new();
        for (i, mean) in [1.0, 1.0, 1.0, 5.0, 5.0].into_iter().enumerate() {
            keep(&mut h, &window("a", "latency", i as Millis * 60_000, mean), 10, 0);
        }
        let s = signal(&h["a"], 7, 180_000, 270_000);
        assert_eq!((s.component, s.kind), (7, SignalKind::Latency));
        assert_eq!(s.baseline.len(), 3);
        assert_eq!(s.window.len(), 1, "the window ending at 300 s is after the boundary");
    }

    /// What one series costs in a checkpoint: an hour of one-minute means.
    #[test]
    fn an_hour_of_windows_is_under_a_kilobyte_in_a_checkpoint() {
        let mut h = Histories::new();
        for i in 0..60 {
            keep(&mut h, &window("http_request_duration_seconds{namespace=\"shop\",pod=\"web-7d9f8c6b5-x2x4z\"}", "http_request_duration_seconds", 1_700_000_000_000 + i * 60_000, 0.1 + 0.0123456789 * i as f64), 10, 0);
        }
        let bytes = serde_json::to_vec(&h).expect("json").len();
        eprintln!("one series, 60 windows: {bytes} bytes");
        assert!(bytes < 1_000, "{bytes} bytes");
    }
}
