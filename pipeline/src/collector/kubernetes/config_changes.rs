//! Edits of ConfigMaps as change records. Kubernetes records no Event when a ConfigMap's
//! data is edited, yet a bad config push is one of the commonest causes of an incident;
//! the collector watches ConfigMaps and publishes a `ConfigChanged` event about one
//! whenever its data changes, naming the keys (never the values). RCA counts it as a
//! change of every workload whose Pods read that ConfigMap (the topology's `uses`).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kubesage_schemas::k8s::{K8sEvent, ObjectRef, CONFIG_CHANGED};

use super::dedup::Relist;

/// Changed keys named in the note at most; the rest are counted.
const NOTE_KEYS: usize = 10;
/// A ConfigMap deleted and created again within this long (`kubectl replace --force`, a
/// recreating sync) is compared with what it held before, not taken as a new baseline.
const RECREATE_WINDOW: Duration = Duration::from_secs(600);

/// Per-key digest of a ConfigMap's `data` and `binaryData`: enough to tell a data edit
/// from an update of labels or annotations and to name the keys, without keeping values.
pub type Digest = BTreeMap<String, u64>;

/// Digest of `cm`; `binaryData` keys are marked so a key moved from one to the other counts.
pub fn digest(cm: &ConfigMap) -> Digest {
    let text = cm.data.iter().flatten().map(|(k, v)| (k.clone(), hash(v.as_bytes())));
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), hash(&v.0) ^ 1));
    text.chain(binary).collect()
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// `namespace/name`: what a ConfigMap is to the Pods reading it, across a recreate.
pub fn config_key(cm: &ConfigMap) -> String {
    format!("{}/{}", cm.namespace().unwrap_or_default(), cm.name_any())
}

struct Seen {
    /// Data as of the last published change (or the baseline).
    digest: Digest,
    /// When the last change was published.
    published: Option<DateTime<Utc>>,
}

/// ConfigMap -> data last accounted for. The first sight of a ConfigMap is its baseline,
/// not a change (after a restart the collector cannot know what changed while it was
/// down); a relist (410 Gone) compares against what was seen before, so an edit made while
/// the watch was down is still reported, once. A ConfigMap that a controller rewrites all
/// the time (status written into data) publishes at most one change per `quiet`: the edits
/// within it are folded into the one published.
pub struct ConfigVersions {
    quiet: Duration,
    seen: HashMap<String, Seen>,
    deleted: HashMap<String, (Digest, DateTime<Utc>)>,
    relist: Relist,
}

impl ConfigVersions {
    pub fn new(quiet: Duration) -> Self {
        ConfigVersions { quiet, seen: HashMap::new(), deleted: HashMap::new(), relist: Relist::default() }
    }

    /// Keys added, changed or removed since the data last accounted for, in name order;
    /// `None` on the first sight, when the data did not change, or within `quiet` of the
    /// last change published.
    pub fn observe(&mut self, key: &str, now: Digest, at: DateTime<Utc>) -> Option<Vec<String>> {
        self.relist.saw(key);
        self.deleted.retain(|_, (_, gone)| at.signed_duration_since(*gone).to_std().unwrap_or_default() <= RECREATE_WINDOW);
        let seen = match self.seen.entry(key.to_string()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some((before, _)) = self.deleted.remove(key) else {
                    e.insert(Seen { digest: now, published: None });
                    return None;
                };
                e.insert(Seen { digest: before, published: None })
            }
        };
        let before = &seen.digest;
        let mut keys: Vec<String> = before.keys().chain(now.keys()).filter(|k| before.get(*k) != now.get(*k)).cloned().collect();
        keys.sort();
        keys.dedup();
        let recent = seen.published.is_some_and(|p| at.signed_duration_since(p).to_std().unwrap_or_default() < self.quiet);
        seen.digest = now;
        if keys.is_empty() || recent {
            return None;
        }
        seen.published = Some(at);
        Some(keys)
    }

    /// Deleted: remembered for `RECREATE_WINDOW` in case it comes back.
    pub fn forget(&mut self, key: &str, at: DateTime<Utc>) {
        if let Some(seen) = self.seen.remove(key) {
            self.deleted.insert(key.to_string(), (seen.digest, at));
        }
    }

    pub fn begin_relist(&mut self) {
        self.relist.begin();
    }

    /// Forget what the relist no longer lists (deleted while the watch was down).
    pub fn end_relist(&mut self) {
        if let Some(listed) = self.relist.end() {
            self.seen.retain(|key, _| listed.contains(key));
        }
    }
}

