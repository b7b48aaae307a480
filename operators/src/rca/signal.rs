//! How far one signal moved from its own baseline: robust distribution-shift scores in the
//! spirit of NSigma and BARO (median and MAD/IQR of the baseline against the window after
//! onset), a binomial score for error ratios with request counts, a persistence rule, and
//! the onset of the shift.

use serde::{Deserialize, Serialize};

use super::config::RcaConfig;
use crate::time::Millis;

/// What a signal measures; decides the bad direction, whether a shift travels to the
/// component's dependents, and whether it is evidence of a fault at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Response time, in seconds. Bad when up; travels to callers.
    Latency,
    /// Failed fraction of requests in [0, 1]; with request counts as sample weights it is
    /// scored with a binomial test. Bad when up; travels to callers.
    ErrorRatio,
    Cpu,
    Memory,
    Disk,
    Network,
    /// Any other resource that is bad when high (saturation, queue length, restarts).
    Saturation,
    /// Request rate: shows a component is observed, is not itself evidence of a fault.
    Traffic,
    /// Unknown meaning: a shift either way counts.
    Other,
}

impl SignalKind {
    /// +1 bad when up, -1 bad when down, 0 both ways.
    pub fn direction(self) -> f64 {
        match self {
            SignalKind::Other | SignalKind::Traffic => 0.0,
            _ => 1.0,
        }
    }

    /// A shift of this kind shows at the component's dependents (callers, pods of a node).
    pub fn propagates(self) -> bool {
        matches!(self, SignalKind::Latency | SignalKind::ErrorRatio)
    }

    /// A resource shared with whatever runs on the same node: a fault that exhausts it
    /// contends with the co-located components.
    pub fn is_resource(self) -> bool {
        matches!(self, SignalKind::Cpu | SignalKind::Memory | SignalKind::Disk | SignalKind::Network | SignalKind::Saturation)
    }

    /// A shift of this kind is evidence that something is wrong with the component.
    pub fn is_fault_evidence(self) -> bool {
        !matches!(self, SignalKind::Traffic)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Latency => "latency",
            SignalKind::ErrorRatio => "error_ratio",
            SignalKind::Cpu => "cpu",
            SignalKind::Memory => "memory",
            SignalKind::Disk => "disk",
            SignalKind::Network => "network",
            SignalKind::Saturation => "saturation",
            SignalKind::Traffic => "traffic",
            SignalKind::Other => "other",
        }
    }

    /// Guess the kind from a metric name the way common exporters and RCA data sets spell
    /// them (`cart_cpu`, `frontend_latency-90`, `payment_error`, `..._workload`).
    pub fn from_metric_name(name: &str) -> SignalKind {
        let n = name.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|s| n.contains(s));
        if has(&["latency", "duration", "response_time", "lat_", "lat-"]) || n.ends_with("_lat") || n.ends_with("_rt") {
            return SignalKind::Latency;
        }
        if has(&["error", "err", "fail", "5xx", "loss"]) {
            return SignalKind::ErrorRatio;
        }
        if has(&["cpu"]) {
            return SignalKind::Cpu;
        }
        if has(&["mem", "rss", "heap"]) {
            return SignalKind::Memory;
        }
        if has(&["disk", "io", "fs_"]) && !has(&["ratio"]) {
            return SignalKind::Disk;
        }
        if has(&["net", "socket", "tcp", "rx", "tx", "retrans"]) {
            return SignalKind::Network;
        }
        if has(&["workload", "load", "qps", "rps", "request", "throughput", "traffic", "count"]) {
            return SignalKind::Traffic;
        }
        SignalKind::Other
    }
}

/// One sample. `weight` is the number of requests behind an error ratio (NaN when
/// unknown); a NaN `value` is a missing sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub t: Millis,
    pub value: f64,
    #[serde(default = "nan")]
    pub weight: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl Sample {
    pub fn new(t: Millis, value: f64) -> Sample {
        Sample { t, value, weight: f64::NAN }
    }

    pub fn weighted(t: Millis, value: f64, weight: f64) -> Sample {
        Sample { t, value, weight }
    }
}

/// A signal of one component: its baseline (normal operation before onset) and its window
/// (from onset on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub component: usize,
    pub name: String,
    pub kind: SignalKind,
    pub baseline: Vec<Sample>,
    pub window: Vec<Sample>,
}

