//! Scoring a grouping of alerts against the faults behind them, and the Alertmanager-like
//! baseline grouping.

use std::collections::BTreeMap;

use kubesage_schemas::alertmanager::AlertStatus;

/// One alert notification as replayed: fingerprint, status, event time, labels.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub fingerprint: String,
    pub status: AlertStatus,
    pub time: i64,
    /// When this firing episode started (`startsAt`).
    pub starts_at: i64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub alerts: usize,
    pub incidents: usize,
    pub alerts_per_incident: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub faults: usize,
    pub faults_covered: usize,
    pub fault_coverage: f64,
}

fn pairs(n: usize) -> f64 {
    let n = n as f64;
    n * (n - 1.0) / 2.0
}

/// Pairwise precision/recall of `predicted` (fingerprint -> group; fingerprints without a
/// group are singletons) against `truth` (fingerprint -> fault; `None` is noise, each a
/// singleton), over the fingerprints of `truth`. `incidents` is the number of groups the
/// system published. A fault is covered when some group's most frequent fault is it.
pub fn score(truth: &BTreeMap<String, Option<String>>, predicted: &BTreeMap<String, String>, incidents: usize) -> Scores {
    let mut cell: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut pred_size: BTreeMap<String, usize> = BTreeMap::new();
    let mut true_size: BTreeMap<String, usize> = BTreeMap::new();
    for (fp, fault) in truth {
        let p = predicted.get(fp).cloned().unwrap_or_else(|| format!("singleton:{fp}"));
        let t = fault.clone().unwrap_or_else(|| format!("noise:{fp}"));
        *cell.entry((p.clone(), t.clone())).or_default() += 1;
        *pred_size.entry(p).or_default() += 1;
        *true_size.entry(t).or_default() += 1;
    }
    let tp: f64 = cell.values().map(|&n| pairs(n)).sum();
    let pred_pairs: f64 = pred_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: f64 = true_size.values().map(|&n| pairs(n)).sum();
    let precision = if pred_pairs > 0.0 { tp / pred_pairs } else { 1.0 };
    let recall = if true_pairs > 0.0 { tp / true_pairs } else { 1.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    // Most frequent fault of every predicted group (noise counts as no fault).
    let mut dominant: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for ((p, t), &n) in &cell {
        if t.starts_with("noise:") {
            continue;
        }
        let d = dominant.entry(p.as_str()).or_insert((0, ""));
        if n > d.0 {
            *d = (n, t.as_str());
        }
    }
    let faults: std::collections::BTreeSet<&String> = truth.values().flatten().collect();
    let covered = faults.iter().filter(|f| dominant.values().any(|(_, t)| *t == f.as_str())).count();
    let alerts = truth.len();
    Scores {
        alerts,
        incidents,
        alerts_per_incident: if incidents > 0 { alerts as f64 / incidents as f64 } else { 0.0 },
        precision,
        recall,
        f1,
        faults: faults.len(),
        faults_covered: covered,
        fault_coverage: if faults.is_empty() { 1.0 } else { covered as f64 / faults.len() as f64 },
    }
}

/// Alertmanager's aggregation: alerts with equal `group_by` labels share a group; a group
/// is flushed `group_wait` after it was created and every `group_interval` after that, and
/// is deleted at a flush when all its alerts are resolved. An alert firing when no group
/// of its labels exists creates a new one. Returns fingerprint -> group (the first group
/// the alert joined) and the number of groups.
pub fn alertmanager_groups(notifications: &[Replayed], group_by: &[&str], group_wait: i64, group_interval: i64) -> (BTreeMap<String, String>, usize) {
    struct Group {
        id: String,
        next_flush: i64,
        firing: BTreeMap<String, bool>,
    }
    let mut active: BTreeMap<String, Group> = BTreeMap::new();
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    let mut created = 0usize;
    let flush_until = |active: &mut BTreeMap<String, Group>, now: i64| {
        let keys: Vec<String> = active.keys().cloned().collect();
        for k in keys {
            let Some(g) = active.get_mut(&k) else { continue };
            while g.next_flush <= now {
                if g.firing.values().all(|f| !f) {
                    active.remove(&k);
                    break;
                }
                g.next_flush += group_interval;
            }
        }
    };
    for n in notifications {
        flush_until(&mut active, n.time);
        let key: Vec<String> = group_by.iter().map(|l| n.labels.get(*l).cloned().unwrap_or_default()).collect();
        let key = key.join("\u{1f}");
        let firing = n.status == AlertStatus::Firing;
        match active.get_mut(&key) {
            Some(g) => {
                g.firing.insert(n.fingerprint.clone(), firing);
                assigned.entry(n.fingerprint.clone()).or_insert_with(|| g.id.clone());
            }
            None if firing => {
                created += 1;
                let id = format!("am-{created}");
                assigned.entry(n.fingerprint.clone()).or_insert_with(|| id.clone());
                active.insert(key, Group { id, next_flush: n.time + group_wait, firing: BTreeMap::from([(n.fingerprint.clone(), true)]) });
            }
            None => {}
        }
    }
    (assigned, created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect()
    }

    fn groups(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn pairwise_scores() {
        let t = truth(&[("a", Some("f1")), ("b", Some("f1")), ("c", Some("f1")), ("d", Some("f2")), ("e", None)]);
        // Perfect: f1 together, f2 alone, noise alone.
        let s = score(&t, &groups(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "2")]), 3);
        assert_eq!((s.precision, s.recall, s.fault_coverage), (1.0, 1.0, 1.0));
        // Everything in one incident: recall 1, precision 3/10, f2 not covered.
        let s = score(&t, &groups(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")]), 1);
        assert_eq!((s.precision, s.recall, s.faults_covered, s.alerts_per_incident), (0.3, 1.0, 1, 5.0));
        // f1 split in two: recall 1/3.
        let s = score(&t, &groups(&[("a", "1"), ("b", "1"), ("c", "3"), ("d", "2")]), 4);
        assert!((s.recall - 1.0 / 3.0).abs() < 1e-12 && s.precision == 1.0);
    }

    #[test]
    fn alertmanager_groups_by_labels_and_lifetime() {
        let n = |fp: &str, name: &str, status: AlertStatus, time: i64| Replayed {
            fingerprint: fp.into(),
            status,
            time,
            starts_at: time,
            labels: BTreeMap::from([("alertname".to_string(), name.to_string()), ("namespace".to_string(), "shop".to_string())]),
        };
        use AlertStatus::{Firing as F, Resolved as R};
        let events = vec![n("a", "X", F, 0), n("b", "X", F, 10), n("c", "Y", F, 20), n("a", "X", R, 100), n("b", "X", R, 110), n("d", "X", F, 1000)];
        let (assigned, created) = alertmanager_groups(&events, &["alertname", "namespace"], 30, 300);
        assert_eq!(created, 3);
        assert_eq!(assigned["a"], assigned["b"]);
        assert_ne!(assigned["a"], assigned["c"]);
        assert_ne!(assigned["a"], assigned["d"], "the first group was deleted at its flush after everything resolved");
    }
}