/// The `ConfigChanged` event for an edit of `keys`, dated by the API server's record of the
/// latest write (`managedFields[].time`) when it has one no later than `observed`.
pub fn change_event(cm: &ConfigMap, keys: &[String], observed: DateTime<Utc>) -> K8sEvent {
    let written = cm.metadata.managed_fields.iter().flatten().filter_map(|f| f.time.as_ref().map(|t| t.0)).max();
    let mut named = keys.iter().take(NOTE_KEYS).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > NOTE_KEYS {
        named.push_str(&format!(" and {} more", keys.len() - NOTE_KEYS));
    }
    K8sEvent {
        event_type: "Normal".into(),
        reason: CONFIG_CHANGED.into(),
        note: format!("data changed: {named}"),
        regarding: ObjectRef {
            kind: "ConfigMap".into(),
            namespace: cm.namespace().unwrap_or_default(),
            name: cm.name_any(),
            uid: cm.uid().unwrap_or_default(),
            api_version: "v1".into(),
        },
        related: None,
        reporting_controller: "kubesage-collector".into(),
        reporting_instance: String::new(),
        count: 1,
        observed_at: written.filter(|t| *t <= observed).unwrap_or(observed),
        event_uid: format!("{}@{}", cm.uid().unwrap_or_default(), cm.resource_version().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: serde_json::Value) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "flags", "namespace": "shop", "uid": "cm1", "resourceVersion": "7"}, "data": data})).expect("configmap")
    }

    fn d(data: serde_json::Value) -> Digest {
        digest(&cm(data))
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    const QUIET: Duration = Duration::from_secs(300);

    #[test]
    fn only_data_edits_are_changes_and_they_name_their_keys() {
        let mut v = ConfigVersions::new(QUIET);
        let steps: Vec<(&str, i64, serde_json::Value, Option<Vec<&str>>)> = vec![
            ("first sight is the baseline", 0, serde_json::json!({"a": "1", "b": "2"}), None),
            ("same data again (a label edit, a resync)", 10, serde_json::json!({"a": "1", "b": "2"}), None),
            ("a value edited", 20, serde_json::json!({"a": "1", "b": "3"}), Some(vec!["b"])),
            ("another edit within the quiet time: folded into the last", 100, serde_json::json!({"a": "5", "b": "3"}), None),
            ("a key added and one removed, after the quiet time", 400, serde_json::json!({"b": "3", "c": "4"}), Some(vec!["a", "c"])),
            ("emptied, after the quiet time", 800, serde_json::json!({}), Some(vec!["b", "c"])),
        ];
        for (name, secs, data, want) in steps {
            let got = v.observe("shop/flags", d(data), at(secs));
            assert_eq!(got, want.map(|w| w.iter().map(|k| k.to_string()).collect()), "{name}");
        }
    }

    #[test]
    fn a_controller_rewriting_its_status_every_ten_seconds_publishes_once_per_quiet_time() {
        let mut v = ConfigVersions::new(QUIET);
        let published = (0..360).filter(|i| v.observe("kube-system/cluster-autoscaler-status", d(serde_json::json!({"status": format!("time: {i}")})), at(i * 10)).is_some()).count();
        assert_eq!(published, 12, "one hour, one per five minutes (the first sight is the baseline)");
    }

    #[test]
    fn recreated_with_new_data_is_a_change_and_long_gone_is_a_new_baseline() {
        let mut v = ConfigVersions::new(QUIET);
        v.observe("shop/flags", d(serde_json::json!({"a": "1"})), at(0));
        v.forget("shop/flags", at(10));
        assert_eq!(v.observe("shop/flags", d(serde_json::json!({"a": "2"})), at(20)), Some(vec!["a".to_string()]), "replaced with new data");
        v.forget("shop/flags", at(30));
        assert_eq!(v.observe("shop/flags", d(serde_json::json!({"a": "3"})), at(30 + 601)), None, "gone for longer than the recreate window");
    }

    #[test]
    fn a_relist_reports_an_edit_missed_while_down_once_and_forgets_the_deleted() {
        let mut v = ConfigVersions::new(QUIET);
        v.observe("shop/flags", d(serde_json::json!({"a": "1"})), at(0));
        v.observe("shop/gone", d(serde_json::json!({"x": "1"})), at(0));
        v.begin_relist();
        assert_eq!(v.observe("shop/flags", d(serde_json::json!({"a": "2"})), at(1000)), Some(vec!["a".to_string()]));
        v.end_relist();
        assert_eq!(v.observe("shop/flags", d(serde_json::json!({"a": "2"})), at(2000)), None, "not again");
        assert_eq!(v.observe("shop/gone", d(serde_json::json!({"x": "2"})), at(2000)), None, "forgotten: a new baseline");
    }

    #[test]
    fn binary_data_counts_and_values_never_appear() {
        let mut m = cm(serde_json::json!({"password-hint": "hunter2"}));
        let before = digest(&m);
        m.binary_data = Some([("cert".to_string(), k8s_openapi::ByteString(vec![1, 2, 3]))].into_iter().collect());
        let mut v = ConfigVersions::new(QUIET);
        v.observe("shop/flags", before.clone(), at(0));
        let keys = v.observe("shop/flags", digest(&m), at(10)).expect("changed");
        assert_eq!(keys, vec!["cert"]);
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().expect("time");
        let e = change_event(&m, &keys, now);
        assert_eq!((e.reason.as_str(), e.regarding.kind.as_str(), e.regarding.name.as_str(), e.regarding.namespace.as_str()), (CONFIG_CHANGED, "ConfigMap", "flags", "shop"));
        assert_eq!(e.note, "data changed: cert");
        assert!(!serde_json::to_string(&e).expect("json").contains("hunter2"));
        assert_eq!(e.observed_at, now, "no managedFields: observed now");
        assert_eq!(e.event_uid, "cm1@7");
        assert_eq!(config_key(&m), "shop/flags");
        // The same bytes moved from data to binaryData is an edit of that key.
        let moved = digest(&serde_json::from_value::<ConfigMap>(serde_json::json!({"metadata": {"name": "flags"}, "binaryData": {"password-hint": "aHVudGVyMg=="}})).expect("configmap"));
        assert_ne!(moved.get("password-hint"), before.get("password-hint"));
    }

    #[test]
    fn dated_by_the_latest_write_and_long_key_lists_are_cut() {
        let mut m = cm(serde_json::json!({}));
        m.metadata.managed_fields = Some(serde_json::from_value(serde_json::json!([
            {"manager": "kubectl", "operation": "Update", "time": "2026-11-24T09:58:00Z"},
            {"manager": "argocd", "operation": "Apply", "time": "2026-11-24T09:59:30Z"}
        ])).expect("managed fields"));
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().expect("time");
        let keys: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
        let e = change_event(&m, &keys, now);
        assert_eq!(e.observed_at.to_rfc3339(), "2026-11-24T09:59:30+00:00");
        assert!(e.note.ends_with("k09 and 2 more"), "{}", e.note);
        let skewed = change_event(&m, &keys, "2026-11-24T09:00:00Z".parse().expect("time"));
        assert_eq!(skewed.observed_at.to_rfc3339(), "2026-11-24T09:00:00+00:00", "never later than observed");
    }
}