impl Signal {
    /// A signal from its samples in time order, split at the incident's onset: a sample
    /// stamped `t` summarises `[t, t + step)`, so it is baseline only when that period
    /// ended by the onset.
    pub fn split(component: usize, name: impl Into<String>, kind: SignalKind, samples: Vec<Sample>, onset: Millis, step: Millis) -> Signal {
        let cut = samples.partition_point(|s| s.t.saturating_add(step) <= onset);
        let mut baseline = samples;
        let window = baseline.split_off(cut);
        Signal { component, name: name.into(), kind, baseline, window }
    }
}

/// What the window did against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalScore {
    /// Shift in robust standard deviations (binomial: signed-root deviance), sustained
    /// over the persistence rule; positive is the bad direction. Judged by certainty
    /// (`by_certainty`), the window median's shift in standard errors.
    pub z: f64,
    /// The same shift in the signal's own unit (error ratio: ratio above baseline).
    pub delta: f64,
    /// Baseline level (median; error ratio: pooled baseline ratio).
    pub level: f64,
    /// Sustained window value (error ratio: pooled window ratio).
    pub observed: f64,
    /// Start of the sustained shift (see [`sustained_onset`]); without one, the first
    /// window sample at or beyond the threshold.
    pub onset: Option<Millis>,
    /// `z` is the shift's certainty, not its size ([`Measure::Certainty`]).
    pub by_certainty: bool,
}

/// How a continuous signal's shift is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Measure {
    /// By its size: the shift the persistence rule lets through, in robust standard
    /// deviations. A shift small against the signal's noise reads as none, however long
    /// it lasts.
    #[default]
    Size,
    /// By its size or, where size calls it no anomaly and its certainty is larger, by its
    /// certainty: the window median's shift in standard errors of the difference of two
    /// medians. A persistent shift smaller than the noise is as sure, over a long enough
    /// window, as a large one.
    Certainty,
}

/// Buffers [`score_with`] reuses from one signal to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    keys: Vec<u64>,
}

/// Score one signal; `None` when the baseline is too thin to say anything.
pub fn score(signal: &Signal, cfg: &RcaConfig) -> Option<SignalScore> {
    score_with(signal, cfg, &mut Scratch::default())
}

/// [`score`] with reused buffers (no allocation per signal once they have grown).
pub fn score_with(signal: &Signal, cfg: &RcaConfig, scratch: &mut Scratch) -> Option<SignalScore> {
    score_measured(signal, cfg, scratch, Measure::Size)
}

/// [`score_with`], judging a continuous signal's shift by `measure`. (Counted errors are
/// judged by a test over the whole window either way.)
pub fn score_measured(signal: &Signal, cfg: &RcaConfig, scratch: &mut Scratch, measure: Measure) -> Option<SignalScore> {
    if signal.window.is_empty() {
        return None;
    }
    if is_weighted(signal) {
        binomial(signal, cfg, &mut scratch.a)
    } else {
        continuous(signal, cfg, scratch, measure)
    }
}

fn usable_weight(s: &Sample) -> bool {
    s.value.is_finite() && s.weight.is_finite() && s.weight > 0.0
}

/// An error ratio with request counts: failed requests can be counted.
pub(super) fn is_weighted(signal: &Signal) -> bool {
    signal.kind == SignalKind::ErrorRatio && signal.baseline.iter().any(usable_weight)
}

/// Failed requests, requests and rows with counts in a signal's baseline.
fn baseline_counts(signal: &Signal) -> (f64, f64, usize) {
    signal.baseline.iter().filter(|s| usable_weight(s)).fold((0.0, 0.0, 0), |(e, n, rows), s| (e + s.value.clamp(0.0, 1.0) * s.weight, n + s.weight, rows + 1))
}

/// Failed requests of each window sample beyond the baseline's ratio as seen (floored at
/// `min_error_ratio`): `(t, count)`, none for samples without a count.
pub(super) fn excess_errors(signal: &Signal, cfg: &RcaConfig) -> Vec<(Millis, f64)> {
    let (e0, n0, _) = baseline_counts(signal);
    if n0 <= 0.0 {
        return Vec::new();
    }
    let p0 = (e0 / n0).max(cfg.min_error_ratio);
    signal.window.iter().filter(|s| usable_weight(s)).map(|s| (s.t, ((s.value.clamp(0.0, 1.0) - p0) * s.weight).max(0.0))).collect()
}

