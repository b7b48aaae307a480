//! Change points: when a deviation persists, the series has entered a new regime (a
//! deploy, a resize, a new load level). The change point is located in the recent values
//! with Bayesian online change-point detection (augurs `changepoint`, Normal-Gamma model,
//! Adams & MacKay 2007) and the baseline restarts from the values after it, so the new
//! regime becomes the baseline instead of an endless alarm.

use augurs::changepoint::dist::NormalGamma;
use augurs::changepoint::{Detector, NormalGammaDetector};

/// Expected run length between change points for the BOCPD hazard (samples).
const HAZARD_RUN: f64 = 100.0;

/// Index (into `values`) where the latest regime starts, given that the deviation has
/// persisted for at least `persisted` samples; `None` when no change point is found and
/// the persisting tail should be used.
pub fn locate(values: &[f64], center: f64, scale: f64, persisted: usize) -> Option<usize> {
    if values.len() < 4 || scale.is_nan() || scale <= 0.0 {
        return None;
    }
    let standardised: Vec<f64> = values.iter().map(|x| (x - center) / scale).collect();
    // Weak prior centred on the old regime, unit scale (the data are standardised).
    let prior = NormalGamma::new_unchecked(0.0, 1.0, 1.0, 1.0);
    let mut detector = NormalGammaDetector::normal_gamma(HAZARD_RUN, prior);
    let points = detector.detect_changepoints(&standardised);
    // The latest change point that still leaves a usable new regime behind it and is not
    // later than where the persisting deviation began.
    let latest_allowed = values.len().saturating_sub(persisted.min(values.len())).max(1);
    points.into_iter().filter(|&i| i > 0 && i <= latest_allowed.max(values.len().saturating_sub(4))).max()
}
