//! GA, FGA, PA and FTA as the Loghub-2.0 evaluation computes them (`GA_calculator.py`,
//! `PA_calculator.py`, `template_level_analysis.py`):
//!
//! * groups are template strings, on both sides (two predicted clusters that print the same
//!   template are one group);
//! * GA: share of lines whose ground-truth group is predicted exactly (every line of the
//!   group has one predicted template, and that template has no other line); FGA: F1 of the
//!   exactly predicted groups over predicted groups (precision) and true groups (recall);
//! * PA: share of lines whose predicted template string equals the ground truth;
//! * FTA: a predicted template is correct when all its lines have exactly that ground-truth
//!   template; F1 over predicted templates (precision) and true templates (recall).
//!
//! Lines whose ground truth is missing (empty) are left out of GA, FGA and FTA, and count as
//! wrong in PA, as there.

use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub ga: f64,
    pub fga: f64,
    pub pa: f64,
    pub fta: f64,
    /// Distinct predicted templates (over scored lines).
    pub predicted: usize,
    /// Distinct ground-truth templates.
    pub truth: usize,
}

fn f1(p: f64, r: f64) -> f64 {
    if p == 0.0 && r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

pub fn score(truth: &[&str], predicted: &[&str]) -> Scores {
    assert_eq!(truth.len(), predicted.len(), "one prediction per line");
    let total = truth.len();
    let pa = if total == 0 { 0.0 } else { truth.iter().zip(predicted).filter(|(t, p)| !t.is_empty() && t == p).count() as f64 / total as f64 };

    let pairs: Vec<(&str, &str)> = truth.iter().zip(predicted).filter(|(t, _)| !t.is_empty()).map(|(t, p)| (*t, *p)).collect();
    let mut predicted_count: HashMap<&str, usize> = HashMap::new();
    let mut by_truth: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut by_pred: HashMap<&str, HashSet<&str>> = HashMap::new();
    for &(t, p) in &pairs {
        *predicted_count.entry(p).or_default() += 1;
        by_truth.entry(t).or_default().push(p);
        by_pred.entry(p).or_default().insert(t);
    }
    let (mut lines_ok, mut groups_ok) = (0usize, 0usize);
    for preds in by_truth.values() {
        let first = preds[0];
        if preds.iter().all(|p| *p == first) && predicted_count[first] == preds.len() {
            lines_ok += preds.len();
            groups_ok += 1;
        }
    }
    let n = pairs.len();
    let ga = if n == 0 { 0.0 } else { lines_ok as f64 / n as f64 };
    let (np, nt) = (predicted_count.len(), by_truth.len());
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let fga = f1(ratio(groups_ok, np), ratio(groups_ok, nt));
    let templates_ok = by_pred.iter().filter(|(p, ts)| ts.len() == 1 && ts.contains(*p)).count();
    let fta = f1(ratio(templates_ok, np), ratio(templates_ok, nt));
    Scores { ga, fga, pa, fta, predicted: np, truth: nt }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_cases() {
        struct Case {
            name: &'static str,
            truth: Vec<&'static str>,
            pred: Vec<&'static str>,
            ga: f64,
            fga: f64,
            pa: f64,
            fta: f64,
        }
        let cases = vec![
            Case { name: "perfect", truth: vec!["a <*>", "a <*>", "b"], pred: vec!["a <*>", "a <*>", "b"], ga: 1.0, fga: 1.0, pa: 1.0, fta: 1.0 },
            // Grouping right, strings wrong: GA/FGA perfect, PA/FTA zero.
            Case { name: "right groups, other strings", truth: vec!["a <*>", "a <*>", "b"], pred: vec!["X", "X", "Y"], ga: 1.0, fga: 1.0, pa: 0.0, fta: 0.0 },
            // Truth {1,2},{3}; predicted one group {1,2,3}: no group exact. PA: line 1, 2 right.
            // FTA: predicted "a <*>" holds truths {a <*>, b}: wrong.
            Case { name: "over-merged", truth: vec!["a <*>", "a <*>", "b"], pred: vec!["a <*>", "a <*>", "a <*>"], ga: 0.0, fga: 0.0, pa: 2.0 / 3.0, fta: 0.0 },
            // Truth {1,2,3},{4}; predicted {1,2},{3},{4}: group b exact (1 line of 4).
            // PGA = 1/3, RGA = 1/2, FGA = 0.4. PA: lines 1, 2 ("a <*>") and 4 ("b") right = 3/4.
            // FTA: "a <*>" -> {a <*>} correct, "a 7" -> {a <*>} wrong, "b" -> {b} correct:
            // PTA = 2/3, RTA = 2/2, FTA = 0.8.
            Case { name: "split group", truth: vec!["a <*>", "a <*>", "a <*>", "b"], pred: vec!["a <*>", "a <*>", "a 7", "b"], ga: 0.25, fga: 0.4, pa: 0.75, fta: 0.8 },
            // Missing ground truth: left out of GA/FGA/FTA, wrong in PA.
            Case { name: "missing truth", truth: vec!["a", "", "b"], pred: vec!["a", "z", "b"], ga: 1.0, fga: 1.0, pa: 2.0 / 3.0, fta: 1.0 },
        ];
        for c in cases {
            let s = score(&c.truth, &c.pred);
            assert!(close(s.ga, c.ga), "{}: ga {} != {}", c.name, s.ga, c.ga);
            assert!(close(s.fga, c.fga), "{}: fga {} != {}", c.name, s.fga, c.fga);
            assert!(close(s.pa, c.pa), "{}: pa {} != {}", c.name, s.pa, c.pa);
            assert!(close(s.fta, c.fta), "{}: fta {} != {}", c.name, s.fta, c.fta);
        }
    }

    #[test]
    fn two_clusters_printing_the_same_template_are_one_group() {
        // Scoring sees strings only: identical strings are one predicted group.
        let s = score(&["t", "t", "u"], &["x", "x", "y"]);
        assert_eq!((s.predicted, s.truth), (2, 2));
        assert!(close(s.ga, 1.0));
    }
}