/// The signal with `passed[k]` failed requests taken off its window sample stamped
/// `passed[k].0` (never below none): the failures that are its own.
pub(super) fn net_of(signal: &Signal, passed: &[(Millis, f64)]) -> Signal {
    let mut own = signal.clone();
    for s in own.window.iter_mut().filter(|s| usable_weight(s)) {
        let off: f64 = passed.iter().filter(|(t, _)| *t == s.t).map(|(_, c)| c).sum();
        s.value = ((s.value.clamp(0.0, 1.0) * s.weight - off).max(0.0)) / s.weight;
    }
    own
}

/// Whether [`score`] would score the signal at all (`Some`), without scoring it.
pub fn scorable(signal: &Signal, cfg: &RcaConfig) -> bool {
    if signal.window.is_empty() {
        return false;
    }
    let rows = if is_weighted(signal) {
        signal.baseline.iter().filter(|s| usable_weight(s)).count()
    } else {
        signal.baseline.iter().filter(|s| s.value.is_finite()).count()
    };
    rows >= cfg.min_baseline_samples
}

fn persistence(n: usize, cfg: &RcaConfig) -> usize {
    let k = (cfg.persistence_fraction * n as f64).ceil() as usize;
    k.max(cfg.persistence_min_samples).clamp(1, n.max(1))
}

/// Where the sustained shift began: Page's CUSUM of the window's shifts `zs` (robust
/// sigmas, one per window sample, each capped at `threshold_z` so that no single sample
/// weighs more than one at the threshold), `S = max(0, S + z - threshold_z / 2)` (the
/// reference value for detecting a shift of `threshold_z`), alarming once it holds as much
/// as `persistence` samples at the threshold would add; the onset is the first sample of
/// the run that raised the alarm, or, when that run began below the threshold (the shift
/// grew into it), the first of the samples already above the baseline level just before
/// it. A slow ramp (a memory leak, latency following it) is so dated to where it left its
/// level rather than to where it passed half the threshold (a root cause whose anomaly
/// grows slowly is not taken for a late consequence); a step keeps its own first sample;
/// and a single early spike that does not last dates nothing.
pub fn sustained_onset(window: &[Sample], zs: &[f64], persistence: usize, cfg: &RcaConfig) -> Option<Millis> {
    let drift = cfg.threshold_z / 2.0;
    let alarm = persistence as f64 * (cfg.threshold_z - drift);
    let (mut sum, mut start) = (0.0f64, None::<usize>);
    for (i, &z) in zs.iter().enumerate().take(window.len()) {
        let next = sum + z.min(cfg.threshold_z) - drift;
        if next <= 0.0 {
            sum = 0.0;
            start = None;
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        sum = next;
        if sum >= alarm {
            let mut first = start.unwrap_or(i);
            // A run that begins below the threshold grew into it (a ramp): it began where
            // the signal left its level, the samples just before already above it. A step
            // keeps its start: small positive samples before it are noise.
            if zs[first] < cfg.threshold_z {
                while first > 0 && zs[first - 1] > 0.0 {
                    first -= 1;
                }
            }
            return window.get(first).map(|s| s.t);
        }
    }
    None
}

/// k-th largest (1-based) of `v`, reordering it.
fn kth_largest(v: &mut [f64], k: usize) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let k = k.clamp(1, v.len());
    // The persistence rule asks for a handful: one pass keeping the k largest in order.
    const SMALL: usize = 8;
    if k <= SMALL {
        let mut top = [f64::NEG_INFINITY; SMALL];
        for &x in v.iter() {
            if x.total_cmp(&top[k - 1]).is_gt() {
                let mut i = k - 1;
                while i > 0 && x.total_cmp(&top[i - 1]).is_gt() {
                    top[i] = top[i - 1];
                    i -= 1;
                }
                top[i] = x;
            }
        }
        return top[k - 1];
    }
    let idx = v.len() - k;
    let (_, x, _) = v.select_nth_unstable_by(idx, |a, b| a.total_cmp(b));
    *x
}

pub fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// Linear-interpolated quantile, reordering `v`.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, a, rest) = v.select_nth_unstable_by(lo, |x, y| x.total_cmp(y));
    let a = *a;
    if frac == 0.0 || rest.is_empty() {
        return a;
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    a + (b - a) * frac
}

/// Median and robust standard deviation (the larger of the MAD and IQR estimates),
/// reordering `values`.
pub fn robust_location_scale(values: &mut [f64]) -> (f64, f64) {
    let mut keys = Vec::with_capacity(values.len());
    robust_location_scale_with(values, &mut keys)
}

