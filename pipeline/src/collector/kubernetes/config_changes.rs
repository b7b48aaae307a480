//! Edits of ConfigMaps as change records. Kubernetes records no Event when a ConfigMap's
//! data is edited, yet a bad config push is one of the commonest causes of an incident;
//! the collector watches ConfigMaps and publishes a `ConfigChanged` event about one
//! whenever its data changes, naming the keys (never the values). RCA counts it as a
//! change of every workload whose Pods read that ConfigMap (the topology's `uses`).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kubesage_schemas::k8s::{K8sEvent, ObjectRef};

/// Reason of the published event (one of RCA's default change reasons).
pub const REASON: &str = "ConfigChanged";
/// Changed keys named in the note at most; the rest are counted.
const NOTE_KEYS: usize = 10;

/// Per-key digest of a ConfigMap's `data` and `binaryData`: enough to tell a data edit
/// from an update of labels or annotations and to name the keys, without keeping values.
pub type Digest = BTreeMap<String, u64>;

pub fn digest(cm: &ConfigMap) -> Digest {
    let text = cm.data.iter().flatten().map(|(k, v)| (k, hash(v.as_bytes())));
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| (k, hash(&v.0)));
    text.chain(binary).map(|(k, h)| (k.clone(), h)).collect()
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// ConfigMap uid -> digest last seen. The first sight of a ConfigMap is its baseline, not
/// a change (after a restart the collector cannot know what changed while it was down);
/// a relist (410 Gone) compares against what was seen before, so an edit made while the
/// watch was down is still reported, once.
#[derive(Default)]
pub struct ConfigVersions {
    digests: HashMap<String, Digest>,
    relisting: Option<HashSet<String>>,
}

impl ConfigVersions {
    /// Keys added, changed or removed since the last sight, in name order; `None` on the
    /// first sight or when the data did not change.
    pub fn observe(&mut self, uid: &str, now: Digest) -> Option<Vec<String>> {
        if let Some(seen) = &mut self.relisting {
            seen.insert(uid.to_string());
        }
        let before = self.digests.insert(uid.to_string(), now.clone())?;
        let mut keys: Vec<String> = before.keys().chain(now.keys()).filter(|k| before.get(*k) != now.get(*k)).cloned().collect();
        keys.sort();
        keys.dedup();
        (!keys.is_empty()).then_some(keys)
    }

    pub fn forget(&mut self, uid: &str) {
        self.digests.remove(uid);
    }

    pub fn begin_relist(&mut self) {
        self.relisting = Some(HashSet::new());
    }

    /// Forget what the relist no longer lists (deleted while the watch was down).
    pub fn end_relist(&mut self) {
        if let Some(seen) = self.relisting.take() {
            self.digests.retain(|uid, _| seen.contains(uid));
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
        reason: REASON.into(),
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

    #[test]
    fn only_data_edits_are_changes_and_they_name_their_keys() {
        let mut v = ConfigVersions::default();
        let steps: Vec<(&str, serde_json::Value, Option<Vec<&str>>)> = vec![
            ("first sight is the baseline", serde_json::json!({"a": "1", "b": "2"}), None),
            ("same data again (a label edit, a resync)", serde_json::json!({"a": "1", "b": "2"}), None),
            ("a value edited", serde_json::json!({"a": "1", "b": "3"}), Some(vec!["b"])),
            ("a key added and one removed", serde_json::json!({"b": "3", "c": "4"}), Some(vec!["a", "c"])),
            ("emptied", serde_json::json!({}), Some(vec!["b", "c"])),
        ];
        for (name, data, want) in steps {
            let got = v.observe("cm1", digest(&cm(data)));
            assert_eq!(got, want.map(|w| w.iter().map(|k| k.to_string()).collect()), "{name}");
        }
        v.forget("cm1");
        assert_eq!(v.observe("cm1", digest(&cm(serde_json::json!({"a": "9"})))), None, "after a delete, a new baseline");
    }

    #[test]
    fn a_relist_reports_an_edit_missed_while_down_once_and_forgets_the_deleted() {
        let mut v = ConfigVersions::default();
        v.observe("cm1", digest(&cm(serde_json::json!({"a": "1"}))));
        v.observe("gone", digest(&cm(serde_json::json!({"x": "1"}))));
        v.begin_relist();
        assert_eq!(v.observe("cm1", digest(&cm(serde_json::json!({"a": "2"})))), Some(vec!["a".to_string()]));
        v.end_relist();
        assert_eq!(v.observe("cm1", digest(&cm(serde_json::json!({"a": "2"})))), None, "not again");
        assert_eq!(v.observe("gone", digest(&cm(serde_json::json!({"x": "2"})))), None, "forgotten: a new baseline");
    }

    #[test]
    fn binary_data_counts_and_values_never_appear() {
        let mut m = cm(serde_json::json!({"password-hint": "hunter2"}));
        let before = digest(&m);
        m.binary_data = Some([("cert".to_string(), k8s_openapi::ByteString(vec![1, 2, 3]))].into_iter().collect());
        let mut v = ConfigVersions::default();
        v.observe("cm1", before);
        let keys = v.observe("cm1", digest(&m)).expect("changed");
        assert_eq!(keys, vec!["cert"]);
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().expect("time");
        let e = change_event(&m, &keys, now);
        assert_eq!((e.reason.as_str(), e.regarding.kind.as_str(), e.regarding.name.as_str(), e.regarding.namespace.as_str()), (REASON, "ConfigMap", "flags", "shop"));
        assert_eq!(e.note, "data changed: cert");
        assert!(!serde_json::to_string(&e).expect("json").contains("hunter2"));
        assert_eq!(e.observed_at, now, "no managedFields: observed now");
        assert_eq!(e.event_uid, "cm1@7");
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
