//! The baselines RCAEval reports, as simple as their definitions.

use std::collections::BTreeMap;

use kubesage_operators::rca::pagerank::personalized;
use kubesage_operators::rca::signal::{median, quantile};
use kubesage_operators::rca::RcaConfig;

use super::Case;

/// Services ordered by score, highest first; ties (and services without a score) by name.
fn order(case: &Case, scores: &BTreeMap<String, f64>) -> Vec<String> {
    let mut s: Vec<(String, f64)> = case.services().into_iter().map(|n| (n.clone(), scores.get(&n).copied().unwrap_or(0.0))).collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.into_iter().map(|x| x.0).collect()
}

/// Largest `|x - loc| / scale` of each service's metrics after the injection, with
/// `(loc, scale)` from the normal period by `fit`.
fn max_shift(case: &Case, fit: fn(&mut [f64]) -> (f64, f64)) -> BTreeMap<String, f64> {
    let cut = case.normal_rows();
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for ((svc, _), v) in &case.columns {
        let mut normal: Vec<f64> = v[..cut.min(v.len())].iter().copied().filter(|x| x.is_finite()).collect();
        if normal.len() < 2 {
            continue;
        }
        let (loc, scale) = fit(&mut normal);
        let scale = if scale > 1e-12 { scale } else { 1e-12_f64.max(loc.abs() * 1e-6) };
        let s = v[cut.min(v.len())..].iter().filter(|x| x.is_finite()).map(|x| (x - loc).abs() / scale).fold(0.0, f64::max);
        let e = out.entry(svc.clone()).or_insert(0.0);
        *e = e.max(s);
    }
    out
}

pub fn mean_sd(v: &mut [f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

pub fn median_iqr(v: &mut [f64]) -> (f64, f64) {
    let m = median(v);
    (m, quantile(v, 0.75) - quantile(v, 0.25))
}

/// A random order, the same for the same case wherever it is stored (FNV-1a of the last
/// three components of its path, e.g. `svc10/svc03_cpu/1`, as seed).
pub fn dummy(case: &Case, _: &RcaConfig) -> Vec<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts: Vec<String> = case.dir.components().rev().take(3).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    for b in parts.concat().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = crate::rng::Rng::new(h);
    let mut s = case.services();
    for i in (1..s.len()).rev() {
        s.swap(i, rng.below(i + 1));
    }
    s
}

pub fn nsigma(case: &Case, _: &RcaConfig) -> Vec<String> {
    order(case, &max_shift(case, mean_sd))
}

pub fn baro(case: &Case, _: &RcaConfig) -> Vec<String> {
    order(case, &max_shift(case, median_iqr))
}

/// Personalised PageRank over the call graph (caller -> callee, weighted by how abnormal
/// the callee is), teleporting by the BARO scores; without a graph, BARO's order.
pub fn pagerank(case: &Case, _: &RcaConfig) -> Vec<String> {
    let scores = max_shift(case, median_iqr);
    let services = case.services();
    let index: BTreeMap<&str, usize> = services.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let score = |s: &str| scores.get(s).copied().unwrap_or(0.0);
    let edges: Vec<(usize, usize, f64)> = case
        .calls
        .iter()
        .filter_map(|(a, b)| Some((*index.get(a.as_str())?, *index.get(b.as_str())?, score(b) + 1e-9)))
        .collect();
    let tele: Vec<f64> = services.iter().map(|s| score(s)).collect();
    let p = personalized(services.len(), &edges, &tele, 0.85, 100);
    let ranked: BTreeMap<String, f64> = services.iter().cloned().zip(p).collect();
    order(case, &ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(columns: &[(&str, &[f64])], calls: &[(&str, &str)]) -> Case {
        let rows = columns.first().map_or(0, |c| c.1.len());
        Case {
            dir: "x/a_cpu/1".into(),
            root: "a".into(),
            fault: "cpu".into(),
            inject_time: 4,
            time: (0..rows as i64).collect(),
            columns: columns.iter().map(|(k, v)| ((k.to_string(), "cpu".to_string()), v.to_vec())).collect(),
            calls: calls.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            placement: Default::default(),
        }
    }

    #[test]
    fn nsigma_and_baro_by_hand() {
        // a: normal 1,2,3,4 (mean 2.5, sd 1.291; median 2.5, IQR 1.5); after: 10.
        // b: normal 10,10,10,12 (mean 10.5, sd 1; median 10, IQR 0.5); after: 13.
        let c = case(&[("a", &[1.0, 2.0, 3.0, 4.0, 10.0]), ("b", &[10.0, 10.0, 10.0, 12.0, 13.0])], &[]);
        let ns = max_shift(&c, mean_sd);
        assert!((ns["a"] - 7.5 / 1.2909944).abs() < 1e-6, "{ns:?}");
        assert!((ns["b"] - 2.5).abs() < 1e-9, "{ns:?}");
        let ba = max_shift(&c, median_iqr);
        assert!((ba["a"] - 5.0).abs() < 1e-9, "{ba:?}");
        assert!((ba["b"] - 6.0).abs() < 1e-9, "{ba:?}");
        assert_eq!(nsigma(&c, &RcaConfig::default()), vec!["a", "b"]);
        assert_eq!(baro(&c, &RcaConfig::default()), vec!["b", "a"]);
    }

    #[test]
    fn pagerank_walks_to_abnormal_dependencies_and_dummy_is_a_stable_permutation() {
        // fe -> a, fe -> b; a and fe equally abnormal, b normal: the walk from fe goes
        // to a, so a ranks first.
        let c = case(
            &[("fe", &[1.0, 1.1, 0.9, 1.0, 5.0]), ("a", &[1.0, 1.1, 0.9, 1.0, 5.0]), ("b", &[1.0, 1.1, 0.9, 1.0, 1.0])],
            &[("fe", "a"), ("fe", "b")],
        );
        let r = pagerank(&c, &RcaConfig::default());
        assert_eq!(r, vec!["a", "fe", "b"]);
        let d = dummy(&c, &RcaConfig::default());
        let mut sorted = d.clone();
        sorted.sort();
        assert_eq!(sorted, vec!["a", "b", "fe"]);
        assert_eq!(dummy(&c, &RcaConfig::default()), d);
    }
}