/// [`robust_location_scale`] with a reused buffer `keys` (no allocation once it has
/// grown). The values are sorted once as integers that order like the floats (cheaper to
/// compare than `total_cmp`); the median of the absolute deviations then needs no second
/// pass of selection: the deviations of the values below the median grow leftwards, those
/// above it rightwards, so merging the two runs outwards from the median meets them in
/// order. The same numbers as interpolating in the sorted values.
pub fn robust_location_scale_with(values: &mut [f64], keys: &mut Vec<u64>) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    keys.clear();
    keys.extend(values.iter().map(|v| order_key(*v)));
    keys.sort_unstable();
    for (v, k) in values.iter_mut().zip(keys.iter()) {
        *v = from_order_key(*k);
    }
    let sorted = &*values;
    let last = (sorted.len() - 1) as f64;
    let at = |pos: f64| {
        let lo = pos.floor() as usize;
        let a = sorted[lo];
        let b = sorted.get(lo + 1).copied().unwrap_or(a);
        a + (b - a) * (pos - lo as f64)
    };
    let (m, q1, q3) = (at(0.5 * last), at(0.25 * last), at(0.75 * last));
    let mad = sorted_deviation_median(sorted, m);
    (m, (1.4826 * mad).max((q3 - q1) / 1.349))
}

/// A float's bits as an integer with the order of `f64::total_cmp`.
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    b ^ ((((b as i64) >> 63) as u64) >> 1) ^ (1 << 63)
}

fn from_order_key(k: u64) -> f64 {
    let b = k ^ (1 << 63);
    f64::from_bits(b ^ ((((b as i64) >> 63) as u64) >> 1))
}

/// Linear-interpolated median of `|x - m|` over `sorted` (ascending, non-empty).
fn sorted_deviation_median(sorted: &[f64], m: f64) -> f64 {
    let pos = 0.5 * (sorted.len() - 1) as f64;
    let k = pos.floor() as usize;
    // `left` is one past the next value below `m`, `right` the next value at or above it.
    let split = sorted.partition_point(|&x| x < m);
    let (mut left, mut right) = (split, split);
    let mut next = || {
        let below = left.checked_sub(1).map(|i| m - sorted[i]);
        let above = sorted.get(right).map(|x| x - m);
        match (below, above) {
            (Some(b), Some(a)) if b < a => {
                left -= 1;
                b
            }
            (_, Some(a)) => {
                right += 1;
                a
            }
            (Some(b), None) => {
                left -= 1;
                b
            }
            (None, None) => f64::NAN,
        }
    };
    for _ in 0..k {
        next();
    }
    let a = next();
    let frac = pos - k as f64;
    if frac == 0.0 {
        return a;
    }
    a + (next() - a) * frac
}

fn continuous(signal: &Signal, cfg: &RcaConfig, scratch: &mut Scratch, measure: Measure) -> Option<SignalScore> {
    let Scratch { a: base, b: zs, c: window, keys } = scratch;
    base.clear();
    base.extend(signal.baseline.iter().map(|s| s.value).filter(|v| v.is_finite()));
    if base.len() < cfg.min_baseline_samples {
        return None;
    }
    let (level, spread) = robust_location_scale_with(base, keys);
    // An error ratio's level counts as at least `min_error_ratio`: from no errors at all to
    // a few in a million is not a shift of a million sigmas.
    let floor_level = if signal.kind == SignalKind::ErrorRatio { level.abs().max(cfg.min_error_ratio) } else { level.abs() };
    let scale = spread.max(cfg.min_relative_shift * floor_level).max(1e-12);
    let dir = signal.kind.direction();
    let shift = |x: f64| if dir == 0.0 { (x - level).abs() } else { dir * (x - level) };
    zs.clear();
    let mut onset = None;
    for s in &signal.window {
        let z = if s.value.is_finite() { shift(s.value) / scale } else { 0.0 };
        if onset.is_none() && z >= cfg.threshold_z {
            onset = Some(s.t);
        }
        zs.push(z);
    }
    let k = persistence(zs.len(), cfg);
    let mut onset = sustained_onset(&signal.window, zs, k, cfg).or(onset);
    let mut z = kth_largest(zs, k);
    let mut delta = z * scale;
    let mut by_certainty = false;
    // Certainty judges only what size calls no anomaly: a large shift keeps its size.
    if measure == Measure::Certainty && z < cfg.threshold_z {
        window.clear();
        window.extend(signal.window.iter().map(|s| s.value).filter(|v| v.is_finite()));
        let moved = if window.is_empty() { 0.0 } else { shift(median(window)) };
        // Not below what counts as practically significant, however sure.
        if moved >= cfg.min_relative_shift * floor_level {
            // The median of n independent normal samples has a standard error of
            // sqrt(pi / 2) sigma / sqrt(n), the difference of two medians the root of the
            // sum of their squares; successive samples of a metric are correlated, and
            // count as n (1 - r) / (1 + r) independent ones (r: the baseline's lag-one
            // autocorrelation).
            let r = lag_one_autocorrelation(&signal.baseline, level).clamp(0.0, 0.99);
            let independent = (1.0 - r) / (1.0 + r);
            let (nw, nb) = (window.len() as f64 * independent, base.len() as f64 * independent);
            let se = scale * (std::f64::consts::FRAC_PI_2 * (1.0 / nw + 1.0 / nb)).sqrt();
            if moved / se > z {
                (z, delta, by_certainty) = (moved / se, moved, true);
                // The shift held for the whole window: it dates from the window's start.
                onset = signal.window.first().map(|s| s.t);
            }
        }
    }
    let observed = if dir == 0.0 { level + delta } else { level + dir * delta };
    Some(SignalScore { z, delta, level, observed, onset, by_certainty })
}

