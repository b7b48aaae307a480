//! Deterministic ids: the same inputs give the same id, on every replay and every machine.

use sha2::{Digest, Sha256};

/// Hash the parts (length-prefixed, so `("ab","c")` and `("a","bc")` differ) into a
/// 128-bit hex id.
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Alertmanager's label-set fingerprint (prometheus/common `LabelSet.Fingerprint`):
/// FNV-1a 64 over the label names in sorted order, each name and value followed by 0xff.
pub fn alert_fingerprint<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut pairs: Vec<(&str, &str)> = labels.into_iter().collect();
    pairs.sort_unstable();
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in pairs {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_alertmanager() {
        // From a real Alertmanager delivery (testdata/alertmanager/webhook-v4.json, recorded).
        let fp = alert_fingerprint([
            ("alertname", "PipelineStalled"),
            ("pipeline", "orders"),
            ("severity", "warning"),
        ]);
        assert_eq!(fp, "a814c41e9ae7feaf");
    }

    #[test]
    fn stable_id_is_length_prefixed() {
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
        assert_eq!(stable_id(&["x"]), stable_id(&["x"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
    }
}
