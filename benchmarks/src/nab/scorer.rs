//! A port of NAB's scorer (numenta/NAB v1.1, `nab/sweeper.py`, `nab/optimizer.py`,
//! `nab/runner.py::normalize`).
//!
//! - The first `min(floor(0.15 N), 750)` rows of a file are probationary: not scored, and a
//!   window only counts if it has a row after them.
//! - A row inside a window of width |W| (rows) ending at row r scores, when detected,
//!   `scaled_sigmoid(-(r - i + 1) / |W|) * A_TP / scaled_sigmoid(-1)`; a window counts only
//!   its best (earliest) detection, and a window without one costs -A_FN.
//! - A detection outside every window costs `scaled_sigmoid(p) * A_FP` with
//!   p = |i - r_prev| / (|W_prev| - 1) after a window, p = 3 (so -A_FP) before the first.
//! - A row is a detection when its anomaly score is >= the threshold. One threshold per
//!   detector and profile, chosen over the whole corpus to maximise the summed raw score.
//! - Normalised score: `100 (S - S_null) / (S_perfect - S_null)` with S_perfect the number
//!   of windows times A_TP and S_null the raw score of the null detector.

use std::collections::HashMap;

/// Weights of one scoring profile (NAB's `CostMatrix`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

/// NAB's three profiles, by the names `final_results.json` uses.
pub const PROFILES: [(&str, Cost); 3] = [
    ("standard", Cost { tp: 1.0, fp: 0.11, fn_: 1.0 }),
    ("reward_low_FP_rate", Cost { tp: 1.0, fp: 0.22, fn_: 1.0 }),
    ("reward_low_FN_rate", Cost { tp: 1.0, fp: 0.11, fn_: 2.0 }),
];

/// NAB's fixed probationary share.
pub const PROBATION_PERCENT: f64 = 0.15;

/// One labelled file: row timestamps (any totally ordered unit) and windows as
/// (first, last) timestamps, both inclusive and equal to a row's timestamp.
#[derive(Debug, Clone)]
pub struct LabelledFile {
    pub name: String,
    pub timestamps: Vec<i64>,
    pub windows: Vec<(i64, i64)>,
}

pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * relative_position).exp()) - 1.0
    }
}

pub fn probationary_length(rows: usize) -> usize {
    let p = (PROBATION_PERCENT * rows as f64).floor().min(PROBATION_PERCENT * 5000.0);
    p as usize
}

/// A scorable row: its anomaly score, what it is worth when detected, and its window
/// (a corpus-wide index) if it is inside one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub score: f64,
    pub sweep: f64,
    pub window: Option<usize>,
}

/// NAB's `calcSweepScore`: the worth of every non-probationary row of one file. Window
/// indices start at `window_base`. Fails when a window limit is not a row timestamp.
pub fn sweep(file: &LabelledFile, scores: &[f64], cost: &Cost, window_base: usize) -> Result<Vec<Point>, String> {
    if scores.len() != file.timestamps.len() {
        return Err(format!("{}: {} scores for {} rows", file.name, scores.len(), file.timestamps.len()));
    }
    let index_of = |t: i64| {
        file.timestamps
            .iter()
            .position(|&x| x == t)
            .ok_or_else(|| format!("{}: window limit {t} is not a row timestamp", file.name))
    };
    let mut windows = Vec::with_capacity(file.windows.len());
    for &(start, end) in &file.windows {
        windows.push((index_of(start)?, index_of(end)?));
    }
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probationary_length(scores.len());
    let mut next_window = 0usize;
    // (window number, right index, width)
    let mut current: Option<(usize, usize, f64)> = None;
    let mut previous: Option<(usize, f64)> = None;
    let mut points = Vec::with_capacity(scores.len().saturating_sub(probation));
    for (i, &score) in scores.iter().enumerate() {
        if current.is_none() && next_window < windows.len() && windows[next_window].0 == i {
            let (left, right) = windows[next_window];
            current = Some((next_window, right, (right - left + 1) as f64));
            next_window += 1;
        }
        let (sweep, window) = match current {
            Some((w, right, width)) => {
                let position = -((right as f64) - (i as f64) + 1.0) / width;
                (scaled_sigmoid(position) * cost.tp / max_tp, Some(window_base + w))
            }
            None => {
                let position = match previous {
                    None => 3.0,
                    Some((right, width)) => (i as f64 - right as f64).abs() / (width - 1.0),
                };
                (scaled_sigmoid(position) * cost.fp, None)
            }
        };
        if i >= probation {
            points.push(Point { score, sweep, window });
        }
        if let Some((_, right, width)) = current {
            if i == right {
                previous = Some((right, width));
                current = None;
            }
        }
    }
    Ok(points)
}

/// The raw score, and the confusion counts, at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    pub threshold: f64,
    pub score: f64,
    pub tp: usize,
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
}