/// Lag-one autocorrelation of the finite consecutive samples around `level` (0 without
/// variation).
fn lag_one_autocorrelation(samples: &[Sample], level: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for w in samples.windows(2) {
        let (a, b) = (w[0].value - level, w[1].value - level);
        if a.is_finite() && b.is_finite() {
            num += a * b;
            den += a * a;
        }
    }
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// Signed-root deviance of `e` failures in `n` trials against ratio `p0`: approximately a
/// standard normal under the baseline, positive when the ratio went up.
pub fn binomial_z(e: f64, n: f64, p0: f64) -> f64 {
    if n <= 0.0 || !(p0 > 0.0 && p0 < 1.0) {
        return 0.0;
    }
    let e = e.clamp(0.0, n);
    let term = |obs: f64, exp: f64| if obs > 0.0 { obs * (obs / exp).ln() } else { 0.0 };
    let dev = 2.0 * (term(e, n * p0) + term(n - e, n * (1.0 - p0)));
    let z = dev.max(0.0).sqrt();
    if e / n >= p0 {
        z
    } else {
        -z
    }
}

fn binomial(signal: &Signal, cfg: &RcaConfig, zs: &mut Vec<f64>) -> Option<SignalScore> {
    let (e0, n0, rows) = baseline_counts(signal);
    if rows < cfg.min_baseline_samples {
        return None;
    }
    // Jeffreys-style estimate, floored: zero errors in the baseline is not a zero rate.
    let p0 = ((e0 + 0.5) / (n0 + 1.0)).max(cfg.min_error_ratio).min(0.999);
    // That estimate is pulled towards one half: from a thin baseline of a component that
    // fails most requests (a row of two requests, both failed) it lies below the ratio
    // seen. A window no worse than the baseline as seen has not risen, however it
    // compares with the estimate.
    let seen = e0 / n0;
    let bar = p0.max(seen);
    zs.clear();
    let (mut e, mut n, mut above) = (0.0, 0.0, 0usize);
    let mut onset = None;
    for s in &signal.window {
        if !usable_weight(s) {
            zs.push(0.0);
            continue;
        }
        let ei = s.value.clamp(0.0, 1.0) * s.weight;
        let rose = ei / s.weight > bar;
        let z = if rose { binomial_z(ei, s.weight, p0).max(0.0) } else { 0.0 };
        if rose {
            above += 1;
        }
        if onset.is_none() && z >= cfg.threshold_z {
            onset = Some(s.t);
        }
        e += ei;
        n += s.weight;
        zs.push(z);
    }
    let k = persistence(zs.len(), cfg);
    let onset = sustained_onset(&signal.window, zs, k, cfg).or(onset);
    // Counts pool: when the ratio stayed above baseline for long enough, the whole window
    // is the evidence; otherwise only as much as the persistence rule lets through.
    let z = if above >= k && n > 0.0 { binomial_z(e, n, p0) } else { kth_largest(zs, k) };
    let z = if n > 0.0 && e / n <= seen { z.min(0.0) } else { z };
    let observed = if n > 0.0 { e / n } else { p0 };
    Some(SignalScore { z, delta: observed - p0, level: p0, observed, onset, by_certainty: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(kind: SignalKind, base: &[f64], window: &[f64]) -> Signal {
        Signal {
            component: 0,
            name: "s".into(),
            kind,
            baseline: base.iter().enumerate().map(|(i, v)| Sample::new(i as i64 * 1000, *v)).collect(),
            window: window.iter().enumerate().map(|(i, v)| Sample::new((base.len() + i) as i64 * 1000, *v)).collect(),
        }
    }

    #[test]
    fn shifts_judged_by_size_or_certainty_table() {
        let cfg = RcaConfig::default();
        // Baselines of 120 samples around 100 with a robust sigma near 12.6 (uniform
        // quantiles of +-17; consecutive samples uncorrelated, or a slow wave of the
        // same spread), and windows of 60 continuing them.
        let noise = |i: usize| ((i * 37) % 61) as f64 / 60.0 * 34.0 - 17.0;
        let wave = |i: usize| 17.0 * (i as f64 / 10.0).sin();
        let base = |f: &dyn Fn(usize) -> f64| (0..120).map(|i| 100.0 + f(i)).collect::<Vec<f64>>();
        let window = |f: &dyn Fn(usize) -> f64, add: &dyn Fn(usize) -> f64| (0..60).map(|i| 100.0 + f(120 + i) + add(i)).collect::<Vec<f64>>();
        // (case, baseline, window, size z below the threshold, certainty takes over)
        type Case = (&'static str, Vec<f64>, Vec<f64>, bool, bool);
        let cases: Vec<Case> = vec![
            ("a persistent shift of about one sigma", base(&noise), window(&noise, &|_| 13.0), true, true),
            ("the same shift below the practical floor (10% of the level)", base(&noise), window(&noise, &|_| 8.0), true, false),
            ("the same shift on a slow wave: few independent samples", base(&wave), window(&wave, &|_| 13.0), true, false),
            ("a glitch of three samples", base(&noise), window(&noise, &|i| if i < 3 { 25.0 } else { 0.0 }), true, false),
            ("a shift large for its size", base(&noise), window(&noise, &|_| 60.0), false, false),
            ("no shift", base(&noise), window(&noise, &|_| 0.0), true, false),
        ];
        for (name, b, w, small, certain) in cases {
            let s = sig(SignalKind::Latency, &b, &w);
            let mut scratch = Scratch::default();
            let size = score_measured(&s, &cfg, &mut scratch, Measure::Size).expect("scored");
            let sure = score_measured(&s, &cfg, &mut scratch, Measure::Certainty).expect("scored");
            assert_eq!(size.z < cfg.threshold_z, small, "{name}: size z {}", size.z);
            assert!(!size.by_certainty, "{name}");
            assert_eq!(sure.by_certainty, certain, "{name}: certainty z {} against size {}", sure.z, size.z);
            if certain {
                assert!(sure.z >= cfg.threshold_z && (sure.delta - 13.0).abs() < 3.0, "{name}: {sure:?}");
                assert_eq!(sure.onset, s.window.first().map(|x| x.t), "{name}: dated from the window's start");
            } else {
                assert_eq!(sure, size, "{name}");
            }
        }
    }

    #[test]
    fn quantiles_and_scale() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&mut v), 3.0);
        assert_eq!(quantile(&mut v, 0.25), 2.0);
        let mut v = vec![1.0, 2.0];
        assert_eq!(median(&mut v), 1.5);
        let mut v = vec![1.0, 1.0, 1.0, 1.0, 100.0];
        let (m, s) = robust_location_scale(&mut v);
        assert_eq!(m, 1.0);
        assert_eq!(s, 0.0);
    }

    /// The robust location and scale by the definition: sort, interpolate, median of the
    /// deviations.
    fn sorted_location_scale(values: &mut [f64]) -> (f64, f64) {
        values.sort_unstable_by(|a, b| a.total_cmp(b));
        let q = |p: f64| {
            let pos = p * (values.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(values.len() - 1);
            values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
        };
        let (m, q1, q3) = (q(0.5), q(0.25), q(0.75));
        let mut dev: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
        let mad = median(&mut dev);
        (m, (1.4826 * mad).max((q3 - q1) / 1.349))
    }

    #[test]
    fn merged_deviations_give_the_sorted_figures() {
        let mut rnd = crate::test_rng::xorshift(88172645463325252);
        let mut keys = Vec::new();
        for len in 1..130 {
            for ties in [false, true] {
                let v: Vec<f64> = (0..len).map(|_| if ties { (rnd() * 4.0).floor() } else { rnd() * 100.0 - 20.0 }).collect();
                let want = sorted_location_scale(&mut v.clone());
                let got = robust_location_scale_with(&mut v.clone(), &mut keys);
                assert_eq!(got, want, "len {len} ties {ties}");
                assert_eq!(robust_location_scale(&mut v.clone()), want);
            }
        }
    }

    #[test]
    fn error_ratios_without_counts_are_floored() {
        let cfg = RcaConfig::default();
        // No errors at all, then a few in a million: nothing happened.
        let tiny = sig(SignalKind::ErrorRatio, &[0.0; 20], &[0.000_002; 10]);
        let sc = score(&tiny, &cfg).expect("scored");
        assert!(sc.z < 1.0, "{sc:?}");
        // No errors, then 5%: a shift.
        let real = sig(SignalKind::ErrorRatio, &[0.0; 20], &[0.05; 10]);
        assert!(score(&real, &cfg).expect("scored").z > 10.0);
    }

    #[test]
    fn kth_largest_is_the_sorted_kth() {
        let mut rnd = crate::test_rng::xorshift(2463534242);
        for len in 1..40 {
            let v: Vec<f64> = (0..len).map(|_| (rnd() * 6.0).floor() - 2.0).collect();
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            for k in 1..=len {
                assert_eq!(kth_largest(&mut v.clone(), k), sorted[k - 1], "len {len} k {k}");
            }
        }
    }

    #[test]
    fn shifts_are_scored_in_robust_sigmas_with_persistence() {
        let cfg = RcaConfig::default();
        let base: Vec<f64> = (0..40).map(|i| 100.0 + (i % 5) as f64).collect();
        // Sustained shift.
        let s = score(&sig(SignalKind::Latency, &base, &[200.0, 210.0, 205.0, 220.0]), &cfg).expect("scored");
        assert!(s.z > 10.0, "{s:?}");
        assert_eq!(s.onset, Some(40_000));
        // One spike is not a shift.
        let s = score(&sig(SignalKind::Latency, &base, &[102.0, 400.0, 101.0, 103.0]), &cfg).expect("scored");
        assert!(s.z < cfg.threshold_z, "{s:?}");
        // Down is not bad for latency; either way counts for Other.
        let s = score(&sig(SignalKind::Latency, &base, &[10.0, 10.0, 10.0]), &cfg).expect("scored");
        assert!(s.z < 0.0);
        let s = score(&sig(SignalKind::Other, &base, &[10.0, 10.0, 10.0]), &cfg).expect("scored");
        assert!(s.z > 3.0);
        // A constant baseline is floored by the practical-significance rule.
        let s = score(&sig(SignalKind::Cpu, &[1.0; 10], &[1.05, 1.05, 1.05]), &cfg).expect("scored");
        assert!(s.z < 1.0, "{s:?}");
        // Missing window samples carry no evidence; a thin baseline is not scored.
        let s = score(&sig(SignalKind::Cpu, &base, &[f64::NAN, 500.0, f64::NAN]), &cfg).expect("scored");
        assert!(s.z <= 0.0, "{s:?}");
        assert!(score(&sig(SignalKind::Cpu, &[1.0, 2.0], &[3.0]), &cfg).is_none());
    }

    #[test]
    fn onsets_date_the_sustained_shift() {
        let cfg = RcaConfig::default();
        let base: Vec<f64> = (0..60).map(|i| 100.0 + (i % 5) as f64).collect();
        // A slow ramp (a leak): crosses three sigma only after a while, dated near its start.
        let ramp: Vec<f64> = (0..60).map(|i| 102.0 + 2.0 * i as f64).collect();
        let s = score(&sig(SignalKind::Memory, &base, &ramp), &cfg).expect("scored");
        let first_crossing = 60_000 + 1000 * ramp.iter().position(|&v| v - 102.0 >= 3.0 * 10.2).expect("crosses") as i64;
        let onset = s.onset.expect("onset");
        assert!(onset < first_crossing && onset <= 60_000 + 10_000, "{onset} vs {first_crossing}");
        // One early spike, then a sustained shift later: the shift's start, not the spike.
        let mut w = vec![102.0; 40];
        w[0] = 200.0;
        for v in w.iter_mut().skip(20) {
            *v = 200.0;
        }
        let s = score(&sig(SignalKind::Latency, &base, &w), &cfg).expect("scored");
        assert_eq!(s.onset, Some(80_000));
        // (case, window, onset): the baseline's level is 102 and its scale the relative floor
        // 10.2, so the CUSUM run starts once a sample is 15.3 above it.
        let step = |at: usize, pre: f64| (0..40).map(move |i| if i < at { pre } else { 200.0 }).collect::<Vec<f64>>();
        let cases: Vec<(&str, Vec<f64>, i64)> = vec![
            // Half a sigma a sample: the run starts at the 16th sample; it left its level at
            // the first (the one at the level itself is not above it).
            ("a slow ramp is dated to where it left its level", (0..40).map(|i| 102.0 + i as f64).collect(), 61_000),
            ("a step after samples just above the level keeps its own start", step(5, 103.0), 65_000),
            ("a step after samples at the level", step(5, 102.0), 65_000),
        ];
        for (name, w, want) in cases {
            let s = score(&sig(SignalKind::Memory, &base, &w), &cfg).expect("scored");
            assert_eq!(s.onset, Some(want), "{name}");
        }
    }

    #[test]
    fn error_ratios_use_request_counts() {
        let cfg = RcaConfig::default();
        let mk = |base: &[(f64, f64)], win: &[(f64, f64)]| Signal {
            component: 0,
            name: "errors".into(),
            kind: SignalKind::ErrorRatio,
            baseline: base.iter().enumerate().map(|(i, (v, w))| Sample::weighted(i as i64, *v, *w)).collect(),
            window: win.iter().enumerate().map(|(i, (v, w))| Sample::weighted(100 + i as i64, *v, *w)).collect(),
        };
        let base = vec![(0.0, 135.0); 20];
        // 2-4% errors on 135 requests a row, sustained: strong evidence.
        let s = score(&mk(&base, &[(0.02, 134.0), (0.04, 132.0), (0.01, 139.0), (0.0, 136.0)]), &cfg).expect("scored");
        assert!(s.z > 5.0, "{s:?}");
        // Half of two requests failing is weak evidence.
        let s = score(&mk(&vec![(0.0, 2.0); 20], &[(0.5, 2.0), (0.0, 2.0), (0.0, 3.0)]), &cfg).expect("scored");
        assert!(s.z < 3.0, "{s:?}");
        // A component that always fails does not look worse when it keeps failing.
        let s = score(&mk(&vec![(1.0, 3.0); 20], &[(1.0, 6.0), (1.0, 6.0), (1.0, 4.0)]), &cfg).expect("scored");
        assert!(s.z < 3.0, "{s:?}");
        // From a thin baseline (one row, as PetShop has): (case, baseline, window, shift?).
        let thin = RcaConfig { min_baseline_samples: 1, ..RcaConfig::default() };
        type Rows<'a> = &'a [(f64, f64)];
        let cases: [(&str, Rows, Rows, bool); 4] = [
            ("failing every request, as before", &[(1.0, 2.0)], &[(1.0, 2.0), (1.0, 3.0), (1.0, 2.0), (1.0, 4.0)], false),
            ("failing three in four, as before", &[(0.75, 4.0)], &[(0.75, 4.0), (0.75, 8.0), (0.75, 4.0), (0.75, 4.0)], false),
            ("from half failing to all failing", &[(0.5, 40.0)], &[(1.0, 40.0), (1.0, 40.0), (1.0, 40.0), (1.0, 40.0)], true),
            ("from no errors to 5%", &[(0.0, 200.0)], &[(0.05, 200.0), (0.05, 200.0), (0.05, 200.0), (0.05, 200.0)], true),
        ];
        for (name, base, win, shift) in cases {
            let s = score(&mk(base, win), &thin).expect("scored");
            if shift {
                assert!(s.z > thin.threshold_z, "{name}: {s:?}");
            } else {
                assert!(s.z <= 0.0 && s.onset.is_none(), "{name}: {s:?}");
            }
        }
        assert!((binomial_z(5.0, 100.0, 0.05)).abs() < 1e-9);
        assert!(binomial_z(1.0, 100.0, 0.05) < -1.0);
    }

    #[test]
    fn kinds_from_metric_names() {
        let cases = [
            ("frontend_latency-90", SignalKind::Latency),
            ("cart_cpu", SignalKind::Cpu),
            ("cart_mem", SignalKind::Memory),
            ("cart_diskio", SignalKind::Disk),
            ("cart_error", SignalKind::ErrorRatio),
            ("cart_workload", SignalKind::Traffic),
            ("cart_net_tx", SignalKind::Network),
            ("cart_lat_90", SignalKind::Latency),
            ("cart_whatever", SignalKind::Other),
        ];
        for (name, kind) in cases {
            assert_eq!(SignalKind::from_metric_name(name), kind, "{name}");
        }
    }
}
