//! Component states from detector findings instead of raw samples.
//!
//! The running pipeline does not keep metric history next to the graph: what reaches
//! stage 2 are the conclusions of the stage-1 detectors (anomaly records with their score,
//! onset, observed value and expected band), alerts and Kubernetes events. A [`Finding`] is
//! one of those, placed on a component; [`states`] turns them into the same
//! [`ComponentState`]s [`component_states`](super::component_states) computes from sample
//! windows, so [`rank_with_states`](super::rank_with_states) ranks them unchanged. (What
//! only samples show is not in findings: which ways a component is watched
//! (`ComponentState::travels`), and shifts too small for their size that only their
//! certainty reveals ([`ranking_states`](super::ranking_states)); the benchmarks, which
//! rank from samples, have both.)

use super::config::RcaConfig;
use super::rank::{abnormality, ComponentState};
use super::signal::SignalKind;
use crate::time::Millis;

/// Width of an anomaly record's expected band in robust standard deviations on each side
/// (the detectors publish a three-sigma band).
pub const BAND_SIGMAS: f64 = 3.0;

/// One piece of abnormality evidence about one component.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub component: usize,
    pub kind: SignalKind,
    /// Probability that the component is abnormal, by this finding alone.
    pub abnormal: f64,
    /// Shift in robust standard deviations (bad direction positive), when known.
    pub z: Option<f64>,
    /// When the abnormality started.
    pub onset: Millis,
    /// Latency increase in seconds (latency findings with a band).
    pub latency_delta: Option<f64>,
    /// The evidence line.
    pub note: String,
}

/// Shift of `observed` against a three-sigma band, in the bad direction of `kind`; `None`
/// for a degenerate band (zero width, not finite).
pub fn band_z(kind: SignalKind, observed: f64, low: f64, high: f64) -> Option<f64> {
    let half = (high - low) / 2.0;
    if !(half.is_finite() && half > 0.0 && observed.is_finite()) {
        return None;
    }
    let z = BAND_SIGMAS * (observed - (low + high) / 2.0) / half;
    Some(if kind.direction() == 0.0 { z.abs() } else { z * kind.direction() })
}

/// The shift a probability of being abnormal stands for (inverse of [`abnormality`]), for
/// findings without a band.
pub fn z_of(abnormal: f64, cfg: &RcaConfig) -> f64 {
    let p = abnormal.clamp(1e-6, 1.0 - 1e-6);
    cfg.threshold_z + cfg.threshold_width * (p / (1.0 - p)).ln()
}

/// States of `n` components from their findings. `observed[i]` says the component is
/// watched even without findings (then it is normal: the detectors said nothing).
pub fn states(n: usize, findings: &[Finding], observed: &[bool], cfg: &RcaConfig) -> Vec<ComponentState> {
    let normal = abnormality(0.0, cfg);
    let mut out = vec![ComponentState::default(); n];
    let mut by_component: Vec<Vec<&Finding>> = vec![Vec::new(); n];
    for f in findings.iter().filter(|f| f.component < n) {
        by_component[f.component].push(f);
    }
    for (i, (st, fs)) in out.iter_mut().zip(by_component.iter_mut()).enumerate() {
        st.observed = !fs.is_empty() || observed.get(i).copied().unwrap_or(false);
        if !st.observed {
            st.abnormal = f64::NAN;
            st.degraded = cfg.unobserved_gate;
            continue;
        }
        fs.sort_by(|a, b| b.abnormal.total_cmp(&a.abnormal).then(a.onset.cmp(&b.onset)).then(a.note.cmp(&b.note)));
        st.abnormal = fs.iter().map(|f| f.abnormal).fold(normal, f64::max);
        st.z = fs.iter().filter(|f| f.abnormal >= 0.5).map(|f| f.z.unwrap_or_else(|| z_of(f.abnormal, cfg))).fold(0.0, f64::max);
        let propagating: Vec<f64> = fs.iter().filter(|f| f.kind.propagates()).map(|f| f.abnormal).collect();
        st.degraded = if propagating.is_empty() { st.abnormal } else { propagating.iter().copied().fold(normal, f64::max) };
        st.resource = fs.iter().filter(|f| f.kind.is_resource()).map(|f| f.abnormal).fold(normal, f64::max);
        st.latency_delta = fs.iter().filter(|f| f.kind == SignalKind::Latency && f.abnormal >= 0.5).filter_map(|f| f.latency_delta).reduce(f64::max);
        st.onset = fs.iter().filter(|f| f.abnormal >= 0.5).map(|f| f.onset).min();
        st.notes = fs.iter().map(|f| f.note.clone()).collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(component: usize, kind: SignalKind, abnormal: f64, onset: Millis) -> Finding {
        Finding { component, kind, abnormal, z: None, onset, latency_delta: None, note: format!("f{component}") }
    }

    #[test]
    fn band_shift_follows_the_bad_direction() {
        let near = |z: Option<f64>, want: f64| z.is_some_and(|z| (z - want).abs() < 1e-9);
        assert!(near(band_z(SignalKind::Latency, 0.4, 0.1, 0.3), 6.0));
        assert!(near(band_z(SignalKind::Latency, 0.0, 0.1, 0.3), -6.0), "faster is not a fault");
        assert!(near(band_z(SignalKind::Other, 0.0, 0.1, 0.3), 6.0), "either way counts");
        assert_eq!(band_z(SignalKind::Latency, 1.0, 0.0, 0.0), None, "log anomalies have no band");
    }

    #[test]
    fn states_summarise_findings_like_sample_windows() {
        let cfg = RcaConfig::default();
        let fs = vec![
            finding(0, SignalKind::Latency, 0.99, 2_000),
            finding(0, SignalKind::Cpu, 0.2, 1_000),
            finding(1, SignalKind::Cpu, 0.95, 1_000),
        ];
        let st = states(3, &fs, &[true, true, false], &cfg);
        assert!(st[0].observed && (st[0].abnormal - 0.99).abs() < 1e-12);
        assert_eq!(st[0].onset, Some(2_000), "a finding below one half does not date the onset");
        assert!((st[1].degraded - 0.95).abs() < 1e-12, "no propagating finding: degraded is abnormal");
        assert!(!st[2].observed && st[2].abnormal.is_nan() && st[2].degraded == cfg.unobserved_gate);
        let quiet = states(1, &[], &[true], &cfg);
        assert!(quiet[0].observed && quiet[0].abnormal < 0.1, "watched and silent is normal");
        assert!((z_of(0.5, &cfg) - cfg.threshold_z).abs() < 1e-9);
    }
}