/// NAB's `calcScoreByThreshold`: the raw score at every distinct threshold, highest first,
/// starting at 1.1 (nothing detected).
pub fn score_by_threshold(points: &[Point], cost: &Cost) -> Vec<ThresholdScore> {
    let mut sorted: Vec<&Point> = points.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Windows that have at least one scorable row start at -A_FN.
    let mut parts: HashMap<usize, f64> = HashMap::new();
    for p in &sorted {
        if let Some(w) = p.window {
            parts.insert(w, -cost.fn_);
        }
    }
    let mut window_sum: f64 = parts.values().sum();
    let mut fp_sum = 0.0;
    let mut tn = sorted.iter().filter(|p| p.window.is_none()).count();
    let mut fn_ = sorted.len() - tn;
    let (mut tp, mut fp) = (0, 0);
    let mut threshold = 1.1;
    let mut out = Vec::new();
    for p in &sorted {
        if p.score != threshold {
            out.push(ThresholdScore { threshold, score: fp_sum + window_sum, tp, tn, fp, fn_ });
            threshold = p.score;
        }
        match p.window {
            Some(w) => {
                tp += 1;
                fn_ -= 1;
                let part = parts.entry(w).or_insert(-cost.fn_);
                if p.sweep > *part {
                    window_sum += p.sweep - *part;
                    *part = p.sweep;
                }
            }
            None => {
                fp += 1;
                tn -= 1;
                fp_sum += p.sweep;
            }
        }
    }
    out.push(ThresholdScore { threshold, score: fp_sum + window_sum, tp, tn, fp, fn_ });
    out
}

/// Raw score of one file at a given threshold (NAB's `scoreDataSet`, computed directly:
/// a row is a detection when its score is >= the threshold).
pub fn score_at(points: &[Point], cost: &Cost, threshold: f64) -> ThresholdScore {
    let mut parts: HashMap<usize, f64> = HashMap::new();
    let mut fp_sum = 0.0;
    let (mut tp, mut tn, mut fp, mut fn_) = (0, 0, 0, 0);
    for p in points {
        let detected = p.score >= threshold;
        match (p.window, detected) {
            (Some(w), true) => {
                tp += 1;
                let part = parts.entry(w).or_insert(-cost.fn_);
                *part = part.max(p.sweep);
            }
            (Some(w), false) => {
                fn_ += 1;
                parts.entry(w).or_insert(-cost.fn_);
            }
            (None, true) => {
                fp += 1;
                fp_sum += p.sweep;
            }
            (None, false) => tn += 1,
        }
    }
    ThresholdScore { threshold, score: fp_sum + parts.values().sum::<f64>(), tp, tn, fp, fn_ }
}

/// The result of one detector on one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    pub profile: &'static str,
    pub threshold: f64,
    pub raw: f64,
    pub null_raw: f64,
    pub perfect_raw: f64,
    pub normalised: f64,
    pub counts: ThresholdScore,
}

/// Score a detector over a corpus on one profile: global threshold optimisation, then
/// normalisation against the null detector (constant score) and the perfect score.
pub fn score_corpus(files: &[LabelledFile], scores: &[Vec<f64>], profile: &'static str, cost: &Cost) -> Result<ProfileScore, String> {
    if files.len() != scores.len() {
        return Err(format!("{} result files for {} data files", scores.len(), files.len()));
    }
    let mut all = Vec::new();
    let mut null_all = Vec::new();
    let mut base = 0;
    for (file, s) in files.iter().zip(scores) {
        all.extend(sweep(file, s, cost, base)?);
        null_all.extend(sweep(file, &vec![0.5; s.len()], cost, base)?);
        base += file.windows.len();
    }
    let best = best_threshold(&all, cost);
    let null_raw = best_threshold(&null_all, cost).score;
    let perfect_raw = base as f64 * cost.tp;
    let normalised = if perfect_raw == null_raw { 0.0 } else { 100.0 * (best.score - null_raw) / (perfect_raw - null_raw) };
    Ok(ProfileScore { profile, threshold: best.threshold, raw: best.score, null_raw, perfect_raw, normalised, counts: best })
}

/// NAB's optimiser: the threshold with the highest summed raw score (the first, i.e. the
/// highest threshold, among equals, as Python's stable sort keeps).
pub fn best_threshold(points: &[Point], cost: &Cost) -> ThresholdScore {
    let all = score_by_threshold(points, cost);
    let mut best = all[0];
    for s in &all[1..] {
        if s.score > best.score {
            best = *s;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Cost = PROFILES[0].1;

    fn file(rows: usize, windows: &[(i64, i64)]) -> LabelledFile {
        LabelledFile { name: "t/f.csv".into(), timestamps: (0..rows as i64).collect(), windows: windows.to_vec() }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn scaled_sigmoid_matches_nab_docstring() {
        assert!(close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_3));
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
        assert!(close(scaled_sigmoid(0.0), 0.0));
        assert!(close(scaled_sigmoid(1.0), -0.986_614_298_151_430_3));
        assert_eq!(scaled_sigmoid(3.0), -1.0);
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750() {
        assert_eq!(probationary_length(100), 15);
        assert_eq!(probationary_length(1001), 150);
        assert_eq!(probationary_length(5000), 750);
        assert_eq!(probationary_length(22_000), 750);
    }

    /// 100 rows (15 probationary), one window at rows 40..=49 (width 10).
    #[test]
    fn hand_computed_cases() {
        let f = file(100, &[(40, 49)]);
        let run = |detect: &[usize], cost: &Cost| {
            let mut s = vec![0.0; 100];
            for &i in detect {
                s[i] = 1.0;
            }
            let points = sweep(&f, &s, cost, 0).expect("sweep");
            score_at(&points, cost, 1.0).score
        };
        // Nothing detected: the window is missed.
        assert!(close(run(&[], &STANDARD), -1.0));
        // Earliest row of the window: full credit.
        assert!(close(run(&[40], &STANDARD), 1.0));
        // Last row of the window: position -1/10.
        assert!(close(run(&[49], &STANDARD), scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0)));
        // Middle (row 45): position -(49-45+1)/10 = -0.5; a later detection adds nothing.
        let mid = scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0);
        assert!(close(run(&[45, 47], &STANDARD), mid));
        // A false positive before the window costs A_FP in full.
        assert!(close(run(&[20, 40], &STANDARD), 1.0 - 0.11));
        // Probationary rows are not scored at all.
        assert!(close(run(&[3, 40], &STANDARD), 1.0));
        // After the window: row 54 is 5 rows past the right edge, p = 5/9.
        let after = scaled_sigmoid(5.0 / 9.0) * 0.11;
        assert!(close(run(&[40, 54], &STANDARD), 1.0 + after));
        // Far past the window (p >= 3): -A_FP.
        assert!(close(run(&[40, 90], &STANDARD), 1.0 - 0.11));
        // Low-FN profile doubles the miss; low-FP doubles the false positive.
        assert!(close(run(&[], &PROFILES[2].1), -2.0));
        assert!(close(run(&[20], &PROFILES[1].1), -1.0 - 0.22));
    }

    #[test]
    fn a_window_inside_the_probation_does_not_count() {
        let f = file(100, &[(2, 8), (40, 49)]);
        let points = sweep(&f, &[0.0; 100], &STANDARD, 0).expect("sweep");
        assert!(close(score_at(&points, &STANDARD, 1.0).score, -1.0));
    }

    #[test]
    fn threshold_sweep_agrees_with_direct_scoring() {
        let f = file(200, &[(60, 79), (140, 159)]);
        let scores: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
        let points = sweep(&f, &scores, &STANDARD, 0).expect("sweep");
        for t in score_by_threshold(&points, &STANDARD) {
            let direct = score_at(&points, &STANDARD, t.threshold);
            assert!(close(t.score, direct.score), "at {}: {} vs {}", t.threshold, t.score, direct.score);
            assert_eq!((t.tp, t.fp, t.tn, t.fn_), (direct.tp, direct.fp, direct.tn, direct.fn_));
        }
    }

    #[test]
    fn threshold_is_chosen_over_the_whole_corpus() {
        // File a: the detection at 0.9 is a false positive; file b: the one at 0.8 is a hit.
        let a = file(100, &[(40, 49)]);
        let b = file(100, &[(40, 49)]);
        let mut sa = vec![0.0; 100];
        sa[30] = 0.9;
        sa[41] = 0.7;
        let mut sb = vec![0.0; 100];
        sb[40] = 0.8;
        let r = score_corpus(&[a, b], &[sa, sb], "standard", &STANDARD).expect("score");
        // At 0.7: -0.11 + two hits (one at the second row of its window).
        let second = scaled_sigmoid(-0.9) / scaled_sigmoid(-1.0);
        assert_eq!(r.threshold, 0.7);
        assert!(close(r.raw, -0.11 + second + 1.0));
        assert!(close(r.null_raw, -2.0));
    }

    #[test]
    fn null_scores_zero_and_perfect_scores_one_hundred_on_every_profile() {
        let files = vec![file(300, &[(100, 119), (200, 219)]), file(1000, &[]), file(6000, &[(900, 1099)])];
        let null: Vec<Vec<f64>> = files.iter().map(|f| vec![0.5; f.timestamps.len()]).collect();
        let perfect: Vec<Vec<f64>> = files
            .iter()
            .map(|f| {
                let mut s = vec![0.0; f.timestamps.len()];
                for &(start, _) in &f.windows {
                    s[start as usize] = 1.0;
                }
                s
            })
            .collect();
        for (name, cost) in PROFILES {
            let n = score_corpus(&files, &null, name, &cost).expect("null");
            assert!(close(n.normalised, 0.0), "{name}: null {}", n.normalised);
            assert!(close(n.null_raw, -3.0 * cost.fn_));
            let p = score_corpus(&files, &perfect, name, &cost).expect("perfect");
            assert!(close(p.normalised, 100.0), "{name}: perfect {}", p.normalised);
        }
    }

    #[test]
    fn a_window_limit_off_the_rows_is_an_error() {
        let f = LabelledFile { name: "x".into(), timestamps: vec![0, 10, 20], windows: vec![(5, 20)] };
        assert!(sweep(&f, &[0.0; 3], &STANDARD, 0).is_err());
    }
}
